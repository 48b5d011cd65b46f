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
from json.encoder import encode_basestring_ascii

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.expressions import DatabaseDefault
from psycopg.types.json import Json, Jsonb


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
        the same whatever the number of rows, so the driver parses it once.
        """
        db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy, in the loops below
        quote = db.ops.quote_name
        parts, params = [], []
        for step in self.steps:
            meta = step.objs[0]._meta
            table, pk = quote(meta.db_table), quote(meta.pk.column)
            first = step.objs[0]
            columns, selected, plain = [], [], []  # plain: (field, its values, its JSON key) of the JSON rows
            for f in meta.local_concrete_fields:
                if f.generated or (f.primary_key and getattr(first, f.attname) is None):
                    continue
                if f.attname in step.refs:
                    columns.append(quote(f.column))
                    selected.append(f"(SELECT {pk} FROM {step.refs[f.attname]})")
                    continue
                values = [f.pre_save(obj, add=True) for obj in step.objs]
                defaults = [isinstance(value, DatabaseDefault) for value in values]
                if all(defaults):
                    continue  # the column's database default
                if any(defaults) or any(hasattr(value, "resolve_expression") for value in values):
                    raise ValueError(f"{meta.label}.{f.name}: only plain values (or a default for every row).")
                columns.append(quote(f.column))
                selected.append(f"r.{quote(f.column)}")
                plain.append((f, values, f"{_text(f.column)}:"))
            rows = [
                "{" + ",".join([key + _json(f, values[index], db) for f, values, key in plain]) + "}"
                for index in range(len(step.objs))
            ]
            params.append(f"[{','.join(rows)}]")
            conflict = f" ON CONFLICT {step.on_conflict}" if step.on_conflict else ""
            parts.append(
                f"{step.alias} AS (INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(selected)} FROM json_populate_recordset(NULL::{table}, %s::json) AS r"
                f"{conflict} RETURNING {pk})"
            )
        results = ", ".join(
            f"(SELECT array_agg({quote(step.objs[0]._meta.pk.column)} ORDER BY {quote(step.objs[0]._meta.pk.column)}) "
            f"FROM {step.alias})"
            for step in self.steps
        )
        return f"WITH {', '.join(parts)} SELECT {results}", params

    def execute(self) -> None:
        """Write every row in one statement; sets each instance's primary key and each reference's id."""
        if connection.vendor != "postgresql":
            raise RuntimeError("One-statement writes need PostgreSQL (data-modifying WITH); use the ORM elsewhere.")
        sql, params = self.sql()
        with connection.cursor() as cursor:
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


def _json(field, value, db) -> str:
    """A column's value as JSON, in the text PostgreSQL reads back into the column's type exactly."""
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
