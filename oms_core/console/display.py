"""Small pieces of HTML every console shows the same way: a status badge, a link to a row's page."""

from __future__ import annotations

from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

NEUTRAL = "#475569"


def badge(key: str, colour: str, label: str) -> str:
    """A coloured pill naming a status: ``key`` is its CSS modifier (``oms-badge-<key>``), ``label`` its words."""
    return format_html('<span class="oms-badge oms-badge-{}" style="background:{}">{}</span>', key, colour, label)


def rows_table(rows, *, headers: tuple[str, ...], cells, key: str, table_id: str = "") -> dict:
    """A form page's table of the rows it acts on: a header per column, each row's ``cells(row)``, and the row's id
    as its ``data-<key>`` (``table_id``: the table's own id, when a page is looked up by it)."""
    return {
        "id": table_id,
        "key": key,
        "headers": headers,
        "rows": [{"pk": row.pk, "cells": cells(row)} for row in rows],
    }


def plural(count: int, word: str) -> str:
    """A count and its noun: "1 label", "2 labels"."""
    return f"{count} {word}{'s' if count != 1 else ''}"


def admin_change_url(app_label: str, model_name: str, pk) -> str | None:
    """The console page of a row, when the console has one for its model; None otherwise."""
    if pk in (None, ""):
        return None
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
    except NoReverseMatch:
        return None


def admin_link(obj: models.Model | None) -> str | None:
    """A link to the row's console page, named as the row names itself; None for no row.

    The row's model names the page, so a console can link a row of a higher app's model (held by a string
    foreign key) without importing that app.
    """
    if obj is None:
        return None
    url = admin_change_url(obj._meta.app_label, obj._meta.model_name, obj.pk)
    return format_html('<a href="{}">{}</a>', url, obj) if url else str(obj)
