"""Grant the roles the channels' variant table: managers keep it (and import it), associates read it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Operations manager": [
        "orders.view_channelvariant",
        "orders.add_channelvariant",
        "orders.change_channelvariant",
        "orders.delete_channelvariant",
    ],
    "Operations associate": ["orders.view_channelvariant"],
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
        ("oms_site", "0007_login_lockout_roles"),
        ("orders", "0009_order_addresses_channel_brand_variants"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
