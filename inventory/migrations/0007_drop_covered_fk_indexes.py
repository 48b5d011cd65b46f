"""Drop single-column foreign-key indexes a composite index already leads with (see orders 0008)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0006_import_jobs"),
        ("orders", "0008_drop_covered_fk_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="allocation",
                    name="order_line",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="allocations",
                        to="orders.orderline",
                    ),
                ),
                migrations.AlterField(
                    model_name="allocation",
                    name="warehouse",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="allocations",
                        to="inventory.warehouse",
                    ),
                ),
                migrations.AlterField(
                    model_name="stocklevel",
                    name="product",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="stock_levels",
                        to="inventory.product",
                    ),
                ),
                migrations.AlterField(
                    model_name="stocklevel",
                    name="warehouse",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="stock_levels",
                        to="inventory.warehouse",
                    ),
                ),
                migrations.AlterField(
                    model_name="stockmovement",
                    name="product",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="movements",
                        to="inventory.product",
                    ),
                ),
                migrations.AlterField(
                    model_name="stockmovement",
                    name="warehouse",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="movements",
                        to="inventory.warehouse",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_allocation_order_line_id_401ffcfd",
                    "CREATE INDEX IF NOT EXISTS inventory_allocation_order_line_id_401ffcfd ON inventory_allocation (order_line_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_allocation_warehouse_id_decb93fa",
                    "CREATE INDEX IF NOT EXISTS inventory_allocation_warehouse_id_decb93fa ON inventory_allocation (warehouse_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_stocklevel_product_id_0fcddfdf",
                    "CREATE INDEX IF NOT EXISTS inventory_stocklevel_product_id_0fcddfdf ON inventory_stocklevel (product_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_stocklevel_warehouse_id_9f55a8ac",
                    "CREATE INDEX IF NOT EXISTS inventory_stocklevel_warehouse_id_9f55a8ac ON inventory_stocklevel (warehouse_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_stockmovement_product_id_4eccfd0a",
                    "CREATE INDEX IF NOT EXISTS inventory_stockmovement_product_id_4eccfd0a ON inventory_stockmovement (product_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_stockmovement_warehouse_id_401c7fc4",
                    "CREATE INDEX IF NOT EXISTS inventory_stockmovement_warehouse_id_401c7fc4 ON inventory_stockmovement (warehouse_id)",
                ),
            ],
        ),
    ]
