"""Reads for returns, refunds and order errors: the queue, what can still be returned, the error report."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from inventory.models import Warehouse
from shipping.models import Shipment, ShipmentStatus, Vendor

from ..models import Order, OrderLine
from .models import OrderErrorCase, Refund, ReturnLine, ReturnRequest, ReturnStatus


def return_queue() -> QuerySet[ReturnRequest]:
    """Returns with what their list shows loaded: order, channel, customer, warehouse, line counts."""
    return ReturnRequest.objects.select_related("order__channel", "order__customer", "warehouse").annotate(
        unit_total=Sum("lines__quantity")
    )


def units_committed_to_returns(order_id: int, *, exclude_rma_id: int | None = None) -> dict[int, int]:
    """Units of each order line already taken by returns: asked for while open, received once received.

    Rejected returns take nothing; a return closed with fewer units received
    than asked frees the rest.
    """
    committed: dict[int, int] = defaultdict(int)
    lines = ReturnLine.objects.filter(rma__order_id=order_id).exclude(rma__status=ReturnStatus.REJECTED)
    if exclude_rma_id is not None:
        lines = lines.exclude(rma_id=exclude_rma_id)
    for line_id, status, requested, received in lines.values_list(
        "order_line_id", "rma__status", "quantity", "quantity_received"
    ):
        waiting = status in (ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED)
        committed[line_id] += requested if waiting else received
    return committed


def returnable_quantities(order_id: int) -> dict[int, int]:
    """Per order line id: units shipped and not yet taken by another return."""
    committed = units_committed_to_returns(order_id)
    return {
        line_id: max(shipped - committed.get(line_id, 0), 0)
        for line_id, shipped in OrderLine.objects.filter(order_id=order_id).values_list("pk", "quantity_shipped")
    }


def shipped_on(order_id: int) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When the order's goods last left a warehouse and last arrived (either may be unknown)."""
    stamps = Shipment.objects.filter(order_id=order_id).aggregate(
        shipped=Max("shipped_at"), delivered=Max("delivered_at")
    )
    return stamps["shipped"], stamps["delivered"]


def refunded_total(order_id: int) -> Decimal:
    """What has been refunded on the order, or is recorded to be (failed refunds do not count)."""
    total = (
        Refund.objects.filter(order_id=order_id).exclude(status=Refund.Status.FAILED).aggregate(s=Sum("amount"))["s"]
    )
    return (total or Decimal("0")).quantize(Decimal("0.01"))


def shipping_already_refunded(order_id: int) -> bool:
    return any(
        Decimal(str((breakdown or {}).get("shipping", "0"))) > 0
        for breakdown in Refund.objects.filter(order_id=order_id)
        .exclude(status=Refund.Status.FAILED)
        .values_list("breakdown", flat=True)
    )


def customer_orders(order: Order, limit: int = 10) -> QuerySet[Order]:
    return Order.objects.filter(customer_id=order.customer_id).order_by("-placed_at", "-id")[:limit]


# --- the error report -----------------------------------------------------------------


@dataclass(frozen=True)
class RateRow:
    key: str
    label: str
    errors: int
    denominator: int

    @property
    def rate_percent(self) -> Decimal | None:
        if not self.denominator:
            return None
        return (Decimal(self.errors) * 100 / Decimal(self.denominator)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ErrorReport:
    start: dt.date
    end: dt.date
    shipments: int
    orders: int
    errors: int
    by_cause: list[RateRow]
    by_kind: list[RateRow]
    by_warehouse: list[RateRow]
    by_vendor: list[RateRow]

    @property
    def rate_percent(self) -> Decimal | None:
        return RateRow("all", "all", self.errors, self.shipments).rate_percent


SHIPPED = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION)


def error_report(*, start: dt.date, end: dt.date) -> ErrorReport:
    """Order error cases opened from ``start`` to ``end`` (inclusive, local dates) against shipments shipped then.

    Denominators: every rate is error cases ÷ shipments handed to a carrier in
    the period — all of them for the rates by cause and kind, the warehouse's
    for its row, the vendor's for its row. A case is counted against the
    warehouse and vendor of the shipment it names (else the order's last one).
    """
    tz = timezone.get_current_timezone()
    since = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    shipped = Shipment.objects.filter(shipped_at__gte=since, shipped_at__lt=until, status__in=SHIPPED)
    cases = OrderErrorCase.objects.filter(created_at__gte=since, created_at__lt=until)
    shipment_total = shipped.count()
    order_total = shipped.values("order_id").distinct().count()

    def rows(field: str, choices: dict, denominators: dict) -> list[RateRow]:
        counts = dict(cases.values_list(field).annotate(n=Count("pk")).order_by())
        keys = sorted(set(counts) | set(denominators), key=lambda k: (k is None, str(choices.get(k, k))))
        return [
            RateRow(
                key=str(k) if k is not None else "",
                label=str(choices.get(k, "unknown")) if k is not None else "unknown",
                errors=counts.get(k, 0),
                denominator=denominators.get(k, 0),
            )
            for k in keys
        ]

    causes = dict(OrderErrorCase.RootCause.choices)
    kinds = dict(OrderErrorCase.Kind.choices)
    by_cause = [
        RateRow(key, label, cases.filter(root_cause=key).count(), shipment_total) for key, label in causes.items()
    ]
    by_kind = [RateRow(key, label, cases.filter(kind=key).count(), shipment_total) for key, label in kinds.items()]
    per_warehouse = dict(shipped.values_list("warehouse_id").annotate(n=Count("pk")).order_by())
    per_vendor = dict(shipped.values_list("service__vendor_id").annotate(n=Count("pk")).order_by())
    warehouses = {
        w.pk: w.code for w in Warehouse.objects.filter(Q(pk__in=per_warehouse) | Q(pk__in=cases.values("warehouse_id")))
    }
    vendors = {v.pk: v.name for v in Vendor.objects.filter(Q(pk__in=per_vendor) | Q(pk__in=cases.values("vendor_id")))}
    return ErrorReport(
        start=start,
        end=end,
        shipments=shipment_total,
        orders=order_total,
        errors=cases.count(),
        by_cause=by_cause,
        by_kind=by_kind,
        by_warehouse=rows("warehouse_id", warehouses, per_warehouse),
        by_vendor=rows("vendor_id", vendors, per_vendor),
    )
