"""The examples people copy work on the demo data: the CSV blocks of docs/reference/csv-import.md and the
upload page's own examples import whole, and the delivery-promise request of docs/reference/shipping.md answers.

Each CSV goes through the console as a user's file would (upload, dry run, confirm) on a database seeded by
``seed_demo``, and every row must be accepted: an example that names a SKU, warehouse or channel the demo
does not have is refused as soon as someone tries it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.imports.registry import get_handler, handlers
from inventory.models import ImportJob
from orders.demo_data import seed_demo

pytestmark = pytest.mark.django_db
CSV_REFERENCE = Path(settings.BASE_DIR) / "docs" / "reference" / "csv-import.md"
SHIPPING_REFERENCE = Path(settings.BASE_DIR) / "docs" / "reference" / "shipping.md"
CSV_BLOCK = re.compile(r"^```csv\n(.*?)^```", re.MULTILINE | re.DOTALL)
KINDS = sorted(handler.kind for handler in handlers())  # every kind installed: orders, stock receipts


def documented_csv_blocks() -> list[str]:
    return CSV_BLOCK.findall(CSV_REFERENCE.read_text(encoding="utf-8"))


def kind_of(text: str) -> str:
    """The import a CSV is for: the one whose required columns its header has."""
    header = set(text.splitlines()[0].split(","))
    kinds = [handler.kind for handler in handlers() if set(handler.required_columns) <= header]
    assert len(kinds) == 1, f"no single import takes a file headed {sorted(header)}: {kinds}"
    return kinds[0]


def examples() -> list:
    found = [pytest.param(text, id=f"docs block {n}") for n, text in enumerate(documented_csv_blocks(), start=1)]
    found += [pytest.param(get_handler(kind).example, id=f"upload page: {kind}") for kind in KINDS]
    return found


def test_the_csv_reference_shows_the_orders_and_the_stock_receipts_examples():
    assert sorted(kind_of(text) for text in documented_csv_blocks()) == sorted(KINDS)


@pytest.mark.parametrize("text", examples())
def test_an_example_imports_every_row_on_the_demo_data(text, client, superuser, django_capture_on_commit_callbacks):
    seed_demo(orders=20, seed=1, story=False)
    kind = kind_of(text)
    rows = len(text.strip().splitlines()) - 1
    client.force_login(superuser)
    upload = SimpleUploadedFile("example.csv", text.encode("utf-8"), content_type="text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:inventory_importjob_upload", args=[kind]), {"file": upload})
    job = ImportJob.objects.get()
    assert (job.status, job.failed_count, job.error_rows) == (ImportJob.Status.DRY_RUN_DONE, 0, [])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:inventory_importjob_confirm", args=[job.pk]))

    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.failed_count, job.error_rows) == (ImportJob.Status.DONE, rows, 0, [])
    assert job.created_count >= 1 and job.skipped_count == 0


def test_the_documented_delivery_promise_example_answers_on_the_demo_data(client):
    seed_demo(orders=20, seed=1, story=False)
    from orders.models import Channel
    from orders.services.channels import issue_api_key

    _, key = issue_api_key(channel_id=Channel.objects.get(code="webstore").pk, name="docs", actor="test")
    (path,) = re.findall(
        r"`GET (/api/v1/promise\?postal_code=\d[^`]*)`", SHIPPING_REFERENCE.read_text(encoding="utf-8")
    )

    response = client.get(path, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["deliverable"] is True and body["unavailable"] == {}
    assert body["items"] == {"TEE-M": 2, "MUG-BLU": 1}
