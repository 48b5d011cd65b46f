"""The rows the cockpit counts, as querysets, and the one way it aggregates them in SQL.

The KPIs and the charts read the same populations, so a chart's bars add up to
the figure beside it:

- **scope**: the period's filter. A channel keeps its orders. A warehouse keeps
  the orders with a shipment from it that is not cancelled, or stock reserved
  there (an order not routed yet belongs to no warehouse); for shipments and
  order errors it is their own warehouse.
- **shipped orders**: orders whose goods have all left (shipped or delivered)
  and whose last shipment that is not cancelled left within the window.
- **delivered orders**: delivered orders whose last shipment arrived within the
  window.

Per-order facts (last shipment, shipments, cost) are rows of
``OrderShippingFacts``, kept by the shipping services; figures over those
facts (counts, sums, percentiles; overall, by currency, by day) are summed
from them in one statement (``summarise``: a WITH of the facts and a UNION ALL of groupings),
since the ORM cannot aggregate an aggregate by group.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from inventory.models import Allocation
from shipping.models import Shipment

from ..events import HOLD_CAUSES
from ..models import OrderEvent, OrderShippingFacts, OrderStatus
from ..services.cockpit_rollups import WholeHoursBetween
from ..services.shipping_facts import GOODS_LEFT, LIVE_SHIPMENT_STATUSES
from .periods import Period, Window, local_timezone

# Why an order's current hold was put on: the causes a hold's entry records (``events.HOLD_CAUSES``), and "other"
# for a hold whose entry records none the older wording fallback can tell (``current_hold_reason``).
HOLD_REASONS = (*HOLD_CAUSES.items(), ("other", "Other"))
CREDIT_HOLD_PREFIX = "Credit check:"
PAYMENT_HOLD_PREFIX = "Payment"
CENT = Decimal("0.01")
TENTH = Decimal("0.1")


# --- the period's filter ------------------------------------------------------------------
def order_scope(period: Period, *, order_ref: str = "pk", channel_field: str = "channel_id") -> Q:
    """The orders the period's filter keeps, as a condition on a queryset of orders (or of rows with an order:
    ``order_ref="order_id"``, ``channel_field="order__channel_id"``)."""
    scope = channel_scope(period, channel_field)
    if period.warehouse_id is not None:
        scope &= warehouse_scope(period.warehouse_id, order_ref=order_ref)
    return scope


def warehouse_scope(warehouse_id: int, *, order_ref: str = "pk") -> Q:
    """The orders a warehouse keeps: a shipment from it that is not cancelled, or stock reserved there."""
    # Two IN subqueries, which PostgreSQL hashes once a statement (the warehouse's live shipments and its
    # allocations), not an EXISTS probing two indexes for every order of the period. On a million orders, through
    # the busiest warehouse, back to back: the seed's busy week 2.2-2.7 s instead of 2.9-3.0 s, 90 days 2.3 s
    # instead of 4.5 s, an ordinary week 1.5 s instead of 1.2 s (bench/README.md, the cockpit).
    ships_from = Shipment.objects.filter(warehouse_id=warehouse_id, status__in=LIVE_SHIPMENT_STATUSES).values(
        "order_id"
    )
    reserved_at = Allocation.objects.filter(warehouse_id=warehouse_id).values("order_id")
    return Q(**{f"{order_ref}__in": ships_from}) | Q(**{f"{order_ref}__in": reserved_at})


def channel_scope(period: Period, channel_field: str = "channel_id") -> Q:
    return Q(**{channel_field: period.channel_id}) if period.channel_id is not None else Q()


def shipment_scope(period: Period) -> Q:
    """The shipments the period's filter keeps: their order's channel, their own warehouse."""
    scope = Q()
    if period.channel_id is not None:
        scope &= Q(order__channel_id=period.channel_id)
    if period.warehouse_id is not None:
        scope &= Q(warehouse_id=period.warehouse_id)
    return scope


def in_window(field: str, window: Window) -> Q:
    return Q(**{f"{field}__gte": window.start, f"{field}__lt": window.end})


# --- the populations ----------------------------------------------------------------------
# Per-order facts come from ``OrderShippingFacts``: the shipping services keep each order's row equal to what its
# shipments add up to, beside the order's own figures (``orders.services.shipping_facts``), so a population is one
# indexed range of one table's rows, the orders and the shipments unread (but for a warehouse's filter).
def _facts_scope(period: Period) -> Q:
    return order_scope(period, order_ref="order_id", channel_field="channel_id")


def shipped_orders(period: Period, window: Window) -> QuerySet[OrderShippingFacts]:
    """Orders whose goods have all left and whose last shipment left within ``window``, one row each with:

    ``currency``, ``grand_total``, ``last_shipped_at``, ``live_shipments``
    (not cancelled), ``late_shipments`` (left on a later local day than their
    planned pickup, ``ship_date``), ``shipments_cost`` (their shipping cost; a
    shipment without one counts nothing), ``ship_hours`` (placed to last
    shipment, in whole hours rounded down, as the day rollups count them),
    ``ship_day`` (its local day), ``on_time`` and ``split`` (1 or 0).
    """
    return (
        OrderShippingFacts.objects.filter(_facts_scope(period), in_window("last_shipped_at", window), goods_left=True)
        .annotate(
            shipments_cost=F("shipping_cost"),
            ship_hours=WholeHoursBetween("placed_at", "last_shipped_at"),
            ship_day=TruncDate("last_shipped_at", tzinfo=local_timezone()),
            on_time=flag(Q(late_shipments=0)),
            split=flag(Q(live_shipments__gt=1)),
        )
        .order_by()
    )


def delivered_orders(period: Period, window: Window) -> QuerySet[OrderShippingFacts]:
    """Delivered orders whose last shipment arrived within ``window``, one row each with:

    ``last_delivered_at``, ``delivery_hours`` (placed to last delivery, whole hours rounded down),
    ``delivery_day`` (its local day) and ``on_time`` (1 when that day is on or
    before the promised delivery date, or nothing was promised; else 0).
    """
    delivery_day = TruncDate("last_delivered_at", tzinfo=local_timezone())
    return (
        OrderShippingFacts.objects.filter(_facts_scope(period), in_window("last_delivered_at", window), delivered=True)
        .annotate(
            delivery_hours=WholeHoursBetween("placed_at", "last_delivered_at"),
            delivery_day=delivery_day,
            on_time=flag(Q(promised_date__isnull=True) | Q(LessThanOrEqual(delivery_day, F("promised_date")))),
        )
        .order_by()
    )


# --- the same populations as conditions on a list of orders (the console's filters behind the links) ----------
# Each says of one order what the populations above say of it, from the same facts: "the last shipment left within
# the window" is the order's ``last_shipped_at`` within it.
def last_shipment_left_within(window: Window) -> Q:
    """``shipped_orders``' population: goods all left, the last shipment not cancelled left within ``window``."""
    return Q(status__in=GOODS_LEFT) & in_window("shipping_facts__last_shipped_at", window)


def left_late() -> Q:
    """A shipment of the order (not cancelled) left on a later local day than its planned pickup day."""
    return Q(shipping_facts__late_shipments__gt=0)


def left_on_time() -> Q:
    """A shipment of the order (not cancelled) has left, and none left after its planned pickup day."""
    return Q(shipping_facts__last_shipped_at__isnull=False, shipping_facts__late_shipments=0)


def last_arrival_within(window: Window) -> Q:
    """``delivered_orders``' population: delivered, the last shipment not cancelled arrived within ``window``."""
    return Q(status=OrderStatus.DELIVERED) & in_window("shipping_facts__last_delivered_at", window)


def _arrival_day() -> TruncDate:
    return TruncDate("shipping_facts__last_delivered_at", tzinfo=local_timezone())


def arrived_late() -> Q:
    """Delivered on a later local day than promised: the last arrival is late when any arrival is."""
    return Q(status=OrderStatus.DELIVERED) & Q(GreaterThan(_arrival_day(), F("promised_date")))


def arrived_on_time() -> Q:
    """Delivered on or before the promised date, or with none promised (or no arrival recorded)."""
    return Q(status=OrderStatus.DELIVERED) & (
        Q(promised_date__isnull=True)
        | Q(shipping_facts__last_delivered_at__isnull=True)
        | Q(LessThanOrEqual(_arrival_day(), F("promised_date")))
    )


def split_shipments() -> Q:
    """More than one shipment that is not cancelled."""
    return Q(shipping_facts__live_shipments__gt=1)


def current_hold_reason() -> Coalesce:
    """Why an order's current hold (the latest entry putting it on hold) was put on: a key of ``HOLD_REASONS``.

    The cause the entry records (``data["cause"]``, one of ``events.HOLD_CAUSES``; an unknown one is
    "other") says it. An entry written before causes were recorded has none: then an operator's
    hold is theirs whatever its words, and a service's is told by the words ``orders/events.py`` gives it
    (``credit_hold_reason``, ``payment_hold_reason``, ``payment_refused_reason``).
    """
    current_hold = (
        OrderEvent.objects.filter(
            order_id=OuterRef("pk"), kind=OrderEvent.Kind.STATUS_CHANGED, data__to=OrderStatus.ON_HOLD
        )
        .order_by("-created_at", "-id")
        # Cast: a JSON key's exact lookup would read the compared value as JSON.
        .annotate(cause=Cast(KT("data__cause"), TextField()), reason_text=KT("data__reason"))
        .annotate(
            reason_key=Case(
                *(When(cause=key, then=Value(key)) for key in HOLD_CAUSES),
                When(cause__isnull=False, then=Value("other")),
                When(actor__isnull=False, then=Value("operator")),
                When(reason_text__startswith=CREDIT_HOLD_PREFIX, then=Value("credit_check")),
                When(reason_text__startswith=PAYMENT_HOLD_PREFIX, then=Value("payment")),
                default=Value("other"),
            )
        )
        .values("reason_key")[:1]
    )
    return Coalesce(Subquery(current_hold), Value("other"))


def age_between(now: dt.datetime, low_days: int, high_days: int | None) -> Q:
    """Orders at least ``low_days`` and less than ``high_days`` old (placed in the future: under a day)."""
    condition = Q()
    if low_days:
        condition &= Q(placed_at__lte=now - dt.timedelta(days=low_days))
    if high_days is not None:
        condition &= Q(placed_at__gt=now - dt.timedelta(days=high_days))
    return condition


def flag(condition: Q) -> Case:
    """1 where the condition holds, else 0: a column a SUM counts."""
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


# --- how PostgreSQL runs the cockpit's reads -------------------------------------------------
@contextmanager
def without_jit() -> Iterator[None]:
    """Run the enclosed reads with PostgreSQL's JIT compilation off (elsewhere: nothing to do).

    The cockpit's aggregates cost enough for the planner to compile them, and compiling took 0.3-0.4 s a
    statement on a million orders, more than it saved (bench/README.md, the cockpit). Session-wide, put back
    afterwards: SET LOCAL would need a transaction around reads that need none.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")


# --- SQL the ORM does not write -------------------------------------------------------------
def summarise(
    rows: QuerySet | tuple[str, tuple],
    measures: dict[str, str],
    *,
    groupings: Sequence[tuple[str, Sequence[str]]] = (("all", ()),),
    overall_only: Collection[str] = (),
) -> dict[str, list[dict]]:
    """Aggregate a values() queryset's rows (or the rows of SQL and its parameters) at several groupings in one
    query, the rows computed once.

    ``WITH facts AS (rows) SELECT 'all', measures FROM facts UNION ALL SELECT
    'currency', currency, measures FROM facts GROUP BY currency ...``: each
    grouping is (its name, the columns it groups by); a row of one grouping
    has None in the others' columns. Returns the rows by grouping name.
    ``measures`` maps a name to SQL over the rows' columns, written with the
    helpers below (``rows_counted``, ``total``, ``percentile``, ``between``),
    which name columns through ``column``; nothing in it comes from input.
    The measures named in ``overall_only`` are computed in the first grouping
    only, which must group by nothing, and are None in the others: a
    percentile sorts its rows, a grouping without one is hashed.
    """
    if overall_only and groupings[0][1]:
        raise ValueError("Measures of the overall grouping only need it first (it settles the columns' types).")
    inner, params = rows if isinstance(rows, tuple) else rows.query.sql_with_params()
    quote = connection.ops.quote_name
    grouped = list(dict.fromkeys(name for _, names in groupings for name in names))
    branches = []
    for level, names in groupings:
        selected = [f"'{level}' AS {quote('grouping')}"]
        # A column another grouping groups by is NULL here, but a NULL of the column's type: PostgreSQL settles a
        # UNION's column types branch by branch, and two bare NULLs make text, which a date then cannot join.
        selected += [
            f"{column(name) if name in names else f'MAX(CASE WHEN 1 = 0 THEN {column(name)} END)'} AS {quote(name)}"
            for name in grouped
        ]
        selected += [
            f"{'NULL' if names and name in overall_only else sql} AS {quote(name)}" for name, sql in measures.items()
        ]
        branch = f"SELECT {', '.join(selected)} FROM facts"
        if names:
            branch += f" GROUP BY {', '.join(column(name) for name in names)}"
        branches.append(branch)
    sql = f"WITH facts AS ({inner}) {' UNION ALL '.join(branches)}"
    if connection.vendor == "sqlite":
        _register_sqlite_percentile()
    found: dict[str, list[dict]] = {level: [] for level, _ in groupings}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [description[0] for description in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            found[row.pop("grouping")].append(row)
    return found


def column(name: str) -> str:
    return f"facts.{connection.ops.quote_name(name)}"


def rows_counted() -> str:
    return "COUNT(*)"


def total(name: str) -> str:
    return f"SUM({column(name)})"


def between(name: str, low: float | None, high: float | None) -> str:
    """How many rows have ``low <= name < high`` (either bound may be open)."""
    bounds = []
    if low is not None:
        bounds.append(f"{column(name)} >= {float(low)!r}")
    if high is not None:
        bounds.append(f"{column(name)} < {float(high)!r}")
    return f"SUM(CASE WHEN {' AND '.join(bounds) or '1 = 1'} THEN 1 ELSE 0 END)"


def percentile(name: str, fraction: float) -> str:
    """The continuous percentile of a column (linear interpolation between the two nearest rows).

    PostgreSQL's ``percentile_cont``; SQLite has none, so the cockpit lends it
    one with the same definition (``_PercentileCont``), run inside the query.
    """
    fraction = float(fraction)
    if not 0 <= fraction <= 1:
        raise ValueError(f"A percentile's fraction is between 0 and 1, not {fraction}.")
    if connection.vendor == "postgresql":
        return f"percentile_cont({fraction!r}) WITHIN GROUP (ORDER BY {column(name)})"
    return f"cockpit_percentile_cont({column(name)}, {fraction!r})"


class _PercentileCont:
    """SQLite aggregate: PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY value)``."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction) -> None:
        if value is not None:
            self.values.append(float(value))
        self.fraction = float(fraction)

    def finalize(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = (len(ordered) - 1) * self.fraction
        lower = math.floor(position)
        upper = min(lower + 1, len(ordered) - 1)
        return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _register_sqlite_percentile() -> None:
    # Registering again replaces the function: cheap, and right on a connection opened since.
    connection.ensure_connection()
    connection.connection.create_aggregate("cockpit_percentile_cont", 2, _PercentileCont)


# --- values as the figures give them ---------------------------------------------------------
def money(value) -> Decimal:
    """A sum of money from SQL (SQLite hands back floats) as Decimal cents; nothing summed is 0.00."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def hours(value) -> float | None:
    return None if value is None else round(float(value), 2)


def day(value) -> dt.date:
    """A date from SQL: PostgreSQL gives a date, SQLite its ISO text."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def percent(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """``numerator / denominator`` in percent to one decimal (half up); None when there is nothing to divide by."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(TENTH, rounding=ROUND_HALF_UP)
