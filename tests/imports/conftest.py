"""Shared set-up for the CSV import tests: a channel, SKUs, a warehouse, and helpers that run a job's chunks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory.imports import services as imports
from inventory.models import ImportJob
from tests.conftest import make_warehouse
from tests.factories import ChannelFactory, ProductFactory

ORDER_HEADER = (
    "channel,external_id,customer_name,email,phone,ship_line1,ship_city,ship_state,ship_postal_code,"
    "sku,quantity,unit_price,currency,shipping_total,promised_date"
)


def order_row(
    external_id="W-1",
    sku="TEE-M",
    quantity="2",
    unit_price="19.90",
    *,
    channel="webstore",
    name="Zoë Müller",
    email="zoe@example.com",
    city="Dallas",
    postal_code="75201",
    shipping="4.95",
    promised="2026-12-02",
    currency="USD",
) -> str:
    return ",".join(
        [
            channel,
            external_id,
            name,
            email,
            "555-0100",
            "12 Elm St",
            city,
            "TX",
            postal_code,
            sku,
            quantity,
            unit_price,
            currency,
            shipping,
            promised,
        ]
    )


def csv_text(header: str, *rows: str) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def catalogue(db):
    """The channel, two SKUs and the Dallas warehouse the example files use."""
    return {
        "channel": ChannelFactory(code="webstore", name="Web store"),
        "tee": ProductFactory(sku="TEE-M", name="Tee M", price=Decimal("19.90")),
        "mug": ProductFactory(sku="MUG", name="Mug", price=Decimal("9.50")),
        "dal": make_warehouse("DAL", "75201"),
    }


@pytest.fixture
def dry_run(django_capture_on_commit_callbacks):
    """dry_run(kind, text, options=None, actor="test"): upload a file and run its whole dry run."""

    def run(kind: str, text: str | bytes, options: dict | None = None, actor="test") -> ImportJob:
        with django_capture_on_commit_callbacks(execute=True):
            job = imports.start_import(
                kind=kind, file_name="test.csv", content=text, options=options or {}, actor=actor
            )
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def confirm(django_capture_on_commit_callbacks):
    """confirm(job, actor): confirm a checked job and run its whole import."""

    def run(job: ImportJob, actor) -> ImportJob:
        with django_capture_on_commit_callbacks(execute=True):
            imports.confirm_import(job_id=job.pk, actor=actor)
        job.refresh_from_db()
        return job

    return run


def errors_at(job: ImportJob) -> set[tuple[int, str]]:
    return {(error["row"], error["field"]) for error in job.error_rows}
