"""Grant the roles the channel API keys: managers issue and revoke them; everyone who sees channels sees them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Operations manager": [
        "orders.view_channelapikey",
        "orders.add_channelapikey",
        "orders.change_channelapikey",
    ],
    "Operations associate": ["orders.view_channelapikey"],
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
        ("oms_site", "0005_import_roles"),
        ("orders", "0006_channel_api_keys_intake"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
