"""Celery entry points for shipping: label documents. Each takes ids and can run twice safely."""

from __future__ import annotations

from celery import shared_task

from . import services
from .services import labels


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def render_shipment_label(shipment_id: int) -> None:
    try:
        services.render_shipment_label(shipment_id=shipment_id)
    except Exception as error:
        labels.record_label_error(shipment_id=shipment_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def render_label_chunk(chunk_id: int) -> None:
    try:
        labels.render_label_chunk(chunk_id=chunk_id)
    except OSError:
        raise  # storage hiccup: retried
    except Exception as error:
        from .models import LabelBatchChunk

        batch_id = LabelBatchChunk.objects.values_list("batch_id", flat=True).get(pk=chunk_id)
        labels.fail_label_batch(batch_id=batch_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def join_label_batch(batch_id: int) -> None:
    try:
        labels.join_label_batch(batch_id=batch_id)
    except OSError:
        raise  # storage hiccup: retried
    except Exception as error:
        labels.fail_label_batch(batch_id=batch_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(acks_late=True)
def sweep_label_batches() -> dict:
    """Periodic (beat, every 30 s): queue again the batch parts and joins whose worker died."""
    return labels.sweep_label_batches()


@shared_task(acks_late=True)
def refresh_lanes() -> int:
    """Periodic (beat, nightly): every lane's promise-accuracy figures over its window; returns the lanes kept."""
    from . import lanes

    return lanes.refresh_lanes()
