"""A label batch whose worker died: the sweep and the console's "Resume rendering" render only what is missing.

The death is arranged as the database shows it after a `kill -9`: a part claimed by a task that
renews its lease no more, and parts queued that no task will start (their messages wait in the dead
worker's unacknowledged set). tests/oms_site/test_worker_kill.py kills a real worker.
"""

import datetime as dt
import uuid

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from shipping.models import LabelBatch, LabelBatchChunk
from shipping.services import labels as label_services
from shipping.services import start_label_batch
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranded_batch(sites, stock, order_to, carriers, settings, django_capture_on_commit_callbacks, superuser):
    """Six one-label shipments in three parts: part 1 rendered, part 2 claimed by a dead task, part 3 queued."""
    from orders import services

    settings.SHIPPING_LABEL_CHUNK_SIZE = 2
    tee = ProductFactory(sku="TEE-1", weight_kg="0.400")
    stock(sites["EWR"], tee, 100)
    shipments = []
    for _ in range(6):
        order = order_to("NYC", [(tee, 1)])
        services.allocate_order(order_id=order.pk, actor="test")
        shipments += services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        for shipment in shipments:
            services.buy_labels(shipment_id=shipment.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=False):  # the worker that got them is killed
        batch = start_label_batch(shipment_ids=[s.pk for s in shipments], actor=superuser)
    first, second, _ = batch.chunks.order_by("index")
    with django_capture_on_commit_callbacks(execute=False):
        label_services.render_label_chunk(chunk_id=first.pk)
    LabelBatchChunk.objects.filter(pk=second.pk).update(
        claim=uuid.uuid4(), lease_until=timezone.now() + label_services.LEASE, attempts=1
    )
    batch.refresh_from_db()
    assert (batch.status, batch.rendered_count) == (LabelBatch.Status.RENDERING, 2)
    return batch


def expected_numbers(batch: LabelBatch) -> list[str]:
    return [p.tracking_number for s in batch.shipments.order_by("pk") for p in s.parcels.order_by("index")]


def tracking_numbers_in(batch: LabelBatch) -> list[list[str]]:
    """The tracking numbers of the batch's shipments that each page of its PDF prints."""
    numbers = expected_numbers(batch)
    return [[n for n in numbers if n in page.extract_text()] for page in PdfReader(batch.file.path).pages]


def test_the_sweep_leaves_a_batch_alone_while_its_leases_run(stranded_batch):
    assert label_services.sweep_label_batches() == {"requeued": 0, "joined": 0, "failed": 0}


def test_the_sweep_renders_the_parts_a_dead_worker_left_and_keeps_the_rendered_one(
    stranded_batch, django_capture_on_commit_callbacks
):
    first = stranded_batch.chunks.get(index=0)
    later = timezone.now() + label_services.LEASE + dt.timedelta(seconds=1)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = label_services.sweep_label_batches(now=later)

    assert outcome == {"requeued": 2, "joined": 0, "failed": 0}
    batch = LabelBatch.objects.get(pk=stranded_batch.pk)
    assert (batch.status, batch.rendered_count, batch.label_count) == (LabelBatch.Status.DONE, 6, 6)
    assert tracking_numbers_in(batch) == [[n] for n in expected_numbers(batch)]  # each label once, in order
    kept = batch.chunks.get(index=0)
    assert (kept.done_at, kept.attempts) == (first.done_at, 1)  # the part rendered before was not rendered again


def test_a_part_whose_lease_is_live_is_not_taken_over(stranded_batch, django_capture_on_commit_callbacks):
    second = stranded_batch.chunks.get(index=1)

    with django_capture_on_commit_callbacks(execute=True):
        label_services.render_label_chunk(chunk_id=second.pk)  # a second delivery of its message

    second.refresh_from_db()
    assert second.done_at is None and second.attempts == 1  # left to the task holding it


def test_a_task_taken_over_keeps_nothing_it_rendered(stranded_batch, django_capture_on_commit_callbacks, monkeypatch):
    # given the third part's task, which stalls past its lease while the sweep hands the part to another task
    third = stranded_batch.chunks.get(index=2)
    original = label_services.render_document

    def stalled(labels, label_format):
        content = original(labels, label_format)
        LabelBatchChunk.objects.filter(pk=third.pk).update(claim=uuid.uuid4())  # the sweep gave it away meanwhile
        return content

    monkeypatch.setattr(label_services, "render_document", stalled)

    with django_capture_on_commit_callbacks(execute=True):
        label_services.render_label_chunk(chunk_id=third.pk)

    third.refresh_from_db()
    assert third.done_at is None and not third.file  # the part is the new holder's to render


def test_a_part_that_kills_its_worker_every_time_fails_the_batch(stranded_batch):
    LabelBatchChunk.objects.filter(batch=stranded_batch, index=1).update(attempts=label_services.MAX_ATTEMPTS)
    later = timezone.now() + label_services.LEASE + dt.timedelta(seconds=1)

    outcome = label_services.sweep_label_batches(now=later)

    batch = LabelBatch.objects.get(pk=stranded_batch.pk)
    assert outcome["failed"] == 1 and batch.status == LabelBatch.Status.FAILED
    assert batch.error.startswith("Part 2 of 3 was started 5 times and never finished")


def test_resume_rendering_in_the_console_finishes_a_failed_batch_from_where_it_stopped(
    stranded_batch, client, role_user, django_capture_on_commit_callbacks
):
    label_services.fail_label_batch(batch_id=stranded_batch.pk, error="Worker lost")
    client.force_login(role_user("Warehouse staff"))
    changelist = reverse("admin:shipping_labelbatch_changelist")
    assert "Resume rendering" in client.get(changelist).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist,
            {"action": "resume_rendering", helpers.ACTION_CHECKBOX_NAME: [stranded_batch.pk]},
            follow=True,
        )

    text = response.content.decode()
    assert f"{stranded_batch}: rendering resumed at 2 of 6 labels; 2 parts queued again" in text
    batch = LabelBatch.objects.get(pk=stranded_batch.pk)
    assert (batch.status, batch.error) == (LabelBatch.Status.DONE, "")
    assert tracking_numbers_in(batch) == [[n] for n in expected_numbers(batch)]
    page = client.get(reverse("admin:shipping_labelbatch_change", args=[batch.pk])).content.decode()
    assert "Last worked on" in page  # when a worker last made progress on it

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            changelist, {"action": "resume_rendering", helpers.ACTION_CHECKBOX_NAME: [batch.pk]}, follow=True
        )
    assert f"{batch} is done: nothing to resume." in again.content.decode()


def test_resume_rendering_is_not_offered_to_who_cannot_print_labels(stranded_batch, client, role_user):
    client.force_login(role_user("Operations associate"))  # sees the batches, prints no labels
    page = client.get(reverse("admin:shipping_labelbatch_changelist"))
    assert page.status_code == 200 and str(stranded_batch) in page.content.decode()
    assert "Resume rendering" not in page.content.decode()
