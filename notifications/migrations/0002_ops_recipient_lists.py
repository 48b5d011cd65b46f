"""One (empty) recipient list per ops message, so operators find them in the console to fill in."""

from django.db import migrations

OPS_EVENTS = ["order_on_hold", "inventory_report", "message_failed"]


def create_lists(apps, schema_editor):
    RecipientList = apps.get_model("notifications", "RecipientList")
    for event in OPS_EVENTS:
        RecipientList.objects.get_or_create(event=event)


def remove_empty_lists(apps, schema_editor):
    apps.get_model("notifications", "RecipientList").objects.filter(event__in=OPS_EVENTS, emails="").delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(create_lists, remove_empty_lists)]
