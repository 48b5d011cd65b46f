from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "orders.partners"
    label = "partners"
    verbose_name = "3PL warehouses"

    def ready(self) -> None:
        from . import hooks

        hooks.connect()
