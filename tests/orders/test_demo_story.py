"""The demo's story, where a new user meets it: the dashboard, the card payments, the journal and its
export batches, the returns and refunds, the order errors, and the stock that must still add up.

The story runs the real services (orders.demo_story); the demo is seeded once for this module.
"""

import datetime as dt
import io
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import TestCase, override_settings
from django.utils import timezone

from inventory.models import InventoryFinding, Product, StockLevel, StockMovement
from inventory.services import run_inventory_check
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.payments.models import ExportBatch, JournalEntry, JournalLine, PaymentTransaction
from orders.returns.models import OrderErrorCase, Refund, ReturnLine, ReturnRequest, ReturnStatus

pytestmark = pytest.mark.django_db
T = PaymentTransaction
SHIPPED = [OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo as make run loads it (fewer history orders): the story, then the history.

    Seeded once for the tests below, which only read it, in a transaction
    rolled back after the last of them (each test's own is a savepoint in it).
    That transaction is opened as Django's TestCase opens its class-wide one,
    so the services' own transactions, which may not be nested in a caller's
    (durable), run in it as in any test.
    """

    class SeededOnce(TestCase):
        databases = {"default"}

    output = io.StringIO()
    with (
        django_db_blocker.unblock(),
        override_settings(ACCOUNTING_EXPORT_DIR=str(tmp_path_factory.mktemp("accounting"))),
    ):
        atomics = SeededOnce._enter_atomics()
        try:
            call_command("seed_demo", orders=200, seed=2, stdout=output)
            yield output.getvalue()
        finally:
            SeededOnce._rollback_atomics(atomics)


def test_the_dashboard_has_money_to_look_at(demo, client, superuser):
    client.force_login(superuser)

    response = client.get("/admin/")

    counts = {item["key"]: item["count"] for item in response.context["dashboard"]["attention"]}
    assert counts["open-returns"] >= 5
    assert counts["refunds-to-settle"] >= 2
    assert counts["payment-problems"] >= 2
    panels = {panel["key"]: panel for panel in response.context["dashboard"]["panels"]}
    assert panels["on_hold"]["count"] == Order.objects.filter(status=OrderStatus.ON_HOLD).count() >= 2
    assert "Story:" in demo and "story orders through the services" in demo


def test_card_orders_were_authorised_captured_declined_and_held_by_the_credit_rule(demo):
    card = Order.objects.filter(payment_gateway="test_card")
    assert card.count() >= 25
    kinds = Counter(T.objects.values_list("kind", "status"))
    assert kinds[(T.Kind.AUTHORISE, T.Status.SUCCEEDED)] >= 20
    assert kinds[(T.Kind.AUTHORISE, T.Status.DECLINED)] >= 1
    assert kinds[(T.Kind.CAPTURE, T.Status.SUCCEEDED)] >= 20
    assert kinds[(T.Kind.CAPTURE, T.Status.DECLINED)] >= 2
    assert kinds[(T.Kind.VOID, T.Status.SUCCEEDED)] == 1  # the cancelled one
    assert kinds[(T.Kind.SETTLE, T.Status.SUCCEEDED)] == 1  # the invoice paid
    held = card.filter(status=OrderStatus.ON_HOLD)
    holds = OrderEvent.objects.filter(order__in=held, kind=OrderEvent.Kind.STATUS_CHANGED).values_list(
        "message", flat=True
    )
    assert any("Payment declined by test_card" in message for message in holds)
    assert any("Credit check: rule" in message for message in holds)
    released = OrderEvent.objects.filter(message__startswith="Released from hold", order__in=card).get().order
    assert released.status == OrderStatus.DELIVERED
    # Every delivered card order whose captures went through was captured in full, shipment by shipment.
    declined = T.objects.filter(kind=T.Kind.CAPTURE, status=T.Status.DECLINED).values("order_id")
    for order in card.filter(status=OrderStatus.DELIVERED).exclude(pk__in=declined):
        taken = T.objects.filter(order=order, kind=T.Kind.CAPTURE, status=T.Status.SUCCEEDED).aggregate(s=Sum("amount"))
        assert taken["s"] == order.grand_total, order.number


def test_the_journal_balances_and_was_exported_night_after_night(demo):
    entries = JournalEntry.objects.all()
    kinds = set(entries.values_list("kind", flat=True))
    assert kinds >= {"capture", "refund", "write_off", "shipping_cost", "settlement"}
    for entry in entries.prefetch_related("lines"):
        lines = list(entry.lines.all())
        assert sum(line.debit for line in lines) == sum(line.credit for line in lines) > 0, entry.memo
    write_offs = JournalLine.objects.filter(entry__kind="write_off").aggregate(s=Sum("debit"))["s"]
    assert write_offs > Decimal("0.00")
    batches = ExportBatch.objects.order_by("export_date")
    assert batches.count() >= 10
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    assert not entries.filter(batch=None, entry_date__lt=yesterday).exists()  # every night's export took its day
    assert all(batch.entry_count == batch.entries.count() > 0 for batch in batches)
    assert batches.first().csv_content.startswith("batch,entry,date,kind,order")


def test_returns_in_every_state_with_refunds_settled_and_to_settle(demo):
    states = set(ReturnRequest.objects.values_list("status", flat=True))
    assert states == set(ReturnStatus.values)
    refunds = Refund.objects.all()
    assert refunds.filter(status=Refund.Status.SETTLED).exclude(settled_at=None).count() >= 4
    assert refunds.filter(status=Refund.Status.PENDING, order__payment_gateway="").count() >= 2
    by_hand = refunds.filter(status=Refund.Status.SETTLED, order__payment_gateway="").get()
    assert by_hand.settlement_method == "cheque" and by_hand.settlement_reference.startswith("Cheque no.")
    written_off = ReturnLine.objects.filter(quantity_written_off__gt=0)
    assert written_off.count() >= 2
    assert all(line.write_off_cost == line.product.unit_cost * line.quantity_written_off > 0 for line in written_off)


def test_order_errors_are_put_right_by_a_reship_and_refunds_or_still_open(demo):
    cases = OrderErrorCase.objects.all()
    assert cases.filter(status=OrderErrorCase.Status.OPEN).exists()
    reshipped = cases.get(resolution=OrderErrorCase.Resolution.RESHIP)
    assert reshipped.reship_order.grand_total == 0
    assert reshipped.reship_order.status == OrderStatus.DELIVERED
    assert cases.filter(resolution=OrderErrorCase.Resolution.REFUND).count() >= 2


def test_story_and_history_keep_every_stock_and_order_invariant(demo):
    run = run_inventory_check(triggered_by="test", email=False)

    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0
    for level in StockLevel.objects.all():
        ledger = StockMovement.objects.filter(warehouse=level.warehouse_id, product=level.product_id)
        assert (ledger.aggregate(s=Sum("quantity"))["s"] or 0) == level.on_hand
        assert 0 <= level.allocated <= level.on_hand
    assert OrderLine.objects.filter(quantity_allocated__gt=0).exists()
    for order in Order.objects.filter(status__in=SHIPPED).prefetch_related("shipments__parcels"):
        parcels = [parcel for shipment in order.shipments.all() for parcel in shipment.parcels.all()]
        assert parcels and all(parcel.tracking_number for parcel in parcels), order.number
    for order in Order.objects.filter(pk__in=Order.objects.exclude(payment_gateway="").values("pk")):
        assert_timeline_ends_in_its_status(order)
    assert not Product.objects.filter(unit_cost__lte=0).exists()


def assert_timeline_ends_in_its_status(order):
    events = list(order.events.all())
    assert events[0].kind == OrderEvent.Kind.PLACED, order.number
    changes = [e for e in events if e.kind == OrderEvent.Kind.STATUS_CHANGED]
    assert changes[-1].data["to"] == order.status, order.number
    assert [e.created_at for e in events] == sorted(e.created_at for e in events), order.number
