"""Every message the OMS sends, in one table.

Adding a message is one line here plus its three templates in
``templates/notifications/<code>/``: ``subject.txt``, ``body.txt`` and
``body.html``. The apps above call ``notifications.services`` with the code
and a snapshot of the data the templates show.

``transactional`` messages go to every customer, whatever their marketing
preference: every message about the customer's own order, return or refund
(its status, where it is, what it costs them) is transactional. Only
marketing mail (a review request, an offer: ``transactional=False``) is
sent just to customers who accept it. No event is marketing today.
Ops messages always go out.
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER = "customer"
OPS = "ops"


@dataclass(frozen=True)
class Event:
    code: str
    label: str
    audience: str
    transactional: bool = True


EVENTS: dict[str, Event] = {
    event.code: event
    for event in (
        # To the customer.
        Event("order_received", "Order received", CUSTOMER),
        Event("order_allocated", "Order in process", CUSTOMER),
        Event("order_backordered", "Order backordered", CUSTOMER),
        Event("order_shipped", "Order shipped", CUSTOMER),
        Event("order_delivered", "Order delivered", CUSTOMER),
        Event("order_cancelled", "Order cancelled", CUSTOMER),
        Event("order_lines_cancelled", "Items cancelled", CUSTOMER),  # some items, the rest carries on
        Event("order_changed", "Order changed", CUSTOMER),  # items edited or a new ship-to address; the new date
        Event("order_delayed", "Order delayed", CUSTOMER),  # told before the promised date passes
        Event("return_authorised", "Return authorised", CUSTOMER),
        Event("return_received", "Return received", CUSTOMER),
        Event("return_refunded", "Refund issued", CUSTOMER),
        # To operations (OPS_EMAILS plus the event's recipient list).
        Event("order_on_hold", "Order put on hold", OPS),
        Event("shipment_exception", "Shipment exception", OPS),
        Event("inventory_report", "Daily inventory report", OPS),
        Event("message_failed", "Message failed", OPS),
        Event("payment_problem", "Payment or accounting export problem", OPS),
        Event("channel_order_refused", "Channel order refused", OPS),  # channels: a storefront webhook refused
    )
}


def get_event(code: str) -> Event:
    try:
        return EVENTS[code]
    except KeyError:
        raise LookupError(f"Unknown notification event {code!r}; add it to notifications.events.EVENTS.") from None


def is_wanted(code: str, *, accepts_marketing: bool) -> bool:
    """Whether a customer with this marketing preference gets this event (only marketing events ask it)."""
    event = get_event(code)
    return event.audience != CUSTOMER or event.transactional or accepts_marketing


def event_choices(audience: str | None = None) -> list[tuple[str, str]]:
    return [(e.code, e.label) for e in EVENTS.values() if audience is None or e.audience == audience]
