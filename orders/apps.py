from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        # CSV import of orders: inventory runs the import jobs and must not import orders, so orders registers.
        from inventory.imports.registry import register

        from .imports import OrderImportHandler

        register(OrderImportHandler())

        # The status page's address in customer messages is made when they are rendered, not kept in the outbox.
        from notifications.rendering import register_send_time_context

        from .services.status_links import message_context

        register_send_time_context(message_context)
