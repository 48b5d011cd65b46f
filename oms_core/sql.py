"""Hand-written reads for the few hot paths (every API request), without the ORM's query building.

``columns`` lists a model's columns for the SELECT and ``from_row`` makes the
instance from the row, through the same value converters as the ORM (SQLite
returns dates and decimals as text, for example), so the instances are the
ORM's own (``Model.from_db``). Run them on Django's cursor: on PostgreSQL its
parameters are bound by the server (``server_side_binding``, settings), so
psycopg prepares a statement once its connection has run it
``prepare_threshold`` times, and PostgreSQL plans it once per connection
instead of on every request (and never behind a pooler in transaction mode,
where ``PG_POOL_MODE=transaction`` turns preparing off).
"""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def prepared_cursor():
    """Django's cursor (``connection.cursor()``): its statements are prepared as the settings say (above).

    It used to put psycopg's server-binding cursor inside Django's wrapper;
    Django's own cursor binds on the server now. Callers may use
    ``connection.cursor()`` instead.
    """
    with connection.cursor() as cursor:
        yield cursor


def columns(model, table_alias: str) -> tuple[str, list[str]]:
    """The model's columns for a hand-written SELECT (``alias.col, ...``) and their attribute names.

    For the few hot reads (every API request) written as one SQL statement
    without the ORM's query building; ``from_row`` makes the instances.
    """
    key = (connection.alias, model._meta.label, table_alias)
    if key not in _COLUMNS:
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        _COLUMNS[key] = (
            ", ".join(f"{table_alias}.{quote(f.column)}" for f in fields),
            tuple(f.attname for f in fields),
        )
    selected, attnames = _COLUMNS[key]
    return selected, list(attnames)


_COLUMNS: dict[tuple[str, str, str], tuple[str, tuple[str, ...]]] = {}


def any_of(column: str, values) -> tuple[str, list]:
    """A hand-written ``column IN (values)`` condition and its parameters, for a non-empty list of values.

    On PostgreSQL ``column = ANY(%s)`` with the list as one array: the statement's text is the same however
    many values come, so it is prepared like any other (above). Elsewhere one placeholder a value.
    """
    values = list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def from_row(model, attnames: list[str], values):
    """A model instance from a hand-written SELECT's values (see ``columns``)."""
    values = list(values)
    for index, (converters, column) in enumerate(_converters(model)):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return model.from_db(connection.alias, attnames, values)


_CONVERTERS: dict[tuple[str, str], list] = {}


def _converters(model) -> list:
    """Per concrete field, the backend's and the field's converters (as the ORM's compiler applies them)."""
    key = (connection.alias, model._meta.label)
    if key not in _CONVERTERS:
        found = []
        for field in model._meta.concrete_fields:
            column = field.get_col(model._meta.db_table)
            found.append((connection.ops.get_db_converters(column) + column.get_db_converters(connection), column))
        _CONVERTERS[key] = found
    return _CONVERTERS[key]


# --- arrays of text sent to PostgreSQL --------------------------------------------------------------------------
# Django's bulk_create on PostgreSQL sends each column as one array (INSERT ... SELECT * FROM UNNEST(...)), and
# psycopg writes a text array by escaping each element's double quotes and backslashes with ``re.sub`` and a
# template (one Python call per character escaped). The JSON of an outbox row has dozens: that escaping was a
# fifth of an allocation batch's Python time (bench/README.md, allocation). ``bytes.replace`` does the same
# escaping in C.


class _ArrayElementEscape:
    """Stands in for psycopg's element-escaping pattern: a backslash before each ``"`` and ``\\``."""

    def sub(self, _template, element: bytes) -> bytes:
        return element.replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def register_fast_array_escape(connection) -> None:
    """On a new PostgreSQL connection (``connection_created``): text arrays are escaped by ``bytes.replace``.

    A subclass of psycopg's own list dumper, registered through its adapters map; ``tests/oms_core/test_sql.py``
    sends hostile elements through it and reads them back.
    """
    if connection.vendor != "postgresql":
        return
    from psycopg.types.array import ListDumper

    dumper = type("FastEscapeListDumper", (ListDumper,), {"_re_esc": _ArrayElementEscape()})
    connection.connection.adapters.register_dumper(list, dumper)
