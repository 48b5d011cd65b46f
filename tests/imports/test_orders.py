"""Orders from CSV: the dry run reports and writes nothing; confirming imports the good orders, each whole."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from inventory.imports import services as imports
from inventory.imports.admin import ImportJobAdmin
from inventory.imports.base import ImportFileError
from inventory.models import ImportJob
from notifications.models import Message
from orders.models import Address, Customer, Order, OrderEvent, OrderIntake, OrderLine
from tests.factories import UserFactory

from .conftest import ORDER_HEADER, csv_text, errors_at, order_row

pytestmark = pytest.mark.django_db
ORDERS = "order"


def good_and_bad_file() -> str:
    return csv_text(
        ORDER_HEADER,
        order_row("W-1", "TEE-M", "2", "19.90"),  # row 2
        order_row("W-1", "MUG", "1", "9.50"),  # row 3
        order_row("W-2", "TEE-M", "1", "19.90", name="Ana", email="ana@example.com"),  # row 4
        order_row("W-3", "TEE-M", "1", "19.90", name="Bo", email="bo@example.com"),  # row 5
        order_row("W-3", "NOPE", "1", "5.00", name="Bo", email="bo@example.com"),  # row 6: unknown SKU
        order_row("W-4", "MUG", "two", "9.50", name="Cy", email="not-an-email"),  # row 7: two bad cells
    )


def domain_counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Order, OrderLine, OrderEvent, OrderIntake, Customer, Address, Message)
    }


def test_the_dry_run_reports_what_would_be_created_and_every_bad_row_and_writes_nothing(catalogue, dry_run):
    before = domain_counts()

    job = dry_run(ORDERS, good_and_bad_file())

    assert job.status == ImportJob.Status.DRY_RUN_DONE
    assert (job.total_rows, job.processed_rows) == (6, 6)
    assert (job.created_count, job.skipped_count, job.failed_count) == (2, 0, 2)
    assert errors_at(job) == {(6, "sku"), (7, "quantity"), (7, "email")}
    assert "unknown SKU 'NOPE'" in next(e["message"] for e in job.error_rows if e["row"] == 6)
    assert [(p["external_id"], p["rows"], p["lines"]) for p in job.preview] == [
        ("W-1", "2, 3", "2 × TEE-M, 1 × MUG"),
        ("W-2", "4", "1 × TEE-M"),
    ]
    assert job.preview[0]["total"] == "54.25 USD"  # 2 × 19.90 + 9.50 + 4.95 shipping
    assert domain_counts() == before


def test_confirming_imports_only_the_good_orders_each_with_all_its_lines(catalogue, dry_run, confirm):
    manager = UserFactory(username="manager")
    job = dry_run(ORDERS, good_and_bad_file(), actor=manager)

    job = confirm(job, manager)

    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.skipped_count, job.failed_count) == (2, 0, 2)
    assert job.dry_run_report["would_create"] == 2
    assert set(Order.objects.values_list("external_id", flat=True)) == {"W-1", "W-2"}  # W-3 refused whole
    w1 = Order.objects.get(external_id="W-1")
    assert [(line.sku, line.quantity, line.unit_price) for line in w1.lines.order_by("id")] == [
        ("TEE-M", 2, Decimal("19.90")),
        ("MUG", 1, Decimal("9.50")),
    ]
    assert (w1.grand_total, w1.currency, str(w1.promised_date)) == (Decimal("54.25"), "USD", "2026-12-02")
    assert w1.customer.name == "Zoë Müller"
    assert w1.shipping_address.postal_code == "75201"
    assert w1.intake.source == OrderIntake.Source.CSV
    placed = w1.events.get(kind=OrderEvent.Kind.PLACED)
    assert placed.actor_name == "manager"
    assert not Customer.objects.filter(email="bo@example.com").exists()


def test_uploading_the_same_file_again_creates_nothing_new(catalogue, dry_run, confirm):
    user = UserFactory()
    confirm(dry_run(ORDERS, good_and_bad_file()), user)
    before = domain_counts()

    again = dry_run(ORDERS, good_and_bad_file())

    assert (again.created_count, again.skipped_count, again.failed_count) == (0, 2, 2)
    with pytest.raises(imports.ImportJobError, match="nothing to import"):
        imports.confirm_import(job_id=again.pk, actor=user)
    assert domain_counts() == before


def test_a_changed_order_under_an_imported_id_is_refused_naming_the_column(catalogue, dry_run, confirm):
    confirm(dry_run(ORDERS, csv_text(ORDER_HEADER, order_row("W-1", quantity="2"))), UserFactory())

    job = dry_run(ORDERS, csv_text(ORDER_HEADER, order_row("W-1", quantity="3")))

    assert job.failed_count == 1
    (error,) = job.error_rows
    assert (error["row"], error["field"]) == (2, "quantity")
    assert "already imported as SO-" in error["message"]


def test_rows_of_one_order_need_not_be_together_but_must_agree(catalogue, dry_run):
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1", "TEE-M"),  # row 2
        order_row("W-2", "TEE-M", email="b@example.com"),  # row 3
        order_row("W-1", "MUG", "1", "9.50"),  # row 4: same order as row 2
        order_row("W-2", "MUG", city="Austin", email="b@example.com"),  # row 5: W-2 ships to Dallas on row 3
    )

    job = dry_run(ORDERS, text)

    assert (job.created_count, job.failed_count) == (1, 1)
    assert job.preview[0]["rows"] == "2, 4"
    (error,) = job.error_rows
    assert (error["row"], error["field"]) == (5, "ship_city")
    assert "'Austin' here but 'Dallas' on row 3 of order W-2" in error["message"]


def test_continuation_rows_may_leave_the_order_cells_empty(catalogue, dry_run):
    text = csv_text(ORDER_HEADER, order_row("W-1"), "webstore,W-1,,,,,,,,MUG,1,9.50,,,")

    job = dry_run(ORDERS, text)

    assert (job.created_count, job.failed_count) == (1, 0)
    assert job.preview[0]["lines"] == "2 × TEE-M, 1 × MUG"


def test_every_cell_check_names_its_row_and_column(catalogue, dry_run):
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1", quantity="0"),
        order_row("W-2", unit_price="-1"),
        order_row("W-3", unit_price="1.999"),
        order_row("W-4", currency="DOLLARS"),
        order_row("W-5", postal_code="00000"),
        order_row("W-6", promised="12/02/2026"),
        order_row("W-7", shipping="free"),
        order_row("", "TEE-M"),
        order_row("W-9", channel="nowhere"),
        order_row("W-10", name=""),
    )

    job = dry_run(ORDERS, text)

    assert job.created_count == 0
    assert errors_at(job) == {
        (2, "quantity"),
        (3, "unit_price"),
        (4, "unit_price"),
        (5, "currency"),
        (6, "ship_postal_code"),
        (7, "promised_date"),
        (8, "shipping_total"),
        (9, "external_id"),
        (10, "channel"),
        (11, "customer_name"),
    }


def test_the_channel_can_come_from_the_upload_form(catalogue, dry_run):
    text = csv_text(ORDER_HEADER, order_row("W-1", channel=""))

    without = dry_run(ORDERS, text)
    with_channel = dry_run(ORDERS, text, options={"channel": "webstore"})

    assert errors_at(without) == {(2, "channel")}
    assert (with_channel.created_count, with_channel.failed_count) == (1, 0)


def test_a_missing_column_is_one_clear_error_before_any_row(catalogue):
    header = ORDER_HEADER.replace(",email", "").replace(",unit_price", "")

    with pytest.raises(ImportFileError) as refused:
        imports.start_import(
            kind=ORDERS, file_name="x.csv", content=csv_text(header, "anything"), options={}, actor="test"
        )

    (error,) = refused.value.errors
    assert (error.row, error.field) == (1, "email, unit_price")
    assert "missing columns" in error.message
    assert not ImportJob.objects.exists()


def test_byte_order_mark_windows_line_endings_and_trailing_blank_lines_are_fine(catalogue, dry_run):
    text = csv_text(ORDER_HEADER, order_row("W-1"), order_row("W-1", "MUG", "1", "9.50")).replace("\n", "\r\n")
    content = ("\ufeff" + text + "\r\n\r\n,,,\r\n").encode("utf-8")

    job = dry_run(ORDERS, content)

    assert (job.total_rows, job.created_count, job.failed_count) == (2, 1, 0)
    assert job.preview[0]["customer"] == "Zoë Müller <zoe@example.com>"


def test_a_file_that_is_not_utf8_is_refused_before_any_row(catalogue):
    content = csv_text(ORDER_HEADER, order_row("W-1")).encode("cp1252")

    with pytest.raises(ImportFileError, match="not UTF-8"):
        imports.start_import(kind=ORDERS, file_name="x.csv", content=content, options={}, actor="test")


def _refuse_lines_with_sku(sku: str) -> None:
    """A database trigger that refuses one SKU's order lines: a failure the dry run cannot foresee."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_line() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'line refused by the database'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_line BEFORE INSERT ON orders_orderline FOR EACH ROW "
                f"WHEN (NEW.sku = '{sku}') EXECUTE FUNCTION refuse_line()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_line BEFORE INSERT ON orders_orderline WHEN NEW.sku = '{sku}' "
                "BEGIN SELECT RAISE(ABORT, 'line refused by the database'); END"
            )


def test_an_order_that_fails_while_importing_leaves_nothing_behind_and_the_others_go_on(catalogue, dry_run, confirm):
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1", "TEE-M"),
        order_row("W-2", "TEE-M", name="Ana", email="ana@example.com"),
        order_row("W-2", "MUG", "1", "9.50", name="Ana", email="ana@example.com"),  # its line insert will fail
        order_row("W-3", "TEE-M", name="Bo", email="bo@example.com"),
    )
    job = dry_run(ORDERS, text)
    assert (job.created_count, job.failed_count) == (3, 0)
    _refuse_lines_with_sku("MUG")

    job = confirm(job, UserFactory())

    assert (job.created_count, job.failed_count) == (2, 1)
    assert set(Order.objects.values_list("external_id", flat=True)) == {"W-1", "W-3"}
    assert not Customer.objects.filter(email="ana@example.com").exists()
    assert not Address.objects.filter(customer__email="ana@example.com").exists()
    (error,) = job.error_rows
    assert error["row"] == 3
    assert "line refused by the database" in error["message"]


def test_a_thousand_rows_go_through_the_task_in_chunks_with_progress(catalogue, django_capture_on_commit_callbacks):
    rows = []
    for number in range(334):  # 1,002 rows: 3 lines an order
        rows += [
            order_row(f"B-{number}", "TEE-M", "1", "19.90", email=f"c{number}@example.com"),
            order_row(f"B-{number}", "MUG", "2", "9.50", email=f"c{number}@example.com"),
            order_row(f"B-{number}", "TEE-M", "3", "18.00", email=f"c{number}@example.com"),
        ]
    rows[499] = rows[499].replace(",MUG,2,", ",MUG,-2,")  # row 501 (order B-166) is bad
    with django_capture_on_commit_callbacks() as pending:
        job = imports.start_import(
            kind=ORDERS, file_name="big.csv", content=csv_text(ORDER_HEADER, *rows), options={}, actor="test"
        )
    progress = []
    while pending:  # run each queued chunk task by hand, reading the job's progress between them
        with django_capture_on_commit_callbacks() as queued:
            for callback in pending:
                callback()
        job.refresh_from_db()
        progress.append(job.processed_rows)
        pending = queued

    assert progress == [198, 396, 594, 792, 990, 1002]  # 66 orders (198 rows) a chunk, never half an order
    assert job.status == ImportJob.Status.DRY_RUN_DONE
    assert (job.created_count, job.failed_count) == (333, 1)
    assert errors_at(job) == {(501, "quantity")}
    assert not Order.objects.exists()
    status = ImportJobAdmin.status_data(job)  # what the page's progress bar polls
    assert (status["processed"], status["total"], status["percent"], status["running"]) == (1002, 1002, 100, False)


def test_the_import_runs_chunk_by_chunk_and_counts_what_each_did(catalogue, dry_run, confirm, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1", "TEE-M"),
        order_row("W-1", "MUG", "1", "9.50"),
        order_row("W-2", "TEE-M", email="b@example.com"),
        order_row("W-3", "TEE-M", email="c@example.com"),
        order_row("W-3", "MUG", "1", "9.50", email="c@example.com"),
    )
    job = dry_run(ORDERS, text)
    confirm(dry_run(ORDERS, csv_text(ORDER_HEADER, order_row("W-2", "TEE-M", email="b@example.com"))), "test")

    job = confirm(job, "test")

    assert (job.status, job.position, job.processed_rows) == (ImportJob.Status.DONE, 3, 5)
    assert (job.created_count, job.skipped_count, job.failed_count) == (2, 1, 0)
    assert Order.objects.count() == 3
    assert OrderLine.objects.count() == 5
