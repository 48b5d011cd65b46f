"""Drop single-column foreign-key indexes a composite index already leads with (see orders 0008)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_ops_recipient_lists"),
        ("orders", "0008_drop_covered_fk_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="order",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="orders.order",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS notifications_message_order_id_439a1f31",
                    "CREATE INDEX IF NOT EXISTS notifications_message_order_id_439a1f31 ON notifications_message (order_id)",
                ),
            ],
        ),
    ]
