"""The order page's timeline: the order's events, the emails sent about it and its payment calls, newest first.

``order_timeline`` reads each source once (three queries, four with shipment links) and merges them into
``Entry`` rows an operator filters by group: status, shipping, payment, messages, notes. What a reader may
see is the caller's decision: it passes whether to include the emails and the payment calls, and which
links to make, from the user's permissions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.urls import reverse

from notifications.models import Message
from oms_core.console import person_name
from shipping.models import Shipment

from .models import OrderEvent
from .payments.models import PaymentTransaction

# The filter groups, in the order the page offers them (after "all").
GROUPS = (
    ("status", "Status"),
    ("shipping", "Shipping"),
    ("payment", "Payment"),
    ("messages", "Messages"),
    ("notes", "Notes"),
)

K = OrderEvent.Kind
EVENT_GROUPS = {
    K.PLACED: "status",
    K.STATUS_CHANGED: "status",
    K.PROMISE_MISSED: "status",
    K.ADDRESS_CHANGED: "status",
    K.LINES_CANCELLED: "status",
    K.RETURN: "status",
    K.ORDER_ERROR: "status",
    K.ALLOCATION: "shipping",
    K.SHIPMENT: "shipping",
    K.TRACKING: "shipping",
    K.PAYMENT: "payment",
    K.CREDIT_CHECK: "payment",
    K.REFUND: "payment",
    K.NOTE: "notes",
    K.STATUS_LINK: "messages",
    K.DELAY_NOTICE: "messages",
}

# An order with a long life (daily tracking scans, retried payments) shows its latest entries; History has all.
DEFAULT_LIMIT = 200


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: its filter group, when, who, what (label and text), and where to look closer."""

    kind: str
    when: dt.datetime
    who: str
    label: str
    text: str
    link: str = ""
    link_text: str = ""
    source: str = "event"  # event, message or payment: what the row is, for the page's styling


@dataclass(frozen=True)
class Timeline:
    entries: list[Entry]
    truncated: bool  # more entries exist than ``entries`` holds

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def order_timeline(
    order_id: int,
    *,
    include_messages: bool = True,
    include_payments: bool = True,
    link_messages: bool = False,
    link_payments: bool = False,
    link_shipments: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> Timeline:
    """The order's timeline newest first: its events, the emails queued for it, its payment gateway calls.

    Each source is read once, newest first and at most ``limit + 1`` rows, so the page's queries do not grow
    with the order's history. Links point at the console pages the caller says the reader may open.
    """
    events = list(
        OrderEvent.objects.filter(order_id=order_id).select_related("actor").order_by("-created_at", "-id")[: limit + 1]
    )
    shipment_urls = _shipment_urls(order_id) if link_shipments else {}
    entries = [_event_entry(event, shipment_urls) for event in events]
    truncated = len(events) > limit
    if include_messages:
        messages = list(
            Message.objects.filter(order_id=order_id)
            .only("id", "event", "recipient", "status", "subject", "created_at", "sent_at", "failed_at", "last_error")
            .order_by("-created_at", "-id")[: limit + 1]
        )
        entries += [_message_entry(message, link_messages) for message in messages]
        truncated = truncated or len(messages) > limit
    if include_payments:
        payments = list(
            PaymentTransaction.objects.filter(order_id=order_id)
            .select_related("actor")
            .order_by("-created_at", "-id")[: limit + 1]
        )
        entries += [_payment_entry(txn, link_payments) for txn in payments]
        truncated = truncated or len(payments) > limit
    entries.sort(key=lambda entry: entry.when, reverse=True)  # stable: each source's own order breaks ties
    return Timeline(entries=entries[:limit], truncated=truncated or len(entries) > limit)


def _who(user, name: str) -> str:
    return person_name(user) if user is not None else (name or "system")


def _shipment_urls(order_id: int) -> dict[str, str]:
    return {
        number: reverse("admin:shipping_shipment_change", args=[pk])
        for number, pk in Shipment.objects.filter(order_id=order_id).values_list("number", "pk")
    }


def _event_entry(event: OrderEvent, shipment_urls: dict[str, str]) -> Entry:
    number = event.data.get("shipment") if isinstance(event.data, dict) else None
    url = shipment_urls.get(number, "") if number else ""
    return Entry(
        kind=EVENT_GROUPS.get(event.kind, "status"),
        when=event.created_at,
        who=_who(event.actor, event.actor_name),
        label=event.get_kind_display(),
        text=event.message,
        link=url,
        link_text=number if url else "",
    )


def _message_entry(message: Message, link: bool) -> Entry:
    """An email: queued, sent or failed (with why), to whom, under which subject."""
    if message.status == Message.Status.SENT and message.sent_at:
        when, outcome = message.sent_at, "sent"
    elif message.status == Message.Status.FAILED and message.failed_at:
        when, outcome = message.failed_at, f"failed: {message.last_error}" if message.last_error else "failed"
    else:
        when, outcome = message.created_at, message.get_status_display().lower()
    subject = message.subject or message.event_label
    return Entry(
        kind="messages",
        when=when,
        who="system",
        label=f"Email: {message.event_label}",
        text=f"“{subject}” to {message.recipient}: {outcome}.",
        link=reverse("admin:notifications_message_change", args=[message.pk]) if link else "",
        link_text="view email" if link else "",
        source="message",
    )


def _payment_entry(txn: PaymentTransaction, link: bool) -> Entry:
    """A gateway call: what was asked, how much, the answer, and the gateway's reference or error."""
    tried = f" after {txn.attempts} attempts" if txn.attempts > 1 else ""
    detail = txn.error if txn.error else (f"ref. {txn.gateway_reference}" if txn.gateway_reference else "")
    text = f"{txn.get_kind_display()} {txn.amount:,.2f} {txn.currency} on {txn.gateway}: "
    text += f"{txn.get_status_display().lower()}{tried}"
    return Entry(
        kind="payment",
        when=txn.created_at,
        who=_who(txn.actor, txn.actor_name),
        label="Payment call",
        text=f"{text} ({detail})." if detail else f"{text}.",
        link=reverse("admin:payments_paymenttransaction_change", args=[txn.pk]) if link else "",
        link_text="view call" if link else "",
        source="payment",
    )
