"""Grant the roles the returns permissions: returns (RMAs), refunds, order errors, the return policy.

Returns associates do all of it (open, authorise, receive, inspect, refund, close; open and resolve order
errors) and see the policy; only managers change the policy. Associates look returns and refunds up;
warehouse staff see returns arriving.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def _crud(app_model: str, *verbs: str) -> list[str]:
    app, model = app_model.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


GRANTS = {
    "Operations manager": [
        *_crud("returns.returnrequest", "view", "add"),
        "returns.process_returnrequest",
        "returns.refund_returnrequest",
        *_crud("returns.refund", "view"),
        *_crud("returns.ordererrorcase", "view"),
        "returns.resolve_ordererrorcase",
        *_crud("returns.returnpolicy", "view", "change"),
        *_crud("returns.reasonrule", "view", "change"),
    ],
    "Operations associate": [
        *_crud("returns.returnrequest", "view"),
        *_crud("returns.refund", "view"),
        *_crud("returns.ordererrorcase", "view"),
        *_crud("returns.returnpolicy", "view"),
        *_crud("returns.reasonrule", "view"),
    ],
    "Returns associate": [
        *_crud("returns.returnrequest", "view", "add"),
        "returns.process_returnrequest",
        "returns.refund_returnrequest",
        *_crud("returns.refund", "view"),
        *_crud("returns.ordererrorcase", "view"),
        "returns.resolve_ordererrorcase",
        *_crud("returns.returnpolicy", "view"),
        *_crud("returns.reasonrule", "view"),
    ],
    "Warehouse staff": [
        *_crud("returns.returnrequest", "view"),
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
        ("oms_site", "0004_shipping_roles"),
        ("returns", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
