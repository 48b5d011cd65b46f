"""Rows of several tables written together: one SQL statement on PostgreSQL, one INSERT a table on SQLite.

The intake writes a new order as customer, addresses, order, lines,
timeline event, intake record and outbox row. As the ORM writes them (a
statement per row or table, in a transaction) that is a dozen round trips
and a dozen times the ORM's SQL building; on PostgreSQL it is one statement
(data-modifying WITH clauses) and one round trip, and, outside a
transaction, its own transaction too (all rows or none). SQLite has no
data-modifying WITH: there the same steps run as one ``INSERT … RETURNING``
each, in one transaction, each given the ids the steps before it returned.

The rows are ordinary unsaved model instances, built as any caller builds
them; each column's value goes through the field's own ``pre_save`` and
``get_db_prep_save``, exactly as ``Model.save`` does, so defaults,
``auto_now`` and JSON encoding are the ORM's (on PostgreSQL the usual values
of Django's own field classes take a shortcut to the same text). A foreign
key to a row written earlier is given as a reference (``refs``): on
PostgreSQL it becomes ``(SELECT id FROM <step>)``, on SQLite the id that
step returned. After ``execute`` every instance has its primary key, and
every reference its id.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, partial
from json.encoder import encode_basestring_ascii

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models.expressions import DatabaseDefault
from psycopg.types.json import Json, Jsonb


@dataclass
class _Step:
    alias: str
    objs: list[models.Model]
    refs: dict[str, str] = field(default_factory=dict)  # attname -> alias of a one-row step written before
    on_conflict: str = ""

    @property
    def leaves_out_on_conflict(self) -> bool:
        """A conflicting row is not written (``DO NOTHING``): it has no id to refer to."""
        return "DO NOTHING" in self.on_conflict.upper()


class SkippedOnConflict(Exception):
    """A row that ``ON CONFLICT DO NOTHING`` left unwritten is referred to by a later row: nothing was written."""

    def __init__(self, model: type[models.Model]) -> None:
        super().__init__(f"No {model._meta.label} row was written (a conflict), and a later row refers to it.")
        self.model = model


class OneStatement:
    """Add the rows in dependency order (``add``), then ``execute`` once. PostgreSQL and SQLite."""

    def __init__(self) -> None:
        self.steps: list[_Step] = []

    def add(self, objs: list[models.Model], *, refs: dict[str, str] | None = None, on_conflict: str = "") -> str:
        """Add rows of one model; returns the step's alias, for ``refs`` of later steps.

        ``on_conflict`` is SQL after ``ON CONFLICT``. With ``DO NOTHING`` a
        conflicting row writes nothing: a later row referring to it (by a
        NOT NULL column, so that PostgreSQL's one statement fails whole)
        makes ``execute`` write nothing and raise ``SkippedOnConflict``.
        """
        if not objs:
            raise ValueError("A step needs at least one row.")
        if len({type(obj) for obj in objs}) != 1:
            raise ValueError("A step writes rows of one model.")
        fields = {f.attname: f for f in objs[0]._meta.concrete_fields}
        for attname, alias in (refs or {}).items():
            step = next((s for s in self.steps if s.alias == alias), None)
            if step is None or len(step.objs) != 1:
                raise ValueError(f"A reference must name a one-row step added before: {alias!r}.")
            if step.leaves_out_on_conflict and fields[attname].null:
                raise ValueError(f"A reference to a row a conflict may leave out needs a NOT NULL column: {attname}.")
        alias = f"w{len(self.steps)}"
        self.steps.append(_Step(alias, list(objs), dict(refs or {}), on_conflict))
        return alias

    def execute(self) -> None:
        """Write every row, or none; sets each instance's primary key and each reference's id.

        Inside a transaction a failure leaves it usable (a savepoint); outside
        one the write is its own transaction.
        """
        if connection.vendor == "postgresql":
            ids = self._execute_as_one()
        elif connection.vendor == "sqlite":
            ids = self._execute_in_steps()
        else:
            raise RuntimeError(f"Writing rows together needs PostgreSQL or SQLite, not {connection.vendor}.")
        written = {}
        for step, step_ids in zip(self.steps, ids, strict=True):
            if step_ids is None or len(step_ids) != len(step.objs):
                label, count = step.objs[0]._meta.label, len(step_ids or [])
                raise LookupError(f"{label}: {count} of {len(step.objs)} rows written.")
            for obj, pk in zip(step.objs, step_ids, strict=True):
                obj.pk = pk
                obj._state.adding, obj._state.db = False, connection.alias
            written[step.alias] = step.objs[0]
            if step.refs:
                by_attname = {f.attname: f.name for f in step.objs[0]._meta.concrete_fields}
                for obj in step.objs:
                    for attname, alias in step.refs.items():
                        setattr(obj, by_attname[attname], written[alias])  # the id and the related object

    def sql(self) -> tuple[str, list]:
        """PostgreSQL's statement and its parameters: one JSON array of rows per step (``json_populate_recordset``).

        A parameter per step rather than per value keeps the statement's text
        the same whatever the number of rows, so PostgreSQL parses and plans
        it once per connection (psycopg prepares it, with server-side binding:
        settings); the text itself is built once per shape of statement and kept.
        """
        shape, params = [], []
        for step in self.steps:
            plan, omitted, rows = self._rows(step, fast=True)
            params.append(rows)
            shape.append((plan, step.alias, tuple(step.refs.items()), step.on_conflict, omitted))
        return _statement_text(tuple(shape)), params

    def _rows(self, step: _Step, *, fast: bool) -> tuple[_Plan, tuple[str, ...], str]:
        """The step's plan, the columns left to their database default, and its rows as one JSON array."""
        db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy, in the loops below
        model = type(step.objs[0])
        plan = _plan(model, tuple(step.refs), getattr(step.objs[0], model._meta.pk.attname) is not None, fast)
        written, omitted = [], []
        for column in plan.columns:
            if column.pre_save is None:
                values = [getattr(obj, column.attname) for obj in step.objs]
            else:
                values = [column.pre_save(obj) for obj in step.objs]
            if column.may_default:
                defaults = [isinstance(value, DatabaseDefault) for value in values]
                if all(defaults):
                    omitted.append(column.attname)  # the column's database default
                    continue
                if any(defaults):
                    raise ValueError(f"{model._meta.label}.{column.field.name}: a default for every row or none.")
            written.append((column, values))
        rows = [
            "{" + ",".join([column.key + column.encode(values[index], db) for column, values in written]) + "}"
            for index in range(len(step.objs))
        ]
        return plan, tuple(omitted), f"[{','.join(rows)}]"

    def _execute_as_one(self) -> list[list[int] | None]:
        sql, params = self.sql()
        try:
            # Outside a transaction the statement is its own; inside one, a savepoint keeps a failure contained.
            with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchone())
        except IntegrityError as error:
            skipped = self._skipped_by(error)
            if skipped is not None:
                raise SkippedOnConflict(skipped) from error
            raise

    def _skipped_by(self, error: IntegrityError) -> type[models.Model] | None:
        """The model of the step a NOT NULL violation came from, when the column was a reference to a row of a
        step that may write nothing (``on_conflict``): that row was not written."""
        cause = error.__cause__
        diag = getattr(cause, "diag", None)
        if getattr(cause, "sqlstate", "") != "23502" or diag is None:
            return None
        by_alias = {step.alias: step for step in self.steps}
        for step in self.steps:
            meta = step.objs[0]._meta
            if meta.db_table != diag.table_name:
                continue
            columns = {f.attname: f.column for f in meta.concrete_fields}
            for attname, alias in step.refs.items():
                if columns[attname] == diag.column_name and by_alias[alias].leaves_out_on_conflict:
                    return type(by_alias[alias].objs[0])
        return None

    def _execute_in_steps(self) -> list[list[int]]:
        """SQLite: an ``INSERT … SELECT … FROM json_each(…) RETURNING`` per step, in one transaction."""
        if not connection.features.can_return_rows_from_bulk_insert:
            raise RuntimeError("Writing rows together on SQLite needs SQLite 3.35 or later (RETURNING).")
        returned: dict[str, list[int]] = {}
        ids = []
        with transaction.atomic(), connection.cursor() as cursor:
            for step in self.steps:
                plan, omitted, rows = self._rows(step, fast=False)
                references = []
                for referring in plan.refs:  # in the order the statement names them
                    alias = step.refs[referring.attname]
                    if not returned[alias]:
                        skipped = next(s for s in self.steps if s.alias == alias)
                        raise SkippedOnConflict(type(skipped.objs[0]))
                    references.append(returned[alias][0])
                cursor.execute(_sqlite_text(plan, tuple(step.refs), step.on_conflict, omitted), [*references, rows])
                # ids are given in the order rows are written, as on PostgreSQL
                returned[step.alias] = sorted(row[0] for row in cursor.fetchall())
                ids.append(returned[step.alias])
        return ids


_text = encode_basestring_ascii  # a str as a JSON string (C)


@dataclass(frozen=True, eq=False)
class _Column:
    field: models.Field
    attname: str
    key: str  # '"column":'
    may_default: bool  # has a database default (its value may be DatabaseDefault)
    pre_save: object  # field.pre_save(obj, add=True) when it is more than reading the attribute, else None
    encode: object  # (value, connection) -> JSON text


@dataclass(frozen=True, eq=False)
class _Plan:
    model: type[models.Model]
    refs: tuple[models.Field, ...]  # written as a reference to an earlier step
    columns: tuple[_Column, ...]  # written from the rows' values


@cache
def _plan(model: type[models.Model], refs: tuple[str, ...], pk_given: bool, fast: bool = True) -> _Plan:
    """Which columns a step of this model writes, and how each value becomes JSON (``fast``: PostgreSQL's text
    for the usual values straight; otherwise, as SQLite's dates and UUIDs differ, through the field's own
    preparation every time)."""
    by_reference, columns = [], []
    for f in model._meta.local_concrete_fields:
        if f.generated or (f.primary_key and not pk_given):
            continue
        if f.attname in refs:
            by_reference.append(f)
            continue
        plain_read = type(f).pre_save is models.Field.pre_save
        columns.append(
            _Column(
                field=f,
                attname=f.attname,
                key=f"{_text(f.column)}:",
                may_default=f.has_db_default(),
                pre_save=None if plain_read else partial(_pre_save, f),
                encode=_encoder(f) if fast else partial(_json, f),
            )
        )
    return _Plan(model, tuple(by_reference), tuple(columns))


def _pre_save(field, obj):
    return field.pre_save(obj, add=True)


_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField)
_INTEGER_FIELDS = (
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.AutoField,
    models.SmallAutoField,
    models.BigAutoField,
)


def _encoder(f: models.Field):
    """``(value, connection) -> JSON`` for the field: the usual values of Django's own field classes straight to
    the text their ``get_db_prep_save`` would give; anything else (and any other field class) through it."""
    kind = type(f)
    if kind in (models.ForeignKey, models.OneToOneField) and type(f.target_field) in _INTEGER_FIELDS:
        kind = models.IntegerField
    if kind in _TEXT_FIELDS:  # any str, a TextChoices member too (it is written as its str)
        return _fast(f, str, _text, subclasses=True)
    if kind in _INTEGER_FIELDS:  # exactly int: a bool is not one
        return _fast(f, int, str)
    if kind is models.DecimalField:
        return _fast(f, Decimal, lambda value: _text(str(f.to_python(value))))
    if kind is models.DateTimeField:
        return _fast(f, dt.datetime, lambda value: _aware_datetime(f, value))
    if kind is models.DateField:
        return _fast(f, dt.date, lambda value: _text(value.isoformat()))
    if kind is models.UUIDField:
        return _fast(f, uuid.UUID, lambda value: _text(str(value)))
    if kind is models.BooleanField:
        return _fast(f, bool, lambda value: "true" if value else "false")
    return partial(_json, f)  # a JSONField among others: its None may be JSON's null, not SQL's


def _fast(f: models.Field, exact: type, encode, *, subclasses: bool = False):
    """An encoder taking values of type ``exact`` (and None, SQL's NULL) straight, anything else through ``_json``."""

    def encoder(value, db) -> str:
        if type(value) is exact or (subclasses and isinstance(value, exact)):
            return encode(value)
        if value is None:
            return "null"
        return _json(f, value, db)

    return encoder


def _aware_datetime(f: models.Field, value: dt.datetime) -> str:
    if value.tzinfo is None:  # the ORM's path: a warning and the default time zone
        return _json(f, value, connection)
    return _text(value.isoformat())


_TEXTS: dict[tuple, str] = {}


def _statement_text(shape: tuple) -> str:
    """The SQL of a statement of this shape (steps: plan, alias, references, conflict clause, columns left out)."""
    text = _TEXTS.get(shape)
    if text is None:
        quote = connection.ops.quote_name
        parts, results = [], []
        for plan, alias, refs, on_conflict, omitted in shape:
            meta = plan.model._meta
            table, pk = quote(meta.db_table), quote(meta.pk.column)
            refs = dict(refs)
            columns = [quote(f.column) for f in plan.refs]
            selected = [f"(SELECT {pk} FROM {refs[f.attname]})" for f in plan.refs]
            for column in plan.columns:
                if column.attname not in omitted:
                    columns.append(quote(column.field.column))
                    selected.append(f"r.{quote(column.field.column)}")
            conflict = f" ON CONFLICT {on_conflict}" if on_conflict else ""
            parts.append(
                f"{alias} AS (INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(selected)} FROM json_populate_recordset(NULL::{table}, %s::json) AS r"
                f"{conflict} RETURNING {pk})"
            )
            results.append(f"(SELECT array_agg({pk} ORDER BY {pk}) FROM {alias})")
        text = f"WITH {', '.join(parts)} SELECT {', '.join(results)}"
        if len(_TEXTS) < 1000:  # shapes are few (new customer or not, a billing address or not); bounded all the same
            _TEXTS[shape] = text
    return text


_SQLITE_TEXTS: dict[tuple, str] = {}


def _sqlite_text(plan: _Plan, refs: tuple[str, ...], on_conflict: str, omitted: tuple[str, ...]) -> str:
    """SQLite's INSERT of one step: references as parameters (the ids written before), then the JSON rows."""
    key = (plan, refs, on_conflict, omitted)
    text = _SQLITE_TEXTS.get(key)
    if text is None:
        quote = connection.ops.quote_name
        meta = plan.model._meta
        columns = [quote(f.column) for f in plan.refs]
        selected = ["%s"] * len(plan.refs)
        for column in plan.columns:
            if column.attname not in omitted:
                columns.append(quote(column.field.column))
                selected.append(f"json_extract(r.value, '$.\"{column.field.column}\"')")
        # WHERE true: SQLite's upsert after INSERT … SELECT needs a WHERE to parse
        conflict = f" ON CONFLICT {on_conflict}" if on_conflict else ""
        text = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(selected)} FROM json_each(%s) AS r WHERE true{conflict} "
            f"RETURNING {quote(meta.pk.column)}"
        )
        if len(_SQLITE_TEXTS) < 1000:
            _SQLITE_TEXTS[key] = text
    return text


def _json(field, value, db) -> str:
    """A column's value as JSON, in the text PostgreSQL reads back into the column's type exactly."""
    if hasattr(value, "resolve_expression"):
        raise ValueError(f"{field.model._meta.label}.{field.name}: only plain values, not expressions.")
    prepared = field.get_db_prep_save(value, db)
    if prepared is None:
        return "null"
    if isinstance(prepared, Json | Jsonb):  # a JSONField: its own encoder, as the ORM would write it
        return (prepared.dumps or json.dumps)(prepared.obj)
    if isinstance(prepared, str):
        return _text(prepared)
    if isinstance(prepared, bool | int | float):
        return json.dumps(prepared)
    if isinstance(prepared, dt.datetime | dt.date | dt.time):
        return _text(prepared.isoformat())
    if isinstance(prepared, Decimal | uuid.UUID):
        return _text(str(prepared))
    raise TypeError(f"{field.model._meta.label}.{field.name}: no JSON form for {type(prepared).__name__}.")
