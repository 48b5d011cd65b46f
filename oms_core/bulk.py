"""Inserting many rows in one statement, cheaper in Python than Django's ``bulk_create``.

On PostgreSQL each column goes as one array (``INSERT ... SELECT FROM
UNNEST(...)``, as Django's own ``bulk_create`` does): the statement's text is
then the same whatever the number of rows, so psycopg converts it once and,
with server-side binding (settings), prepares it once its connection has run
it ``prepare_threshold`` times, and PostgreSQL plans it once per connection.
What it saves is Python: the values are sent as they stand when they already
are what the column stores. Elsewhere ``bulk_create`` does the work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections, models


def bulk_insert(model, objects: Sequence) -> None:
    """Insert many new rows in one statement and set their primary keys, as ``bulk_create`` does.

    On PostgreSQL: INSERT ... SELECT FROM UNNEST(...) RETURNING the keys, with
    each column's values taken as they stand when they are already what the
    database stores (whole numbers, text, booleans, aware datetimes) and
    through the field's own ``get_db_prep_save`` otherwise (JSON, decimals,
    a naive datetime, a lazy string); fields set on save (``auto_now_add``)
    are set as Django sets them. Django's ``bulk_create`` prepares every value
    through the field, which was most of a routing batch's inserts. No
    conflict handling and no signals (``bulk_create`` sends none either).
    Elsewhere, for rows that have their key already, or a model whose key the
    database does not make: ``bulk_create``.
    """
    if not objects:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    pk = meta.pk
    if (
        connection.vendor != "postgresql"
        or pk.get_internal_type() not in {"AutoField", "BigAutoField", "SmallAutoField"}
        or any(obj.pk is not None for obj in objects)
    ):
        model.objects.bulk_create(objects)
        return
    fields = [field for field in meta.concrete_fields if field is not pk]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"SELECT * FROM UNNEST({', '.join(f'(%s)::{array_type(field, connection)}' for field in fields)}) "
        f"RETURNING {quote(pk.column)}"
    )
    params = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            params.append([field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objects])
        else:
            prepare, attname = preparer(field, connection), field.attname
            params.append([prepare(getattr(obj, attname)) for obj in objects])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = cursor.fetchall()
    for obj, (key,) in zip(objects, keys, strict=True):
        setattr(obj, pk.attname, key)
        obj._state.adding = False
        obj._state.db = connection.alias


def array_type(field, connection) -> str:
    """The column's type as an array, without a length (``varchar[]``, not ``varchar(30)[]``), as Django's UNNEST."""
    return f"{field.db_type(connection).split('(')[0]}[]"


# Django's own field classes whose get_db_prep_save, on PostgreSQL, sends a value of these types as it stands.
# Exact classes only: a subclass may change the value on its way (an encrypted text field, for one).
_SENT_AS_IS = {
    **dict.fromkeys(
        [
            models.AutoField,
            models.BigAutoField,
            models.SmallAutoField,
            models.IntegerField,
            models.BigIntegerField,
            models.SmallIntegerField,
            models.PositiveIntegerField,
            models.PositiveBigIntegerField,
            models.PositiveSmallIntegerField,
        ],
        lambda value: type(value) is int,
    ),
    # to_python keeps any str (a choices member too)
    **dict.fromkeys([models.CharField, models.TextField, models.EmailField], lambda value: isinstance(value, str)),
    models.BooleanField: lambda value: type(value) is bool,
    models.UUIDField: lambda value: type(value) is uuid.UUID,
    models.DateTimeField: lambda value: type(value) is dt.datetime and value.tzinfo is not None,
}


def preparer(field, connection):
    """A function from an attribute's value to the value sent: as it stands when it already is what the column
    stores (``_SENT_AS_IS``), else through the field (``get_db_prep_save``)."""
    target = field.target_field if field.is_relation else field
    as_is = _SENT_AS_IS.get(type(target))

    def through_field(value):
        return field.get_db_prep_save(value, connection)

    if as_is is None:
        return through_field

    def prepare(value):
        if value is None or as_is(value):
            return value
        return through_field(value)

    return prepare
