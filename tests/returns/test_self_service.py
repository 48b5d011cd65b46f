"""Returns the customer opens on the order status page: refund, exchange and store credit, and every refusal."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import Allocation, StockLevel, StockMovement
from notifications.models import Message
from orders import services as order_services
from orders.exceptions import OrderError
from orders.models import Order, OrderEvent, OrderStatus
from orders.payments import services as payments
from orders.payments import tasks as payment_tasks
from orders.payments.models import PaymentTransaction
from orders.returns import selectors, services
from orders.returns.exceptions import SelfServiceRefused
from orders.returns.models import (
    ReturnLine,
    ReturnPolicy,
    ReturnRequest,
    ReturnStatus,
    SettlementMethod,
    StoreCredit,
    VariantGroup,
)
from orders.returns.services import Inspection
from tests.factories import ProductFactory
from tests.payments.conftest import route, sandbox  # noqa: F401 - fixtures
from tests.returns.conftest import lines_of

pytestmark = pytest.mark.django_db
T = PaymentTransaction


@pytest.fixture
def variants(sites, stock, shirt):
    """TEE-1's variants: TEE-2 at the same 20.00, TEE-XL dearer at 26.00, TEE-XS cheaper at 15.00, each in stock
    at Dallas; TEE-NONE is a variant with no stock anywhere."""
    made = {
        "TEE-2": ProductFactory(sku="TEE-2", name="Tee, large", price=Decimal("20.00")),
        "TEE-XL": ProductFactory(sku="TEE-XL", name="Tee, extra large", price=Decimal("26.00")),
        "TEE-XS": ProductFactory(sku="TEE-XS", name="Tee, extra small", price=Decimal("15.00")),
        "TEE-NONE": ProductFactory(sku="TEE-NONE", name="Tee, sold out", price=Decimal("20.00")),
    }
    for sku in ("TEE-2", "TEE-XL", "TEE-XS"):
        stock(sites["DAL"], made[sku], 4)
    group = VariantGroup.objects.create(name="Tee")
    group.products.add(shirt, *made.values())
    return made


@pytest.fixture
def card_order(sites, stock, order_to, carrier, shirt, mug, route, django_capture_on_commit_callbacks):  # noqa: F811
    """Paid by test card: 3 tees and 2 mugs, 89.20 with discount, tax and shipping; authorised, shipped, captured."""
    stock(sites["EWR"], shirt, 3)
    stock(sites["EWR"], mug, 5)
    order = order_to("NYC", [(shirt, 3), (mug, 2)], payment_gateway="test_card", payment_token="tok_approve")
    Order.objects.filter(pk=order.pk).update(
        subtotal=Decimal("80.00"),
        discount_total=Decimal("8.00"),
        tax_total=Decimal("7.20"),
        shipping_total=Decimal("10.00"),
        grand_total=Decimal("89.20"),
    )
    order = route(order)
    (shipment,) = order_services.create_shipments(order_id=order.pk, actor="test")
    order_services.buy_labels(shipment_id=shipment.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        order_services.ship_shipment(shipment_id=shipment.pk, actor="test")
    return Order.objects.get(pk=order.pk)


def receive_and_inspect(rma: ReturnRequest) -> None:
    """The returns associate's steps after the goods arrive: received in full, all back on sale."""
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="rosa")
    results = {line.pk: Inspection(restock=line.quantity) for line in rma.lines.all()}
    services.inspect_return(rma_id=rma.pk, results=results, actor="rosa")


def snapshot() -> dict:
    """What a refused request must leave exactly as it was."""
    return {
        "returns": ReturnRequest.objects.count(),
        "lines": ReturnLine.objects.count(),
        "orders": Order.objects.count(),
        "events": OrderEvent.objects.count(),
        "messages": Message.objects.count(),
        "allocations": Allocation.objects.count(),
        "movements": StockMovement.objects.count(),
        "payments": PaymentTransaction.objects.count(),
        "allocated": sorted(StockLevel.objects.values_list("pk", "allocated")),
    }


# --- refund ---------------------------------------------------------------------------------------------
def test_a_customer_s_refund_return_lands_in_the_queue_as_an_associate_s_would(shipped_order):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]

    rma = services.request_return(
        order_id=order.pk, quantities={tee: 2}, reason="no_longer_wanted", resolution="refund", note="Too big"
    )

    # the same return an associate opens: requested (this reason is reviewed), fee from the policy, in the queue
    assert rma.status == ReturnStatus.REQUESTED
    assert rma.source == "customer" and rma.resolution == "refund"
    assert rma.restocking_fee_percent == Decimal("15.00")
    assert list(rma.lines.values_list("sku", "quantity")) == [("TEE-1", 2)]
    assert rma in selectors.return_queue().filter(status=ReturnStatus.REQUESTED)
    opened = order.events.get(kind="return", data__rma=rma.number)
    assert opened.actor_name == "customer: order status page"
    assert opened.data["source"] == "customer"
    assert opened.message == (
        f"Return {rma.number} opened by the customer on the order status page: 2 × TEE-1 (no longer wanted). "
        "Customer says: Too big"
    )


def test_a_reason_the_policy_authorises_emails_the_label_at_once(shipped_order, django_capture_on_commit_callbacks):
    order = shipped_order()
    with django_capture_on_commit_callbacks(execute=True):
        rma = services.request_return(
            order_id=order.pk, quantities={lines_of(order)["MUG-1"]: 1}, reason="damaged", resolution="refund"
        )

    assert rma.status == ReturnStatus.AUTHORISED
    message = Message.objects.get(order=order, event="return_authorised")
    assert message.context["rma"]["number"] == rma.number
    assert "/returns/label/" in message.context["rma"]["label_url"]
    rma.refresh_from_db()
    assert rma.label_file  # the existing renderer drew it after commit


def test_a_refund_return_refunds_through_the_order_s_gateway(card_order, sandbox):  # noqa: F811
    order = card_order
    rma = services.request_return(
        order_id=order.pk, quantities={lines_of(order)["MUG-1"]: 2}, reason="damaged", resolution="refund"
    )
    receive_and_inspect(rma)

    refund = services.confirm_return_refund(rma_id=rma.pk, actor="rosa")

    assert refund.status == "settled" and refund.amount == Decimal("29.80")
    assert refund.settlement_method == SettlementMethod.ORIGINAL_PAYMENT
    assert sum(p.refunded for p in sandbox.payments()) == Decimal("29.80")


# --- exchange -------------------------------------------------------------------------------------------
def test_an_exchange_reserves_its_replacement_at_once_and_ships_it_when_the_return_arrives(
    shipped_order, variants, sites
):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]

    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1},
        reason="no_longer_wanted",
        resolution="exchange",
        exchange={tee: variants["TEE-2"].pk},
    )

    # a replacement order for one TEE-2 at no charge, its unit reserved through the ledger at Dallas, on hold
    replacement = rma.replacement_order
    assert list(replacement.lines.values_list("sku", "quantity", "unit_price")) == [("TEE-2", 1, Decimal("0.00"))]
    assert replacement.grand_total == Decimal("0.00") and replacement.payment_gateway == ""
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=variants["TEE-2"]).allocated == 1
    assert Allocation.objects.get(order=replacement).quantity == 1
    assert replacement.status == OrderStatus.ON_HOLD and replacement.held_from_status == OrderStatus.ALLOCATED
    held = replacement.events.get(data__to=OrderStatus.ON_HOLD)
    assert held.data["cause"] == "exchange"
    assert order.events.filter(message__startswith=f"Exchange for return {rma.number}: replacement").exists()
    line = rma.lines.get()
    assert line.replacement_product == variants["TEE-2"] and line.replacement_unit_price == Decimal("20.00")

    # when the associate authorises and receives the return, the replacement is released to ship
    services.authorise_return(rma_id=rma.pk, actor="rosa")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="rosa")
    replacement.refresh_from_db()
    assert replacement.status == OrderStatus.ALLOCATED
    assert order_services.create_shipments(order_id=replacement.pk, actor="warehouse")

    # and after inspection, nothing is owed back: the unit paid for its same-price replacement
    services.inspect_return(rma_id=rma.pk, results={line.pk: Inspection(restock=1)}, actor="rosa")
    quote = services.quote_return_refund(ReturnRequest.objects.get(pk=rma.pk))
    assert quote.exchange == Decimal("19.80")  # 20.00 less its 2.00 discount share plus its 1.80 tax share
    assert quote.amount == Decimal("0.00")


def test_an_exchange_that_arrives_short_keeps_its_replacement_held_until_ops_release_it(shipped_order, variants):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]
    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 2},
        reason="no_longer_wanted",
        resolution="exchange",
        exchange={tee: variants["TEE-2"].pk},
    )
    services.authorise_return(rma_id=rma.pk, actor="rosa")
    line = rma.lines.get()

    # 2 tees exchanged, 1 arrived: the replacement (2 × TEE-2) does not ship, and its timeline says why
    services.receive_return(rma_id=rma.pk, quantities={line.pk: 1}, warehouse_id=None, actor="rosa")

    replacement = Order.objects.get(pk=rma.replacement_order_id)
    assert replacement.status == OrderStatus.ON_HOLD
    assert services.returns.held_for_exchange(replacement)
    with pytest.raises(OrderError):
        order_services.create_shipments(order_id=replacement.pk, actor="warehouse")
    note = replacement.events.filter(data__missing__isnull=False).get()
    assert note.message == (
        f"Still on hold: return {rma.number} arrived without 1 × TEE-1 exchanged for this order. "
        "Release it by hand once the missing units are settled with the customer."
    )

    # ops settle the missing unit with the customer and release it by hand: then it ships
    order_services.release_order(order_id=replacement.pk, actor="ops", note="customer sent the other tee")
    replacement.refresh_from_db()
    assert replacement.status == OrderStatus.ALLOCATED
    assert order_services.create_shipments(order_id=replacement.pk, actor="warehouse")


def test_an_exchange_for_a_trusted_reason_ships_at_once(shipped_order, variants):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]
    policy = ReturnPolicy.current()
    policy.reasons.filter(reason="wrong_item").update(trusted=True)

    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1},
        reason="wrong_item",
        resolution="exchange",
        exchange={tee: variants["TEE-2"].pk},
    )

    assert rma.status == ReturnStatus.AUTHORISED  # the policy authorises wrong items at once
    assert rma.replacement_order.status == OrderStatus.ALLOCATED
    assert order_services.create_shipments(order_id=rma.replacement_order_id, actor="warehouse")


def test_a_rejected_exchange_cancels_its_replacement_and_frees_the_stock(
    shipped_order, variants, sites, django_capture_on_commit_callbacks
):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]
    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1},
        reason="other",
        resolution="exchange",
        exchange={tee: variants["TEE-2"].pk},
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.reject_return(rma_id=rma.pk, reason="worn", actor="rosa")

    assert Order.objects.get(pk=rma.replacement_order_id).status == OrderStatus.CANCELLED
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=variants["TEE-2"]).allocated == 0


def test_a_dearer_variant_charges_the_difference_through_the_order_s_gateway(
    card_order,
    variants,
    sandbox,  # noqa: F811
):
    order = card_order
    tee = lines_of(order)["TEE-1"]

    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 2},
        reason="no_longer_wanted",
        resolution="exchange",
        exchange={tee: variants["TEE-XL"].pk},
    )

    # 2 × (26.00 − 20.00) authorised on the replacement, by the same card, before its stock was reserved
    replacement = rma.replacement_order
    assert replacement.grand_total == Decimal("12.00") and replacement.payment_gateway == "test_card"
    auth = T.objects.get(order=replacement, kind=T.Kind.AUTHORISE)
    assert auth.status == T.Status.SUCCEEDED and auth.amount == Decimal("12.00")
    assert Allocation.objects.filter(order=replacement).get().quantity == 2
    # and it is captured when the replacement ships, as any order's payment is
    services.authorise_return(rma_id=rma.pk, actor="rosa")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="rosa")
    (shipment,) = order_services.create_shipments(order_id=replacement.pk, actor="warehouse")
    order_services.buy_labels(shipment_id=shipment.pk, actor="warehouse")
    order_services.ship_shipment(shipment_id=shipment.pk, actor="warehouse")
    assert payments.captured_amount(Order.objects.get(pk=replacement.pk)) == Decimal("12.00")


def test_a_declined_difference_holds_the_replacement_for_ops_and_reserves_nothing(
    card_order,
    variants,
    sandbox,  # noqa: F811
):
    order = card_order
    Order.objects.filter(pk=order.pk).update(payment_token="tok_decline")  # the card no longer pays
    tee = lines_of(order)["TEE-1"]

    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1},
        reason="no_longer_wanted",
        resolution="exchange",
        exchange={tee: variants["TEE-XL"].pk},
    )

    # the return stands (the goods may still come back); the replacement waits for ops, as any declined order
    replacement = rma.replacement_order
    assert rma.status == ReturnStatus.REQUESTED
    assert replacement.status == OrderStatus.ON_HOLD
    assert replacement.events.get(data__to=OrderStatus.ON_HOLD).data["cause"] == "payment"
    assert not services.returns.held_for_exchange(replacement)
    assert not Allocation.objects.filter(order=replacement).exists()


def test_a_difference_the_gateway_answers_late_is_reserved_and_held_once_authorised(
    card_order,
    variants,
    sites,
    django_capture_on_commit_callbacks,
    sandbox,  # noqa: F811
):
    order = card_order
    Order.objects.filter(pk=order.pk).update(payment_token="tok_slow")  # the first try times out
    tee = lines_of(order)["TEE-1"]

    with django_capture_on_commit_callbacks(execute=True):
        rma = services.request_return(
            order_id=order.pk,
            quantities={tee: 1},
            reason="no_longer_wanted",
            resolution="exchange",
            exchange={tee: variants["TEE-XL"].pk},
        )

    # asked again (the routing task), routed, then held for the goods by the return's own task
    replacement = Order.objects.get(pk=rma.replacement_order_id)
    assert T.objects.get(order=replacement, kind=T.Kind.AUTHORISE).status == T.Status.SUCCEEDED
    assert replacement.status == OrderStatus.ON_HOLD
    assert services.returns.held_for_exchange(replacement)
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=variants["TEE-XL"]).allocated == 1


def test_a_replacement_whose_authorisation_timed_out_is_held_by_the_retry_that_routes_it(
    card_order,
    variants,
    sandbox,  # noqa: F811
):
    order = card_order
    Order.objects.filter(pk=order.pk).update(payment_token="tok_slow")  # the first try times out
    tee = lines_of(order)["TEE-1"]
    rma = services.request_return(  # its after-commit work not run: only the payment's retry routes it
        order_id=order.pk,
        quantities={tee: 1},
        reason="no_longer_wanted",
        resolution="exchange",
        exchange={tee: variants["TEE-XL"].pk},
    )
    assert Order.objects.get(pk=rma.replacement_order_id).status == OrderStatus.RECEIVED

    payment_tasks.retry_authorisation(rma.replacement_order_id)

    # authorised and its stock reserved, but held for the returned goods: the warehouse cannot ship it
    replacement = Order.objects.get(pk=rma.replacement_order_id)
    assert T.objects.get(order=replacement, kind=T.Kind.AUTHORISE).status == T.Status.SUCCEEDED
    assert replacement.status == OrderStatus.ON_HOLD and replacement.held_from_status == OrderStatus.ALLOCATED
    assert services.returns.held_for_exchange(replacement)
    with pytest.raises(OrderError):
        order_services.create_shipments(order_id=replacement.pk, actor="warehouse")


def test_the_routing_sweep_holds_a_replacement_but_not_the_ordinary_orders_beside_it(
    shipped_order, variants, order_to, mug, monkeypatch
):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]
    # the process stops after the return and its replacement are committed, before it reserves the replacement
    monkeypatch.setattr(services.self_service, "reserve_replacement", lambda **kwargs: None)
    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1},
        reason="other",
        resolution="exchange",
        exchange={tee: variants["TEE-2"].pk},
    )
    ordinary = order_to("NYC", [(mug, 1)])
    assert Order.objects.get(pk=rma.replacement_order_id).status == OrderStatus.RECEIVED

    # the sweep routes both in one batch: the ordinary order goes on, the replacement waits for the returned tee
    assert order_services.route_waiting_orders(older_than=dt.timedelta(0)) == 2

    assert Order.objects.get(pk=ordinary.pk).status == OrderStatus.ALLOCATED
    replacement = Order.objects.get(pk=rma.replacement_order_id)
    assert replacement.status == OrderStatus.ON_HOLD and services.returns.held_for_exchange(replacement)
    assert replacement.events.get(data__to=OrderStatus.ON_HOLD).message == (
        f"Put on hold: exchange for return {rma.number}: it ships when the returned goods arrive"
    )


def test_a_cheaper_variant_refunds_the_difference_through_the_order_s_gateway(
    card_order,
    variants,
    sandbox,  # noqa: F811
):
    order = card_order
    tee = lines_of(order)["TEE-1"]
    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1},
        reason="damaged",
        resolution="exchange",
        exchange={tee: variants["TEE-XS"].pk},
    )
    assert rma.replacement_order.grand_total == Decimal("0.00")
    receive_and_inspect(rma)

    refund = services.confirm_return_refund(rma_id=rma.pk, actor="rosa")

    # the tee was worth 19.80 paid (20.00 less its 2.00 discount share plus 1.80 tax), and a damaged item is our
    # error (the order's 10.00 shipping back too); 15.00 / 20.00 of the 19.80, 14.85, paid for the XS
    assert refund.amount == Decimal("14.95") and refund.status == "settled"
    assert refund.breakdown["exchange"] == "14.85"
    assert sum(p.refunded for p in sandbox.payments()) == Decimal("14.95")


def test_an_exchange_refunds_the_items_returned_without_a_variant_as_usual(shipped_order, variants):
    order = shipped_order()
    tee, mug = lines_of(order)["TEE-1"], lines_of(order)["MUG-1"]

    rma = services.request_return(
        order_id=order.pk,
        quantities={tee: 1, mug: 2},
        reason="other",
        resolution="exchange",
        exchange={tee: variants["TEE-XS"].pk},
    )

    # the replacement is for the tee alone; the mugs are returned for their money
    assert list(rma.replacement_order.lines.values_list("sku", "quantity")) == [("TEE-XS", 1)]
    assert dict(rma.lines.values_list("sku", "replacement_product__sku")) == {"TEE-1": "TEE-XS", "MUG-1": None}
    services.authorise_return(rma_id=rma.pk, actor="rosa")
    receive_and_inspect(rma)
    quote = services.quote_return_refund(ReturnRequest.objects.get(pk=rma.pk))
    # tee: 20.00 − 2.00 discount + 1.80 tax = 19.80, 19.80 × 15/20 = 14.85 kept for the XS, 4.95 back;
    # mugs: 20.00 − 2.00 + 1.80 = 19.80 back in full; 4.95 + 19.80 = 24.75
    assert quote.exchange == Decimal("14.85")
    assert quote.amount == Decimal("24.75")


# One TEE-1 (20.00 of the order's 80.00 subtotal, so a quarter of its discount and tax) exchanged for "other" (no
# fee, not our error): the unit cost the customer 20.00 − discount share + tax share; the replacement's price over
# 20.00 of that (all of it for a same-price or dearer variant) paid for the replacement, the rest is refunded.
EXCHANGE_FIGURES = [
    # no discount, tax 8.00: the tee cost 20.00 + 2.00 tax = 22.00
    ("0.00", "8.00", "TEE-2", "22.00", "0.00"),  # same price: all 22.00 paid for it
    ("0.00", "8.00", "TEE-XS", "16.50", "5.50"),  # 15.00: 22.00 × 15/20 = 16.50, 5.50 back
    ("0.00", "8.00", "TEE-XL", "22.00", "0.00"),  # 26.00: all 22.00, the 6.00 more charged on the replacement
    # discount 8.00, tax 7.20: the tee cost 20.00 − 2.00 + 1.80 = 19.80
    ("8.00", "7.20", "TEE-2", "19.80", "0.00"),  # same price
    ("8.00", "7.20", "TEE-XS", "14.85", "4.95"),  # 19.80 × 15/20 = 14.85, 4.95 back
    ("8.00", "7.20", "TEE-XL", "19.80", "0.00"),  # dearer
]


@pytest.mark.parametrize(("discount", "tax", "sku", "offset", "refund"), EXCHANGE_FIGURES)
def test_an_exchange_refunds_what_the_returned_unit_cost_beyond_its_replacement(
    shipped_order, variants, discount, tax, sku, offset, refund
):
    order = shipped_order()
    Order.objects.filter(pk=order.pk).update(
        discount_total=Decimal(discount),
        tax_total=Decimal(tax),
        grand_total=Decimal("90.00") - Decimal(discount) + Decimal(tax),
    )
    tee = lines_of(order)["TEE-1"]
    rma = services.request_return(
        order_id=order.pk, quantities={tee: 1}, reason="other", resolution="exchange", exchange={tee: variants[sku].pk}
    )
    services.authorise_return(rma_id=rma.pk, actor="rosa")
    receive_and_inspect(rma)

    quote = services.quote_return_refund(ReturnRequest.objects.get(pk=rma.pk))

    assert quote.exchange == Decimal(offset)
    assert quote.amount == Decimal(refund)


# --- store credit ---------------------------------------------------------------------------------------
def test_store_credit_settles_the_refund_as_a_store_credit_record_not_through_the_gateway(
    card_order,
    sandbox,  # noqa: F811
):
    order = card_order
    ReturnPolicy.objects.filter(pk=ReturnPolicy.current().pk).update(store_credit=True)
    rma = services.request_return(
        order_id=order.pk, quantities={lines_of(order)["MUG-1"]: 2}, reason="damaged", resolution="store_credit"
    )
    receive_and_inspect(rma)

    refund = services.confirm_return_refund(rma_id=rma.pk, actor="rosa")

    credit = StoreCredit.objects.get(refund=refund)
    assert refund.status == "settled" and refund.settlement_method == SettlementMethod.STORE_CREDIT
    assert refund.settlement_reference == credit.number and credit.number.startswith("SC-")
    assert credit.amount == Decimal("29.80") and credit.customer_id == order.customer_id
    assert sum(p.refunded for p in sandbox.payments()) == Decimal("0.00")
    assert payments.refundable_amount(order) == Decimal("89.20")
    assert Message.objects.get(order=order, event="return_refunded").context["rma"]["method"] == "store credit"


def test_store_credit_is_refused_when_the_policy_does_not_offer_it(shipped_order):
    order = shipped_order()
    with pytest.raises(SelfServiceRefused) as refused:
        services.request_return(
            order_id=order.pk, quantities={lines_of(order)["MUG-1"]: 1}, reason="damaged", resolution="store_credit"
        )
    assert refused.value.field == "resolution"
    assert str(refused.value) == "Refund or exchange: choose one of refund, exchange."


# --- every refusal names the field and writes nothing -------------------------------------------------
@pytest.fixture
def other_order(sites, stock, order_to, mug):
    stock(sites["DAL"], mug, 1)
    return order_to("NYC", [(mug, 1)])


def bad_requests(order, other_order, variants, mug):
    tee, mugs = lines_of(order)["TEE-1"], lines_of(order)["MUG-1"]
    other_line = other_order.lines.get().pk
    later = timezone.localdate() + dt.timedelta(days=45)
    return {
        "over-returning": (
            {"quantities": {tee: 4}, "reason": "damaged", "resolution": "refund"},
            f"qty-{tee}",
            "Tee: you can return at most 3 (3 shipped, 0 already returned or in a return).",
        ),
        "negative quantity": (
            {"quantities": {tee: -1}, "reason": "damaged", "resolution": "refund"},
            f"qty-{tee}",
            "Tee: the quantity must be a whole number, 0 or more.",
        ),
        "a line of another order": (
            {"quantities": {other_line: 1}, "reason": "damaged", "resolution": "refund"},
            f"qty-{other_line}",
            f"Quantity: item {other_line} is not on order {order.number}.",
        ),
        "outside the window": (
            {"quantities": {tee: 1}, "reason": "damaged", "resolution": "refund", "today": later},
            "lines",
            f"Order {order.number} is past the 30-day return window",
        ),
        "nothing chosen": (
            {"quantities": {tee: 0}, "reason": "damaged", "resolution": "refund"},
            "lines",
            "Choose at least one item to return.",
        ),
        "an unknown reason": (
            {"quantities": {tee: 1}, "reason": "bored", "resolution": "refund"},
            "reason",
            "Reason: choose why you are returning the items.",
        ),
        "a variant of another product": (
            {"quantities": {tee: 1}, "reason": "damaged", "resolution": "exchange", "exchange": {tee: mug.pk}},
            f"variant-{tee}",
            "Tee: that is not another variant of this product.",
        ),
        "the same product as its own variant": (
            {
                "quantities": {mugs: 1},
                "reason": "damaged",
                "resolution": "exchange",
                "exchange": {mugs: mug.pk},
            },
            f"variant-{mugs}",
            "Mug: that is not another variant of this product.",
        ),
        "a variant out of stock": (
            {
                "quantities": {tee: 1},
                "reason": "damaged",
                "resolution": "exchange",
                "exchange": {tee: variants["TEE-NONE"].pk},
            },
            f"variant-{tee}",
            "Tee, sold out: not enough in stock for 1",
        ),
        "an exchange without a variant": (
            {"quantities": {tee: 1}, "reason": "damaged", "resolution": "exchange"},
            f"variant-{tee}",
            "Tee: choose the variant to receive instead (items without one are refunded), or choose a refund.",
        ),
        "a variant for an item not returned": (
            {
                "quantities": {tee: 1},
                "reason": "damaged",
                "resolution": "exchange",
                "exchange": {tee: variants["TEE-2"].pk, mugs: variants["TEE-2"].pk},
            },
            f"variant-{mugs}",
            "Exchange: choose how many to return of the item you exchange.",
        ),
        "a made-up resolution": (
            {"quantities": {tee: 1}, "reason": "damaged", "resolution": "cash"},
            "resolution",
            "Refund or exchange: choose one of refund, exchange.",
        ),
    }


CASES = [
    "over-returning",
    "negative quantity",
    "a line of another order",
    "outside the window",
    "nothing chosen",
    "an unknown reason",
    "a variant of another product",
    "the same product as its own variant",
    "a variant out of stock",
    "an exchange without a variant",
    "a variant for an item not returned",
    "a made-up resolution",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_field_and_writes_nothing(case, shipped_order, other_order, variants, mug):
    order = shipped_order()
    kwargs, field_name, message = bad_requests(order, other_order, variants, mug)[case]
    before = snapshot()

    with pytest.raises(SelfServiceRefused) as refused:
        services.request_return(order_id=order.pk, **kwargs)

    assert refused.value.field == field_name
    assert str(refused.value).startswith(message)
    assert snapshot() == before


def test_a_line_not_shipped_yet_cannot_be_returned(sites, stock, order_to, carrier, shirt, mug):
    # given an order whose tees shipped and whose mug waits for stock
    stock(sites["EWR"], shirt, 1)
    order = order_to("NYC", [(shirt, 1), (mug, 1)])
    order_services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = order_services.create_shipments(order_id=order.pk, actor="test")
    order_services.buy_labels(shipment_id=shipment.pk, actor="test")
    order_services.ship_shipment(shipment_id=shipment.pk, actor="test")
    before = snapshot()

    with pytest.raises(SelfServiceRefused) as refused:
        services.request_return(
            order_id=order.pk, quantities={lines_of(order)["MUG-1"]: 1}, reason="damaged", resolution="refund"
        )

    assert refused.value.field == f"qty-{lines_of(order)['MUG-1']}"
    assert str(refused.value) == "Mug: it has not shipped yet, so it cannot be returned."
    assert snapshot() == before


def test_an_order_nothing_of_which_has_shipped_offers_no_return(sites, stock, order_to, shirt):
    order = order_to("NYC", [(shirt, 1)])
    options = services.return_options(order)
    assert not options.offered and options.why_not == "You can return items here once they have shipped."
    with pytest.raises(SelfServiceRefused) as refused:
        services.request_return(
            order_id=order.pk, quantities={lines_of(order)["TEE-1"]: 1}, reason="damaged", resolution="refund"
        )
    assert refused.value.field == "lines"


def test_the_options_offer_returnable_lines_and_only_variants_in_stock(shipped_order, variants):
    order = shipped_order()
    services.request_return(
        order_id=order.pk, quantities={lines_of(order)["TEE-1"]: 2}, reason="other", resolution="refund"
    )

    options = services.return_options(order)

    assert options.offered
    by_sku = {line.sku: line for line in options.lines}
    assert by_sku["TEE-1"].returnable == 1 and by_sku["MUG-1"].returnable == 2
    assert [v.sku for v in by_sku["TEE-1"].variants] == ["TEE-2", "TEE-XL", "TEE-XS"]
    assert by_sku["MUG-1"].variants == []
    assert [value for value, _ in options.resolutions] == ["refund", "exchange"]
