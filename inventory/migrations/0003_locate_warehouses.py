"""Give warehouses created before coordinates existed their latitude and longitude."""

from django.db import migrations


def locate(apps, schema_editor):
    from inventory import geo

    Warehouse = apps.get_model("inventory", "Warehouse")
    for warehouse in Warehouse.objects.filter(latitude__isnull=True):
        point = geo.coordinates_or_none(warehouse.postal_code, warehouse.country)
        if point is not None:
            warehouse.latitude, warehouse.longitude = point
            warehouse.save(update_fields=["latitude", "longitude"])


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_stock_ledger_routing_counts")]

    operations = [migrations.RunPython(locate, migrations.RunPython.noop)]
