"""Returns the customer opens on the order status page: a refund, an exchange or store credit, within the policy.

Underneath is the associates' own ``open_return`` (``open_locked_return``):
the return lands in the returns queue as if an associate had opened it,
with ``source`` customer on the return and its timeline entry. The policy
decides what the form offers (``ReturnPolicy.self_service``, ``exchanges``,
``store_credit``) and what follows (a reason authorised automatically gets
its label and email at once).

An exchange places a replacement order (same channel, customer and
address) for another variant of the same product (``VariantGroup``) that
is in stock. It is placed with the return, priced at what the variant costs
beyond the returned unit (charged through the original order's gateway, as
any order's payment is), then reserved at once through the inventory
services and, unless the reason's rule trusts the customer, held until the
return is received. After inspection the refund keeps back, per exchanged
line, the part of what the returned units cost the customer (discount and
tax included) that the replacement's price covers: all of it for a
same-price or dearer variant, price over unit price of it for a cheaper one
(``quote_return_refund``).

Every refusal is a ``SelfServiceRefused`` naming the form field, and
nothing is written: the checks run under the order's lock before the first
write, and the writes are one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from inventory.models import Product, StockLevel

from ... import events
from ...models import Order, OrderLine, OrderStatus
from ...services import (
    LineData,
    PaymentData,
    allocate_locked_order,
    place_order,
    prepare_order,
)
from ...services._common import lock_order
from .. import selectors
from ..exceptions import SelfServiceRefused
from ..models import (
    ReturnLine,
    ReturnPolicy,
    ReturnReason,
    ReturnRequest,
    ReturnResolution,
    ReturnSource,
    VariantGroup,
)
from ._common import follow_up_order, lock_return
from .returns import _window_end, open_locked_return

# Who the timeline says did it: the customer, through the page their emails link to.
CUSTOMER = "customer: order status page"
NOTE_LIMIT = 1000
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Variant:
    """Another variant of a line's product that the customer may take instead (in stock now)."""

    product_id: int
    sku: str
    name: str
    price: Decimal


@dataclass(frozen=True)
class LineOption:
    """One order line on the return form: what was shipped and can still be returned, and its variants."""

    line_id: int
    sku: str
    name: str
    unit_price: Decimal
    shipped: int
    returnable: int
    variants: list[Variant] = field(default_factory=list)


@dataclass(frozen=True)
class ReturnOptions:
    """What the status page offers: a form (``offered``), or why not (``why_not``), in a customer's words."""

    offered: bool
    why_not: str
    window_end: dt.date | None
    lines: list[LineOption]
    reasons: list[tuple[str, str]]
    resolutions: list[tuple[str, str]]


def _resolutions(policy: ReturnPolicy) -> list[tuple[str, str]]:
    allowed = [ReturnResolution.REFUND]
    if policy.exchanges:
        allowed.append(ReturnResolution.EXCHANGE)
    if policy.store_credit:
        allowed.append(ReturnResolution.STORE_CREDIT)
    return [(value, ReturnResolution(value).label) for value in allowed]


def _reasons(policy: ReturnPolicy) -> list[tuple[str, str]]:
    """The reasons a customer may pick, each saying the restocking fee the policy takes for it (none when the
    return is our error), so the customer knows before sending."""
    fees = {
        rule.reason: rule.restocking_fee_percent
        for rule in policy.reasons.all()
        if rule.restocking_fee_percent > 0 and not rule.our_error
    }
    return [
        (value, f"{label} ({fees[value].normalize():f} % restocking fee)" if value in fees else label)
        for value, label in ReturnReason.choices
    ]


def _available(product_ids) -> dict[int, int]:
    """Units of each product on hand and not reserved, over the active warehouses."""
    rows = (
        StockLevel.objects.filter(product_id__in=list(product_ids), warehouse__is_active=True)
        .values("product_id")
        .annotate(free=Sum(F("on_hand") - F("allocated")))
    )
    return {row["product_id"]: max(row["free"] or 0, 0) for row in rows}


def _variants_of(product_ids) -> dict[int, list[Product]]:
    """Per product: the other active products that share a variant group with it."""
    groups = VariantGroup.objects.filter(products__in=list(product_ids)).prefetch_related("products").distinct()
    found: dict[int, dict[int, Product]] = defaultdict(dict)
    for group in groups:
        members = [product for product in group.products.all() if product.is_active]
        for product in members:
            for other in members:
                if other.pk != product.pk:
                    found[product.pk][other.pk] = other
    return {pk: sorted(others.values(), key=lambda p: p.sku) for pk, others in found.items()}


def return_options(order: Order, *, today: dt.date | None = None) -> ReturnOptions:
    """What the order's status page offers for a return: the lines, reasons, resolutions and variants in stock."""
    policy = ReturnPolicy.current()
    today = today or timezone.localdate()
    window_end = _window_end(order.pk, policy.window_days)
    returnable = selectors.returnable_quantities(order.pk)
    lines = list(OrderLine.objects.filter(order=order).order_by("pk"))
    variants = _variants_of({line.product_id for line in lines}) if policy.exchanges else {}
    stock = _available({p.pk for products in variants.values() for p in products})
    options = [
        LineOption(
            line_id=line.pk,
            sku=line.sku,
            name=line.name,
            unit_price=line.unit_price,
            shipped=line.quantity_shipped,
            returnable=returnable.get(line.pk, 0),
            variants=[
                Variant(p.pk, p.sku, p.name, p.price) for p in variants.get(line.product_id, []) if stock.get(p.pk, 0)
            ],
        )
        for line in lines
    ]
    why_not = ""
    if not policy.self_service:
        why_not = "Returns are arranged by our support team: write to us with your order number."
    elif order.status == OrderStatus.CANCELLED:
        why_not = "This order was cancelled; there is nothing to return."
    elif window_end is None:
        why_not = "You can return items here once they have shipped."
    elif today > window_end:
        why_not = f"The {policy.window_days}-day return window for this order ended on {window_end:%-d %B %Y}."
    elif not any(option.returnable for option in options):
        why_not = "Everything shipped on this order is already returned or in a return."
    return ReturnOptions(
        offered=not why_not,
        why_not=why_not,
        window_end=window_end,
        lines=options,
        reasons=_reasons(policy),
        resolutions=_resolutions(policy),
    )


@dataclass(frozen=True)
class _Swap:
    line: OrderLine
    quantity: int
    product: Product


def _check(
    order: Order,
    *,
    quantities: dict[int, int],
    reason: str,
    resolution: str,
    exchange: dict[int, int],
    note: str,
    today: dt.date,
) -> tuple[dict[int, int], list[_Swap]]:
    """The units to return by line id, and the exchange's swaps; raises SelfServiceRefused naming the field."""
    policy = ReturnPolicy.current()
    if not policy.self_service:
        raise SelfServiceRefused("form", "Returns are not opened on this page: write to our support team.")
    if order.status == OrderStatus.CANCELLED:
        raise SelfServiceRefused("form", f"Order {order} was cancelled; there is nothing to return.")
    window_end = _window_end(order.pk, policy.window_days)
    if window_end is None:
        raise SelfServiceRefused("lines", f"Nothing on order {order} has shipped yet: return items once they have.")
    if today > window_end:
        raise SelfServiceRefused(
            "lines",
            f"Order {order} is past the {policy.window_days}-day return window: it ended on {window_end:%Y-%m-%d}.",
        )
    if reason not in ReturnReason.values:
        raise SelfServiceRefused("reason", "Reason: choose why you are returning the items.")
    allowed = dict(_resolutions(policy))
    if resolution not in allowed:
        raise SelfServiceRefused(
            "resolution", f"Refund or exchange: choose one of {', '.join(label.lower() for label in allowed.values())}."
        )
    if len(note) > NOTE_LIMIT:
        raise SelfServiceRefused("note", f"Note: at most {NOTE_LIMIT} characters (got {len(note)}).")
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order).select_related("product")}
    returnable = selectors.returnable_quantities(order.pk)
    wanted: dict[int, int] = {}
    for line_id, quantity in sorted(quantities.items()):
        name = f"qty-{line_id}"
        line = order_lines.get(line_id)
        if line is None:
            raise SelfServiceRefused(name, f"Quantity: item {line_id} is not on order {order}.")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise SelfServiceRefused(name, f"{line.name}: the quantity must be a whole number, 0 or more.")
        if not quantity:
            continue
        if line.quantity_shipped == 0:
            raise SelfServiceRefused(name, f"{line.name}: it has not shipped yet, so it cannot be returned.")
        if quantity > returnable.get(line_id, 0):
            raise SelfServiceRefused(
                name,
                f"{line.name}: you can return at most {returnable.get(line_id, 0)} "
                f"({line.quantity_shipped} shipped, {line.quantity_shipped - returnable.get(line_id, 0)} already "
                "returned or in a return).",
            )
        wanted[line_id] = quantity
    if not wanted:
        raise SelfServiceRefused("lines", "Choose at least one item to return.")
    swaps: list[_Swap] = []
    if resolution != ReturnResolution.EXCHANGE:
        return wanted, swaps
    for line_id in sorted(exchange):
        if line_id not in wanted:
            raise SelfServiceRefused(
                f"variant-{line_id}", "Exchange: choose how many to return of the item you exchange."
            )
    variants = _variants_of({order_lines[line_id].product_id for line_id in wanted})
    needed: dict[int, int] = defaultdict(int)
    for line_id, quantity in sorted(wanted.items()):
        line = order_lines[line_id]
        name = f"variant-{line_id}"
        product_id = exchange.get(line_id)
        if product_id is None:
            continue  # returned for a refund beside the exchange
        product = next((p for p in variants.get(line.product_id, []) if p.pk == product_id), None)
        if product is None:
            raise SelfServiceRefused(name, f"{line.name}: that is not another variant of this product.")
        needed[product.pk] += quantity
        swaps.append(_Swap(line, quantity, product))
    if not swaps:
        first = min(wanted)
        raise SelfServiceRefused(
            f"variant-{first}",
            f"{order_lines[first].name}: choose the variant to receive instead (items without one are refunded), "
            "or choose a refund.",
        )
    stock = _available(needed)
    for swap in swaps:
        if stock.get(swap.product.pk, 0) < needed[swap.product.pk]:
            raise SelfServiceRefused(
                f"variant-{swap.line.pk}",
                f"{swap.product.name}: not enough in stock for {needed[swap.product.pk]}; choose another variant "
                "or a refund.",
            )
    return wanted, swaps


def request_return(
    *,
    order_id: int,
    quantities: dict[int, int],
    reason: str,
    resolution: str,
    exchange: dict[int, int] | None = None,
    note: str = "",
    actor=CUSTOMER,
    today: dt.date | None = None,
) -> ReturnRequest:
    """Open the return a customer asked for on the order status page; returns it.

    ``quantities`` maps order line id → units, ``exchange`` order line id →
    the product to send instead (for ``resolution`` exchange: at least one
    line; the lines without a variant are refunded as usual). The return is
    opened by ``open_locked_return`` with source customer (the policy may
    authorise it at once: label and email). An exchange places its
    replacement order in the same transaction, then (after commit) its
    price difference is authorised through the order's gateway and its
    stock reserved, held until the return is received unless the reason is
    trusted. Raises SelfServiceRefused, naming the field, and writes nothing.
    """
    note = (note or "").strip()
    today = today or timezone.localdate()
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        wanted, swaps = _check(
            order,
            quantities=quantities,
            reason=reason,
            resolution=resolution,
            exchange=exchange or {},
            note=note,
            today=today,
        )
        rma = open_locked_return(
            order,
            lines=wanted,
            reason=reason,
            actor=actor,
            customer_note=note,
            today=today,
            source=ReturnSource.CUSTOMER,
            resolution=resolution,
            before_authorising=(lambda opened: _place_replacement(opened, swaps, actor=actor)) if swaps else None,
        )
    if rma.replacement_order_id:
        reserve_replacement(rma_id=rma.pk, actor=actor)
    return ReturnRequest.objects.select_related("replacement_order").get(pk=rma.pk)


def _place_replacement(rma: ReturnRequest, swaps: list[_Swap], *, actor) -> Order:
    """Place the exchange's replacement order and note each swap on the return's lines (inside the return's
    transaction). Each unit is charged what the variant costs beyond the returned unit's price."""
    order = rma.order
    return_lines = {line.order_line_id: line for line in rma.lines.all()}
    for swap in swaps:
        line = return_lines[swap.line.pk]
        line.replacement_product = swap.product
        line.replacement_unit_price = swap.product.price
    ReturnLine.objects.bulk_update(return_lines.values(), ["replacement_product", "replacement_unit_price"])
    lines = [
        LineData(
            sku=swap.product.sku,
            quantity=swap.quantity,
            unit_price=max(swap.product.price - swap.line.unit_price, ZERO),
        )
        for swap in swaps
    ]
    charge = sum((line.unit_price * line.quantity for line in lines), ZERO)
    data = follow_up_order(
        order,
        external_id=f"{order.external_id}-{rma.number}",
        lines=lines,
        payment=PaymentData(gateway=order.payment_gateway, token=order.payment_token)
        if charge > 0 and order.payment_gateway
        else None,
        extra={"exchange_for": rma.number, "replaces": order.number},
    )
    replacement, _ = place_order(channel=order.channel, data=data, actor=actor, route=False)
    rma.replacement_order = replacement
    rma.save(update_fields=["replacement_order"])
    events.exchange_placed(
        rma, replacement=replacement, units=[(s.product.sku, s.quantity) for s in swaps], charge=charge, actor=actor
    )
    events.replacement_for_exchange(replacement, rma=rma, actor=actor)
    return replacement


def reserve_replacement(*, rma_id: int, actor) -> Order | None:
    """Authorise an exchange's replacement (its price difference, through the gateway) and reserve its stock.

    The gateway is called with no lock held (``prepare_order``); a decline
    puts the replacement on hold for ops, as any order's, and a timeout has
    it asked again later and routed then (``retry_authorisation``). Then,
    with the return's order, the return and the replacement locked in that
    order, the stock is reserved (``allocate_locked_order``). Routing holds
    a replacement whose return has not arrived, unless the reason's rule
    trusts the customer, whichever path routes it (this one, the payment's
    retry or sweep, the routing sweep). Safe to repeat. Returns the
    replacement, or None when the return has none.
    """
    replacement_id = ReturnRequest.objects.filter(pk=rma_id).values_list("replacement_order_id", flat=True).first()
    if replacement_id is None:
        return None
    if not prepare_order(order_id=replacement_id, actor=actor):
        return Order.objects.get(pk=replacement_id)  # declined (held for ops) or asked again later (routed then)
    with transaction.atomic(durable=True):
        lock_return(rma_id)
        replacement = lock_order(replacement_id)
        if replacement.status == OrderStatus.RECEIVED:
            replacement = allocate_locked_order(order_id=replacement.pk, actor=actor)
    return replacement
