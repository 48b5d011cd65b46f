"""Order error cases: opened with a kind and a root cause, resolved by a reship, a refund, or both."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from shipping.models import Shipment

from ... import events
from ...models import Order, OrderStatus
from ...services import LineData, place_order
from ...services._common import lock_order, lock_order_of
from ..exceptions import ReturnError
from ..models import OrderErrorCase, Refund
from ._common import follow_up_order
from .refunds import check_amount, quote_error_refund, record_refund, settle_refund


@transaction.atomic(durable=True)
def open_error_case(
    *,
    order_id: int,
    kind: str,
    root_cause: str,
    actor,
    description: str = "",
    shipment_id: int | None = None,
) -> OrderErrorCase:
    """Open an error case on an order; its warehouse and vendor come from the shipment named (else the last one)."""
    order = lock_order(order_id)
    if kind not in OrderErrorCase.Kind.values:
        raise ReturnError(f"Kind {kind!r} is not one of: {', '.join(OrderErrorCase.Kind.values)}.")
    if root_cause not in OrderErrorCase.RootCause.values:
        raise ReturnError(f"Root cause {root_cause!r} is not one of: {', '.join(OrderErrorCase.RootCause.values)}.")
    if order.status == OrderStatus.CANCELLED:
        raise ReturnError(f"Order {order} is cancelled; there is nothing to put right.")
    shipments = Shipment.objects.filter(order_id=order.pk).select_related("service")
    if shipment_id is not None:
        shipment = shipments.filter(pk=shipment_id).first()
        if shipment is None:
            raise ReturnError(f"Shipment {shipment_id} is not one of order {order}'s shipments.")
    else:
        shipment = (
            shipments.exclude(shipped_at=None).order_by("-shipped_at", "-pk").first()
            or shipments.order_by("-created_at", "-pk").first()
        )
    case = OrderErrorCase.objects.create(
        order=order,
        kind=kind,
        root_cause=root_cause,
        description=(description or "").strip(),
        shipment=shipment,
        warehouse_id=shipment.warehouse_id if shipment else None,
        vendor_id=shipment.service.vendor_id if shipment and shipment.service_id else None,
        opened_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    events.error_case_opened(case, actor=actor)
    return case


def resolve_error_case(
    *,
    case_id: int,
    actor,
    reship: dict[int, int] | None = None,
    refund_lines: dict[int, int] | None = None,
    refund_amount: Decimal | None = None,
) -> OrderErrorCase:
    """Put an order error right: reship units (a zero-charge order routed like any other), refund, or both.

    ``reship`` maps order line id → units to send again; ``refund_lines``
    the units whose value is refunded (with their tax share and, once, the
    shipping); ``refund_amount`` a lower amount, or an amount alone (e.g. for
    a late delivery), never above what was paid. The case, the reship order and the
    refund are written in one transaction; the refund is then settled.
    """
    reship = {int(k): v for k, v in (reship or {}).items() if v}
    refund_lines = {int(k): v for k, v in (refund_lines or {}).items() if v}
    if not reship and not refund_lines and refund_amount is None:
        raise ReturnError("Choose units to reship, a refund, or both.")
    with transaction.atomic(durable=True):
        case = lock_order_of(OrderErrorCase, case_id, missing=ReturnError(f"No order error with id {case_id}."))
        order = case.order
        if case.status == OrderErrorCase.Status.RESOLVED:
            raise ReturnError(f"Order error {case} is already resolved.")
        if reship:
            case.reship_order = _reship(case, order, reship, actor=actor)
        refund = None
        if refund_lines or refund_amount is not None:
            quote = quote_error_refund(order, refund_lines)
            amount = check_amount(quote, refund_amount, f"Order error {case}")
            refund = record_refund(
                order=order, amount=amount, quote=quote, actor=actor, reason=f"Order error {case}", error_case=case
            )
        case.resolution = (
            OrderErrorCase.Resolution.BOTH
            if reship and refund
            else (OrderErrorCase.Resolution.RESHIP if reship else OrderErrorCase.Resolution.REFUND)
        )
        case.status = OrderErrorCase.Status.RESOLVED
        case.resolved_at = timezone.now()
        case.save(update_fields=["reship_order", "resolution", "status", "resolved_at"])
        events.error_case_resolved(case, refund=refund, actor=actor)
    if refund is not None and refund.status != Refund.Status.SETTLED:
        settle_refund(refund_id=refund.pk, actor=actor)
    return case


def _reship(case: OrderErrorCase, order: Order, units: dict[int, int], *, actor) -> Order:
    """Place the zero-charge replacement order: same channel, customer and address; routed and shipped as usual."""
    lines = {line.pk: line for line in order.lines.all()}
    wanted = []
    for line_id, quantity in sorted(units.items()):
        line = lines.get(line_id)
        if line is None:
            raise ReturnError(f"Order {order} has no line {line_id}.")
        if not isinstance(quantity, int) or quantity < 0 or quantity > line.quantity:
            raise ReturnError(f"{line.sku}: reship between 1 and {line.quantity} units, not {quantity!r}.")
        wanted.append(LineData(sku=line.sku, quantity=quantity, unit_price=Decimal("0.00")))
    taken = set(
        Order.objects.filter(channel_id=order.channel_id, external_id__startswith=f"{order.external_id}-R").values_list(
            "external_id", flat=True
        )
    )
    n = 1
    while f"{order.external_id}-R{n}" in taken:
        n += 1
    data = follow_up_order(
        order,
        external_id=f"{order.external_id}-R{n}",
        lines=wanted,
        promised_date=None,
        extra={"replaces": order.number, "error_case": case.pk},
    )
    reship, _ = place_order(channel=order.channel, data=data, actor=actor, route=True)
    events.replacement_placed(reship, original=order, case=case, actor=actor)
    units = [(line.sku, line.quantity) for line in wanted]
    events.reship_placed(order, reship=reship, case=case, units=units, actor=actor)
    return reship
