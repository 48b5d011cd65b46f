"""The demo's warehouse run by a 3PL: seeded with its connection, and worked end to end by the simulated 3PL
that `runembedded` starts beside the web server."""

import socket
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db

from inventory.models import StockLevel, StockMovement
from notifications.models import Message
from orders import services as workflow
from orders.demo_data import DEMO_3PL_CODE, DEMO_3PL_WAREHOUSE, ensure_demo_3pl, ensure_demo_network, seed_demo
from orders.models import OrderStatus
from orders.partners.models import PartnerConnection, PartnerRelease, ReleaseState
from orders.partners.simulator import start_demo_simulator
from shipping.models import ShipmentStatus
from tests.factories import AddressFactory, ChannelFactory, CustomerFactory, OrderFactory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raw_secret_column(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM partners_partnerconnection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_demo_seed_makes_a_stocked_3pl_warehouse_whose_secret_is_kept_encrypted(settings):
    settings.DEMO_3PL_PORT = 8799

    seed_demo(orders=20, story=False)

    connection = PartnerConnection.objects.select_related("warehouse").get(code=DEMO_3PL_CODE)
    assert connection.kind == PartnerConnection.Kind.REST and connection.is_active
    assert connection.endpoint == "http://127.0.0.1:8799"
    assert connection.warehouse.code == DEMO_3PL_WAREHOUSE[0]
    assert len(connection.secret) >= 32
    stored = raw_secret_column(connection.pk)
    assert stored and connection.secret not in stored
    levels = StockLevel.objects.filter(warehouse=connection.warehouse)
    assert levels.count() > 0 and all(level.on_hand > 0 for level in levels)
    # the ledger holds what is on hand: an opening receipt per SKU
    for level in levels:
        received = StockMovement.objects.filter(warehouse=connection.warehouse, product=level.product)
        assert sum(received.values_list("quantity", flat=True)) == level.on_hand
    # the history ships from our own warehouses only: nothing of it waits for the 3PL
    assert not PartnerRelease.objects.exists()
    # a second seed keeps the connection and its secret
    seed_demo(orders=0, story=False)
    assert PartnerConnection.objects.get(code=DEMO_3PL_CODE).secret == connection.secret


@pytest.mark.django_db
def test_a_demo_database_seeded_before_the_3pl_gets_it_from_the_demo_logins(settings, tmp_path, roles):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    ChannelFactory(code="webstore", name="Web store")
    ensure_demo_network()
    assert not PartnerConnection.objects.exists()

    call_command("create_demo_logins", stdout=StringIO())
    call_command("create_demo_logins", stdout=StringIO())

    assert PartnerConnection.objects.filter(code=DEMO_3PL_CODE).count() == 1


@pytest.mark.django_db
def test_the_simulator_stays_off_when_the_setting_says_so(settings):
    settings.DEMO_3PL_SIMULATOR = False
    ensure_demo_network()
    ensure_demo_3pl()

    assert start_demo_simulator(base_url="http://127.0.0.1:9", report=lambda line: None) is None


def wait_for(check, *, seconds: float = 30.0, what: str = ""):
    """Poll ``check`` until it returns something true; fail with ``what`` once the deadline passes."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"Not within {seconds:g} s: {what}")
        time.sleep(0.1)  # a poll's pace, not a wait for the outcome: the deadline bounds it


@pytest.mark.django_db(transaction=True)
def test_an_order_near_the_3pl_is_released_then_shipped_and_emailed_by_the_simulated_3pl_even_after_a_restart(
    settings, live_server
):
    settings.DEMO_3PL_PORT = free_port()
    settings.DEMO_3PL_SIMULATOR = True
    settings.DEMO_3PL_SHIP_DELAY_SECONDS = 3600.0
    settings.DEMO_3PL_SNAPSHOT_SECONDS = 3600.0
    _, products = ensure_demo_network()
    connection = ensure_demo_3pl()
    warehouse = connection.warehouse
    product = products[0]
    before = StockLevel.objects.get(warehouse=warehouse, product=product).on_hand
    said = []
    runner = start_demo_simulator(base_url=live_server.url, report=said.append)
    assert runner is not None, said
    try:
        customer = CustomerFactory(email="dana@example.com")
        address = AddressFactory(customer=None, name=customer.name, city="Columbus", state="OH", postal_code="43215")
        order = OrderFactory(
            customer=customer, shipping_address=address, channel=ChannelFactory(code="webstore"), lines=0
        )
        order.lines.create(product=product, sku=product.sku, name=product.name, quantity=2, unit_price=product.price)

        workflow.allocate_order(order_id=order.pk, actor="test: routing")

        release = PartnerRelease.objects.select_related("shipment").get(shipment__order=order)
        assert release.connection == connection
        assert runner.simulator.releases[release.shipment.number].payload["lines"][0]["quantity"] == 2
        # make run stopped and started again before the 3PL shipped: the 3PL still has the release
        runner.stop()
        settings.DEMO_3PL_SHIP_DELAY_SECONDS = 0.5
        runner = start_demo_simulator(base_url=live_server.url, report=said.append)
        assert runner is not None, said
        shipped = wait_for(
            lambda: PartnerRelease.objects.filter(pk=release.pk, state=ReleaseState.SHIPPED).first(),
            what="the 3PL's ship confirmation applied",
        )
        assert shipped.acknowledged_at is not None
        shipment = shipped.shipment
        shipment.refresh_from_db()
        assert shipment.status == ShipmentStatus.IN_TRANSIT
        (tracking,) = shipment.parcels.values_list("tracking_number", flat=True)
        assert tracking == runner.simulator.releases[shipment.number].tracking_numbers[0]
        order.refresh_from_db()
        assert order.status == OrderStatus.SHIPPED
        assert StockLevel.objects.get(warehouse=warehouse, product=product).on_hand == before - 2
        assert StockMovement.objects.get(warehouse=warehouse, product=product, kind="shipment").quantity == -2
        email = wait_for(
            lambda: Message.objects.filter(order=order, event="order_shipped").first(), what="the shipped email"
        )
        assert email.recipient == "dana@example.com"
    finally:
        runner.stop()
    assert any("Demo 3PL" in line for line in said)
