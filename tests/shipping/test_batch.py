"""Batch label PDFs: chunks rendered separately, joined in order, one label per page, every barcode readable."""

import shutil

import pytest
from pypdf import PdfReader

from orders import services
from shipping.models import LabelBatch
from shipping.services import start_label_batch
from shipping.services.labels import join_label_batch
from tests.factories import ProductFactory
from tests.shipping.readback import barcodes_by_page

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not shutil.which("zbarimg") or not shutil.which("pdftoppm"), reason="needs zbar-tools, poppler"),
]


def labelled_shipments(count, sites, stock, order_to, capture, settings):
    settings.SHIPPING_MAX_PARCEL_KG = 5
    tee = ProductFactory(sku="TEE-1", weight_kg="0.400")
    brick = ProductFactory(sku="BRICK", weight_kg="4.000")
    stock(sites["EWR"], tee, 100)
    stock(sites["EWR"], brick, 10)
    shipments = []
    for i in range(count):
        lines = [(tee, 1)] if i else [(brick, 2)]  # the first one needs two parcels
        order = order_to("NYC", lines)
        services.allocate_order(order_id=order.pk, actor="test")
        shipments += services.create_shipments(order_id=order.pk, actor="test")
    with capture(execute=True):
        for shipment in shipments:
            services.buy_labels(shipment_id=shipment.pk, actor="test")
    return shipments


def test_a_batch_is_one_pdf_with_every_label_in_order(
    sites, stock, order_to, carriers, settings, django_capture_on_commit_callbacks, superuser, tmp_path
):
    settings.SHIPPING_LABEL_CHUNK_SIZE = 2
    shipments = labelled_shipments(4, sites, stock, order_to, django_capture_on_commit_callbacks, settings)
    expected = [p.tracking_number for s in sorted(shipments, key=lambda s: s.pk) for p in s.parcels.all()]

    with django_capture_on_commit_callbacks(execute=True):
        batch = start_label_batch(shipment_ids=[s.pk for s in shipments], actor=superuser)

    batch.refresh_from_db()
    assert batch.status == LabelBatch.Status.DONE
    assert (batch.label_count, batch.rendered_count, batch.progress_percent) == (5, 5, 100)
    assert batch.chunks.count() == 3  # 2 + 2 + 1 labels (the two-parcel shipment stays in one chunk)
    assert len(PdfReader(batch.file.path).pages) == 5
    assert [page[0] for page in barcodes_by_page(batch.file.read(), tmp_path)] == expected
    assert not any(chunk.file for chunk in batch.chunks.all())  # the parts are cleaned up


def test_a_batch_refuses_shipments_without_labels(sites, stock, order_to, carriers, superuser):
    tee = ProductFactory(sku="TEE-1")
    stock(sites["EWR"], tee, 5)
    order = order_to("NYC", [(tee, 1)])
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")

    with pytest.raises(Exception, match="No labels bought yet"):
        start_label_batch(shipment_ids=[shipment.pk], actor=superuser)
    assert not LabelBatch.objects.exists()


def test_joining_twice_is_harmless(
    sites, stock, order_to, carriers, settings, django_capture_on_commit_callbacks, superuser
):
    shipments = labelled_shipments(2, sites, stock, order_to, django_capture_on_commit_callbacks, settings)
    with django_capture_on_commit_callbacks(execute=True):
        batch = start_label_batch(shipment_ids=[s.pk for s in shipments], actor=superuser)
    batch.refresh_from_db()
    first_file = batch.file.name

    again = join_label_batch(batch_id=batch.pk)

    assert again.file.name == first_file and again.status == LabelBatch.Status.DONE
