"""Create the four operations roles as groups, least privilege.

Permissions are named "app_label.codename". Later issues add their own
migration that grants the roles the permissions of the models they add.
The spec is frozen here on purpose: a migration must not change meaning
when code changes later.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATIONS_MANAGER = "Operations manager"
OPERATIONS_ASSOCIATE = "Operations associate"
RETURNS_ASSOCIATE = "Returns associate"
WAREHOUSE_STAFF = "Warehouse staff"


def _crud(app_model: str, *verbs: str) -> list[str]:
    app, model = app_model.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


ROLES = {
    OPERATIONS_MANAGER: [
        *_crud("orders.order", "view"),
        "orders.hold_order",
        "orders.cancel_order",
        *_crud("orders.orderline", "view"),
        *_crud("orders.orderevent", "view"),
        *_crud("orders.channel", "view", "add", "change"),
        *_crud("orders.customer", "view", "add", "change"),
        *_crud("orders.address", "view", "add", "change"),
        *_crud("inventory.product", "view", "add", "change"),
        *_crud("inventory.warehouse", "view", "add", "change"),
        *_crud("django_celery_beat.periodictask", "view", "change"),
        *_crud("django_celery_beat.crontabschedule", "view", "add", "change"),
        *_crud("django_celery_beat.intervalschedule", "view", "add", "change"),
    ],
    OPERATIONS_ASSOCIATE: [
        *_crud("orders.order", "view"),
        "orders.hold_order",
        *_crud("orders.orderline", "view"),
        *_crud("orders.orderevent", "view"),
        *_crud("orders.channel", "view"),
        *_crud("orders.customer", "view", "change"),
        *_crud("orders.address", "view", "add", "change"),
        *_crud("inventory.product", "view"),
        *_crud("inventory.warehouse", "view"),
    ],
    RETURNS_ASSOCIATE: [
        *_crud("orders.order", "view"),
        *_crud("orders.orderline", "view"),
        *_crud("orders.orderevent", "view"),
        *_crud("orders.channel", "view"),
        *_crud("orders.customer", "view"),
        *_crud("orders.address", "view"),
        *_crud("inventory.product", "view"),
        *_crud("inventory.warehouse", "view"),
    ],
    WAREHOUSE_STAFF: [
        *_crud("orders.order", "view"),
        *_crud("orders.orderline", "view"),
        *_crud("inventory.product", "view"),
        *_crud("inventory.warehouse", "view"),
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations run; roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for name in names:
            app_label, codename = name.split(".")
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("orders", "0002_customer_name_trigram_index"),
        ("inventory", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
