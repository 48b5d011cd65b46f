from decimal import Decimal

from ..exceptions import ReasonRequired
from ..models import Order

CENT = Decimal("0.01")


def require_reason(reason: str, action: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(f"A reason is required to {action} an order.")
    return reason


def lock_order(order_id: int) -> Order:
    """Lock one order row for the rest of the transaction (always the first lock taken).

    FOR NO KEY UPDATE: rows that merely reference the order (events,
    movements) can still be inserted by others meanwhile.
    """
    return Order.objects.select_for_update(no_key=True).get(pk=order_id)


def lock_order_of(model, pk: int, *, missing: Exception):
    """Lock the order a row belongs to, then the row itself (orders are always locked first).

    Returns the row with its ``order`` set to the locked order; raises
    ``missing`` when there is no such row.
    """
    order_id = model.objects.filter(pk=pk).values_list("order_id", flat=True).first()
    if order_id is None:
        raise missing
    order = lock_order(order_id)
    row = model.objects.select_for_update().get(pk=pk)
    row.order = order
    return row
