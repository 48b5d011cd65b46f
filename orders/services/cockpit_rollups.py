"""The cockpit's day rollups: the shipping facts summed by local day, kept exact beside them.

``ShippedOrdersDay`` sums the orders whose goods have all left by the local day their last shipment left,
channel, currency and whole hours to ship; ``DeliveredOrdersDay`` the delivered orders by the day their last
shipment arrived, channel and whole hours to delivery. A 90-day window then reads a few thousand rows
instead of a quarter of a million orders' facts (bench/README.md, the cockpit).

They are kept by the same calls that keep the facts, in the same transaction:
``refresh_shipping_facts(order_ids)`` reads what those orders added to the rollups before and after
computing their facts again, and adds the difference (``INSERT ... ON CONFLICT DO UPDATE SET n = n +
excluded.n``: the row is locked by the upsert, so parallel transactions adding to the same day lose nothing;
the rows are written in key order, so two of them never wait on each other crosswise).
``refresh_all_shipping_facts`` sums them again from every order's facts and records the time zone their days
are in (``CockpitRollupZone``); the cockpit reads them only while that is ``settings.TIME_ZONE``.

Hours are whole hours, rounded down (25 h 59 min counts as 25 h): the cockpit's median and 90th percentile
of time to ship and to delivery are those of the whole hours, at most an hour under those of the exact times.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, DecimalField, F, Func, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

ZONE_ROW = 1
SHIPPED_KEYS = ("day", "channel_id", "currency", "hours")
SHIPPED_MEASURES = ("orders", "on_time", "split", "shipping_cost", "revenue")
DELIVERED_KEYS = ("day", "channel_id", "hours")
DELIVERED_MEASURES = ("orders", "on_time")


class WholeHoursBetween(Func):
    """Whole hours from one instant to a later one, rounded down, as an integer (PostgreSQL and SQLite alike).

    The seconds are rounded first, so an instant stored to the microsecond a hair under the hour still counts
    the hour. On PostgreSQL with ``date_part`` (double precision), not ``EXTRACT`` (numeric since PostgreSQL
    14, whose arithmetic took half the time of the cockpit's biggest read: bench/README.md, the cockpit).
    """

    output_field = IntegerField()

    def __init__(self, earlier, later):
        super().__init__(earlier, later)

    def as_sql(self, compiler, connection, **extra_context):
        earlier, earlier_params = compiler.compile(self.source_expressions[0])
        later, later_params = compiler.compile(self.source_expressions[1])
        seconds = f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0)"
        # SQLite's CAST truncates towards zero: below zero, one hour less unless the hour is whole.
        sql = (
            f"(CAST({seconds} / 3600 AS INTEGER) - "
            f"CASE WHEN {seconds} < 0 AND CAST({seconds} AS INTEGER) %% 3600 != 0 THEN 1 ELSE 0 END)"
        )
        return sql, (*later_params, *earlier_params) * 3

    def as_postgresql(self, compiler, connection, **extra_context):
        earlier, earlier_params = compiler.compile(self.source_expressions[0])
        later, later_params = compiler.compile(self.source_expressions[1])
        return (
            f"CAST(floor(ROUND(date_part('epoch', {later} - {earlier})) / 3600.0) AS integer)",
            (*later_params, *earlier_params),
        )


def _flag(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def shipped_day_rows(facts: QuerySet, keys: Iterable[str] = SHIPPED_KEYS) -> QuerySet:
    """The shipped orders among ``facts`` (rows of ``OrderShippingFacts``) summed as ``ShippedOrdersDay`` sums
    them, grouped by ``keys``: a values queryset of the keys, then ``SHIPPED_MEASURES``."""
    return (
        facts.filter(goods_left=True, last_shipped_at__isnull=False)
        .order_by()
        .annotate(
            day=TruncDate("last_shipped_at", tzinfo=timezone.get_default_timezone()),
            hours=WholeHoursBetween("placed_at", "last_shipped_at"),
        )
        .values(*keys)
        .annotate(
            orders=Count("*"),
            on_time=Sum(_flag(Q(late_shipments=0))),
            split=Sum(_flag(Q(live_shipments__gt=1))),
            shipping_cost=Coalesce(Sum("shipping_cost"), Value(Decimal("0.00")), output_field=DecimalField()),
            revenue=Sum("grand_total"),
        )
    )


def delivered_day_rows(facts: QuerySet, keys: Iterable[str] = DELIVERED_KEYS) -> QuerySet:
    """The delivered orders among ``facts`` summed as ``DeliveredOrdersDay`` sums them, grouped by ``keys``."""
    day = TruncDate("last_delivered_at", tzinfo=timezone.get_default_timezone())
    return (
        facts.filter(delivered=True, last_delivered_at__isnull=False)
        .order_by()
        .annotate(day=day, hours=WholeHoursBetween("placed_at", "last_delivered_at"))
        .values(*keys)
        .annotate(
            orders=Count("*"),
            on_time=Sum(_flag(Q(promised_date__isnull=True) | Q(LessThanOrEqual(day, F("promised_date"))))),
        )
    )


# --- kept in step, order by order -------------------------------------------------------------
def rollup_contributions(facts_model, order_ids: list[int]) -> tuple[dict, dict]:
    """What these orders' facts add to each rollup now: {key: [measures]} for the shipped and the delivered.

    One read of the facts rows by key, summed here as ``shipped_day_rows`` and ``delivered_day_rows`` sum them
    in SQL (the same day, the same whole hours, the same flags): four grouped statements a refresh cost the
    shipping services twice the time (bench/README.md, the cockpit).
    """
    tz = timezone.get_default_timezone()
    shipped: dict[tuple, list] = {}
    delivered: dict[tuple, list] = {}
    rows = facts_model.objects.filter(order_id__in=order_ids).values_list(
        "channel_id",
        "currency",
        "grand_total",
        "placed_at",
        "promised_date",
        "goods_left",
        "delivered",
        "live_shipments",
        "late_shipments",
        "shipping_cost",
        "last_shipped_at",
        "last_delivered_at",
    )
    for (
        channel,
        currency,
        grand_total,
        placed,
        promised,
        goods_left,
        is_delivered,
        live,
        late,
        cost,
        left,
        arrived,
    ) in rows:
        if goods_left and left is not None:
            key = (timezone.localtime(left, tz).date(), channel, currency, whole_hours(placed, left))
            _sum_into(shipped, key, (1, int(late == 0), int(live > 1), cost or Decimal("0.00"), grand_total))
        if is_delivered and arrived is not None:
            day = timezone.localtime(arrived, tz).date()
            on_time = promised is None or day <= promised
            _sum_into(delivered, (day, channel, whole_hours(placed, arrived)), (1, int(on_time)))
    return shipped, delivered


def whole_hours(earlier: dt.datetime, later: dt.datetime) -> int:
    """``WholeHoursBetween`` in Python: the seconds rounded half away from zero, then whole hours rounded down."""
    seconds = (later - earlier).total_seconds()
    rounded = math.floor(abs(seconds) + 0.5) * (1 if seconds >= 0 else -1)
    return rounded // 3600


def _sum_into(sums: dict[tuple, list], key: tuple, values: tuple) -> None:
    found = sums.setdefault(key, [0] * len(values))
    for index, value in enumerate(values):
        found[index] += value


def add_rollup_difference(before: tuple[dict, dict], after: tuple[dict, dict]) -> None:
    """Add ``after`` minus ``before`` (two ``rollup_contributions``) to the rollups, in one upsert each."""
    from ..models import DeliveredOrdersDay, ShippedOrdersDay

    for model, keys, measures, old, new in (
        (ShippedOrdersDay, SHIPPED_KEYS, SHIPPED_MEASURES, before[0], after[0]),
        (DeliveredOrdersDay, DELIVERED_KEYS, DELIVERED_MEASURES, before[1], after[1]),
    ):
        changes = {}
        for key in old.keys() | new.keys():
            was, now = old.get(key), new.get(key)
            delta = [(n if now else 0) - (w if was else 0) for w, n in zip(was or now, now or was, strict=True)]
            if any(delta):
                changes[key] = delta
        _add(model, keys, measures, changes)


def _add(model, keys: tuple[str, ...], measures: tuple[str, ...], changes: dict) -> None:
    if not changes:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*keys, *measures]
    adapt = {
        "day": connection.ops.adapt_datefield_value,
        "shipping_cost": lambda value: connection.ops.adapt_decimalfield_value(Decimal(value)),
        "revenue": lambda value: connection.ops.adapt_decimalfield_value(Decimal(value)),
    }
    params = []
    # In key order: two transactions adding to the same days lock their rows in the same order.
    for key, delta in sorted(changes.items()):
        for name, value in zip(columns, (*key, *delta), strict=True):
            params.append(adapt[name](value) if name in adapt else value)
    row = f"({', '.join(['%s'] * len(columns))})"
    updates = ", ".join(f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in measures)
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(name) for name in columns)}) "
        f"VALUES {', '.join([row] * len(changes))} "
        f"ON CONFLICT ({', '.join(quote(name) for name in keys)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- summed again from every order's facts ------------------------------------------------------
def rebuild_rollups(facts_model, shipped_model, delivered_model, zone_model) -> None:
    """Sum both rollups again from every order's facts, in ``settings.TIME_ZONE``, and record that zone.

    The models are given so that a migration can pass its own. Two INSERT ... SELECT statements.
    """
    shipped_model.objects.all().delete()
    delivered_model.objects.all().delete()
    quote = connection.ops.quote_name
    for model, rows, keys, measures in (
        (shipped_model, shipped_day_rows(facts_model.objects.all()), SHIPPED_KEYS, SHIPPED_MEASURES),
        (delivered_model, delivered_day_rows(facts_model.objects.all()), DELIVERED_KEYS, DELIVERED_MEASURES),
    ):
        select, params = rows.query.sql_with_params()
        columns = ", ".join(quote(name) for name in (*keys, *measures))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT {columns} FROM ({select}) AS summed",
                params,
            )
    zone_model.objects.update_or_create(pk=ZONE_ROW, defaults={"time_zone": settings.TIME_ZONE})


def rollups_zone_is_current() -> bool:
    """Whether the rollups' days are in ``settings.TIME_ZONE`` (the cockpit reads them only then)."""
    from ..models import CockpitRollupZone

    return CockpitRollupZone.objects.filter(pk=ZONE_ROW, time_zone=settings.TIME_ZONE).exists()
