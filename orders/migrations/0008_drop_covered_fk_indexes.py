"""Drop single-column foreign-key indexes that a composite index already leads with.

Each order written paid for these index entries and no query needed them:
every lookup by the column is served by the unique constraint or composite
index that starts with it. Only the indexes go: Django's AlterField would also
drop and re-add (and so re-validate) each foreign key constraint, a full scan
of a large table, so the database side is a plain DROP INDEX.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_payment_return_event_kinds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="channel",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="orders.channel",
                    ),
                ),
                migrations.AlterField(
                    model_name="orderevent",
                    name="order",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="orders.order",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS orders_order_channel_id_a76729a3",
                    "CREATE INDEX IF NOT EXISTS orders_order_channel_id_a76729a3 ON orders_order (channel_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS orders_orderevent_order_id_b26297f3",
                    "CREATE INDEX IF NOT EXISTS orders_orderevent_order_id_b26297f3 ON orders_orderevent (order_id)",
                ),
            ],
        ),
    ]
