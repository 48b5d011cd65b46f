"""Trigram index for "customer name contains" search, on PostgreSQL only.

Django's icontains compiles to UPPER("name"::text) LIKE UPPER(%s), so the
index is on that expression. SQLite (the embedded shape) has no equivalent
and scans, which is fine at its scale.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS customer_name_trgm_idx ON orders_customer USING gin ((UPPER(name::text)) gin_trgm_ops)"
)
DROP = "DROP INDEX IF EXISTS customer_name_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
