"""Real parallel transactions on PostgreSQL: two associates never return or refund the same units twice."""

from decimal import Decimal

import pytest

from orders.models import OrderLine
from orders.returns import services
from orders.returns.exceptions import ReturnError
from orders.returns.models import Refund, ReturnRequest
from orders.returns.services import Inspection
from tests.inventory.test_concurrency import run_in_parallel
from tests.returns.conftest import lines_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_associates_returning_the_same_units_at_once_open_one_return(shipped_order, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]

    errors = run_in_parallel(
        [
            lambda: services.open_return(order_id=order.pk, lines={tee: 2}, reason="other", actor="ann"),
            lambda: services.open_return(order_id=order.pk, lines={tee: 2}, reason="other", actor="bob"),
        ]
    )

    assert ReturnRequest.objects.count() == 1
    assert len(errors) == 1 and isinstance(errors[0], ReturnError)
    assert "at most 1 can be returned" in str(errors[0])


def test_two_confirmations_of_one_refund_at_once_refund_once(shipped_order, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 2}, reason="damaged", actor="t")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="t")
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=2)}, actor="t")

    errors = run_in_parallel([lambda: services.confirm_return_refund(rma_id=rma.pk, actor="ann")] * 2)

    assert len(errors) == 1 and "refunds are confirmed after inspection" in str(errors[0])
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("29.80")]
    assert OrderLine.objects.get(pk=lines_of(order)["MUG-1"]).quantity_returned == 2
