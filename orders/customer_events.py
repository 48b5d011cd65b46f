"""The customer record's timeline sentences: on the customer's timeline and on each moved order's."""

from __future__ import annotations

from .customer_models import CustomerEvent
from .models import Customer, Order, OrderEvent


def actor_name(actor) -> str:
    """A user's username, a system label, or "system"."""
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return actor if isinstance(actor, str) and actor else "system"


def _record(customer: Customer, *, kind: str, message: str, actor, data: dict | None = None) -> CustomerEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return CustomerEvent.objects.create(
        customer=customer, kind=kind, message=message, actor=user, actor_name=actor_name(actor), data=data or {}
    )


def customer_merged(keep: Customer, *, duplicate: Customer, moved: dict, actor) -> CustomerEvent:
    """The kept customer's entry: whom it absorbed and what came with it."""
    orders = ", ".join(moved["orders"]) or "no orders"
    return _record(
        keep,
        kind=CustomerEvent.Kind.MERGED,
        actor=actor,
        message=(
            f"Merged duplicate customer #{duplicate.pk} ({duplicate.email}) into this one: {orders}; "
            f"{moved['returns']} returns, {moved['messages']} messages, {moved['addresses']} addresses, "
            f"{moved['notes']} notes moved."
        ),
        data={"duplicate_id": duplicate.pk, **moved},
    )


def order_moved_to_customer(order: Order, *, keep: Customer, duplicate: Customer, actor) -> OrderEvent:
    """A moved order's entry: which customer it belonged to and which it belongs to now."""
    return OrderEvent.build(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        actor=actor,
        message=(
            f"Customer merged: this order moved from duplicate customer #{duplicate.pk} ({duplicate.email}) "
            f"to customer #{keep.pk} ({keep.email})."
        ),
        data={"customer_merge": {"from": duplicate.pk, "to": keep.pk}},
    )


def tags_changed(customer: Customer, *, added: list[str], removed: list[str], actor) -> CustomerEvent:
    parts = []
    if added:
        parts.append(f"tagged {', '.join(added)}")
    if removed:
        parts.append(f"untagged {', '.join(removed)}")
    return _record(
        customer,
        kind=CustomerEvent.Kind.TAGGED,
        actor=actor,
        message="Customer " + "; ".join(parts) + ".",
        data={"added": added, "removed": removed},
    )


def personal_data_exported(customer: Customer, *, actor) -> CustomerEvent:
    return _record(
        customer, kind=CustomerEvent.Kind.EXPORTED, actor=actor, message="Personal data exported (JSON download)."
    )


def personal_data_erased(customer: Customer, *, rows: int, reference: str, actor) -> CustomerEvent:
    said = f" (request {reference})" if reference else ""
    return _record(
        customer,
        kind=CustomerEvent.Kind.ERASED,
        actor=actor,
        message=f"Personal data erased on request{said}: {rows} rows rewritten. This cannot be undone.",
        data={"rows": rows},
    )


def order_data_erased(order: Order, *, actor) -> OrderEvent:
    return OrderEvent.build(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        actor=actor,
        message="The customer's personal data was erased on request; amounts and items are kept.",
    )
