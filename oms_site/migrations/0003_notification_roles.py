"""Grant the roles the notifications permissions: the outbox, resends, templates, ops lists.

Managers run the outbox (resend, templates, recipient lists); associates see
messages and resend them; returns associates see them (they answer customers
about returns). Warehouse staff see no customer mail.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def _crud(app_model: str, *verbs: str) -> list[str]:
    app, model = app_model.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


GRANTS = {
    "Operations manager": [
        *_crud("notifications.message", "view"),
        "notifications.resend_message",
        *_crud("notifications.messagetemplate", "view", "add", "change", "delete"),
        *_crud("notifications.recipientlist", "view", "add", "change"),
    ],
    "Operations associate": [
        *_crud("notifications.message", "view"),
        "notifications.resend_message",
        *_crud("notifications.messagetemplate", "view"),
        *_crud("notifications.recipientlist", "view"),
    ],
    "Returns associate": [
        *_crud("notifications.message", "view"),
    ],
    "Warehouse staff": [],
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
        ("oms_site", "0002_inventory_roles"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
