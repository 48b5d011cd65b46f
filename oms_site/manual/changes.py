"""When a part of the manual last changed, and who changed it.

Configuration rows keep their history with django-simple-history (``history = HistoricalRecords()``; the
console user behind each change comes from ``HistoryRequestMiddleware``): the newest record of any of a
section's models is its last change. Models without a history (the beat schedules, the role groups) fall
back on the console's change log (``django.contrib.admin.models.LogEntry``), which records every save made
in the console, by whom. What is defined in code (the state table, the roles table) changes with a release;
the section says which file holds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

HISTORY_VERBS = {"+": "added", "~": "changed", "-": "deleted"}
LOG_VERBS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


@dataclass(frozen=True)
class Change:
    """One change: when, who (blank when not recorded), what (the kind of row and the row), how."""

    at: dt.datetime
    by: str
    what: str
    verb: str

    @property
    def sentence(self) -> str:
        return f"{self.what} {self.verb}"


def person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def last_history_change(model: type[models.Model]) -> Change | None:
    """The newest simple-history record of ``model``'s rows, or None (no history, or none recorded yet)."""
    manager = getattr(model, "history", None)
    if manager is None:
        return None
    record = manager.select_related("history_user").order_by("-history_date", "-history_id").first()
    if record is None:
        return None
    # The record's own fields make its name; a foreign key's row may be gone since.
    try:
        name = str(record.instance)
    except ObjectDoesNotExist:  # a related row deleted since must not hide the change itself
        name = f"#{record.id}"
    return Change(
        at=record.history_date,
        by=person(record.history_user),
        what=f"{model._meta.verbose_name.capitalize()} “{name}”",
        verb=HISTORY_VERBS.get(record.history_type, "changed"),
    )


def last_logged_change(model: type[models.Model]) -> Change | None:
    """The newest console change-log entry for ``model``'s rows, or None."""
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    entry = LogEntry.objects.filter(content_type=content_type).select_related("user").order_by("-action_time").first()
    if entry is None:
        return None
    return Change(
        at=entry.action_time,
        by=person(entry.user),
        what=f"{model._meta.verbose_name.capitalize()} “{entry.object_repr}”",
        verb=LOG_VERBS.get(entry.action_flag, "changed"),
    )


def last_change(sources: Iterable[type[models.Model]]) -> Change | None:
    """The newest change among the models' histories (or, for a model without one, their change-log entries)."""
    changes = []
    for model in sources:
        change = last_history_change(model) if hasattr(model, "history") else last_logged_change(model)
        if change is not None:
            changes.append(change)
    return max(changes, key=lambda change: change.at, default=None)
