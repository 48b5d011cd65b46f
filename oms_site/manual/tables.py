"""A model's rows as a table for the manual, its columns read from the model.

The columns are the fields an operator sets (the model's editable concrete fields, in the order the model
declares them), headed by their verbose names with their help texts; so a field added to a model shows in the
manual without a change here. A section may leave out fields that are not rules (a contact's phone) or
secrets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from .changes import Change, last_change

EMPTY = "—"


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    help: str
    numeric: bool


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[Column]
    rows: list[list[str]]
    empty: str
    changed: Change | None = None

    @property
    def headers(self) -> list[str]:
        return [column.title for column in self.columns]


NUMERIC = (models.IntegerField, models.DecimalField, models.FloatField)


def columns_of(model: type[models.Model], *, exclude: Iterable[str] = ()) -> list[Column]:
    """The operator-set fields of ``model`` as columns, in declaration order, minus ``exclude``."""
    skip = set(exclude)
    return [
        Column(
            name=field.name,
            title=str(field.verbose_name).capitalize() if field.verbose_name else field.name,
            help=str(field.help_text or ""),
            numeric=isinstance(field, NUMERIC) and not field.choices,
        )
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key and field.name not in skip
    ]


def display(instance: models.Model, field: models.Field) -> str:
    """A field's value as the manual prints it: choices by label, rows by name, times as HH:MM, blanks as —."""
    if field.choices:
        value = getattr(instance, field.attname)
        return str(getattr(instance, f"get_{field.name}_display")()) if value not in (None, "") else EMPTY
    if field.is_relation:
        related = getattr(instance, field.name)
        return str(related) if related is not None else EMPTY
    value = getattr(instance, field.attname)
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral() else str(value)
    return str(value)


def model_table(
    queryset: models.QuerySet,
    *,
    title: str = "",
    exclude: Iterable[str] = (),
    empty: str = "None set.",
    with_change: bool = True,
) -> Table:
    """``queryset``'s rows, one line each, with a column per operator-set field of its model, and the model's last
    change (any row's, not only these) unless ``with_change`` is off (a table of some rows among others)."""
    model = queryset.model
    columns = columns_of(model, exclude=exclude)
    fields = {field.name: field for field in model._meta.concrete_fields}
    related = [column.name for column in columns if fields[column.name].is_relation]
    rows = [
        [display(instance, fields[column.name]) for column in columns] for instance in queryset.select_related(*related)
    ]
    return Table(
        title=title or str(model._meta.verbose_name_plural).capitalize(),
        columns=columns,
        rows=rows,
        empty=empty,
        changed=last_change([model]) if with_change else None,
    )
