"""Rows of several tables written by one SQL statement (PostgreSQL's data-modifying WITH clauses).

The intake writes a new order as customer, addresses, order, lines,
timeline event, intake record and outbox row. As separate INSERTs in a
transaction that is ten round trips and ten times the ORM's SQL building; as
one statement it is one round trip, and, outside a transaction, its own
transaction too (all rows or none).

The rows are ordinary unsaved model instances, built as the ORM path builds
them; each column's value goes through the field's own ``pre_save`` and
``get_db_prep_save``, exactly as ``Model.save`` does, so defaults,
``auto_now`` and JSON encoding are the ORM's. A foreign key to a row written
earlier in the same statement is given as a reference (``refs``) and becomes
``(SELECT id FROM <step>)``. After ``execute`` every instance has its primary
key, and every reference its id.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, partial
from json.encoder import encode_basestring_ascii

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.expressions import DatabaseDefault
from psycopg.types.json import Json, Jsonb

from oms_core.sql import prepared_cursor


@dataclass
class _Step:
    alias: str
    objs: list[models.Model]
    refs: dict[str, str] = field(default_factory=dict)  # attname -> alias of a one-row step written before
    on_conflict: str = ""


class OneStatement:
    """Add the rows in dependency order (``add``), then ``execute`` once. PostgreSQL only."""

    def __init__(self) -> None:
        self.steps: list[_Step] = []

    def add(self, objs: list[models.Model], *, refs: dict[str, str] | None = None, on_conflict: str = "") -> str:
        """Add rows of one model; returns the step's alias, for ``refs`` of later steps.

        ``on_conflict`` is SQL after ``ON CONFLICT``. With ``DO NOTHING`` a
        conflicting row writes nothing: references to the step are then NULL
        and ``execute`` raises the database's error (or, where NULL is
        allowed, finds no id for the row and raises ``LookupError``).
        """
        if not objs:
            raise ValueError("A step needs at least one row.")
        if len({type(obj) for obj in objs}) != 1:
            raise ValueError("A step writes rows of one model.")
        for alias in (refs or {}).values():
            step = next((s for s in self.steps if s.alias == alias), None)
            if step is None or len(step.objs) != 1:
                raise ValueError(f"A reference must name a one-row step added before: {alias!r}.")
        alias = f"w{len(self.steps)}"
        self.steps.append(_Step(alias, list(objs), dict(refs or {}), on_conflict))
        return alias

    def sql(self) -> tuple[str, list]:
        """The statement and its parameters: one JSON array of rows per step (``json_populate_recordset``).

        A parameter per step rather than per value keeps the statement's text
        the same whatever the number of rows, so the driver parses it once;
        the text itself is built once per shape of statement and kept.
        """
        db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy, in the loops below
        shape, params = [], []
        for step in self.steps:
            model = type(step.objs[0])
            plan = _plan(model, tuple(step.refs), getattr(step.objs[0], model._meta.pk.attname) is not None)
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
            params.append(f"[{','.join(rows)}]")
            shape.append((plan, step.alias, tuple(step.refs.items()), step.on_conflict, tuple(omitted)))
        return _statement_text(tuple(shape)), params

    def execute(self) -> None:
        """Write every row in one statement; sets each instance's primary key and each reference's id."""
        if connection.vendor != "postgresql":
            raise RuntimeError("One-statement writes need PostgreSQL (data-modifying WITH); use the ORM elsewhere.")
        sql, params = self.sql()
        with prepared_cursor() as cursor:  # its text is the same for every statement of its shape: planned once
            cursor.execute(sql, params)
            ids = cursor.fetchone()
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
def _plan(model: type[models.Model], refs: tuple[str, ...], pk_given: bool) -> _Plan:
    """Which columns a step of this model writes, and how each value becomes JSON."""
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
                encode=_encoder(f),
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
