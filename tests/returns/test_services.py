"""Returns, refunds and order errors through the services: the whole flow, the ledger, the money, reships."""

import datetime as dt
import io
import shutil
from decimal import Decimal

import pytest
from django.utils import timezone
from pypdf import PdfReader

from inventory.models import StockLevel, StockMovement
from notifications.models import Message
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.payments.gateways import GATEWAYS, GatewayResult, GatewayUnavailable, PaymentGateway
from orders.payments.models import PaymentTransaction as T
from orders.returns import services
from orders.returns.exceptions import ReturnError
from orders.returns.models import OrderErrorCase, Refund, ReturnRequest, ReturnStatus
from orders.returns.services import Inspection
from tests.factories import UserFactory
from tests.returns.conftest import lines_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def rosa(db):
    return UserFactory(username="rosa")


def on_hand(warehouse, product) -> int:
    return StockLevel.objects.get(warehouse=warehouse, product=product).on_hand


def test_a_return_from_request_to_close_restocks_writes_off_refunds_and_tells_the_customer(
    shipped_order, sites, shirt, rosa
):
    # given a shipped order and the tees' stock at Edison after shipping (3 received, 3 shipped)
    order = shipped_order()
    ewr = sites["EWR"]
    assert on_hand(ewr, shirt) == 0
    tee = lines_of(order)["TEE-1"]

    # when Rosa opens a return of 2 tees the customer no longer wants
    rma = services.open_return(
        order_id=order.pk, lines={tee: 2}, reason="no_longer_wanted", customer_note="Too small", actor=rosa
    )
    # then it waits for review, numbered from its id, with the policy's 15 % fee
    assert rma.status == ReturnStatus.REQUESTED
    assert rma.number == f"RMA-{rma.pk:07d}"
    assert rma.restocking_fee_percent == Decimal("15.00") and not rma.our_error

    # authorised: back to Edison, the customer is emailed a link to the label
    services.authorise_return(rma_id=rma.pk, actor=rosa)
    mail = Message.objects.get(order=order, event="return_authorised")
    assert mail.context["rma"]["number"] == rma.number
    assert "/returns/label/" in mail.context["rma"]["label_url"]

    # received: both arrived; the order line counts them as returned; nothing is in stock yet
    rma = services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=ewr.pk, actor=rosa)
    assert rma.status == ReturnStatus.RECEIVED
    assert OrderLine.objects.get(pk=tee).quantity_returned == 2
    assert Message.objects.filter(order=order, event="return_received").count() == 1
    assert on_hand(ewr, shirt) == 0

    # inspected: one back on sale, one written off as torn
    (line,) = rma.lines.all()
    services.inspect_return(
        rma_id=rma.pk, results={line.pk: Inspection(restock=1, write_off=1, reason="torn seam")}, actor=rosa
    )

    # then the ledger shows exactly +1 restock, and +1/−1 for the written-off unit with its reason
    moves = list(
        StockMovement.objects.filter(reference=rma.number).order_by("id").values_list("kind", "quantity", "reason")
    )
    assert moves == [
        ("return_restock", 1, ""),
        ("return_restock", 1, ""),
        ("write_off", -1, f"Return {rma.number}: torn seam"),
    ]
    assert on_hand(ewr, shirt) == 1
    line.refresh_from_db()
    assert (line.quantity_restocked, line.quantity_written_off, line.write_off_cost) == (1, 1, Decimal("8.00"))

    # the refund is shown before it is confirmed: 40.00 goods − 4.00 discount + 3.60 tax − 5.40 fee
    rma.refresh_from_db()
    quote = services.quote_return_refund(rma)
    assert (quote.goods, quote.discount, quote.tax, quote.fee, quote.shipping) == (
        Decimal("40.00"),
        Decimal("4.00"),
        Decimal("3.60"),
        Decimal("5.40"),
        Decimal("0.00"),
    )
    assert quote.amount == Decimal("34.20")

    # confirmed: recorded, to settle (the order has no payment gateway)
    refund = services.confirm_return_refund(rma_id=rma.pk, actor=rosa)
    assert refund.amount == Decimal("34.20") and refund.status == Refund.Status.PENDING
    assert "No payment gateway" in refund.settle_note
    assert refund.breakdown["restocking_fee"] == "5.40"
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REFUNDED

    # settled by hand (paid on the marketplace): the customer hears of it once
    services.mark_refund_settled(
        refund_id=refund.pk, method="sales_channel", reference="MKT-REF-77", note="marketplace console", actor=rosa
    )
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SETTLED
    assert Message.objects.get(order=order, event="return_refunded").context["rma"]["refund_amount"] == "34.20"

    services.close_return(rma_id=rma.pk, actor=rosa)
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED

    # every step is on the order's timeline, by Rosa
    steps = list(
        OrderEvent.objects.filter(order=order, kind__in=["return", "refund"])
        .order_by("id")
        .values_list("actor_name", "message")
    )
    assert all(name == "rosa" for name, _ in steps)
    texts = " | ".join(message for _, message in steps)
    for expected in ("opened", "authorised", "received at EWR", "inspected", "34.20", "settled", "closed"):
        assert expected in texts


def test_over_returning_is_refused_with_a_message_naming_the_sku_and_the_limit(shipped_order, rosa):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]

    with pytest.raises(ReturnError, match=r"TEE-1: cannot return 4; 3 shipped, 0 already returned .* at most 3"):
        services.open_return(order_id=order.pk, lines={tee: 4}, reason="other", actor=rosa)

    first = services.open_return(order_id=order.pk, lines={tee: 2}, reason="other", actor=rosa)
    with pytest.raises(ReturnError, match=r"TEE-1: cannot return 2; 3 shipped, 2 already returned .* at most 1"):
        services.open_return(order_id=order.pk, lines={tee: 2}, reason="other", actor=rosa)
    assert ReturnRequest.objects.count() == 1

    # a rejected return gives its units back
    services.reject_return(rma_id=first.pk, reason="Outside policy: worn", actor=rosa)
    assert services.open_return(order_id=order.pk, lines={tee: 3}, reason="other", actor=rosa).lines.get().quantity == 3


def test_units_not_yet_shipped_cannot_be_returned(sites, stock, order_to, shirt, carrier, rosa):
    stock(sites["EWR"], shirt, 5)
    order = order_to("NYC", [(shirt, 2)])
    tee = lines_of(order)["TEE-1"]

    with pytest.raises(ReturnError, match=r"TEE-1: cannot return 1; 0 shipped"):
        services.open_return(order_id=order.pk, lines={tee: 1}, reason="other", actor=rosa)


def test_a_return_past_the_window_is_refused(shipped_order, rosa):
    order = shipped_order()
    late = timezone.localdate() + dt.timedelta(days=31)

    with pytest.raises(ReturnError, match=r"past the 30-day return window: it ended on"):
        services.open_return(
            order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="other", actor=rosa, today=late
        )


def test_a_damaged_item_is_authorised_at_once_without_fee_and_the_shipping_comes_back(shipped_order, sites, rosa):
    order = shipped_order()

    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="damaged", actor=rosa)

    assert rma.status == ReturnStatus.AUTHORISED
    assert rma.our_error and rma.restocking_fee_percent == 0
    assert "authorised automatically by the return policy" in order.events.filter(kind="return").last().message
    # 10.00 − 1.00 discount + 0.90 tax + 10.00 shipping (our error)
    assert services.quote_return_refund(rma).amount == Decimal("19.90")


def test_a_refund_is_never_more_than_what_the_customer_paid(shipped_order, rosa):
    # given an order paid 89.20 on which 50.00 was already refunded for an error
    order = shipped_order()
    case = services.open_error_case(order_id=order.pk, kind="late", root_cause="other", actor=rosa)
    services.resolve_error_case(case_id=case.pk, refund_amount=Decimal("50.00"), actor=rosa)
    lines = lines_of(order)
    rma = services.open_return(
        order_id=order.pk, lines={lines["TEE-1"]: 3, lines["MUG-1"]: 2}, reason="damaged", actor=rosa
    )
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=rosa)
    services.inspect_return(
        rma_id=rma.pk,
        results={line.pk: Inspection(restock=line.quantity_received) for line in rma.lines.all()},
        actor=rosa,
    )

    # when everything comes back, the computed 89.20 is capped at the 39.20 still paid
    rma.refresh_from_db()
    quote = services.quote_return_refund(rma)
    assert quote.computed == Decimal("89.20")
    assert quote.amount == Decimal("39.20")
    assert "capped at what the customer paid (89.20) less what was already refunded (50.00)" in quote.capped_by

    # then more is refused, naming the limit; the default refunds the rest exactly
    with pytest.raises(ReturnError, match=r"40.00 USD is more than the most allowed, 39.20 USD"):
        services.confirm_return_refund(rma_id=rma.pk, amount=Decimal("40.00"), actor=rosa)
    services.confirm_return_refund(rma_id=rma.pk, actor=rosa)
    total = sum(Refund.objects.filter(order=order).values_list("amount", flat=True))
    assert total == order.grand_total == Decimal("89.20")


def test_half_a_cent_of_tax_in_a_refund_rounds_up_as_payments_does(shipped_order):
    # one mug of 10.00 is 1/8 of the goods: 1/8 of 7.24 tax is 0.905, half a cent
    order = shipped_order()
    Order.objects.filter(pk=order.pk).update(tax_total=Decimal("7.24"), grand_total=Decimal("89.24"))
    order.refresh_from_db()

    quote = services.quote_error_refund(order, {lines_of(order)["MUG-1"]: 1})

    assert quote.lines[0].tax == Decimal("0.91")  # not 0.90 (half to even)


def test_a_partial_refund_is_recorded_as_such(shipped_order, rosa):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 2}, reason="other", actor=rosa)
    services.authorise_return(rma_id=rma.pk, actor=rosa)
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=rosa)
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=2)}, actor=rosa)

    refund = services.confirm_return_refund(rma_id=rma.pk, amount=Decimal("5.00"), actor=rosa)

    assert refund.amount == Decimal("5.00")
    assert refund.breakdown["maximum"] == "19.80"  # 20.00 − 2.00 discount + 1.80 tax, no fee for "other"
    assert "partial: 19.80 allowed" in order.events.filter(kind="refund").first().message


def test_inspection_must_account_for_every_received_unit_and_explain_write_offs(shipped_order, rosa):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 2}, reason="damaged", actor=rosa)
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=rosa)
    line = rma.lines.get()

    with pytest.raises(ReturnError, match=r"TEE-1: 2 received, but 1 restocked \+ 0 written off = 1"):
        services.inspect_return(rma_id=rma.pk, results={line.pk: Inspection(restock=1)}, actor=rosa)
    with pytest.raises(ReturnError, match=r"TEE-1: a reason is required to write off 2"):
        services.inspect_return(rma_id=rma.pk, results={line.pk: Inspection(write_off=2)}, actor=rosa)
    assert not StockMovement.objects.filter(reference=rma.number).exists()


def test_receiving_more_than_the_return_is_refused(shipped_order, rosa):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 1}, reason="damaged", actor=rosa)

    with pytest.raises(ReturnError, match=r"TEE-1: 2 received but the return is for 1"):
        services.receive_return(rma_id=rma.pk, quantities={rma.lines.get().pk: 2}, warehouse_id=None, actor=rosa)


def test_restocked_units_fill_a_waiting_backorder(
    shipped_order, order_to, shirt, sites, rosa, django_capture_on_commit_callbacks
):
    # given the tees sold out and a second order waiting for one
    order = shipped_order()
    from orders import services as order_services

    waiting = order_to("NYC", [(shirt, 1)])
    order_services.allocate_order(order_id=waiting.pk, actor="test")
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.BACKORDERED
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 1}, reason="damaged", actor=rosa)
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=rosa)

    # when the returned tee is restocked
    with django_capture_on_commit_callbacks(execute=True):
        services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=1)}, actor=rosa)

    # then the waiting order takes it
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.ALLOCATED
    level = StockLevel.objects.get(warehouse=sites["EWR"], product=shirt)
    assert (level.on_hand, level.allocated) == (1, 1)


class ScriptedGateway(PaymentGateway):
    """A card gateway at the system's edge: its refunds give the answers a test scripts, and each call is noted."""

    __test__ = False  # not a pytest class
    code = "scripted"
    answers: list = []  # GatewayResult to answer, or an exception to raise, one per refund
    calls: list = []

    def authorise(self, **kwargs) -> GatewayResult:
        raise AssertionError("these orders were authorised before")

    capture = void = authorise

    def refund(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        ScriptedGateway.calls.append(
            {"reference": reference, "amount": amount, "currency": currency, "idempotency_key": idempotency_key}
        )
        answer = ScriptedGateway.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def scripted(monkeypatch):
    """The scripted gateway, installed under its code for this test."""
    monkeypatch.setitem(GATEWAYS, ScriptedGateway.code, f"{__name__}.ScriptedGateway")
    monkeypatch.setattr(ScriptedGateway, "answers", [])
    monkeypatch.setattr(ScriptedGateway, "calls", [])
    return ScriptedGateway


def paid_through(order: Order, gateway: str, *, captured: str) -> None:
    """Given: the order was paid through ``gateway``, authorised and ``captured`` taken (the rows payments writes)."""
    order.payment_gateway = gateway
    order.save(update_fields=["payment_gateway"])
    for kind, amount in ((T.Kind.AUTHORISE, order.grand_total), (T.Kind.CAPTURE, Decimal(captured))):
        T.objects.create(
            order=order,
            kind=kind,
            gateway=gateway,
            amount=amount,
            currency=order.currency,
            status=T.Status.SUCCEEDED,
            idempotency_key=f"{order.number}:{kind}:1",
            gateway_reference="pi_test_42",
            attempts=1,
        )


def test_a_gateway_refund_is_settled_through_payments_with_the_refund_key(shipped_order, rosa, scripted):
    # given an order paid through a gateway that holds 15.00 of it
    order = shipped_order()
    paid_through(order, "scripted", captured="15.00")
    scripted.answers = [GatewayResult(succeeded=True, reference="pi_test_42")]
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 2}, reason="other", actor=rosa)
    services.authorise_return(rma_id=rma.pk, actor=rosa)
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=rosa)
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=2)}, actor=rosa)

    # then the quote is capped at what the gateway can still refund, and the refund settles through it
    quote = services.quote_return_refund(rma)
    assert quote.amount == Decimal("15.00") and "payment gateway" in quote.capped_by
    refund = services.confirm_return_refund(rma_id=rma.pk, actor=rosa)
    assert refund.status == Refund.Status.SETTLED
    assert scripted.calls == [
        {
            "reference": "pi_test_42",
            "amount": Decimal("15.00"),
            "currency": "USD",
            "idempotency_key": f"{order.number}:refund:{refund.idempotency_key}",
        }
    ]
    assert T.objects.get(order=order, kind=T.Kind.REFUND).reason == f"Return {rma.number}"
    assert Message.objects.filter(order=order, event="return_refunded").count() == 1


def test_a_refund_payments_refuses_is_marked_failed_in_its_words(shipped_order, rosa):
    # given an order paid through a gateway this installation no longer has
    order = shipped_order()
    paid_through(order, "bitcoin", captured="89.20")
    case = services.open_error_case(order_id=order.pk, kind="late", root_cause="other", actor=rosa)

    services.resolve_error_case(case_id=case.pk, refund_amount=Decimal("10.00"), actor=rosa)

    refund = Refund.objects.get(error_case=case)
    assert refund.status == Refund.Status.FAILED
    assert refund.settle_note.startswith("payment.gateway: unknown gateway 'bitcoin'")
    assert "failed: payment.gateway: unknown gateway" in order.events.filter(kind="refund").last().message
    assert not T.objects.filter(order=order, kind=T.Kind.REFUND).exists()


def test_a_refund_the_gateway_has_not_confirmed_stays_to_settle_and_settles_on_the_next_try(
    shipped_order, rosa, scripted
):
    order = shipped_order()
    paid_through(order, "scripted", captured="89.20")
    scripted.answers = [GatewayUnavailable("timed out"), GatewayResult(succeeded=True, reference="pi_test_42")]
    case = services.open_error_case(order_id=order.pk, kind="late", root_cause="other", actor=rosa)

    services.resolve_error_case(case_id=case.pk, refund_amount=Decimal("10.00"), actor=rosa)
    refund = Refund.objects.get(error_case=case)
    assert refund.status == Refund.Status.PENDING and "retried in the background" in refund.settle_note

    refund = services.settle_refund(refund_id=refund.pk, actor=rosa)
    assert refund.status == Refund.Status.SETTLED
    keys = [call["idempotency_key"] for call in scripted.calls]
    assert keys == [f"{order.number}:refund:{refund.idempotency_key}"] * 2  # the same key: the gateway refunds once


def test_a_reship_is_a_zero_charge_order_routed_like_any_other(
    shipped_order, shirt, sites, stock, rosa, django_capture_on_commit_callbacks
):
    # given a wrong tee was picked, and Edison has tees again
    order = shipped_order()
    stock(sites["EWR"], shirt, 2)
    case = services.open_error_case(
        order_id=order.pk, kind="wrong_item", root_cause="pick_error", description="Sent a red one", actor=rosa
    )
    assert (case.warehouse, case.vendor.code) == (sites["EWR"], "rapid")

    # when it is resolved with a reship of one tee
    with django_capture_on_commit_callbacks(execute=True):
        case = services.resolve_error_case(case_id=case.pk, reship={lines_of(order)["TEE-1"]: 1}, actor=rosa)

    # then a zero-charge order for the same customer and address went through routing
    reship = case.reship_order
    reship.refresh_from_db()
    assert reship.external_id == f"{order.external_id}-R1"
    assert (reship.channel_id, reship.customer_id) == (order.channel_id, order.customer_id)
    assert reship.shipping_address.postal_code == order.shipping_address.postal_code
    assert reship.grand_total == Decimal("0.00")
    assert list(reship.lines.values_list("sku", "quantity", "unit_price")) == [("TEE-1", 1, Decimal("0.00"))]
    assert reship.status == OrderStatus.ALLOCATED
    assert reship.allocations.get().warehouse == sites["EWR"]
    assert case.status == OrderErrorCase.Status.RESOLVED and case.resolution == "reship"
    # and carrier choice works on it like on any order
    from orders import services as order_services

    (shipment,) = order_services.create_shipments(order_id=reship.pk, actor=rosa)
    assert shipment.service is not None
    assert (
        f"Reship {reship.number} placed" in order.events.filter(kind="order_error").values_list("message", flat=True)[1]
    )
    assert reship.events.filter(kind="order_error", message__contains=f"Replacement for {order.number}").exists()


def test_error_rates_by_cause_warehouse_and_vendor_name_their_denominators(shipped_order, sites, rosa):
    first = shipped_order()
    shipped_order()  # a second shipment from Edison, no error
    services.open_error_case(order_id=first.pk, kind="damaged_in_transit", root_cause="carrier_damage", actor=rosa)

    today = timezone.localdate()
    report = services_report(today)

    assert (report.errors, report.shipments) == (1, 2)
    assert report.rate_percent == Decimal("50.00")
    cause = {row.key: row for row in report.by_cause}
    assert (cause["carrier_damage"].errors, cause["carrier_damage"].denominator) == (1, 2)
    assert cause["pick_error"].errors == 0
    (ewr,) = report.by_warehouse
    assert (ewr.label, ewr.errors, ewr.denominator, ewr.rate_percent) == ("EWR", 1, 2, Decimal("50.00"))
    (vendor,) = report.by_vendor
    assert (vendor.label, vendor.errors, vendor.denominator) == ("Rapid Air", 1, 2)


def services_report(today):
    from orders.returns.selectors import error_report

    return error_report(start=today, end=today)


needs_zbar = pytest.mark.skipif(
    shutil.which("zbarimg") is None or shutil.which("pdftoppm") is None, reason="needs zbar-tools and poppler-utils"
)


@needs_zbar
def test_the_return_label_goes_from_the_customer_to_the_warehouse_with_the_rma_barcode(
    shipped_order, rosa, tmp_path, django_capture_on_commit_callbacks
):
    from tests.shipping.readback import barcodes_by_page

    order = shipped_order()

    # authorised by the policy: the label is rendered in the background after commit
    with django_capture_on_commit_callbacks(execute=True):
        rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 1}, reason="damaged", actor=rosa)

    rma.refresh_from_db()
    with rma.label_file.open("rb") as handle:
        pdf = handle.read()
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert rma.number in text
    assert "EWR" in text and "RETURN" in text
    assert order.shipping_address.name in text
    assert barcodes_by_page(pdf, tmp_path) == [[rma.number]]


def _shipped_before_shipments_were_kept(sites, stock, *, ledger: bool):
    """An order marked shipped with no shipment rows (as the demo's history is), its stock gone through the ledger."""
    from inventory import services as inventory
    from tests.factories import OrderFactory

    order = OrderFactory(status=OrderStatus.DELIVERED)
    line = order.lines.get()
    OrderLine.objects.filter(pk=line.pk).update(quantity_shipped=line.quantity)
    if ledger:
        stock(sites["DAL"], line.product, line.quantity)
        inventory.write_off_stock(  # stands in for the old shipment movement: what counts is kind and order
            warehouse_id=sites["DAL"].pk, product_id=line.product_id, quantity=line.quantity, reason="x", actor="t"
        )
        StockMovement.objects.filter(kind="write_off").update(kind="shipment", order_id=order.pk)
    return order, line


def test_a_return_of_an_order_shipped_before_shipments_were_kept_goes_back_where_the_ledger_says(sites, stock):
    order, line = _shipped_before_shipments_were_kept(sites, stock, ledger=True)

    rma = services.open_return(order_id=order.pk, lines={line.pk: 1}, reason="damaged", actor="cs")

    assert (rma.status, rma.warehouse) == (ReturnStatus.AUTHORISED, sites["DAL"])


def test_a_return_nobody_knows_the_warehouse_of_waits_for_an_associate_instead_of_failing(sites, stock):
    order, line = _shipped_before_shipments_were_kept(sites, stock, ledger=False)

    rma = services.open_return(order_id=order.pk, lines={line.pk: 1}, reason="damaged", actor="cs")

    assert (rma.status, rma.warehouse) == (ReturnStatus.REQUESTED, None)
    assert "choose where the goods come back to" in order.events.filter(kind="return").last().message
    authorised = services.authorise_return(rma_id=rma.pk, actor="rosa", warehouse_id=sites["EWR"].pk)
    assert authorised.status == ReturnStatus.AUTHORISED


def refund_to_settle(order, rosa) -> Refund:
    """A return of 2 tees (damaged: no fee, shipping back), inspected and refunded: recorded, to settle."""
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 2}, reason="damaged", actor=rosa)
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=rosa)
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=2)}, actor=rosa)
    refund = services.confirm_return_refund(rma_id=rma.pk, actor=rosa)
    assert refund.status == Refund.Status.PENDING  # no gateway on the order: paid back by a person
    return refund


def test_a_refund_paid_back_by_hand_records_how_its_reference_who_and_when(shipped_order, rosa):
    order = shipped_order()
    refund = refund_to_settle(order, rosa)
    before = timezone.now()

    services.mark_refund_settled(
        refund_id=refund.pk, method="bank_transfer", reference=" BT-2291 ", note="IBAN from the customer", actor=rosa
    )

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SETTLED
    assert (refund.settlement_method, refund.settlement_reference) == ("bank_transfer", "BT-2291")
    assert (refund.settled_by, refund.settled_by_name) == (rosa, "rosa") and refund.settled_at >= before
    event = order.events.filter(kind="refund").last()
    assert event.actor_name == "rosa"
    assert event.message == (
        f"Refund of {refund.amount} USD for {refund.rma.number} settled: paid back by bank transfer, "
        "reference BT-2291 (IBAN from the customer)."
    )
    assert (event.data["rma"], event.data["reference"]) == (refund.rma.number, "BT-2291")
    mail = Message.objects.get(order=order, event="return_refunded")
    assert mail.context["rma"]["method"] == "bank account"


def test_settling_a_refund_twice_is_refused_saying_when_how_and_by_whom(shipped_order, rosa):
    order = shipped_order()
    refund = refund_to_settle(order, rosa)
    services.mark_refund_settled(refund_id=refund.pk, method="cheque", reference="CHQ-000120", actor=rosa)

    with pytest.raises(ReturnError, match=r"is already settled \(Cheque · ref CHQ-000120 · by rosa · .*\); it cannot"):
        services.mark_refund_settled(
            refund_id=refund.pk, method="bank_transfer", reference="BT-1", actor=UserFactory(username="sam")
        )

    refund.refresh_from_db()
    assert (refund.settlement_method, refund.settlement_reference, refund.settled_by_name) == (
        "cheque",
        "CHQ-000120",
        "rosa",
    )
    assert order.events.filter(kind="refund", data__status="settled").count() == 1
    assert Message.objects.filter(order=order, event="return_refunded").count() == 1


@pytest.mark.parametrize(
    ("method", "reference", "refusal"),
    [
        ("", "BT-1", "Say how the refund was paid back"),
        ("paypal", "BT-1", "Say how the refund was paid back"),
        ("bank_transfer", "  ", "A settlement reference is required"),
        ("bank_transfer", "X" * 101, "at most 100 characters"),
    ],
)
def test_marking_settled_needs_a_known_method_and_a_reference(shipped_order, rosa, method, reference, refusal):
    refund = refund_to_settle(shipped_order(), rosa)

    with pytest.raises(ReturnError, match=refusal):
        services.mark_refund_settled(refund_id=refund.pk, method=method, reference=reference, actor=rosa)

    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING and not refund.settlement_reference


def test_a_refund_of_an_order_paid_through_a_gateway_is_not_marked_settled_by_hand(shipped_order, rosa):
    order = shipped_order()
    refund = refund_to_settle(order, rosa)
    order.payment_gateway = "test_card"  # (as if it had been paid by card: its refunds go through the gateway)
    order.save(update_fields=["payment_gateway"])

    with pytest.raises(ReturnError, match="settle the refund through the gateway"):
        services.mark_refund_settled(refund_id=refund.pk, method="bank_transfer", reference="BT-1", actor=rosa)


def test_a_refund_settled_through_the_gateway_records_the_method_and_the_gateways_reference(
    shipped_order, rosa, scripted
):
    order = shipped_order()
    paid_through(order, "scripted", captured="89.20")
    scripted.answers = [GatewayResult(succeeded=True, reference="pi_test_42")]
    case = services.open_error_case(order_id=order.pk, kind="late", root_cause="other", actor=rosa)

    services.resolve_error_case(case_id=case.pk, refund_amount=Decimal("10.00"), actor=rosa)

    refund = Refund.objects.get(error_case=case)
    assert refund.status == Refund.Status.SETTLED
    assert (refund.settlement_method, refund.settlement_reference, refund.settled_by_name) == (
        "original_payment",
        "pi_test_42",
        "rosa",
    )
    assert order.events.filter(kind="refund").last().message == (
        f"Refund of 10.00 USD for {case} settled: Refunded through scripted."
    )
