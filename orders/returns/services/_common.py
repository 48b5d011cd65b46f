"""What the returns services share: the return's lock."""

from ...services._common import lock_order_of
from ..exceptions import ReturnError
from ..models import ReturnRequest


def lock_return(rma_id: int) -> ReturnRequest:
    """Lock the order, then the return (the global lock order); raises ReturnError for an unknown id."""
    return lock_order_of(ReturnRequest, rma_id, missing=ReturnError(f"No return with id {rma_id}."))
