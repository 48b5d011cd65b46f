"""Label documents: one shipment's labels, and batches rendered in parallel chunks.

A batch is split into chunks of ``SHIPPING_LABEL_CHUNK_SIZE`` labels; each
chunk is its own Celery task (so two workers render two chunks at once),
writes its part to storage and marks itself done; the chunk that finds every
other chunk done queues the join, which concatenates the parts in order into
the batch's one PDF. No result backend is needed and each step can be
repeated safely.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .. import documents, selectors
from ..exceptions import ShippingError
from ..models import LabelBatch, LabelBatchChunk, Shipment, ShipmentStatus

logger = logging.getLogger(__name__)
PRINTABLE = (ShipmentStatus.LABEL_CREATED, ShipmentStatus.IN_TRANSIT)


def _address(data: dict) -> documents.PostalAddress:
    return documents.PostalAddress(
        name=data.get("name", ""),
        company=data.get("company", ""),
        line1=data.get("line1", ""),
        line2=data.get("line2", ""),
        city=data.get("city", ""),
        state=data.get("state", ""),
        postal_code=data.get("postal_code", ""),
        country=data.get("country", "US"),
        phone=data.get("phone", ""),
    )


def warehouse_address(warehouse) -> documents.PostalAddress:
    return documents.PostalAddress(
        name=f"{settings.OMS_BRAND_NAME} · {warehouse.name}",
        line1=warehouse.address_line1 or warehouse.name,
        city=warehouse.city,
        state=warehouse.state,
        postal_code=warehouse.postal_code,
        country=warehouse.country,
    )


def label_data_for(shipment: Shipment) -> list[documents.LabelData]:
    """One label per parcel, as printed; the shipment needs its service, warehouse and parcels loaded."""
    parcels = [parcel for parcel in shipment.parcels.all() if parcel.tracking_number]
    if not parcels:
        raise ShippingError(f"Shipment {shipment} has no labels bought.")
    service = shipment.service
    ship_from = warehouse_address(shipment.warehouse)
    ship_to = _address(shipment.ship_to)
    count = len(shipment.parcels.all())  # every parcel, labelled or not: "parcel i of n"
    return [
        documents.LabelData(
            tracking_number=parcel.tracking_number,
            ship_from=ship_from,
            ship_to=ship_to,
            vendor_name=service.vendor.name,
            service_name=service.name,
            service_code=service.code,
            weight_kg=parcel.weight_kg,
            order_number=shipment.order_number,
            parcel_index=parcel.index,
            parcel_count=count,
            ship_date=shipment.ship_date or timezone.localdate(),
            dimensions_cm=parcel.dimensions,
            warehouse_code=shipment.warehouse.code,
            reference=shipment.number,
        )
        for parcel in parcels
    ]


def render_document(labels: list[documents.LabelData], label_format: str) -> bytes:
    if label_format == Shipment.LabelFormat.ZPL:
        return documents.render_labels_zpl(labels).encode("utf-8")
    return documents.render_labels_pdf(labels)


def render_shipment_label(*, shipment_id: int) -> Shipment | None:
    """Render a shipment's labels (PDF or ZPL, as its warehouse prints) and store the file.

    Returns None when the shipment no longer has labels (voided meanwhile).
    """
    shipment = selectors.shipments_for_labels([shipment_id]).first()
    if shipment is None or shipment.status not in PRINTABLE:
        return None
    labels = label_data_for(shipment)
    content = render_document(labels, shipment.label_format)
    numbers = [label.tracking_number for label in labels]
    with transaction.atomic():
        current = Shipment.objects.select_for_update().get(pk=shipment_id)
        still = list(
            current.parcels.exclude(tracking_number=None).order_by("index").values_list("tracking_number", flat=True)
        )
        if current.status not in PRINTABLE or still != numbers:
            return None  # voided or re-bought while rendering: that purchase renders its own
        if current.label_file:
            current.label_file.delete(save=False)
        extension = "zpl" if current.label_format == Shipment.LabelFormat.ZPL else "pdf"
        current.label_file.save(f"{current.number}.{extension}", ContentFile(content), save=False)
        current.label_rendered_at = timezone.now()
        current.label_error = ""
        current.save(update_fields=["label_file", "label_rendered_at", "label_error"])
    return current


def start_label_batch(*, shipment_ids: list[int], actor, label_format: str = "pdf") -> LabelBatch:
    """Queue one document with every label of these shipments, one label per page.

    Refuses (ShippingError) shipments without labels, naming them. The
    rendering runs in the background; the batch shows its progress.
    """
    shipments = list(
        Shipment.objects.filter(pk__in=shipment_ids).order_by("warehouse__code", "pk").prefetch_related("parcels")
    )
    unprintable = [str(s) for s in shipments if s.status not in PRINTABLE]
    if unprintable:
        raise ShippingError(f"No labels bought yet for {', '.join(unprintable[:10])}: buy them first.")
    if not shipments:
        raise ShippingError("Select at least one shipment.")
    chunk_size = max(1, settings.SHIPPING_LABEL_CHUNK_SIZE)
    if label_format == Shipment.LabelFormat.ZPL:
        chunk_size = 10**9  # text: one part is fast enough
    chunks: list[tuple[list[int], int]] = []
    current: list[int] = []
    labels_in_current = 0
    for shipment in shipments:
        parcels = sum(1 for parcel in shipment.parcels.all() if parcel.tracking_number)
        if current and labels_in_current + parcels > chunk_size:
            chunks.append((current, labels_in_current))
            current, labels_in_current = [], 0
        current.append(shipment.pk)
        labels_in_current += parcels
    chunks.append((current, labels_in_current))
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        batch = LabelBatch.objects.create(
            label_format=label_format, label_count=sum(count for _, count in chunks), created_by=user
        )
        batch.shipments.set(shipments)
        LabelBatchChunk.objects.bulk_create(
            LabelBatchChunk(batch=batch, index=i, shipment_ids=ids, label_count=count)
            for i, (ids, count) in enumerate(chunks)
        )
        from .. import tasks

        chunk_ids = list(batch.chunks.order_by("index").values_list("pk", flat=True))
        transaction.on_commit(lambda: [tasks.render_label_chunk.delay(chunk_id) for chunk_id in chunk_ids])
    return batch


def render_label_chunk(*, chunk_id: int) -> bool:
    """Render one chunk of a batch; returns True when it was the last and the join is queued."""
    chunk = LabelBatchChunk.objects.select_related("batch").get(pk=chunk_id)
    batch = chunk.batch
    if chunk.done_at is None and batch.status in (LabelBatch.Status.QUEUED, LabelBatch.Status.RENDERING):
        LabelBatch.objects.filter(pk=batch.pk, status=LabelBatch.Status.QUEUED).update(
            status=LabelBatch.Status.RENDERING
        )
        shipments = {s.pk: s for s in selectors.shipments_for_labels(chunk.shipment_ids)}
        labels = [label for pk in chunk.shipment_ids if pk in shipments for label in label_data_for(shipments[pk])]
        content = render_document(labels, batch.label_format)
        extension = "zpl" if batch.label_format == Shipment.LabelFormat.ZPL else "pdf"
        chunk.file.save(f"batch-{batch.pk}-{chunk.index}.{extension}", ContentFile(content), save=False)
        chunk.done_at = timezone.now()
        chunk.save(update_fields=["file", "done_at"])
    with transaction.atomic():
        batch = LabelBatch.objects.select_for_update().get(pk=batch.pk)
        rendered = batch.chunks.exclude(done_at=None).aggregate(n=Sum("label_count"))["n"] or 0
        LabelBatch.objects.filter(pk=batch.pk).update(rendered_count=rendered)
        if batch.status == LabelBatch.Status.DONE or batch.chunks.filter(done_at=None).exists():
            return False
        from .. import tasks

        transaction.on_commit(lambda: tasks.join_label_batch.delay(batch.pk))
    return True


def join_label_batch(*, batch_id: int) -> LabelBatch:
    """Concatenate a batch's parts in order into its one file and delete the parts."""
    with transaction.atomic():
        batch = LabelBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == LabelBatch.Status.DONE:
            return batch
        chunks = list(batch.chunks.order_by("index"))
        if any(chunk.done_at is None for chunk in chunks):
            raise ShippingError(f"{batch}: parts are still rendering.")
        parts = []
        for chunk in chunks:
            with chunk.file.open("rb") as handle:
                parts.append(handle.read())
        if batch.label_format == Shipment.LabelFormat.ZPL:
            content, extension = b"".join(parts), "zpl"
        else:
            content, extension = documents.join_pdfs(parts), "pdf"
        batch.file.save(f"labels-batch-{batch.pk}.{extension}", ContentFile(content), save=False)
        batch.status = LabelBatch.Status.DONE
        batch.rendered_count = batch.label_count
        batch.finished_at = timezone.now()
        batch.save(update_fields=["file", "status", "rendered_count", "finished_at"])
        for chunk in chunks:
            chunk.file.delete(save=False)
            chunk.file = ""
        LabelBatchChunk.objects.bulk_update(chunks, ["file"])
    return batch


def fail_label_batch(*, batch_id: int, error: str) -> None:
    LabelBatch.objects.filter(pk=batch_id).exclude(status=LabelBatch.Status.DONE).update(
        status=LabelBatch.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def record_label_error(*, shipment_id: int, error: str) -> None:
    Shipment.objects.filter(pk=shipment_id).update(label_error=error[:2000])
