"""The holds open now, by type and by how long they have been open: the console home's "Holds by type and age".

One query over the open holds (``Hold``: on whole orders and on single shipments), read from the partial index of
open holds. Each count links to the holds' list filtered to it. Kept apart from the period's key figures
(``kpis``): holds are counted as they stand now, whatever period the cockpit shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from ..models import Hold, HoldType

# (key, words, from hours, to hours): how long a hold has been open.
AGE_BANDS = (
    ("under_4h", "Under 4 hours", 0, 4),
    ("4h_1d", "4 to 24 hours", 4, 24),
    ("1d_3d", "1 to 3 days", 24, 72),
    ("over_3d", "Over 3 days", 72, None),
)


def age_filter(key: str, now: dt.datetime) -> Q:
    """The open holds whose age falls in the band ``key`` (one of ``AGE_BANDS``); ValueError for another key."""
    for band, _, low, high in AGE_BANDS:
        if band == key:
            condition = Q(placed_at__lte=now - dt.timedelta(hours=low))
            if high is not None:
                condition &= Q(placed_at__gt=now - dt.timedelta(hours=high))
            return condition
    raise ValueError(f"age: {key!r} is not one of {', '.join(band for band, *_ in AGE_BANDS)}")


@dataclass(frozen=True)
class Cell:
    count: int
    url: str


@dataclass(frozen=True)
class HoldTypeRow:
    """One hold type: how many open, on whole orders and on shipments, by age band, and since when."""

    key: str
    label: str
    total: Cell
    on_shipments: int
    by_age: tuple[Cell, ...]
    oldest: dt.datetime | None


def holds_list_url(**filters: str) -> str:
    return reverse("admin:orders_hold_changelist") + "?" + urlencode({"open": "yes", **filters})


def holds_by_type_and_age(now: dt.datetime | None = None) -> list[HoldTypeRow]:
    """Every hold type with its open holds counted by age band (one query); types with none count zero."""
    now = now or timezone.now()
    counts = {
        row["hold_type"]: row
        for row in Hold.objects.filter(released_at__isnull=True)
        .order_by()
        .values("hold_type")
        .annotate(
            total=Count("pk"),
            on_shipments=Count("pk", filter=Q(shipment__isnull=False)),
            oldest=Min("placed_at"),
            **{band: Count("pk", filter=age_filter(band, now)) for band, *_ in AGE_BANDS},
        )
    }
    rows = []
    for key, label in HoldType.choices:
        found = counts.get(key, {})
        rows.append(
            HoldTypeRow(
                key=key,
                label=label,
                total=Cell(found.get("total", 0), holds_list_url(hold_type__exact=key)),
                on_shipments=found.get("on_shipments", 0),
                by_age=tuple(
                    Cell(found.get(band, 0), holds_list_url(hold_type__exact=key, age=band)) for band, *_ in AGE_BANDS
                ),
                oldest=found.get("oldest"),
            )
        )
    return rows
