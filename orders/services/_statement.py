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

from dataclasses import dataclass, field

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault


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
        quote = connection.ops.quote_name
        parts, params = [], []
        for step in self.steps:
            meta = step.objs[0]._meta
            fields = [
                f
                for f in meta.local_concrete_fields
                if not f.generated and not (f.primary_key and getattr(step.objs[0], f.attname) is None)
            ]
            rows = []
            for obj in step.objs:
                values = []
                for f in fields:
                    if f.attname in step.refs:
                        values.append(f"(SELECT {quote(meta.pk.column)} FROM {step.refs[f.attname]})")
                        continue
                    value = f.pre_save(obj, add=True)
                    if isinstance(value, DatabaseDefault):
                        values.append("DEFAULT")
                    elif hasattr(value, "resolve_expression"):
                        raise ValueError(f"{meta.label}.{f.name}: expressions are not supported here.")
                    else:
                        values.append("%s")
                        params.append(f.get_db_prep_save(value, connection))
                rows.append(f"({', '.join(values)})")
            conflict = f" ON CONFLICT {step.on_conflict}" if step.on_conflict else ""
            parts.append(
                f"{step.alias} AS (INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
                f"VALUES {', '.join(rows)}{conflict} RETURNING {quote(meta.pk.column)})"
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
            raise NotImplementedError("One-statement writes need PostgreSQL; use the ORM elsewhere.")
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
