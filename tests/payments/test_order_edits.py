"""Editing an order's items (``orders.services.amendments.edit_lines``): stock, status, totals, promise,
payment, timeline and the customer's email.

Here beside the payments' tests for their fixtures (card orders routed, shipped, the gateway's record)."""

from decimal import Decimal

import pytest

from inventory.models import Allocation, StockLevel, StockMovement
from notifications.models import Message
from orders import services
from orders.exceptions import EditRefused, OrderChanged, ReasonRequired
from orders.models import OrderEvent, OrderLine, OrderStatus
from orders.payments import services as payments
from orders.payments.models import JournalEntry, PaymentTransaction
from orders.services.amendments import edit_lines, preview_edit

pytestmark = pytest.mark.django_db
T = PaymentTransaction
S = OrderStatus


def lines_of(order):
    return list(OrderLine.objects.filter(order=order).order_by("pk"))


def allocated(warehouse, product) -> int:
    return StockLevel.objects.get(warehouse=warehouse, product=product).allocated


def written(order) -> tuple:
    """Everything an edit could write for an order, to show a refusal or a preview wrote nothing."""
    return (
        list(OrderLine.objects.filter(order=order).order_by("pk").values_list("quantity", "quantity_allocated")),
        OrderEvent.objects.filter(order=order).count(),
        Message.objects.filter(order_id=order.pk).count(),
        T.objects.filter(order=order).count(),
        list(Allocation.objects.filter(order=order).order_by("pk").values_list("quantity", flat=True)),
        StockMovement.objects.count(),
    )


def test_raising_a_quantity_reserves_reprices_and_authorises_the_difference(
    sites, stock, shirt, mug, paid_order, route, sandbox, django_capture_on_commit_callbacks
):
    # given an allocated card order of 1 shirt and 1 mug, with shipping, tax and a discount
    stock(sites["EWR"], shirt, 5)
    stock(sites["EWR"], mug, 5)
    order = route(paid_order([(shirt, 1), (mug, 1)], shipping="5.00", tax="3.75", discount="2.50"))
    assert order.status == S.ALLOCATED and order.grand_total == Decimal("43.75")
    shirts, _ = lines_of(order)
    auth = payments.authorisation(order)

    # when an operator makes it 3 shirts
    with django_capture_on_commit_callbacks(execute=True):
        summary = edit_lines(
            order_id=order.pk, changes=[{"line": shirts.pk, "quantity": 3}], reason="Customer called", actor="ana"
        )

    # then 2 more shirts are reserved through the ledger and the order stays allocated
    order.refresh_from_db()
    assert allocated(sites["EWR"], shirt) == 3
    assert OrderLine.objects.get(pk=shirts.pk).quantity_allocated == 3
    assert order.status == S.ALLOCATED
    # totals by the intake's rule: tax and discount follow the subtotal (37.50 → 87.50), shipping stays
    assert (order.subtotal, order.tax_total, order.discount_total, order.shipping_total) == (
        Decimal("87.50"),
        Decimal("8.75"),
        Decimal("5.83"),
        Decimal("5.00"),
    )
    assert order.grand_total == Decimal("95.42")
    assert summary.total_before == Decimal("43.75") and summary.total_after == Decimal("95.42")
    assert summary.stock == {"reserved": 2, "released": 0, "waiting": 0}
    # the gateway authorised the difference on the same payment
    (increase,) = T.objects.filter(order=order, kind=T.Kind.INCREMENT)
    assert increase.status == T.Status.SUCCEEDED and increase.amount == Decimal("51.67")
    assert sandbox.payment(auth.gateway_reference).authorised == Decimal("95.42")
    assert payments.authorised_amount(order) == Decimal("95.42")
    # one timeline entry, before → after and who; one email with the new total and the date
    entry = summary.event
    assert entry.kind == OrderEvent.Kind.LINES_EDITED and entry.actor_name == "ana"
    assert "TEE-1 1 → 3" in entry.message and "total 43.75 → 95.42 USD" in entry.message
    assert "51.67 more to authorise" in entry.message
    (email,) = Message.objects.filter(order_id=order.pk, event="order_changed")
    assert email.context["total_before"] == "43.75" and email.context["order"]["grand_total"] == "95.42"


def test_adding_and_removing_lines_releases_and_reserves_and_reduces_the_authorisation(
    sites, stock, shirt, mug, paid_order, route, sandbox, django_capture_on_commit_callbacks
):
    # given an allocated order of 2 shirts and 1 mug
    stock(sites["EWR"], shirt, 5)
    stock(sites["EWR"], mug, 5)
    order = route(paid_order([(shirt, 2), (mug, 1)]))
    shirts, mugs = lines_of(order)
    auth = payments.authorisation(order)

    # when the shirts are removed and 1 mug added (its price the product's)
    with django_capture_on_commit_callbacks(execute=True):
        summary = edit_lines(
            order_id=order.pk,
            changes=[{"line": shirts.pk, "quantity": 0}, {"line": mugs.pk, "quantity": 2}],
            reason="Swap",
            actor="ana",
        )

    # then the shirts are back on sale, 2 mugs reserved, the authorisation reduced to the new total
    order.refresh_from_db()
    assert allocated(sites["EWR"], shirt) == 0 and allocated(sites["EWR"], mug) == 2
    shirts = OrderLine.objects.get(pk=shirts.pk)
    assert (shirts.quantity, shirts.quantity_cancelled, shirts.quantity_allocated) == (0, 2, 0)
    assert order.grand_total == Decimal("25.00")
    assert summary.stock["released"] == 2 and summary.stock["reserved"] == 1
    (reduction,) = T.objects.filter(order=order, kind=T.Kind.REDUCE)
    assert reduction.amount == Decimal("37.50") and reduction.status == T.Status.SUCCEEDED
    assert sandbox.payment(auth.gateway_reference).authorised == Decimal("25.00")
    assert "TEE-1 removed (2 → 0)" in summary.event.message


def test_a_line_added_that_no_warehouse_has_backorders_the_order(
    sites, stock, shirt, mug, paid_order, route, django_capture_on_commit_callbacks
):
    # given an allocated order of a shirt, and no mugs in stock
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)], gateway="", token=""))
    assert order.status == S.ALLOCATED

    # when 2 mugs are added at a price of the channel's
    with django_capture_on_commit_callbacks(execute=True):
        summary = edit_lines(
            order_id=order.pk,
            changes=[{"sku": "MUG-1", "quantity": 2, "unit_price": "10.00"}],
            reason="Add",
            actor="ana",
        )

    # then the new line waits for stock: the order is backordered, its promise moved to the restock date
    order.refresh_from_db()
    assert order.status == S.BACKORDERED
    added = OrderLine.objects.get(order=order, sku="MUG-1")
    assert (added.quantity, added.unit_price, added.quantity_allocated) == (2, Decimal("10.00"), 0)
    assert summary.stock["waiting"] == 2
    assert order.subtotal == Decimal("45.00")
    assert summary.promised_after == order.promised_date and order.promised_date is not None

    # and when the mugs are taken off again, the order is allocated again
    with django_capture_on_commit_callbacks(execute=True):
        edit_lines(
            order_id=order.pk, changes=[{"sku": "MUG-1", "quantity": 0}], reason="No mugs after all", actor="ana"
        )
    order.refresh_from_db()
    assert order.status == S.ALLOCATED and order.subtotal == Decimal("25.00")


def test_the_preview_says_what_the_edit_would_do_and_writes_nothing(
    sites, stock, shirt, mug, paid_order, route, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["EWR"], mug, 5)
    order = route(paid_order([(shirt, 1)]))
    (shirts,) = lines_of(order)
    before = written(order)

    preview = preview_edit(
        order_id=order.pk, changes=[{"line": shirts.pk, "quantity": 2}, {"sku": "MUG-1", "quantity": 1}]
    )

    assert written(order) == before
    assert preview.event is None
    assert preview.total_before == Decimal("25.00") and preview.total_after == Decimal("62.50")
    assert preview.adjustment.increase == Decimal("37.50")
    assert preview.stock == {"reserved": 2, "released": 0, "waiting": 0}
    assert [(c["sku"], c["before"], c["after"]) for c in preview.changes] == [("TEE-1", 1, 2), ("MUG-1", 0, 1)]
    # and the edit then does what the preview said
    with django_capture_on_commit_callbacks(execute=True):
        done = edit_lines(
            order_id=order.pk,
            changes=[{"line": shirts.pk, "quantity": 2}, {"sku": "MUG-1", "quantity": 1}],
            reason="As previewed",
            actor="ana",
        )
    assert done.totals_after == preview.totals_after and done.stock == preview.stock


def test_a_declined_increase_holds_the_order_for_its_payment(
    sites, stock, shirt, paid_order, route, sandbox, django_capture_on_commit_callbacks, mailoutbox
):
    # given an allocated order paid by a card that will not take more
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)], token="tok_no_more"))
    assert order.status == S.ALLOCATED
    (shirts,) = lines_of(order)

    with django_capture_on_commit_callbacks(execute=True):
        edit_lines(order_id=order.pk, changes=[{"line": shirts.pk, "quantity": 2}], reason="More", actor="ana")

    # then the increase was declined and the order is on hold for its payment, its stock kept
    order.refresh_from_db()
    (increase,) = T.objects.filter(order=order, kind=T.Kind.INCREMENT)
    assert increase.status == T.Status.DECLINED and increase.error == "card_declined"
    assert order.status == S.ON_HOLD and order.held_from_status == S.ALLOCATED
    hold = OrderEvent.objects.filter(order=order, data__cause="payment").latest("pk")
    assert "for the order's new total was declined by test_card: card_declined" in hold.message
    assert allocated(sites["EWR"], shirt) == 2


def test_after_a_partial_shipment_captures_less_refunds_equal_the_final_total(
    sites, stock, shirt, mug, paid_order, route, ship, sandbox, django_capture_on_commit_callbacks
):
    # given an order of a shirt (in stock) and 2 mugs (waiting), the shirt shipped and captured
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1), (mug, 2)], shipping="5.00"))
    assert order.status == S.BACKORDERED
    ship(order)
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED
    _, mugs = lines_of(order)

    # when a mug is added to the waiting line, and then the mugs are taken down to 1
    with django_capture_on_commit_callbacks(execute=True):
        edit_lines(order_id=order.pk, changes=[{"line": mugs.pk, "quantity": 3}], reason="More mugs", actor="ana")
    with django_capture_on_commit_callbacks(execute=True):
        edit_lines(order_id=order.pk, changes=[{"line": mugs.pk, "quantity": 1}], reason="Fewer", actor="ana")
    order.refresh_from_db()
    assert order.grand_total == Decimal("42.50")

    # and the last mug arrives and ships
    stock(sites["EWR"], mug, 5)
    with django_capture_on_commit_callbacks(execute=True):
        services.allocate_order(order_id=order.pk, actor="test")
    ship(order)

    # then what was captured less what was refunded is the final total, and the journal says so
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert payments.captured_amount(order) - payments.refunded_amount(order) == order.grand_total
    journal = JournalEntry.objects.filter(order=order, kind=JournalEntry.Kind.CAPTURE)
    assert journal.count() == 2


def test_money_refunded_by_an_edit_is_taken_again_when_a_later_edit_raises_the_total(
    sites, stock, shirt, mug, paid_order, route, ship, sandbox, django_capture_on_commit_callbacks
):
    # given an order of a shirt (in stock) and 2 mugs (waiting), the shirt shipped and captured
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1), (mug, 2)], shipping="5.00"))
    ship(order)
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED
    _, mugs = lines_of(order)

    # when the channel sends a discount that takes the total below what was captured (a refund)
    with django_capture_on_commit_callbacks(execute=True):
        edit_lines(
            order_id=order.pk,
            changes=[{"line": mugs.pk, "quantity": 1}],
            totals={"discount_total": Decimal("30.00")},
            reason="Channel discount",
            actor="shopify",
        )
    order.refresh_from_db()
    refunded = T.objects.get(order=order, kind=T.Kind.REFUND)
    assert refunded.status == T.Status.SUCCEEDED and refunded.source == "order edited"

    # and then takes the discount back and raises the mugs to 3
    with django_capture_on_commit_callbacks(execute=True):
        edit_lines(
            order_id=order.pk,
            changes=[{"line": mugs.pk, "quantity": 3}],
            totals={"discount_total": Decimal("0.00")},
            reason="Channel discount removed",
            actor="shopify",
        )
    order.refresh_from_db()
    assert order.grand_total == Decimal("67.50")
    (increase,) = T.objects.filter(order=order, kind=T.Kind.INCREMENT)
    assert increase.status == T.Status.SUCCEEDED

    # and the mugs arrive and ship
    stock(sites["EWR"], mug, 5)
    with django_capture_on_commit_callbacks(execute=True):
        services.allocate_order(order_id=order.pk, actor="test")
    ship(order)

    # then the last capture takes back what the edit refunded: the customer pays the final total
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    captures = T.objects.filter(order=order, kind=T.Kind.CAPTURE)
    assert {capture.status for capture in captures} == {T.Status.SUCCEEDED}
    assert payments.captured_amount(order) - payments.refunded_amount(order) == Decimal("67.50")


def test_refusals_name_the_field_and_write_nothing(sites, stock, shirt, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    (shirts,) = lines_of(order)
    before = written(order)

    cases = [
        ([{"line": shirts.pk, "quantity": -1}], "changes[0].quantity"),
        ([{"line": 999999, "quantity": 1}], "changes[0].line"),
        ([{"sku": "NOPE-1", "quantity": 1}], "changes[0].sku"),
        ([{"sku": "MUG-X", "quantity": 0}], "changes[0].quantity"),
        ([{"line": shirts.pk, "quantity": 2}], "changes"),  # nothing changes
        ([{"line": shirts.pk, "quantity": 0}], "changes"),  # nothing left to ship
        ([], "changes"),
    ]
    for changes, field in cases:
        with pytest.raises(EditRefused) as refusal:
            edit_lines(order_id=order.pk, changes=changes, reason="x", actor="ana")
        assert field in refusal.value.problems, (changes, refusal.value.problems)
    with pytest.raises(ReasonRequired):
        edit_lines(order_id=order.pk, changes=[{"line": shirts.pk, "quantity": 1}], reason=" ", actor="ana")
    assert written(order) == before


def test_units_packed_in_a_labelled_shipment_cannot_be_taken_off(sites, stock, shirt, paid_order, route, carriers):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    (shirts,) = lines_of(order)
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")

    with pytest.raises(EditRefused) as refusal:
        edit_lines(order_id=order.pk, changes=[{"line": shirts.pk, "quantity": 1}], reason="x", actor="ana")
    assert "cannot go below 2 units" in str(refusal.value) and shipment.number in str(refusal.value)


def test_a_stale_version_is_refused_and_a_key_replays(
    sites, stock, shirt, paid_order, route, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)]))
    (shirts,) = lines_of(order)
    version = services.order_version(order)
    services.add_order_note(order_id=order.pk, message="Customer called", actor="bo")

    with pytest.raises(OrderChanged, match="changed since you read it"):
        edit_lines(
            order_id=order.pk,
            changes=[{"line": shirts.pk, "quantity": 2}],
            reason="x",
            actor="ana",
            expected_version=version,
        )

    with django_capture_on_commit_callbacks(execute=True):
        first = edit_lines(
            order_id=order.pk,
            changes=[{"line": shirts.pk, "quantity": 2}],
            reason="x",
            actor="ana",
            idempotency_key="k1",
        )
        again = edit_lines(
            order_id=order.pk,
            changes=[{"line": shirts.pk, "quantity": 2}],
            reason="x",
            actor="ana",
            idempotency_key="k1",
        )
    assert again.replayed and again.event.pk == first.event.pk
    assert OrderLine.objects.get(pk=shirts.pk).quantity == 2
    assert Message.objects.filter(order_id=order.pk, event="order_changed").count() == 1


def test_channel_totals_are_taken_as_sent(sites, stock, shirt, paid_order, route, django_capture_on_commit_callbacks):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)], gateway="", token="", tax="2.00"))
    (shirts,) = lines_of(order)
    with django_capture_on_commit_callbacks(execute=True):
        summary = edit_lines(
            order_id=order.pk,
            changes=[{"line": shirts.pk, "quantity": 2}],
            totals={"tax_total": Decimal("4.10"), "discount_total": Decimal("1.00")},
            reason="Shopify edit",
            actor="shopify",
        )
    assert summary.totals_after["tax_total"] == Decimal("4.10")
    assert summary.totals_after["grand_total"] == Decimal("53.10")


def test_a_channel_discount_alone_changes_the_totals_and_releases_the_difference(
    sites, stock, shirt, paid_order, route, sandbox, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    total_before = order.grand_total

    with django_capture_on_commit_callbacks(execute=True):
        summary = edit_lines(
            order_id=order.pk,
            changes=[],
            totals={"discount_total": Decimal("5.00")},
            reason="Discount given in the shop",
            actor="shopify",
        )

    order.refresh_from_db()
    assert summary.changes == []
    assert order.discount_total == Decimal("5.00") and order.grand_total == total_before - Decimal("5.00")
    (reduce,) = T.objects.filter(order=order, kind=T.Kind.REDUCE)
    assert reduce.amount == Decimal("5.00") and reduce.status == T.Status.SUCCEEDED


def test_an_edit_with_neither_changes_nor_totals_is_refused_naming_the_field(sites, stock, shirt, paid_order, route):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))

    with pytest.raises(EditRefused) as refusal:
        edit_lines(order_id=order.pk, changes=[], reason="x", actor="ana")

    assert refusal.value.problems == {
        "changes": "changes: give at least one line to change, add or remove, or a total."
    }
