"""A 3PL running the Dallas warehouse, the carriers, and the simulated 3PL over real HTTP on 127.0.0.1."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from orders import services as workflow
from orders.partners.models import PartnerConnection
from orders.partners.simulator import Simulator
from tests.sftp_server import running_sftp_server
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

SECRET = "a-shared-secret-for-tests"


def webhook_path(connection) -> str:
    return f"/api/v1/partners/{connection.code}/webhook"


class Oms:
    """The OMS's webhook as the simulator reaches it: the signed bytes and headers, through Django's whole stack."""

    def __init__(self, connection):
        self.client = Client()
        self.path = webhook_path(connection)

    def __call__(self, body: bytes, headers: dict) -> int:
        extra = {k: v for k, v in headers.items() if k != "Content-Type"}
        return self.client.post(self.path, data=body, content_type="application/json", headers=extra).status_code


@pytest.fixture
def connection(sites, carriers):  # noqa: F811
    return PartnerConnection.objects.create(
        code="acme",
        name="Acme Fulfilment",
        warehouse=sites["DAL"],
        endpoint="http://127.0.0.1:9",  # set to the simulator's address once it serves
        secret=SECRET,
        service_levels={"budget/GROUND": "STD", "rapid/2DAY": "EXP2", "rapid/OVERNIGHT": "NXT"},
        sku_map={"SKU-A": "ACME-A"},
        ack_deadline_minutes=30,
    )


@pytest.fixture
def simulator(connection):
    """The simulated 3PL serving on a free port of 127.0.0.1, posting back to the OMS's webhook."""
    peer = Simulator(secret=SECRET, deliver=Oms(connection)).start()
    PartnerConnection.objects.filter(pk=connection.pk).update(endpoint=peer.url)
    connection.refresh_from_db()
    yield peer
    peer.stop()


@pytest.fixture
def routed(stock, order_to, products, sites):
    """routed(lines=[(product, qty)], city="DFW"): an order placed and routed (to Dallas, the 3PL's, when stocked)."""

    def make(lines, city="DFW"):
        order = order_to(city, lines, promised_date=timezone.localdate() + dt.timedelta(days=8))
        workflow.allocate_order(order_id=order.pk, actor="test: routing")
        order.refresh_from_db()
        return order

    return make


@pytest.fixture
def drop_server(tmp_path):
    """A real SFTP server (asyncssh, a process of its own) serving a 3PL's drop folder on 127.0.0.1."""
    with running_sftp_server(tmp_path / "drop") as server:
        yield server
