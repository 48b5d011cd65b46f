"""An order's shipping facts (``OrderShippingFacts``): what its shipments add up to, kept beside the order.

The shipments are the source of truth; the facts are computed again from
them, order by order, in the transaction that changes them:

    refresh_shipping_facts([order.pk])   # inside the caller's transaction, holding the order's lock

Every service of ``orders.services.shipping`` that makes, prices, labels,
ships, tracks or cancels a shipment calls it. The cockpit reads the facts
instead of grouping the shipments of every order it counts
(``orders.cockpit.facts``). ``refresh_all_shipping_facts`` computes every
order's row (the migration that made the table, a changed ``TIME_ZONE``, rows
seeded by raw SQL), and the day rollups summed from them (``cockpit_rollups``), which
``refresh_shipping_facts`` keeps in step.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, Sum, Value, When
from django.db.models.functions import TruncDate
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from shipping.models import Shipment, ShipmentStatus

from ..models import CockpitRollupZone, DeliveredOrdersDay, OrderShippingFacts, OrderStatus, ShippedOrdersDay
from .cockpit_rollups import add_rollup_difference, rebuild_rollups, rollup_contributions

# Shipments that count: every one but the cancelled (a cancelled one never left, and costs nothing).
LIVE_SHIPMENT_STATUSES = tuple(status for status in ShipmentStatus.values if status != ShipmentStatus.CANCELLED)
# An order's goods have all left when it is shipped or delivered (the last two of its statuses).
GOODS_LEFT = (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
# The table's columns, and what the query over the shipments and their order names each.
COLUMNS = {
    "order_id": "order_id",
    "channel_id": "order__channel_id",
    "currency": "order__currency",
    "grand_total": "order__grand_total",
    "placed_at": "order__placed_at",
    "promised_date": "order__promised_date",
    "goods_left": "goods_left",
    "delivered": "delivered",
    "live_shipments": "live_shipments",
    "late_shipments": "late_shipments",
    "shipping_cost": "shipping_cost",
    "last_shipped_at": "last_shipped_at",
    "last_delivered_at": "last_delivered_at",
}


def refresh_shipping_facts(order_ids: Iterable[int]) -> None:
    """Compute the shipping facts of these orders again from their shipments: two statements, whatever their number.

    An order with a shipment that is not cancelled gets its row written (inserted or updated); one without
    loses its row. Call inside the caller's transaction, holding the orders' locks (or after changing their
    shipments under them), so that nobody reads the shipments changed and the facts not.
    """
    ids = sorted(set(order_ids))
    if not ids:
        return
    # The day rollups move by what these orders' facts add to them after, less what they added before.
    before = rollup_contributions(OrderShippingFacts, ids)
    write_facts(Shipment, OrderShippingFacts, order_ids=ids)
    add_rollup_difference(before, rollup_contributions(OrderShippingFacts, ids))


def refresh_all_shipping_facts() -> int:
    """Compute every order's shipping facts again from the shipments, and the day rollups from them (recording
    ``settings.TIME_ZONE`` as their zone); returns how many orders have a row."""
    write_facts(Shipment, OrderShippingFacts, order_ids=None)
    rebuild_rollups(OrderShippingFacts, ShippedOrdersDay, DeliveredOrdersDay, CockpitRollupZone)
    return OrderShippingFacts.objects.count()


def facts_of(shipment_model, order_ids: list[int] | None = None):
    """The facts as a values_list queryset of ``COLUMNS`` over the shipments (of ``order_ids``, or of all)."""
    live = shipment_model.objects.filter(status__in=LIVE_SHIPMENT_STATUSES)
    if order_ids is not None:
        live = live.filter(order_id__in=order_ids)
    left_late = Q(GreaterThan(TruncDate("shipped_at", tzinfo=timezone.get_default_timezone()), F("ship_date")))
    order_fields = [source for source in COLUMNS.values() if source.startswith("order_")]
    return (
        live.order_by()
        .values(*order_fields, "order__status")
        .annotate(
            goods_left=Case(When(order__status__in=GOODS_LEFT, then=Value(True)), default=Value(False)),
            delivered=Case(When(order__status=OrderStatus.DELIVERED, then=Value(True)), default=Value(False)),
            live_shipments=Count("pk"),
            late_shipments=Count("pk", filter=left_late),
            shipping_cost=Sum("shipping_cost"),
            last_shipped_at=Max("shipped_at"),
            last_delivered_at=Max("delivered_at"),
        )
        .values_list(*COLUMNS.values())
    )


def write_facts(shipment_model, facts_model, *, order_ids: list[int] | None) -> None:
    """Upsert the facts of ``order_ids`` (None: every order) and drop the rows of those left without a live
    shipment. The models are given so that a migration can pass its own."""
    select, params = facts_of(shipment_model, order_ids).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(facts_model._meta.db_table)
    columns = ", ".join(quote(name) for name in COLUMNS)
    updates = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in list(COLUMNS)[1:])
    # "WHERE true": SQLite reads an INSERT ... SELECT's ON CONFLICT as a join's ON without it.
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT * FROM ({select}) AS computed WHERE 1 = 1 "
        f"ON CONFLICT ({quote('order_id')}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    # NOT EXISTS, an anti-join: PostgreSQL runs a NOT IN over a million shipments as a subplan per row.
    live = shipment_model.objects.filter(order_id=OuterRef("order_id"), status__in=LIVE_SHIPMENT_STATUSES)
    gone = facts_model.objects.filter(~Exists(live))
    if order_ids is not None:
        gone = gone.filter(order_id__in=order_ids)
    gone.delete()
