"""Grant the roles the payment permissions.

Managers run credit control, the chart of accounts and the export (re-send),
mark invoices paid and refund; associates see payments and credit rules and
block an email or postal code; returns associates see payments and refund;
warehouse staff see none of it.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def _crud(app_model: str, *verbs: str) -> list[str]:
    app, model = app_model.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


GRANTS = {
    "Operations manager": [
        *_crud("payments.paymenttransaction", "view"),
        *_crud("payments.creditrule", "view", "add", "change", "delete"),
        *_crud("payments.blockedvalue", "view", "add", "change", "delete"),
        *_crud("payments.account", "view", "add", "change"),
        *_crud("payments.accountmapping", "view", "change"),
        *_crud("payments.journalentry", "view"),
        *_crud("payments.journalline", "view"),
        *_crud("payments.exportbatch", "view"),
        "payments.mark_paid",
        "payments.refund_payment",
        "payments.resend_exportbatch",
    ],
    "Operations associate": [
        *_crud("payments.paymenttransaction", "view"),
        *_crud("payments.creditrule", "view"),
        *_crud("payments.blockedvalue", "view", "add"),
    ],
    "Returns associate": [
        *_crud("payments.paymenttransaction", "view"),
        "payments.refund_payment",
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
        group, _ = Group.objects.get_or_create(name=role)
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
        ("payments", "0002_default_accounts"),
        ("oms_site", "0004_shipping_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
