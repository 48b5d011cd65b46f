"""The refund entries of the order's timeline: one function per kind of entry, the words in one place."""

from __future__ import annotations

from ..models import OrderEvent
from .models import Refund


def refund_settled(refund: Refund, *, actor, how: str) -> OrderEvent:
    """A refund was paid back: through the gateway (``how`` is what it said) or by hand (how and its reference)."""
    return OrderEvent.record(
        order=refund.order,
        kind=OrderEvent.Kind.REFUND,
        actor=actor,
        message=f"Refund of {refund.amount} {refund.currency} for {refund.cause} settled: {how}",
        data={
            "refund": refund.pk,
            "status": Refund.Status.SETTLED,
            "rma": refund.rma.number if refund.rma_id else None,
            "method": refund.settlement_method,
            "reference": refund.settlement_reference,
        },
    )


def refund_settled_by_hand(refund: Refund, *, actor, note: str) -> OrderEvent:
    """Someone recorded that a refund was paid back outside the gateway: how, its reference, their note."""
    how = f"paid back by {refund.get_settlement_method_display().lower()}, reference {refund.settlement_reference}"
    return refund_settled(refund, actor=actor, how=how + (f" ({note})" if note else "") + ".")
