from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        # CSV import of orders: inventory runs the import jobs and must not import orders, so orders registers.
        from inventory.imports.registry import register

        from .imports import OrderImportHandler

        register(OrderImportHandler())
