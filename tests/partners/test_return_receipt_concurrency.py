"""A return receipt racing itself or the returns desk (PostgreSQL, real parallel transactions): the return is
received once and its units restocked once."""

import pytest

from inventory.models import StockMovement
from orders.partners import services
from orders.partners.models import Direction, MessageKind, MessageStatus, PartnerMessage
from orders.returns import services as returns
from orders.returns.exceptions import ReturnError
from orders.returns.models import ReturnRequest, ReturnStatus
from tests.notifications.test_concurrency import run_in_parallel
from tests.returns.conftest import ship

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rma(connection, sites, stock, order_to, products):
    stock(sites["EWR"], products[0], 2)
    order = ship(order_to("NYC", [(products[0], 2)]))
    found = returns.open_return(order_id=order.pk, lines={order.lines.get().pk: 2}, reason="other", actor="test")
    returns.authorise_return(rma_id=found.pk, warehouse_id=sites["DAL"].pk, actor="test")
    return ReturnRequest.objects.get(pk=found.pk)


def receipt(connection, rma, key: str) -> PartnerMessage:
    return PartnerMessage.objects.create(
        connection=connection,
        direction=Direction.IN,
        kind=MessageKind.RETURN_RECEIPT,
        key=key,
        payload={
            "rma": rma.number,
            "receipt": "R-77",
            "lines": [{"sku": "ACME-A", "quantity": 2, "disposition": "restock"}],
        },
    )


def test_the_same_return_receipt_under_two_message_ids_at_once_restocks_once(connection, rma, sites, products):
    messages = [receipt(connection, rma, key) for key in ("ret-77", "ret-77-resent")]

    statuses = run_in_parallel(*(lambda pk=m.pk: services.process_message(message_id=pk) for m in messages))

    assert statuses == [MessageStatus.APPLIED, MessageStatus.APPLIED]
    outcomes = list(PartnerMessage.objects.filter(direction=Direction.IN).values_list("outcome", flat=True))
    assert sum(outcome.startswith("Duplicate of return receipt R-77") for outcome in outcomes) == 1
    assert StockMovement.objects.filter(warehouse=sites["DAL"], kind="return_restock").count() == 1
    assert sites["DAL"].stock_levels.get(product=products[0]).on_hand == 2
    assert ReturnRequest.objects.get(pk=rma.pk).status == ReturnStatus.INSPECTED


def test_the_3pl_s_receipt_and_an_associate_s_receive_at_once_receive_the_return_once(connection, rma, sites):
    message = receipt(connection, rma, "ret-78")

    def by_hand():
        try:
            returns.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=sites["DAL"].pk, actor="rosa")
        except ReturnError as refusal:
            return str(refusal)
        return "received"

    status, said = run_in_parallel(lambda: services.process_message(message_id=message.pk), by_hand)

    message.refresh_from_db()
    rma.refresh_from_db()
    if said == "received":  # the associate was first: the 3PL's receipt is an exception for ops
        assert status == MessageStatus.EXCEPTION and "only an authorised return can be received" in message.last_error
        assert rma.status == ReturnStatus.RECEIVED
    else:  # the 3PL's receipt was first: the associate is told the return is no longer authorised
        assert status == MessageStatus.APPLIED and "only an authorised return can be received" in said
        assert rma.status == ReturnStatus.INSPECTED
    assert rma.lines.get().quantity_received == 2
    assert rma.order.lines.get().quantity_returned == 2
