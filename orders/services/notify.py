"""The order workflow's messages: one function per event, each queueing outbox rows.

Each function builds the snapshot its templates show (order, customer,
lines, totals, address, expected delivery, plus the event's own data) and
queues it with ``notifications.services`` in the caller's transaction; the
rows are sent after commit. Call them from inside the service's transaction,
after the change is written. Adding an order event is a line in
``notifications.events.EVENTS``, its templates, and a function here.

A repeated call for the same change queues nothing new: each message is
unique per (order, event, occurrence, recipient).

Customer messages go out under the brand of the order's channel (its name,
logo, store address and support address in the snapshot's ``brand``; its
From and Reply-To on the row); what the channel leaves blank is the
settings'. Ops alerts are the system's own.

Every customer message of an order carries the address of the order's
status page (``status_url``). Its row holds only the mark ``status_page``:
the address, whose token the database must not hold, is made when the
message is rendered (``status_links.message_context``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from notifications import services as notifications
from notifications.events import CUSTOMER, EVENTS, is_wanted
from notifications.mime import sender_header

from ..business_models import CONTACT_EVENTS, ContactRole
from ..models import Channel, Customer, Order, OrderEvent, OrderLine, OrderStatus
from ..selectors import admin_url, order_snapshot  # what every message shows of an order
from . import business, status_links


# --- brands ---------------------------------------------------------------
def channel_brand(channel: Channel) -> tuple[dict, str, str]:
    """A channel's brand for its customer messages: the snapshot's ``brand``, the From header, the Reply-To.

    The snapshot holds the channel's own fields only (the settings fill the
    blank ones when the message is rendered); From and Reply-To are blank
    when the channel sets neither (the settings' then). A reply goes to the
    channel's reply-to address, else its support address.
    """
    return _brand(
        channel.brand_name,
        channel.sender_email,
        channel.reply_to_email,
        channel.support_email,
        channel.store_url,
        channel.logo_url,
        channel.brand_color.lower(),
        settings.OMS_BRAND_NAME,
        settings.NOTIFICATIONS_FROM_EMAIL,
    )


@lru_cache(maxsize=256)  # the same few channels, message after message: built once each
def _brand(
    name: str,
    sender_email: str,
    reply_to_email: str,
    support_email: str,
    store_url: str,
    logo_url: str,
    color: str,
    default_name: str,
    default_sender: str,
) -> tuple[dict, str, str]:
    reply_to = reply_to_email or support_email
    own = {
        "name": name,
        "logo_url": logo_url,
        "color": color,
        "website_url": store_url,
        "support_email": support_email,
        "reply_to": reply_to,
    }
    sender = ""
    if name or sender_email:
        sender = sender_header(name=name or default_name, address=sender_email or parseaddr(default_sender)[1])
    return {key: value for key, value in own.items() if value}, sender, reply_to


def _to_customer(
    order: Order,
    event: str,
    *,
    occurrence: str = "",
    extra: dict | None = None,
    lines: list[OrderLine] | None = None,
) -> notifications.Outgoing | None:
    """The customer's message for ``event``, or None for marketing they declined (nothing is built then)."""
    customer = order.customer
    if not is_wanted(event, accepts_marketing=customer.accepts_marketing):
        return None
    brand, sender, reply_to = channel_brand(order.channel)  # the intake's order has its channel in hand
    # A fresh dict per message: the cached brand is shared.
    context = {
        **order_snapshot(order, lines=lines, customer=customer),
        **(extra or {}),
        "brand": dict(brand),
        status_links.MARK: True,  # the status page's address is made when the message is rendered
    }
    return notifications.Outgoing(
        event=event,
        recipient=customer.email,
        context=context,
        order_id=order.pk,
        occurrence=occurrence,
        accepts_marketing=customer.accepts_marketing,
        sender=sender,
        reply_to=reply_to,
    )


def _queue(
    *outgoing: notifications.Outgoing | None, contacts: dict[int, list[tuple[str, str]]] | None = None
) -> list[int]:
    messages = [o for o in outgoing if o is not None]
    return notifications.queue_messages(messages=messages + _contact_copies(messages, contacts))


def _contact_copies(
    messages: list[notifications.Outgoing], contacts: dict[int, list[tuple[str, str]]] | None
) -> list[notifications.Outgoing]:
    """A copy of each customer message for the business customer's notification contacts whose role covers it.

    ``contacts`` (order id -> (email, role)) when the caller has them; else one query, only when a message is
    of an event some role covers.
    """
    copied = [m for m in messages if m.order_id is not None and m.event in CONTACT_EVENTS[ContactRole.ALL]]
    if not copied:
        return []
    if contacts is None:
        contacts = business.contacts_for_orders({m.order_id for m in copied})
    copies = []
    for message in copied:
        for email, role in contacts.get(message.order_id, []):
            if message.event in CONTACT_EVENTS[role] and email != message.recipient:
                copies.append(dataclasses.replace(message, recipient=email))
    return copies


# --- to the customer -------------------------------------------------------
def order_received(order: Order, *, lines: list[OrderLine] | None = None) -> list[int]:
    """Queue the order confirmation (lines, totals, address, expected delivery)."""
    return _queue(order_received_message(order, lines=lines))


def order_received_message(order: Order, *, lines: list[OrderLine] | None = None) -> notifications.Outgoing | None:
    """The order confirmation, for a caller that writes the outbox row itself (the intake's one statement)."""
    return _to_customer(order, "order_received", lines=lines)


def order_received_messages(
    order: Order, *, lines: list[OrderLine] | None = None, contacts: list[tuple[str, str]] = ()
) -> list[notifications.Outgoing]:
    """The order confirmation and its copies for the business customer's ``contacts`` ((email, role), as the
    intake read them), for the intake's one statement: no query here."""
    outgoing = order_received_message(order, lines=lines)
    if outgoing is None:
        return []
    return [outgoing, *_contact_copies([outgoing], {order.pk: list(contacts)})]


def order_allocated(order: Order, *, occurrence: str = "") -> list[int]:
    """Queue 'in process' (everything reserved; the expected delivery date)."""
    return _queue(_to_customer(order, "order_allocated", occurrence=occurrence))


def order_backordered(
    order: Order,
    *,
    lines: list[OrderLine] | None = None,
    estimate: dt.date | None = None,
    occurrence: str = "",
) -> list[int]:
    """Queue 'backordered': the items waiting for stock and the new delivery estimate."""
    lines = list(order.lines.all()) if lines is None else lines
    extra = _backorder(order, lines, estimate)
    return _queue(_to_customer(order, "order_backordered", occurrence=occurrence, lines=lines, extra=extra))


def _backorder(order: Order, lines: list[OrderLine], estimate: dt.date | None) -> dict:
    if estimate is None:
        earliest = timezone.localdate() + dt.timedelta(days=settings.NOTIFICATIONS_BACKORDER_LEAD_DAYS)
        estimate = max(order.promised_date, earliest) if order.promised_date else earliest
    return {
        "backordered": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity_unallocated}
            for line in lines
            if line.quantity_unallocated > 0
        ],
        "in_stock": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity_allocated}
            for line in lines
            if line.quantity_allocated > 0
        ],
        "estimate": estimate,
    }


def orders_routed(
    events: Iterable[OrderEvent],
    *,
    lines_of: dict[int, list[OrderLine]],
    contacts: dict[int, list[tuple[str, str]]] | None = None,
) -> list[int]:
    """Queue 'in process' / 'backordered' for orders a routing batch moved, in one insert.

    ``events`` are the batch's status-change events (saved: their ids tell
    repeats apart); ``lines_of`` the orders' lines as allocated; ``contacts``
    the business customers' notification contacts by order id, when the batch
    loaded them (a copy goes to each whose role covers the message).
    """
    moved = [
        event
        for event in events
        if event.kind == OrderEvent.Kind.STATUS_CHANGED
        and event.data.get("to") in (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED)
    ]
    if not moved:
        return []
    customers = Customer.objects.in_bulk({event.order.customer_id for event in moved})
    uncached = {event.order.channel_id for event in moved if not Order.channel.is_cached(event.order)}
    channels = Channel.objects.in_bulk(uncached) if uncached else {}
    outgoing = []
    for event in moved:
        order = event.order
        order.customer = customers[order.customer_id]
        if order.channel_id in channels:
            order.channel = channels[order.channel_id]
        lines = lines_of[order.pk]
        if event.data["to"] == OrderStatus.ALLOCATED:
            outgoing.append(_to_customer(order, "order_allocated", occurrence=str(event.pk), lines=lines))
        else:
            extra = _backorder(order, lines, None)
            outgoing.append(
                _to_customer(
                    order,
                    "order_backordered",
                    occurrence=str(event.pk),
                    lines=lines,
                    extra=extra,
                )
            )
    return _queue(*outgoing, contacts=contacts)


def order_cancelled(order: Order, *, reason: str = "") -> list[int]:
    """Queue 'cancelled'. The reason is in the snapshot for overrides; the default template does not show it."""
    return _queue(_to_customer(order, "order_cancelled", extra={"reason": reason}))


def order_lines_cancelled(order: Order, *, changes: list[dict], total_before: Decimal, occurrence: str) -> list[int]:
    """Queue 'items cancelled': what was cancelled, what the order still has, the new total and the difference.

    ``changes``: per line ``sku``, ``name``, ``cancelled``, ``after``; ``occurrence``: the cancellation's
    timeline entry (each cancellation is its own email).
    """
    lines = [line for line in order.lines.all() if line.quantity > 0]
    extra = {
        "cancelled": [
            {"sku": change["sku"], "name": change["name"], "quantity": change["cancelled"]} for change in changes
        ],
        "total_before": total_before,
        "difference": total_before - order.grand_total,
    }
    return _queue(_to_customer(order, "order_lines_cancelled", occurrence=occurrence, lines=lines, extra=extra))


def order_changed(
    order: Order,
    *,
    occurrence: str,
    changes: list[dict] | None = None,
    total_before: Decimal | None = None,
    promised_before: dt.date | None = None,
    address_changed: bool = False,
) -> list[int]:
    """Queue 'your order was changed': the items edited (each before → after) or the new ship-to address, the
    order as it now stands with its totals, the new total and the difference, and the new delivery date.

    ``changes``: per line ``sku``, ``name``, ``before``, ``after``; ``occurrence``: the change's timeline entry
    (each change is its own email, and one only).
    """
    lines = [line for line in order.lines.all() if line.quantity > 0]
    total_before = order.grand_total if total_before is None else total_before
    extra = {
        "changes": [
            {"sku": c["sku"], "name": c["name"], "before": c["before"], "after": c["after"]} for c in changes or []
        ],
        "address_changed": address_changed,
        "total_before": total_before,
        "difference": order.grand_total - total_before,
        "total_moved": "up" if order.grand_total > total_before else "down" if order.grand_total < total_before else "",
        "date_moved": bool(promised_before and order.promised_date and promised_before != order.promised_date),
    }
    return _queue(_to_customer(order, "order_changed", occurrence=occurrence, lines=lines, extra=extra))


def order_shipped(order: Order, *, shipments: list[dict]) -> list[int]:
    """Queue 'shipped' for one or more shipments of the order; call after the lines' shipped units are saved.

    Each shipment dict: ``vendor_name``, ``service_name``, ``tracking_numbers``
    (list) and either ``tracking_urls`` (same order) or the vendor's
    ``tracking_url_template`` (``{tracking_number}`` is replaced), ``lines``
    (``sku``, ``name``, ``quantity``); optional ``reference`` (the shipment's
    number, which tells repeats apart), ``warehouse``, ``expected_delivery``.
    A split order gets one message per call, listing the shipments passed.
    """
    normalised = [_shipment(raw) for raw in shipments]
    lines = list(order.lines.all())
    remaining = [
        {"sku": line.sku, "name": line.name, "quantity": line.quantity - line.quantity_shipped}
        for line in lines
        if line.quantity > line.quantity_shipped
    ]
    occurrence = "+".join(sorted(s["reference"] or ",".join(t["number"] for t in s["tracking"]) for s in normalised))
    extra = {"shipments": normalised, "remaining": remaining, "is_partial": bool(remaining)}
    return _queue(_to_customer(order, "order_shipped", occurrence=occurrence, lines=lines, extra=extra))


def _shipment(raw: dict) -> dict:
    tracking = [dict(parcel) for parcel in raw.get("tracking", [])]
    if not tracking:
        urls = list(raw.get("tracking_urls") or [])
        template = raw.get("tracking_url_template") or ""
        for index, number in enumerate(raw.get("tracking_numbers") or []):
            if index < len(urls) and urls[index]:
                url = urls[index]
            else:
                url = template.replace("{tracking_number}", number) if template else ""
            tracking.append({"number": number, "url": url})
    return {
        "reference": str(raw.get("reference") or ""),
        "vendor_name": raw.get("vendor_name", ""),
        "service_name": raw.get("service_name", ""),
        "warehouse": raw.get("warehouse", ""),
        "expected_delivery": raw.get("expected_delivery"),
        "tracking": tracking,
        "lines": [
            {"sku": line["sku"], "name": line.get("name", line["sku"]), "quantity": line["quantity"]}
            for line in raw.get("lines", [])
        ],
    }


# What the customer reads of why their order is late: plain words, no warehouse jargon.
DELAY_REASONS = {
    "not_reserved": "it is taking us longer than planned to get your order ready",
    "backordered": "some of your items are waiting for new stock",
    "label_late": "your order is taking longer than planned to leave our warehouse",
    "no_scan": "the carrier has not yet confirmed that they have your parcel",
    "carrier_exception": "the carrier ran into a problem on the way",
    "transit_too_long": "the carrier needs more days than we planned to reach you",
    "operator": "your order is taking longer than we planned",
}


def order_delayed(
    order: Order, *, cause: str, promised_date: dt.date, new_estimate: dt.date, lines: list[OrderLine] | None = None
) -> list[int]:
    """Queue 'delayed': the promised date cannot be met, the new estimate, and what the customer can do.

    Once per order and new estimate (the estimate is the occurrence): the same date is never told twice.
    """
    lines = list(order.lines.all()) if lines is None else lines
    extra = {"delay": _delay(lines, cause, promised_date, new_estimate)}
    occurrence = new_estimate.isoformat()
    return _queue(_to_customer(order, "order_delayed", occurrence=occurrence, lines=lines, extra=extra))


def _delay(lines: list[OrderLine], cause: str, promised_date: dt.date, new_estimate: dt.date) -> dict:
    """The late items are those not shipped yet; once everything is on its way, the whole order."""
    unshipped = [
        {"sku": line.sku, "name": line.name, "quantity": line.quantity - line.quantity_shipped}
        for line in lines
        if line.quantity > line.quantity_shipped
    ]
    return {
        "reason": DELAY_REASONS.get(cause, DELAY_REASONS["operator"]),
        "promised_date": promised_date,
        "new_estimate": new_estimate,
        "late_items": unshipped or [{"sku": line.sku, "name": line.name, "quantity": line.quantity} for line in lines],
    }


def order_delivered(order: Order, *, delivered_at: dt.datetime | None = None) -> list[int]:
    """Queue 'delivered'."""
    return _queue(_to_customer(order, "order_delivered", extra={"delivered_at": delivered_at or timezone.now()}))


def return_authorised(order: Order, *, rma: dict) -> list[int]:
    """Queue 'return authorised': ``rma`` has ``number``, ``lines`` (sku, name, quantity), ``label_url``,
    optional ``return_by`` and ``instructions``."""
    return _queue(_to_customer(order, "return_authorised", occurrence=str(rma["number"]), extra={"rma": rma}))


def return_received(order: Order, *, rma: dict) -> list[int]:
    """Queue 'return received': ``rma`` has ``number``, ``lines``, optional ``received_at``."""
    return _queue(_to_customer(order, "return_received", occurrence=str(rma["number"]), extra={"rma": rma}))


def return_refunded(order: Order, *, rma: dict) -> list[int]:
    """Queue 'refund issued': ``rma`` has ``number``, ``refund_amount`` (Decimal), ``lines``, optional ``method``.

    ``rma`` may carry a ``refund_id`` to tell several refunds of one return apart.
    """
    occurrence = f"{rma['number']}:{rma.get('refund_id', '')}"
    return _queue(_to_customer(order, "return_refunded", occurrence=occurrence, extra={"rma": rma}))


# --- to operations ----------------------------------------------------------
def order_on_hold(order: Order, *, reason: str, actor=None, occurrence: str = "") -> list[int]:
    """Alert ops (OPS_EMAILS and the on-hold list) that an order was put on hold, and why."""
    actor_name = actor.get_username() if getattr(actor, "is_authenticated", False) else (actor or "")
    context = {**order_snapshot(order, for_ops=True), "reason": reason, "actor": str(actor_name)}
    return notifications.queue_ops_alert(
        event="order_on_hold", context=context, order_id=order.pk, occurrence=occurrence
    )


def shipment_exception(
    order: Order, *, shipment: str, tracking_number: str, description: str, location: str, occurred_at: dt.datetime
) -> list[int]:
    """Alert ops that a carrier reported a problem with a parcel (damaged, address, refused...)."""
    context = {
        **order_snapshot(order, for_ops=True),
        "shipment": shipment,
        "tracking_number": tracking_number,
        "description": description,
        "location": location,
        "occurred_at": occurred_at,
    }
    occurrence = f"{tracking_number}:{occurred_at.isoformat()}"
    return notifications.queue_ops_alert(
        event="shipment_exception", context=context, order_id=order.pk, occurrence=occurrence
    )


# --- previews in the console --------------------------------------------------
def preview_context(*, event: str, order_ref: str | None) -> dict | None:
    """A snapshot of a real order for previewing ``event`` (``NOTIFICATIONS_PREVIEW_CONTEXT``).

    ``order_ref`` is an order number or id; None picks the latest order.
    Event data the order does not have (a shipment, a return) is filled with
    an example built from its lines.
    """
    if event == "inventory_report":
        from inventory.models import InventoryCheckRun
        from inventory.services.check import report_context

        run = InventoryCheckRun.objects.exclude(finished_at=None).order_by("-started_at").first()
        return report_context(run) if run else None
    order = _find_order(order_ref)
    if order is None:
        return None
    lines = list(order.lines.all())
    snapshot = order_snapshot(order, lines=lines, for_ops=True)
    if event in EVENTS and EVENTS[event].audience == CUSTOMER:
        snapshot["brand"] = dict(channel_brand(order.channel)[0])
        snapshot["status_url"] = status_links.live_status_url(order)  # a preview makes no link
    items = [{"sku": line.sku, "name": line.name, "quantity": line.quantity} for line in lines]
    today = timezone.localdate()
    examples = {
        "order_backordered": _backorder(order, lines, None),
        "order_cancelled": {"reason": "Preview"},
        "order_lines_cancelled": {
            "cancelled": [dict(item, quantity=1) for item in items[:1]],
            "total_before": order.grand_total + (lines[0].unit_price if lines else Decimal("0.00")),
            "difference": lines[0].unit_price if lines else Decimal("0.00"),
        },
        "order_delayed": {
            "delay": _delay(lines, "carrier_exception", today + dt.timedelta(days=1), today + dt.timedelta(days=4))
        },
        "order_delivered": {"delivered_at": timezone.now()},
        "order_shipped": {
            "shipments": [
                _shipment(
                    {
                        "reference": "EXAMPLE",
                        "vendor_name": "Example Carrier",
                        "service_name": "Ground",
                        "tracking_numbers": ["EX123456789"],
                        "tracking_url_template": "https://tracking.example.com/{tracking_number}",
                        "expected_delivery": today + dt.timedelta(days=3),
                        "lines": items,
                    }
                )
            ],
            "remaining": [],
            "is_partial": False,
        },
        "order_on_hold": {"reason": "Preview: the reason the operator gives", "actor": "operator"},
        "shipment_exception": {
            "shipment": f"{order.number}-1",
            "tracking_number": "EX123456789",
            "description": "Preview: what the carrier reported",
            "location": "Example hub",
            "occurred_at": timezone.now(),
        },
        "message_failed": {
            "failed": {
                "id": 0,
                "event": "order_shipped",
                "event_label": "Order shipped",
                "recipient": order.customer.email,
                "attempts": settings.NOTIFICATIONS_MAX_ATTEMPTS,
                "error": "SMTP 550: mailbox unavailable (example)",
                "admin_url": admin_url(order),
            }
        },
    }
    rma = {
        "number": "RMA-EXAMPLE",
        "lines": items[:1],
        "label_url": "https://labels.example.com/RMA-EXAMPLE.pdf",
        "return_by": today + dt.timedelta(days=14),
        "received_at": timezone.now(),
        "refund_amount": lines[0].line_total if lines else Decimal("0.00"),
        "method": "original payment method",
    }
    for step in ("return_authorised", "return_received", "return_refunded"):
        examples[step] = {"rma": rma}
    return {**snapshot, **examples.get(event, {})}


def _find_order(order_ref: str | None) -> Order | None:
    queryset = Order.objects.select_related("customer", "shipping_address", "channel")
    if not order_ref:
        return queryset.order_by("-placed_at", "-id").first()
    found = queryset.filter(number__iexact=order_ref.strip()).first()
    if found is None and order_ref.strip().isdigit():
        found = queryset.filter(pk=int(order_ref)).first()
    return found
