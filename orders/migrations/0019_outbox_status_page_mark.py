"""The outbox stops holding status page addresses (their tokens open the page): each customer message that
carries one is marked ``status_page`` instead, and the address is made when the message is rendered."""

from django.db import migrations

BATCH = 2_000


def mark_instead_of_address(apps, schema_editor):
    Message = apps.get_model("notifications", "Message")
    carrying = Message.objects.filter(context__has_key="status_url").only("pk", "context")
    while batch := list(carrying[:BATCH]):
        for message in batch:
            address = message.context.pop("status_url")
            if address:
                message.context["status_page"] = True
        Message.objects.bulk_update(batch, ["context"])


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0018_shipping_facts"),
        ("notifications", "0005_change_history"),
    ]

    operations = [migrations.RunPython(mark_instead_of_address, migrations.RunPython.noop, elidable=True)]
