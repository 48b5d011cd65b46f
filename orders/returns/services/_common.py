"""What the returns services share: the return's lock, and a follow-up order to the same customer."""

from ...models import Order
from ...services import AddressData, CustomerData, OrderData
from ...services._common import lock_order_of
from ..exceptions import ReturnError
from ..models import ReturnRequest


def lock_return(rma_id: int) -> ReturnRequest:
    """Lock the order, then the return (the global lock order); raises ReturnError for an unknown id."""
    return lock_order_of(ReturnRequest, rma_id, missing=ReturnError(f"No return with id {rma_id}."))


def follow_up_order(order: Order, *, external_id: str, **data) -> OrderData:
    """A new order's data for ``order``'s customer at its shipping address, in its currency (a reship, an
    exchange's replacement); ``data`` gives the rest (lines, payment, extra...)."""
    customer, address = order.customer, order.shipping_address
    return OrderData(
        external_id=external_id,
        customer=CustomerData(name=customer.name, email=customer.email, phone=customer.phone),
        shipping_address=AddressData(
            name=address.name,
            company=address.company,
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            state=address.state,
            postal_code=address.postal_code,
            country=address.country,
            phone=address.phone,
        ),
        currency=order.currency,
        **data,
    )
