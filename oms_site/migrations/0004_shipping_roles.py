"""Grant the roles the shipping permissions: carriers and rate cards, shipments, labels, tracking.

Managers run shipping (vendors, services, rate cards, webhook tokens, every
label and shipment action); associates see it all and fix what customers
call about (a tracking event by hand, another carrier); warehouse staff buy,
print and ship; returns associates look shipments and their tracking up.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def _crud(app_model: str, *verbs: str) -> list[str]:
    app, model = app_model.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


GRANTS = {
    "Operations manager": [
        *_crud("shipping.vendor", "view", "add", "change"),
        *_crud("shipping.carrierservice", "view", "add", "change"),
        *_crud("shipping.transittime", "view", "add", "change"),
        *_crud("shipping.rate", "view", "add", "change"),
        *_crud("shipping.shipment", "view"),
        *_crud("shipping.shipmentline", "view"),
        *_crud("shipping.parcel", "view"),
        *_crud("shipping.trackingevent", "view"),
        *_crud("shipping.labelbatch", "view", "add"),
        "shipping.print_labels",
        "shipping.ship_shipment",
        "shipping.record_tracking",
        "shipping.override_carrier",
        "shipping.issue_webhook_token",
    ],
    "Operations associate": [
        *_crud("shipping.vendor", "view"),
        *_crud("shipping.carrierservice", "view"),
        *_crud("shipping.transittime", "view"),
        *_crud("shipping.rate", "view"),
        *_crud("shipping.shipment", "view"),
        *_crud("shipping.shipmentline", "view"),
        *_crud("shipping.parcel", "view"),
        *_crud("shipping.trackingevent", "view"),
        *_crud("shipping.labelbatch", "view"),
        "shipping.record_tracking",
        "shipping.override_carrier",
    ],
    "Returns associate": [
        *_crud("shipping.shipment", "view"),
        *_crud("shipping.trackingevent", "view"),
    ],
    "Warehouse staff": [
        *_crud("shipping.vendor", "view"),
        *_crud("shipping.carrierservice", "view"),
        *_crud("shipping.shipment", "view"),
        *_crud("shipping.shipmentline", "view"),
        *_crud("shipping.parcel", "view"),
        *_crud("shipping.labelbatch", "view", "add"),
        "shipping.print_labels",
        "shipping.ship_shipment",
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
        ("oms_site", "0003_notification_roles"),
        ("shipping", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
