"""A starting chart of accounts and a mapping for every role; both are edited in the console."""

from django.db import migrations

# Copied, not imported: a migration keeps the chart as it was when it ran.
CHART = {
    "cash": ("1000", "Cash and payment processors", "asset"),
    "receivables": ("1100", "Accounts receivable", "asset"),
    "inventory": ("1200", "Inventory", "asset"),
    "tax": ("2100", "Sales tax payable", "liability"),
    "carrier_payable": ("2200", "Carriers payable", "liability"),
    "revenue": ("4000", "Sales revenue", "revenue"),
    "shipping_income": ("4100", "Shipping income", "revenue"),
    "refunds": ("4900", "Sales refunds", "revenue"),
    "write_off": ("5100", "Inventory write-offs", "expense"),
    "shipping_cost": ("5200", "Shipping costs", "expense"),
}


def create_chart(apps, schema_editor):
    Account = apps.get_model("payments", "Account")
    AccountMapping = apps.get_model("payments", "AccountMapping")
    for role, (code, name, kind) in CHART.items():
        account, _ = Account.objects.get_or_create(code=code, defaults={"name": name, "type": kind})
        AccountMapping.objects.get_or_create(role=role, defaults={"account": account})


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(create_chart, migrations.RunPython.noop)]
