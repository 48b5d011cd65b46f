from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "orders.returns"
    label = "returns"
    verbose_name = "Returns and order errors"
