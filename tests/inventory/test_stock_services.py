"""The stock ledger: every change of on hand is a movement, and the ledger sums to on hand."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from inventory import services as inventory
from inventory.exceptions import InsufficientStock, InventoryError
from inventory.models import StockLevel, StockMovement, Warehouse
from orders import services as order_services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
Kind = StockMovement.Kind


def ledger_sum(warehouse, product) -> int:
    return StockMovement.objects.filter(warehouse=warehouse, product=product).aggregate(t=Sum("quantity"))["t"] or 0


def on_hand(warehouse, product) -> int:
    return StockLevel.objects.get(warehouse=warehouse, product=product).on_hand


def test_warehouse_coordinates_come_from_its_postal_code(sites):
    dallas = sites["DAL"]
    assert round(dallas.latitude, 2) == 32.79
    assert round(dallas.longitude, 2) == -96.80


def test_unknown_postal_code_is_a_validation_error_on_that_field(db):
    warehouse = Warehouse(code="NOPE", name="Nowhere", city="Nowhere", postal_code="00000")

    with pytest.raises(ValidationError) as error:
        warehouse.full_clean()

    assert "postal_code" in error.value.message_dict
    assert "Unknown US postal code '00000'" in error.value.message_dict["postal_code"][0]


def test_every_kind_of_change_writes_one_movement_and_the_ledger_sums(sites, products):
    product = products[0]
    dal, atl = sites["DAL"], sites["ATL"]
    clerk = UserFactory(username="clerk")

    inventory.receive_stock(warehouse_id=dal.pk, product_id=product.pk, quantity=50, actor=clerk, reference="PO-1")
    inventory.adjust_stock(warehouse_id=dal.pk, product_id=product.pk, quantity=-3, reason="Found damaged", actor=clerk)
    inventory.transfer_stock(
        from_warehouse_id=dal.pk, to_warehouse_id=atl.pk, product_id=product.pk, quantity=10, actor=clerk
    )
    inventory.write_off_stock(
        warehouse_id=atl.pk, product_id=product.pk, quantity=2, reason="Water damage", actor=clerk
    )
    inventory.restock_return(warehouse_id=atl.pk, product_id=product.pk, quantity=1, actor=clerk, reference="RMA-9")

    assert (on_hand(dal, product), on_hand(atl, product)) == (37, 9)
    assert ledger_sum(dal, product) == 37
    assert ledger_sum(atl, product) == 9
    kinds = list(StockMovement.objects.order_by("pk").values_list("kind", "quantity", "actor_name"))
    assert kinds == [
        (Kind.RECEIPT, 50, "clerk"),
        (Kind.ADJUSTMENT, -3, "clerk"),
        (Kind.TRANSFER_OUT, -10, "clerk"),
        (Kind.TRANSFER_IN, 10, "clerk"),
        (Kind.WRITE_OFF, -2, "clerk"),
        (Kind.RETURN_RESTOCK, 1, "clerk"),
    ]
    out, into = StockMovement.objects.filter(kind__in=[Kind.TRANSFER_OUT, Kind.TRANSFER_IN]).order_by("pk")
    assert out.reference == into.reference and out.reference.startswith("TRF-")


def test_allocated_units_cannot_be_adjusted_transferred_or_written_off(sites, stock, products, order_to):
    product = products[0]
    dal = sites["DAL"]
    stock(dal, product, 5)
    order = order_to("DFW", [(product, 4)])
    order_services.allocate_order(order_id=order.pk, actor="system")

    with pytest.raises(InsufficientStock, match="5 on hand, 4 allocated, 1 available"):
        inventory.adjust_stock(warehouse_id=dal.pk, product_id=product.pk, quantity=-2, reason="x", actor="ops")
    with pytest.raises(InsufficientStock):
        inventory.transfer_stock(
            from_warehouse_id=dal.pk, to_warehouse_id=sites["ATL"].pk, product_id=product.pk, quantity=2, actor="ops"
        )
    with pytest.raises(InsufficientStock):
        inventory.write_off_stock(warehouse_id=dal.pk, product_id=product.pk, quantity=2, reason="x", actor="ops")

    assert on_hand(dal, product) == 5
    assert StockMovement.objects.count() == 1


@pytest.mark.parametrize("quantity", [0, -5, 2.5])
def test_bad_receipt_quantities_are_refused(sites, products, quantity):
    with pytest.raises(InventoryError, match="whole number above zero"):
        inventory.receive_stock(warehouse_id=sites["DAL"].pk, product_id=products[0].pk, quantity=quantity, actor="x")
    assert not StockMovement.objects.exists()


def test_adjustment_needs_a_reason(sites, products):
    with pytest.raises(InventoryError, match="reason is required"):
        inventory.adjust_stock(
            warehouse_id=sites["DAL"].pk, product_id=products[0].pk, quantity=4, reason=" ", actor="x"
        )


def test_transfer_to_the_same_warehouse_is_refused(sites, stock, products):
    stock(sites["DAL"], products[0], 5)
    with pytest.raises(InventoryError, match="two different warehouses"):
        inventory.transfer_stock(
            from_warehouse_id=sites["DAL"].pk,
            to_warehouse_id=sites["DAL"].pk,
            product_id=products[0].pk,
            quantity=1,
            actor="x",
        )


def test_the_database_refuses_allocated_above_on_hand(sites, stock, products):
    level = stock(sites["DAL"], products[0], 2)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(allocated=3)


def test_the_database_refuses_an_outbound_movement_with_a_positive_quantity(sites, products):
    with pytest.raises(IntegrityError), transaction.atomic():
        StockMovement.objects.create(
            warehouse=sites["DAL"], product=products[0], kind=Kind.SHIPMENT, quantity=3, actor_name="x"
        )
