from django.apps import AppConfig, apps
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
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from oms_core.sql import register_fast_array_escape

        from . import user_admin  # noqa: F401 - the console's user pages, with the two-factor reset
        from .manual import admin as manual_admin  # noqa: F401 - the manual and its procedures in the sidebar
        from .roles import apply_roles_after_migrate

        # post_migrate comes once per app with models, after auth's permissions exist: the roles ride on auth's.
        auth = apps.get_app_config("auth")
        post_migrate.connect(apply_roles_after_migrate, sender=auth, dispatch_uid="oms_site.apply_roles")
        connection_created.connect(
            lambda sender, connection, **kwargs: register_fast_array_escape(connection),
            weak=False,
            dispatch_uid="oms_site.fast_array_escape",
        )
