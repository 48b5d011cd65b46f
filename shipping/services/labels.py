"""Label documents: one shipment's labels, and batches rendered in parallel chunks.

A batch is split into chunks of ``SHIPPING_LABEL_CHUNK_SIZE`` labels; each
chunk is its own Celery task (so two workers render two chunks at once),
writes its part to storage and marks itself done; the chunk that finds every
other chunk done queues the join, which concatenates the parts in order into
the batch's one PDF. No result backend is needed and each step can be
repeated safely.

A worker can die mid-batch (``kill -9``, out of memory, a lost machine): the
parts it had queued or was rendering would wait in the broker's unacknowledged
set for its visibility timeout. So each part carries a lease: the task that
renders it claims it (``claim``) and moves ``lease_until`` on every
``HEARTBEAT_LABELS`` labels; the sweep (``sweep_label_batches``, beat every
30 s) queues again every unfinished part whose lease ran out, and a join that
never ran. Parts already rendered are kept; a part is marked done only by the
task that still holds its claim, so a task that was taken over throws its
work away and each label is in the batch once. The console's "Resume
rendering" does what the sweep does, at once (``resume_label_batch``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from .. import documents, selectors
from ..exceptions import ShippingError
from ..models import LabelBatch, LabelBatchChunk, Shipment, ShipmentStatus

logger = logging.getLogger(__name__)
PRINTABLE = (ShipmentStatus.LABEL_CREATED, ShipmentStatus.IN_TRANSIT)
RUNNING = (LabelBatch.Status.QUEUED, LabelBatch.Status.RENDERING)
# A part's lease: how long its task may go without progress before the sweep queues the part again. The
# task renews it every HEARTBEAT_LABELS labels (about a second of work), so only a dead one lets it lapse.
LEASE = dt.timedelta(seconds=15)
HEARTBEAT_LABELS = 25
# A part started this many times without finishing kills its workers (memory?): its batch fails instead.
MAX_ATTEMPTS = 5


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


def _reference(shipment: Shipment) -> str:
    """The shipment's number, and the customer's PO number when its order has one (kept with the ship-to)."""
    po_number = (shipment.ship_to or {}).get("po_number", "")
    return f"{shipment.number} / PO {po_number}" if po_number else shipment.number


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
            reference=_reference(shipment),
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
        lease_until = timezone.now() + LEASE  # queued: the sweep sends them again if no task starts in time
        LabelBatchChunk.objects.bulk_create(
            LabelBatchChunk(batch=batch, index=i, shipment_ids=ids, label_count=count, lease_until=lease_until)
            for i, (ids, count) in enumerate(chunks)
        )
        from .. import tasks

        chunk_ids = list(batch.chunks.order_by("index").values_list("pk", flat=True))
        transaction.on_commit(lambda: [tasks.render_label_chunk.delay(chunk_id) for chunk_id in chunk_ids])
    return batch


def render_label_chunk(*, chunk_id: int) -> bool:
    """Render one chunk of a batch; returns True when it was the last and the join is queued.

    Does nothing for a part already rendered, or claimed by a task whose lease
    is still running (a repeated delivery, or a part the sweep queued again
    while its first task was alive after all).
    """
    chunk = LabelBatchChunk.objects.select_related("batch").get(pk=chunk_id)
    batch = chunk.batch
    if chunk.done_at is None and batch.status in RUNNING:
        token = _claim_chunk(chunk)
        if token is None:
            return False
        try:
            content = _render_chunk(chunk, batch.label_format, token)
        except BaseException:
            _release_chunk(chunk.pk, token)  # the task failed (and says so): no lease to wait out
            raise
        if content is None or not _store_chunk(chunk, batch, content, token):
            return False  # taken over: the task that holds the part now renders it
    with transaction.atomic():
        batch = LabelBatch.objects.select_for_update().get(pk=batch.pk)
        rendered = batch.chunks.exclude(done_at=None).aggregate(n=Sum("label_count"))["n"] or 0
        LabelBatch.objects.filter(pk=batch.pk).update(rendered_count=rendered)
        if batch.status == LabelBatch.Status.DONE or batch.chunks.filter(done_at=None).exists():
            return False
        from .. import tasks

        transaction.on_commit(lambda: tasks.join_label_batch.delay(batch.pk))
    return True


def _claim_chunk(chunk: LabelBatchChunk) -> uuid.UUID | None:
    """Take the part for this task (a new claim and lease); None when it is done or another task holds it."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        LabelBatchChunk.objects.filter(pk=chunk.pk, done_at=None)
        .filter(Q(claim=None) | Q(lease_until__lt=now))
        .update(claim=token, lease_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    LabelBatch.objects.filter(pk=chunk.batch_id, status__in=RUNNING).update(
        status=LabelBatch.Status.RENDERING, heartbeat_at=now
    )
    return token


def _heartbeat(chunk: LabelBatchChunk, token: uuid.UUID) -> bool:
    """Renew the part's lease; False when the claim was lost (the sweep gave the part to another task)."""
    now = timezone.now()
    held = LabelBatchChunk.objects.filter(pk=chunk.pk, claim=token, done_at=None).update(lease_until=now + LEASE)
    if held:
        LabelBatch.objects.filter(pk=chunk.batch_id).update(heartbeat_at=now)
    return bool(held)


def _release_chunk(chunk_id: int, token: uuid.UUID) -> None:
    LabelBatchChunk.objects.filter(pk=chunk_id, claim=token).update(claim=None, lease_until=None)


def _render_chunk(chunk: LabelBatchChunk, label_format: str, token: uuid.UUID) -> bytes | None:
    """The part's document, rendered HEARTBEAT_LABELS labels at a time with a heartbeat after each.

    None when the claim was lost meanwhile.
    """
    shipments = {s.pk: s for s in selectors.shipments_for_labels(chunk.shipment_ids)}
    labels = [label for pk in chunk.shipment_ids if pk in shipments for label in label_data_for(shipments[pk])]
    parts = []
    for start in range(0, max(len(labels), 1), HEARTBEAT_LABELS):  # no label: render_document says so
        parts.append(render_document(labels[start : start + HEARTBEAT_LABELS], label_format))
        if not _heartbeat(chunk, token):
            return None
    if len(parts) == 1:
        return parts[0]
    if label_format == Shipment.LabelFormat.ZPL:
        return b"".join(parts)
    return documents.join_pdfs(parts)


def _store_chunk(chunk: LabelBatchChunk, batch: LabelBatch, content: bytes, token: uuid.UUID) -> bool:
    """Keep the part's file and mark it done, if this task still holds it; False (file removed) if not."""
    extension = "zpl" if batch.label_format == Shipment.LabelFormat.ZPL else "pdf"
    chunk.file.save(f"batch-{batch.pk}-{chunk.index}.{extension}", ContentFile(content), save=False)
    now = timezone.now()
    with transaction.atomic():  # the part done and the batch's progress counted together: no moment between
        done = LabelBatchChunk.objects.filter(pk=chunk.pk, claim=token, done_at=None).update(
            file=chunk.file.name, done_at=now, claim=None, lease_until=None
        )
        if done:
            LabelBatch.objects.filter(pk=batch.pk).update(
                heartbeat_at=now, rendered_count=F("rendered_count") + chunk.label_count
            )
    if not done:
        chunk.file.delete(save=False)
        return False
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


class Resumed(NamedTuple):
    queued: int  # parts queued again
    rendering: int  # parts a live task is rendering now (left to it)


def sweep_label_batches(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic: queue again the parts whose lease ran out (their worker died), and joins that never ran.

    A part started ``MAX_ATTEMPTS`` times without finishing fails its batch,
    naming the part, instead of killing workers for ever. Returns counts.
    """
    now = now or timezone.now()
    outcome = {"requeued": 0, "joined": 0, "failed": 0}
    with transaction.atomic():
        stale = list(
            LabelBatchChunk.objects.select_for_update(skip_locked=True)
            .filter(done_at=None, batch__status__in=RUNNING)
            .filter(Q(lease_until=None) | Q(lease_until__lt=now))
            .order_by("pk")
        )
        worn = {chunk.batch_id: chunk for chunk in stale if chunk.attempts >= MAX_ATTEMPTS}
        for batch_id, chunk in worn.items():
            parts = LabelBatchChunk.objects.filter(batch_id=batch_id).count()
            fail_label_batch(
                batch_id=batch_id,
                error=(
                    f"Part {chunk.index + 1} of {parts} was started {chunk.attempts} times and never finished: its "
                    "worker stopped each time (killed, out of memory?). Resume rendering to try again."
                ),
            )
        outcome["failed"] = len(worn)
        requeue = [chunk.pk for chunk in stale if chunk.batch_id not in worn]
        LabelBatchChunk.objects.filter(pk__in=requeue).update(claim=None, lease_until=now + LEASE)
        outcome["requeued"] = len(requeue)
        unfinished = LabelBatchChunk.objects.filter(batch=OuterRef("pk"), done_at=None)
        joins = list(
            LabelBatch.objects.filter(status__in=RUNNING)
            .filter(Q(heartbeat_at=None) | Q(heartbeat_at__lt=now - LEASE))
            .filter(~Exists(unfinished), Exists(LabelBatchChunk.objects.filter(batch=OuterRef("pk"))))
            .values_list("pk", flat=True)
        )
        LabelBatch.objects.filter(pk__in=joins).update(heartbeat_at=now)
        outcome["joined"] = len(joins)
        _queue_after_commit(requeue, joins)
    if any(outcome.values()):
        logger.warning("Label batches: a worker stopped mid-batch; %s", outcome)
    return outcome


def resume_label_batch(*, batch_id: int, actor) -> Resumed:
    """Render the batch's unfinished parts again now (the console's "Resume rendering"); rendered parts are kept.

    A failed batch renders again from where it stopped; in a running one, the
    parts a live task holds are left to it. Refuses (ShippingError) a batch
    that is done. The operator is recorded by the console's change log.
    """
    with transaction.atomic():
        batch = LabelBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == LabelBatch.Status.DONE:
            raise ShippingError(f"{batch} is done: nothing to resume.")
        now = timezone.now()
        unfinished = list(batch.chunks.select_for_update().filter(done_at=None).order_by("pk"))
        failed = batch.status == LabelBatch.Status.FAILED
        live = [
            chunk
            for chunk in unfinished
            if not failed and chunk.claim is not None and chunk.lease_until and chunk.lease_until >= now
        ]
        requeue = [chunk.pk for chunk in unfinished if chunk not in live]
        LabelBatchChunk.objects.filter(pk__in=requeue).update(claim=None, lease_until=now + LEASE, attempts=0)
        if failed:
            batch.status = LabelBatch.Status.RENDERING if batch.rendered_count else LabelBatch.Status.QUEUED
            batch.error = ""
            batch.finished_at = None
        batch.heartbeat_at = now
        batch.save(update_fields=["status", "error", "finished_at", "heartbeat_at"])
        _queue_after_commit(requeue, [] if unfinished else [batch.pk])
    return Resumed(queued=len(requeue), rendering=len(live))


def _queue_after_commit(chunk_ids: list[int], batch_ids_to_join: list[int]) -> None:
    from .. import tasks

    def send():
        for chunk_id in chunk_ids:
            tasks.render_label_chunk.delay(chunk_id)
        for batch_id in batch_ids_to_join:
            tasks.join_label_batch.delay(batch_id)

    if chunk_ids or batch_ids_to_join:
        transaction.on_commit(send)


def fail_label_batch(*, batch_id: int, error: str) -> None:
    LabelBatch.objects.filter(pk=batch_id).exclude(status=LabelBatch.Status.DONE).update(
        status=LabelBatch.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def record_label_error(*, shipment_id: int, error: str) -> None:
    Shipment.objects.filter(pk=shipment_id).update(label_error=error[:2000])
