from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class OpsAdminConfig(AdminConfig):
    """Installs the operations console as the default admin site.

    Every app registers with plain ``@admin.register`` and lands on the
    console without importing ``oms_site``.
    """

    default_site = "oms_site.admin.OpsAdminSite"


class OmsSiteConfig(AppConfig):
    name = "oms_site"
    verbose_name = "OMS site"

    def ready(self) -> None:
        from . import user_admin  # noqa: F401 - the console's user pages, with the two-factor reset
