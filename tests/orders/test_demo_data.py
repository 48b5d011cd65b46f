"""seed_demo: realistic, deterministic, consistent, and usable afterwards.

The bulk history is checked on its own (``--no-story``, fast); the story,
driven through the real services, is checked where a new user meets it:
the dashboard, the journal, the export batches, the payment problems, the
returns and refunds, the order errors, and the stock that must still add up.
"""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from inventory.models import Product, StockLevel, StockMovement, Warehouse
from orders.demo_data import seed_demo
from orders.models import Address, Channel, Customer, Order, OrderEvent, OrderLine, OrderStatus
from orders.payments.models import ExportBatch, JournalEntry, JournalLine, PaymentTransaction
from orders.returns.models import OrderErrorCase, Refund, ReturnLine, ReturnRequest
from shipping.carriers.table_rate import format_tracking_number
from shipping.models import Parcel, Shipment, ShipmentLine, ShipmentStatus, TrackingEvent, Vendor
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db
T = PaymentTransaction
SHIPPED = [OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED]


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    """The story's nightly accounting exports write their CSV files here, not into var/."""
    settings.ACCOUNTING_EXPORT_DIR = str(tmp_path / "accounting")
    settings.ACCOUNTING_EXPORT_URL = ""


def fingerprint():
    """What a user reads of the seeded data, with each order named by its place (ids differ between runs)."""
    rank = {pk: index for index, pk in enumerate(Order.objects.order_by("pk").values_list("pk", flat=True))}

    def named(rows):
        return [(rank[order_id], *rest) for order_id, *rest in rows]

    return (
        named(
            Order.objects.order_by("pk").values_list(
                "pk",
                "status",
                "channel__code",
                "customer__name",
                "customer__email",
                "grand_total",
                "promised_date",
                "payment_gateway",
            )
        )
        + named(OrderLine.objects.order_by("pk").values_list("order_id", "sku", "quantity", "quantity_shipped"))
        + named(
            Shipment.objects.order_by("pk").values_list(
                "order_id", "status", "warehouse__code", "service__code", "shipping_cost", "estimated_delivery"
            )
        )
        + named(Parcel.objects.order_by("pk").values_list("shipment__order_id", "weight_kg", "tracking_number"))
        + named(T.objects.order_by("pk").values_list("order_id", "kind", "status", "amount"))
        + named(ReturnRequest.objects.order_by("pk").values_list("order_id", "status", "reason"))
        + named(Refund.objects.order_by("pk").values_list("order_id", "amount", "status"))
        + list(JournalEntry.objects.order_by("pk").values_list("kind", "entry_date", "batch__export_date"))
        + list(
            StockLevel.objects.order_by("warehouse__code", "product__sku").values_list(
                "warehouse__code", "product__sku", "on_hand", "allocated"
            )
        )
    )


def wipe():
    """Empty every table the seed writes, their ids starting at 1 again: what a fresh database holds."""
    from inventory.models import Allocation, WarehouseDailyLoad
    from notifications.models import Message
    from orders.models import OrderIntake
    from orders.partners.models import PartnerConnection, PartnerMessage, PartnerRelease
    from orders.payments.models import CreditRule, SandboxCall, SandboxPayment

    models = [
        Customer, Address, Order, OrderLine, OrderEvent, OrderIntake, Allocation, WarehouseDailyLoad, StockLevel,
        StockMovement, Shipment, ShipmentLine, Parcel, TrackingEvent, T, JournalEntry, JournalLine, ExportBatch,
        ReturnRequest, ReturnLine, Refund, OrderErrorCase, Message, SandboxCall, SandboxPayment, CreditRule,
        PartnerConnection, PartnerMessage, PartnerRelease,
    ]  # fmt: skip
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses tables with checks still pending
        for sql in connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=True):
            cursor.execute(sql)
    Vendor.objects.update(tracking_serial=0)
    # the 3PL's warehouse is made after the history, when the connection is: a fresh database has none yet
    from inventory.models import Warehouse
    from orders.demo_data import DEMO_3PL_WAREHOUSE

    Warehouse.objects.filter(code=DEMO_3PL_WAREHOUSE[0]).delete()


# --- the bulk history ------------------------------------------------------------------------------
def test_seed_makes_a_realistic_catalogue_and_orders_in_every_status(capsys):
    call_command("seed_demo", orders=300, seed=7, story=False)

    assert "Seeded 300 orders" in capsys.readouterr().out
    assert Order.objects.count() == 300
    assert set(Order.objects.values_list("status", flat=True)) == set(OrderStatus.values)
    assert Channel.objects.count() >= 3
    assert 45 <= Product.objects.count() <= 60
    assert not Product.objects.filter(unit_cost__lte=0).exists()
    assert not Product.objects.filter(unit_cost__gte=F("price")).exists()
    assert Warehouse.objects.values("state").distinct().count() >= 3


def test_each_customer_has_an_address_book_entry_and_each_order_its_own_address():
    call_command("seed_demo", orders=200, seed=4, story=False)

    book = Address.objects.exclude(customer=None)
    assert book.count() == Customer.objects.count()
    assert book.filter(postal_code__regex=r"^\d{5}$").count() == book.count()
    orders = Order.objects.select_related("shipping_address", "customer")
    assert {order.shipping_address.customer_id for order in orders} == {None}
    assert len({order.shipping_address_id for order in orders}) == orders.count()
    order = orders.first()
    entry = order.customer.addresses.get()
    assert (order.shipping_address.line1, order.shipping_address.postal_code) == (entry.line1, entry.postal_code)


def test_every_seeded_order_has_a_timeline_that_ends_in_its_status():
    call_command("seed_demo", orders=200, seed=3, story=False)

    for order in Order.objects.prefetch_related("events"):
        assert_timeline_ends_in_its_status(order)


def assert_timeline_ends_in_its_status(order):
    events = list(order.events.all())
    assert events[0].kind == OrderEvent.Kind.PLACED, order.number
    changes = [e for e in events if e.kind == OrderEvent.Kind.STATUS_CHANGED]
    final = changes[-1].data["to"] if changes else OrderStatus.RECEIVED
    assert final == order.status, order.number
    assert [e.created_at for e in events] == sorted(e.created_at for e in events), order.number


def test_line_quantities_agree_with_the_order_status():
    call_command("seed_demo", orders=300, seed=5, story=False)

    assert not OrderLine.objects.filter(quantity_allocated__gt=F("quantity") - F("quantity_shipped")).exists()
    shipped = OrderLine.objects.filter(order__status__in=[OrderStatus.SHIPPED, OrderStatus.DELIVERED])
    assert not shipped.exclude(quantity_shipped=F("quantity")).exists()
    for status in (OrderStatus.RECEIVED, OrderStatus.CANCELLED):
        assert not OrderLine.objects.filter(order__status=status, quantity_allocated__gt=0).exists()
    partly = Order.objects.filter(status=OrderStatus.PARTIALLY_SHIPPED)
    for order in partly:
        lines = list(order.lines.all())
        assert any(line.quantity_shipped for line in lines)
        assert any(line.quantity_shipped < line.quantity for line in lines)


def test_orders_that_shipped_have_their_shipment_parcels_tracking_and_ledger_rows():
    call_command("seed_demo", orders=300, seed=8, story=False)

    shipped_orders = Order.objects.filter(status__in=SHIPPED)
    assert shipped_orders.count() > 200
    for order in shipped_orders.prefetch_related("lines", "shipments__lines", "shipments__parcels"):
        (shipment,) = order.shipments.all()
        assert shipment.service_id and shipment.shipping_cost > 0 and shipment.shipped_at
        in_shipment = {line.order_line_id: line.quantity for line in shipment.lines.all()}
        assert in_shipment == {line.pk: line.quantity_shipped for line in order.lines.all() if line.quantity_shipped}
        parcels = list(shipment.parcels.all())
        assert parcels and all(parcel.tracking_number for parcel in parcels)
        expected = ShipmentStatus.DELIVERED if order.status == OrderStatus.DELIVERED else None
        if expected:
            assert shipment.status == expected and shipment.delivered_at
        scans = set(TrackingEvent.objects.filter(shipment=shipment).values_list("status", flat=True))
        assert ShipmentStatus.IN_TRANSIT in scans
        assert (ShipmentStatus.DELIVERED in scans) == (shipment.status == ShipmentStatus.DELIVERED)
    assert not Shipment.objects.exclude(order__status__in=SHIPPED).exists()
    # The stock ledger says which warehouse each shipment left, unit for unit.
    ledger = StockMovement.objects.filter(kind=StockMovement.Kind.SHIPMENT).aggregate(units=Sum("quantity"))["units"]
    assert -ledger == ShipmentLine.objects.aggregate(units=Sum("quantity"))["units"]
    # A label bought now gets a number no parcel of the history has.
    numbers = set(Parcel.objects.values_list("tracking_number", flat=True))
    assert len(numbers) == Parcel.objects.count()
    for vendor in Vendor.objects.all():
        nxt = format_tracking_number(vendor.tracking_prefix, vendor.tracking_digits, vendor.tracking_serial + 1)
        assert nxt not in numbers


def test_if_empty_leaves_existing_data_alone_and_ids_keep_working(capsys):
    call_command("seed_demo", orders=50, seed=1, story=False)
    call_command("seed_demo", orders=50, seed=1, if_empty=True)

    assert Order.objects.count() == 50
    assert "already loaded" in capsys.readouterr().out
    # Sequences were moved past the explicit ids: normal inserts still work.
    fresh = OrderFactory()
    assert fresh.pk > Order.objects.exclude(pk=fresh.pk).order_by("-pk").first().pk


@pytest.mark.slow
def test_the_same_seed_gives_the_same_data():
    moment = (timezone.localtime() - dt.timedelta(days=1)).replace(hour=13, minute=30, second=0, microsecond=0)
    wipe()  # ids as a fresh database gives them (earlier tests moved the sequences on PostgreSQL)
    seed_demo(orders=120, seed=11, now=moment)
    first = fingerprint()
    wipe()

    seed_demo(orders=120, seed=11, now=moment)

    assert fingerprint() == first


def test_the_seeded_history_has_the_shipping_facts_the_cockpit_reads():
    from orders.models import OrderShippingFacts
    from orders.services.shipping_facts import refresh_all_shipping_facts

    # given a seeded demo (its shipments written directly, not through the shipping services)
    call_command("seed_demo", orders=200, seed=3, story=False)
    seeded = {
        row.pk: (row.live_shipments, row.last_shipped_at, row.shipping_cost) for row in OrderShippingFacts.objects.all()
    }

    # then every order with a shipment that is not cancelled has its facts, as computing them again gives them
    with_shipment = set(
        Shipment.objects.exclude(status=ShipmentStatus.CANCELLED).values_list("order_id", flat=True).distinct()
    )
    assert with_shipment and set(seeded) == with_shipment
    refresh_all_shipping_facts()
    again = {
        row.pk: (row.live_shipments, row.last_shipped_at, row.shipping_cost) for row in OrderShippingFacts.objects.all()
    }
    assert again == seeded
