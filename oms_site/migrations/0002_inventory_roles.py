"""Grant the roles the inventory permissions: stock, ledger, routing rules, counts, checks."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def _crud(app_model: str, *verbs: str) -> list[str]:
    app, model = app_model.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


GRANTS = {
    "Operations manager": [
        *_crud("inventory.stocklevel", "view", "change"),
        "inventory.receive_stock",
        "inventory.adjust_stock",
        "inventory.transfer_stock",
        *_crud("inventory.stockmovement", "view"),
        *_crud("inventory.allocation", "view"),
        *_crud("inventory.safetystockrule", "view", "add", "change", "delete"),
        *_crud("inventory.routingexclusion", "view", "add", "change", "delete"),
        *_crud("inventory.cyclecount", "view", "add", "change"),
        "inventory.approve_cyclecount",
        *_crud("inventory.inventorycheckrun", "view"),
        *_crud("inventory.inventoryfinding", "view"),
    ],
    "Operations associate": [
        *_crud("inventory.stocklevel", "view"),
        *_crud("inventory.stockmovement", "view"),
        *_crud("inventory.allocation", "view"),
        *_crud("inventory.safetystockrule", "view"),
        *_crud("inventory.routingexclusion", "view"),
        *_crud("inventory.inventorycheckrun", "view"),
        *_crud("inventory.inventoryfinding", "view"),
    ],
    "Returns associate": [
        *_crud("inventory.stocklevel", "view"),
        *_crud("inventory.stockmovement", "view"),
    ],
    "Warehouse staff": [
        *_crud("inventory.stocklevel", "view", "change"),  # bins and reorder points, never quantities
        "inventory.receive_stock",
        "inventory.transfer_stock",
        *_crud("inventory.stockmovement", "view"),
        *_crud("inventory.allocation", "view"),
        *_crud("inventory.cyclecount", "view", "add", "change"),
    ],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in GRANTS.items():
        group = Group.objects.get(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("oms_site", "0001_roles"),
        ("inventory", "0003_locate_warehouses"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
