"""The stretch of time the cockpit measures, and the filter it measures through.

A period is whole local days (``settings.TIME_ZONE``), first and last day
included. When it runs to today, it ends *now*, and the previous period of
equal length ends at the same clock time as many days earlier: "today so far"
is compared with "yesterday until this time", never with a whole day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

from django.utils import timezone

TODAY = "today"
LAST_7_DAYS = "last_7_days"
LAST_30_DAYS = "last_30_days"
CUSTOM = "custom"
KIND_LABELS = {TODAY: "Today", LAST_7_DAYS: "Last 7 days", LAST_30_DAYS: "Last 30 days", CUSTOM: "Custom"}
# A custom period is at most a year: the figures stay cheap and a daily chart stays readable.
MAX_DAYS = 366


def local_timezone() -> dt.tzinfo:
    """The operations team's timezone: ``settings.TIME_ZONE``, whatever a request may have activated."""
    return timezone.get_default_timezone()


def local_midnight(day: dt.date) -> dt.datetime:
    """The aware instant a local day starts."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=local_timezone())


def local_date(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, local_timezone()).date()


@dataclass(frozen=True)
class Window:
    """Instants from ``start`` (included) to ``end`` (excluded), both aware."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date) -> Window:
        """Whole local days, ``first`` to ``last`` included."""
        return cls(local_midnight(first), local_midnight(last + dt.timedelta(days=1)))

    @property
    def first_day(self) -> dt.date:
        return local_date(self.start)

    @property
    def last_day(self) -> dt.date:
        """The local day of the window's last instant (the first day for an empty window)."""
        if self.end <= self.start:
            return self.first_day
        return local_date(self.end - dt.timedelta(microseconds=1))

    @property
    def days(self) -> list[dt.date]:
        """Every local day the window touches, in order."""
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + dt.timedelta(days=offset) for offset in range(count)]


@dataclass(frozen=True)
class Period:
    """Local days from ``start`` to ``end`` (both included), optionally for one channel or one warehouse.

    Build one with ``Period.today()``, ``Period.last_7_days()``,
    ``Period.last_30_days()``, ``Period.custom(start, end)`` or, from a page's
    query string, ``Period.from_query(request.GET)``.
    """

    kind: str
    start: dt.date
    end: dt.date
    channel_id: int | None = None
    warehouse_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KIND_LABELS:
            raise ValueError(f"period: {self.kind!r} is not one of {', '.join(KIND_LABELS)}.")
        if self.end < self.start:
            raise ValueError(f"end: {self.end} is before the start, {self.start}.")
        if self.days > MAX_DAYS:
            raise ValueError(f"end: a period is at most {MAX_DAYS} days; {self.start} to {self.end} is {self.days}.")

    # --- building one -------------------------------------------------------------------
    @classmethod
    def today(cls, *, channel_id: int | None = None, warehouse_id: int | None = None, today: dt.date | None = None):
        day = today or timezone.localdate(timezone=local_timezone())
        return cls(TODAY, day, day, channel_id, warehouse_id)

    @classmethod
    def last_7_days(cls, *, channel_id: int | None = None, warehouse_id: int | None = None, today=None):
        """Today and the six days before it."""
        return cls._ending_today(LAST_7_DAYS, 7, channel_id, warehouse_id, today)

    @classmethod
    def last_30_days(cls, *, channel_id: int | None = None, warehouse_id: int | None = None, today=None):
        """Today and the 29 days before it."""
        return cls._ending_today(LAST_30_DAYS, 30, channel_id, warehouse_id, today)

    @classmethod
    def custom(cls, start: dt.date, end: dt.date, *, channel_id: int | None = None, warehouse_id: int | None = None):
        return cls(CUSTOM, start, end, channel_id, warehouse_id)

    @classmethod
    def _ending_today(cls, kind, days, channel_id, warehouse_id, today) -> Period:
        day = today or timezone.localdate(timezone=local_timezone())
        return cls(kind, day - dt.timedelta(days=days - 1), day, channel_id, warehouse_id)

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, today: dt.date | None = None) -> Period:
        """A period from a page's query string: ``period`` (today, last_7_days, last_30_days or custom, with
        ``start`` and ``end`` as YYYY-MM-DD), ``channel`` and ``warehouse`` (ids); last 7 days by default.

        Raises ValueError naming the parameter that is wrong.
        """
        kind = query.get("period") or LAST_7_DAYS
        channel_id = _optional_id(query, "channel")
        warehouse_id = _optional_id(query, "warehouse")
        if kind == TODAY:
            return cls.today(channel_id=channel_id, warehouse_id=warehouse_id, today=today)
        if kind == LAST_7_DAYS:
            return cls.last_7_days(channel_id=channel_id, warehouse_id=warehouse_id, today=today)
        if kind == LAST_30_DAYS:
            return cls.last_30_days(channel_id=channel_id, warehouse_id=warehouse_id, today=today)
        if kind == CUSTOM:
            start, end = _date(query, "start"), _date(query, "end")
            return cls.custom(start, end, channel_id=channel_id, warehouse_id=warehouse_id)
        raise ValueError(f"period: {kind!r} is not one of {', '.join(KIND_LABELS)}.")

    # --- reading one --------------------------------------------------------------------
    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.kind == CUSTOM:
            return f"{self.start.isoformat()} to {self.end.isoformat()}"
        return KIND_LABELS[self.kind]

    @property
    def cache_key(self) -> str:
        return f"{self.kind}:{self.start}:{self.end}:{self.channel_id or '-'}:{self.warehouse_id or '-'}"

    def with_filter(self, *, channel_id: int | None = None, warehouse_id: int | None = None) -> Period:
        return replace(self, channel_id=channel_id, warehouse_id=warehouse_id)

    def windows(self, now: dt.datetime | None = None) -> tuple[Window, Window]:
        """The period's instants and the previous period's, of equal length.

        A period still running ends at ``now``; the previous one then ends at
        the same local clock time, as many days earlier. A period wholly in
        the future is empty.
        """
        now = now or timezone.now()
        span = dt.timedelta(days=self.days)
        start, end = local_midnight(self.start), local_midnight(self.end + dt.timedelta(days=1))
        previous_start, previous_end = (
            local_midnight(self.start - span),
            local_midnight(self.end + dt.timedelta(1) - span),
        )
        if now <= start:
            end, previous_end = start, previous_start
        elif now < end:
            end = now
            clock = timezone.localtime(now, local_timezone())
            previous_end = dt.datetime.combine(clock.date() - span, clock.time(), tzinfo=local_timezone())
        return Window(start, end), Window(previous_start, previous_end)


def _optional_id(query: Mapping[str, str], name: str) -> int | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{name}: {value!r} is not an id.")
    return int(value)


def _date(query: Mapping[str, str], name: str) -> dt.date:
    value = (query.get(name) or "").strip()
    if not value:
        raise ValueError(f"{name}: a custom period needs a {name} date (YYYY-MM-DD).")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD).") from None
