"""Database helpers for bulk writes, used by inventory and the apps above it (``bulk_insert`` is
``oms_core.bulk``'s, for every app)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections

from oms_core.bulk import array_type, bulk_insert, preparer

__all__ = ["bulk_insert", "bulk_set"]


def bulk_set(model, objects: Sequence, fields: list[str], *, batch_size: int = 1000) -> None:
    """Write ``fields`` of many rows in one statement per batch.

    On PostgreSQL: UPDATE ... FROM UNNEST(...), which costs a few
    microseconds a row; Django's bulk_update builds a CASE per field and row
    and costs a hundred times more in Python. The columns go as arrays, so the
    statement's text is the same whatever the number of rows (``oms_core.bulk``
    says why that matters). Elsewhere: bulk_update.
    """
    if not objects:
        return
    connection = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the thread-local proxy
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields, batch_size=batch_size)
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns)
    names = ", ".join(quote(c) for c in ["pk", *(field.column for field in columns)])
    arrays = ", ".join(f"(%s)::{array_type(field, connection)}" for field in [pk, *columns])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
        f"FROM UNNEST({arrays}) AS v({names}) WHERE t.{quote(pk.column)} = v.{quote('pk')}"
    )
    preparers = [(preparer(field, connection), field.attname) for field in [pk, *columns]]
    for start in range(0, len(objects), batch_size):
        chunk = objects[start : start + batch_size]
        params = [[prepare(getattr(obj, attname)) for obj in chunk] for prepare, attname in preparers]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
