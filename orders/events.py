"""The order timeline's words: one function per kind of entry, as ops read them all day.

Every service that writes an order's timeline calls one of these; nobody
writes the sentence inline. Each function writes its row (``OrderEvent``)
and returns it; the callers hold the order's row lock and the transaction.
An entry that is also a status change moves the order through
``Order.transition_to`` (the transitions table decides), so the change and
its entry are written together. Entries say what happened, not what will.
"""

from __future__ import annotations

from .models import Channel, Order, OrderEvent


def order_received(order: Order, *, channel: Channel, actor, save: bool = True) -> OrderEvent:
    """A channel's order arrived and was placed (its ``placed`` entry).

    ``save=False`` returns the entry unsaved, for an intake that writes it
    with the order's other rows in one statement.
    """
    event = OrderEvent.build(
        order=order,
        kind=OrderEvent.Kind.PLACED,
        actor=actor,
        message=f"Order placed on {channel.name} as {order.external_id}.",
        data={"channel": channel.code, "external_id": order.external_id, "grand_total": order.grand_total},
    )
    if save:
        event.save()
    return event
