"""Orders paid by card, invoice or channel, routed, shipped and refunded through the real workflow."""

from decimal import Decimal

import pytest

from orders import services, tasks
from orders.models import Order
from orders.payments.models import SandboxPayment
from tests.factories import ProductFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here


class Sandbox:
    """The test card gateway's side: its payments as it records them, and a way to make its answers change."""

    def payments(self) -> list[SandboxPayment]:
        return list(SandboxPayment.objects.order_by("pk"))

    def payment(self, reference: str) -> SandboxPayment:
        return SandboxPayment.objects.get(reference=reference)

    def change(self, reference: str, **fields) -> None:
        """E.g. ``token="tok_error"``: the gateway goes down for this payment; ``voided=True``: it forgets it."""
        assert SandboxPayment.objects.filter(reference=reference).update(**fields) == 1


@pytest.fixture
def sandbox():
    """The test card gateway's own record (in the test database, so it starts empty with each test)."""
    return Sandbox()


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.ACCOUNTING_EXPORT_DIR = str(tmp_path / "accounting")
    settings.ACCOUNTING_EXPORT_URL = ""
    settings.OPS_EMAILS = ["ops@oms.example"]


@pytest.fixture
def shirt(db):
    return ProductFactory(sku="TEE-1", price=Decimal("25.00"), weight_kg="0.400", unit_cost=Decimal("8.00"))


@pytest.fixture
def mug(db):
    return ProductFactory(sku="MUG-1", price=Decimal("12.50"), weight_kg="0.600", unit_cost=Decimal("4.00"))


@pytest.fixture
def paid_order(order_to):
    """paid_order([(product, qty)], gateway=, token=, shipping=, tax=, discount=, city=): totals set as intake does."""

    def make(lines, *, gateway="test_card", token="tok_approve", shipping="0", tax="0", discount="0", city="NYC", **kw):  # noqa: S107 - a test card token
        order = order_to(city, lines, payment_gateway=gateway, payment_token=token, **kw)
        subtotal = sum((line.line_total for line in order.lines.all()), Decimal("0"))
        order.subtotal = subtotal
        order.shipping_total, order.tax_total, order.discount_total = Decimal(shipping), Decimal(tax), Decimal(discount)
        order.grand_total = subtotal + order.shipping_total + order.tax_total - order.discount_total
        order.save()
        return order

    return make


@pytest.fixture
def route(django_capture_on_commit_callbacks):
    """route(order): run the allocation task as a worker would (after-commit work included); the order, fresh."""

    def run(order) -> Order:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.allocate_order(order.pk)
        return Order.objects.get(pk=order.pk)

    return run


@pytest.fixture
def ship(django_capture_on_commit_callbacks, carriers):  # noqa: F811 - the shipping fixture
    """ship(order): shipments, labels, then each shipment ships (retries run); returns the shipments."""

    def run(order):
        shipments = services.create_shipments(order_id=order.pk, actor="test")
        for shipment in shipments:
            services.buy_labels(shipment_id=shipment.pk, actor="test")
        with django_capture_on_commit_callbacks(execute=True):
            for shipment in shipments:
                services.ship_shipment(shipment_id=shipment.pk, actor="test")
        return shipments

    return run
