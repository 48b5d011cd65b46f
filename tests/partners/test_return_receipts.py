"""A customer's return received by the 3PL: the RMA is received (and graded) there, as the returns desk does."""

import pytest
from django.urls import reverse

from inventory.models import StockLevel, StockMovement
from notifications.models import Message
from orders.partners import services
from orders.partners.models import MessageKind, MessageStatus, PartnerMessage
from orders.returns import services as returns
from orders.returns.models import ReturnRequest, ReturnStatus
from tests.factories import UserFactory
from tests.returns.conftest import ship

pytestmark = pytest.mark.django_db


@pytest.fixture
def authorised(connection, sites, stock, order_to, products):
    """An RMA for 2 × SKU-A (the 3PL's ACME-A) and 1 × SKU-B, shipped from Edison, to come back to the 3PL at DAL."""
    a, b = products[:2]

    def make():
        stock(sites["EWR"], a, 5)
        stock(sites["EWR"], b, 5)
        order = ship(order_to("NYC", [(a, 2), (b, 1)]))
        line_ids = dict(order.lines.values_list("sku", "pk"))
        rma = returns.open_return(
            order_id=order.pk, lines={line_ids[a.sku]: 2, line_ids[b.sku]: 1}, reason="other", actor="test"
        )
        returns.authorise_return(rma_id=rma.pk, warehouse_id=sites["DAL"].pk, actor="test")
        rma.refresh_from_db()
        return rma

    return make


def say(connection, payload, message_id="ret-1") -> PartnerMessage:
    """The 3PL's return receipt, received and applied as the webhook and its task do."""
    message, _ = services.receive_message(
        connection=connection, message_id=message_id, kind=MessageKind.RETURN_RECEIPT, payload=payload
    )
    services.process_message(message_id=message.pk)
    message.refresh_from_db()
    return message


def on_hand(sites, product) -> int:
    level = StockLevel.objects.filter(warehouse=sites["DAL"], product=product).first()
    return level.on_hand if level else 0


def test_a_graded_return_receipt_receives_and_inspects_the_return_at_the_3pl(connection, authorised, products, sites):
    a, b = products[:2]
    rma = authorised()

    message = say(
        connection,
        {
            "rma": rma.number,
            "receipt": "R-100",
            "lines": [
                {"sku": "ACME-A", "quantity": 1, "disposition": "restock"},
                {"sku": "ACME-A", "quantity": 1, "disposition": "damaged", "reason": "torn seam"},
                {"sku": b.sku, "quantity": 1, "disposition": "restock"},
            ],
        },
    )

    assert message.status == MessageStatus.APPLIED, message.last_error
    assert message.outcome.startswith(f"Return {rma.number} received at DAL (receipt R-100)")
    assert f"restocked: {a.sku} 1, {b.sku} 1" in message.outcome
    assert f"written off as damaged: {a.sku} 1" in message.outcome
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.INSPECTED and rma.warehouse.code == "DAL"
    line = rma.lines.get(sku=a.sku)
    assert (line.quantity_received, line.quantity_restocked, line.quantity_written_off) == (2, 1, 1)
    assert line.write_off_reason == "torn seam"
    # back on sale at the 3PL's warehouse through the ledger; the damaged unit came back and went out
    assert on_hand(sites, a) == 1 and on_hand(sites, b) == 1
    kinds = sorted(StockMovement.objects.filter(warehouse=sites["DAL"], product=a).values_list("kind", "quantity"))
    assert kinds == [("return_restock", 1), ("return_restock", 1), ("write_off", -1)]
    # the timeline and the customer hear of it as from the returns desk
    events = list(rma.order.events.filter(kind="return").values_list("message", flat=True))
    assert any(f"Return {rma.number} received at DAL" in text for text in events)
    assert any("torn seam" in text for text in events)
    assert Message.objects.filter(order=rma.order, event="return_received").count() == 1  # the customer's email


def test_a_return_receipt_without_grading_leaves_the_inspection_to_the_returns_desk(
    connection, authorised, products, sites
):
    a = products[0]
    rma = authorised()

    message = say(connection, {"rma": rma.number, "receipt": "R-7", "lines": [{"sku": "ACME-A", "quantity": 2}]})

    assert message.status == MessageStatus.APPLIED, message.last_error
    assert "waits for inspection" in message.outcome and "1 unit asked for did not arrive" in message.outcome
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.RECEIVED and rma.warehouse.code == "DAL"
    assert on_hand(sites, a) == 0  # nothing enters stock before inspection
    line = rma.lines.get(sku=a.sku)
    returns.inspect_return(rma_id=rma.pk, results={line.pk: returns.Inspection(restock=2)}, actor="test")
    assert on_hand(sites, a) == 2


def test_the_same_receipt_again_changes_nothing(connection, authorised, products, sites):
    a = products[0]
    rma = authorised()
    payload = {
        "rma": rma.number,
        "receipt": "R-1",
        "lines": [{"sku": "ACME-A", "quantity": 2, "disposition": "restock"}],
    }
    say(connection, payload, message_id="ret-1")
    movements = StockMovement.objects.count()

    again, new = services.receive_message(
        connection=connection, message_id="ret-1", kind=MessageKind.RETURN_RECEIPT, payload=payload
    )
    resent = say(connection, payload, message_id="ret-1-resent")

    assert not new and again.status == MessageStatus.APPLIED
    assert resent.status == MessageStatus.APPLIED
    assert resent.outcome.startswith("Duplicate of return receipt R-1, applied already by message ret-1")
    assert StockMovement.objects.count() == movements and on_hand(sites, a) == 2


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown", "rma: no return 'RMA-9999999'; Acme Fulfilment received goods for it (receipt R-9)"),
        ("not_authorised", "only an authorised return can be received. Nothing was applied"),
        ("rejected", "is rejected; only an authorised return can be received"),
        ("too_many", "received more SKU-A than return RMA-"),
        ("not_in_return", "SKU-C is not in return RMA-"),
        ("half_graded", "lines: give a disposition (restock or damaged) on every line, or on none."),
        ("bad_disposition", "lines[0].disposition: must be restock or damaged, not 'lost'."),
    ],
)
def test_a_return_receipt_that_does_not_fit_is_an_exception_for_ops_with_nothing_applied(
    case, expected, connection, authorised, products, sites, order_to, stock
):
    rma = authorised()
    lines = [{"sku": "ACME-A", "quantity": 1}]
    number = rma.number
    if case == "unknown":
        number = "RMA-9999999"
    elif case == "not_authorised":  # out of order: the 3PL had the goods before we authorised the return
        stock(sites["EWR"], products[0], 1)
        order = ship(order_to("NYC", [(products[0], 1)]))
        requested = returns.open_return(
            order_id=order.pk, lines={order.lines.get().pk: 1}, reason="other", actor="test"
        )
        number = requested.number
    elif case == "rejected":
        returns.reject_return(rma_id=rma.pk, reason="Outside policy", actor="test")
    elif case == "too_many":
        lines = [{"sku": "ACME-A", "quantity": 3}]
    elif case == "not_in_return":
        lines = [{"sku": products[2].sku, "quantity": 1}]
    elif case == "half_graded":
        lines = [{"sku": "ACME-A", "quantity": 1, "disposition": "restock"}, {"sku": products[1].sku, "quantity": 1}]
    elif case == "bad_disposition":
        lines = [{"sku": "ACME-A", "quantity": 1, "disposition": "lost"}]
    movements = StockMovement.objects.count()

    message = say(connection, {"rma": number, "receipt": "R-9", "lines": lines})

    assert message.status == MessageStatus.EXCEPTION
    assert expected in message.last_error
    assert StockMovement.objects.count() == movements
    if case not in ("unknown", "not_authorised", "rejected"):
        rma.refresh_from_db()
        assert rma.status == ReturnStatus.AUTHORISED and not rma.lines.filter(quantity_received__gt=0).exists()


def test_ops_authorise_the_return_and_apply_the_receipt_again(connection, products, sites, stock, order_to):
    stock(sites["EWR"], products[0], 1)
    order = ship(order_to("NYC", [(products[0], 1)]))
    rma = returns.open_return(order_id=order.pk, lines={order.lines.get().pk: 1}, reason="other", actor="test")
    message = say(
        connection, {"rma": rma.number, "receipt": "R-2", "lines": [{"sku": "ACME-A", "quantity": 1}]}, "early"
    )
    assert message.status == MessageStatus.EXCEPTION

    returns.authorise_return(rma_id=rma.pk, warehouse_id=sites["DAL"].pk, actor="test")
    services.reprocess_message(message_id=message.pk, actor="ops")
    services.process_message(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.APPLIED
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.RECEIVED


def test_ops_find_the_early_receipt_in_the_exceptions_and_apply_it_again_from_the_console(
    connection, products, sites, stock, order_to, client, roles, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], products[0], 1)
    order = ship(order_to("NYC", [(products[0], 1)]))
    rma = returns.open_return(order_id=order.pk, lines={order.lines.get().pk: 1}, reason="other", actor="test")
    message = say(
        connection, {"rma": rma.number, "receipt": "R-3", "lines": [{"sku": "ACME-A", "quantity": 1}]}, "early"
    )
    client.force_login(UserFactory(username="ops", role="Operations associate"))

    letters = client.get(reverse("admin:partners_deadletter_changelist")).content.decode()
    log = client.get(reverse("admin:partners_partnermessage_change", args=[message.pk])).content.decode()

    assert "Return receipt" in letters and "early" in letters
    assert rma.number in log and "only an authorised return can be received" in log

    returns.authorise_return(rma_id=rma.pk, warehouse_id=sites["DAL"].pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:partners_deadletter_changelist"),
            {"action": "apply_again_selected", "_selected_action": [message.pk]},
        )

    message.refresh_from_db()
    assert message.status == MessageStatus.APPLIED
    assert ReturnRequest.objects.get(pk=rma.pk).status == ReturnStatus.RECEIVED
