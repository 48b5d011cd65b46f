"""The journal balances per order and per batch; the export runs once per entry, parses back, is signed."""

import csv
import datetime as dt
import hashlib
import hmac
import http.server
import io
import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory import services as inventory
from notifications.models import Message
from orders.payments import accounting
from orders.payments import services as payments
from orders.payments import tasks as payment_tasks
from orders.payments.models import AccountMapping, AccountRole, ExportBatch, JournalEntry, JournalLine

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def debits_and_credits(entries) -> tuple[Decimal, Decimal]:
    lines = JournalLine.objects.filter(entry__in=entries)
    return sum((line.debit for line in lines), Decimal("0")), sum((line.credit for line in lines), Decimal("0"))


@pytest.fixture
def money_moved(sites, stock, shirt, mug, paid_order, route, ship):
    """A split card order shipped (two captures, two shipping costs), a refund, and a write-off."""
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)
    order = route(paid_order([(shirt, 2), (mug, 1)], shipping="6.95", tax="5.10", discount="2.00"))
    ship(order)
    payments.refund_payment(order=order, amount=Decimal("12.50"), idempotency_key="R1", reason="mug broke", actor="x")
    inventory.write_off_stock(
        warehouse_id=sites["EWR"].pk, product_id=shirt.pk, quantity=2, reason="water damage", actor="x"
    )
    return order


def test_every_money_event_is_a_balanced_entry_and_each_order_balances(money_moved):
    order = money_moved

    accounting.export_journal(export_date=TODAY())

    kinds = sorted(JournalEntry.objects.values_list("kind", flat=True))
    assert kinds == ["capture", "capture", "refund", "shipping_cost", "shipping_cost", "write_off"]
    for entry in JournalEntry.objects.all():
        debit, credit = debits_and_credits([entry])
        assert debit == credit > 0, entry
    debit, credit = debits_and_credits(JournalEntry.objects.filter(order=order))
    assert debit == credit
    revenue = AccountMapping.objects.get(role=AccountRole.REVENUE).account
    tax = AccountMapping.objects.get(role=AccountRole.TAX).account
    captured = JournalLine.objects.filter(entry__order=order, entry__kind="capture")
    assert sum(line.credit for line in captured.filter(account=tax)) == Decimal("5.10")
    assert sum(line.credit for line in captured.filter(account=revenue)) == Decimal("62.50") - Decimal("2.00")
    write_off = JournalEntry.objects.get(kind="write_off")
    assert {(line.account.code, line.debit, line.credit) for line in write_off.lines.all()} == {
        ("5100", Decimal("16.00"), Decimal("0.00")),
        ("1200", Decimal("0.00"), Decimal("16.00")),
    }


def test_a_mapping_changed_in_the_console_is_where_entries_post(money_moved):
    from orders.payments.models import Account

    stripe = Account.objects.create(code="1010", name="Stripe balance", type=Account.Type.ASSET)
    AccountMapping.objects.filter(role=AccountRole.CASH).update(account=stripe)

    payments.refund_payment(order=money_moved, amount=Decimal("1.00"), idempotency_key="R2", reason="x", actor="x")

    entry = JournalEntry.objects.filter(kind="refund").last()
    assert entry.lines.get(credit__gt=0).account == stripe


def test_the_export_takes_each_entry_once_and_its_csv_parses_back(money_moved):
    batch = accounting.export_journal(export_date=TODAY())

    # each entry exported once: a second run finds nothing new
    assert accounting.export_journal(export_date=TODAY()) is None
    assert ExportBatch.objects.count() == 1
    assert not JournalEntry.objects.filter(batch=None).exists()
    assert batch.entry_count == JournalEntry.objects.count() == 6
    assert batch.status == ExportBatch.Status.WRITTEN  # no URL: CSV only
    # the file is the stored CSV, and it reads back line for line
    assert Path(batch.file_path).read_bytes().decode("utf-8") == batch.csv_content
    rows = list(csv.DictReader(io.StringIO(batch.csv_content)))
    assert list(rows[0]) == accounting.CSV_COLUMNS
    assert len(rows) == JournalLine.objects.count()
    assert {row["entry"] for row in rows} == {str(pk) for pk in JournalEntry.objects.values_list("pk", flat=True)}
    by_currency: dict = {}
    for row in rows:
        debit, credit = by_currency.get(row["currency"], (Decimal("0"), Decimal("0")))
        by_currency[row["currency"]] = (debit + Decimal(row["debit"]), credit + Decimal(row["credit"]))
    assert all(debit == credit for debit, credit in by_currency.values())  # the batch balances
    assert any(row["order"] == money_moved.number and row["kind"] == "capture" for row in rows)


def test_entries_after_the_export_date_wait_for_a_later_batch(money_moved):
    JournalEntry.objects.filter(kind="refund").update(entry_date=TODAY() + dt.timedelta(days=1))

    first = accounting.export_journal(export_date=TODAY())
    second = accounting.export_journal(export_date=TODAY() + dt.timedelta(days=1))

    assert first.entry_count == 5 and second.entry_count == 1
    assert second.entries.get().kind == "refund"


def test_the_command_exports_and_says_where(money_moved, capsys):
    call_command("accounting_export", "--date", TODAY().isoformat())
    out = capsys.readouterr().out
    batch = ExportBatch.objects.get()
    assert f"Batch {batch.pk}: 6 entries up to {TODAY():%Y-%m-%d} written to {batch.file_path}" in out

    call_command("accounting_export", "--date", TODAY().isoformat())
    assert "Nothing to export" in capsys.readouterr().out


class Receiver(http.server.BaseHTTPRequestHandler):
    """The accounting package's endpoint: records what it got, answers with the status it is told to."""

    answers: list[int] = []
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers, body))  # header names are case-insensitive
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.answers, Receiver.received = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ACCOUNTING_EXPORT_URL = f"http://127.0.0.1:{server.server_port}/journal"
    settings.ACCOUNTING_EXPORT_SECRET = "s3cret"
    yield Receiver
    server.shutdown()
    server.server_close()


def test_the_batch_is_posted_signed_and_can_be_resent_exactly(money_moved, receiver):
    batch = ExportBatch.objects.get(pk=payment_tasks.export_journal(TODAY().isoformat()))

    assert batch.status == ExportBatch.Status.SENT and batch.sent_at is not None
    ((headers, body),) = receiver.received
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-OMS-Signature"] == f"sha256={expected}"
    assert headers["X-OMS-Batch"] == str(batch.pk)
    sent = json.loads(body)
    assert sent["batch"] == batch.pk and len(sent["entries"]) == 6
    for entry in sent["entries"]:
        assert sum(Decimal(x["debit"]) for x in entry["lines"]) == sum(Decimal(x["credit"]) for x in entry["lines"])

    accounting.send_batch(batch_id=batch.pk, resend=True)

    assert len(receiver.received) == 2 and receiver.received[1][1] == body  # as it was, byte for byte


def test_a_failing_post_is_retried_then_shown_to_ops_and_resent_once_fixed(
    money_moved, receiver, settings, admin_client
):
    settings.ACCOUNTING_EXPORT_MAX_ATTEMPTS = 3
    receiver.answers = [500, 503, 500]

    batch = ExportBatch.objects.get(pk=payment_tasks.export_journal(TODAY().isoformat()))

    assert (batch.status, batch.attempts) == (ExportBatch.Status.FAILED, 3)
    assert batch.last_error.startswith("HTTP 500 from http://127.0.0.1:")
    alert = Message.objects.get(event="payment_problem")
    assert f"Accounting export #{batch.pk}" in alert.context["problem"]
    page = admin_client.get("/admin/payments/exportbatch/?status=failed").content.decode()
    assert "HTTP 500" in page

    response = admin_client.post(
        "/admin/payments/exportbatch/", {"action": "resend_selected", "_selected_action": [batch.pk]}
    )

    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == ExportBatch.Status.SENT and len(receiver.received) == 4
    assert len({body for _, body in receiver.received}) == 1


def test_a_batch_whose_sending_task_was_lost_is_sent_by_the_sweep(money_moved, receiver, settings):
    # given a nightly batch whose task never ran (the broker lost it) and one whose retry was lost after a failure
    settings.ACCOUNTING_EXPORT_URL, url = "", settings.ACCOUNTING_EXPORT_URL
    written = ExportBatch.objects.get(pk=payment_tasks.export_journal(TODAY().isoformat()))
    settings.ACCOUNTING_EXPORT_URL = url
    ExportBatch.objects.filter(pk=written.pk).update(status=ExportBatch.Status.PENDING, url="")
    stranded = ExportBatch.objects.get(pk=written.pk)
    assert receiver.received == []

    # when the sweep runs while the task could still be merely queued: nothing is sent twice
    assert payment_tasks.sweep_payments()["exports"] == 0

    # then, once it is 15 minutes late, the sweep sends it
    ExportBatch.objects.filter(pk=stranded.pk).update(created_at=timezone.now() - dt.timedelta(minutes=16))
    assert payment_tasks.sweep_payments()["exports"] == 1
    stranded.refresh_from_db()
    assert stranded.status == ExportBatch.Status.SENT and len(receiver.received) == 1


def test_a_retry_whose_task_was_lost_is_sent_by_the_sweep_once_overdue(money_moved, receiver, settings):
    settings.ACCOUNTING_EXPORT_MAX_ATTEMPTS = 3
    receiver.answers = [503]
    batch = ExportBatch.objects.get(pk=payment_tasks.export_journal(TODAY().isoformat()))
    # (eager tasks ran the retry at once; here the retry task is the one the broker lost)
    ExportBatch.objects.filter(pk=batch.pk).update(
        status=ExportBatch.Status.RETRYING, attempts=1, next_attempt_at=timezone.now() + dt.timedelta(minutes=1)
    )
    sent_before = len(receiver.received)

    assert payment_tasks.sweep_payments()["exports"] == 0  # its retry is not even due

    ExportBatch.objects.filter(pk=batch.pk).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=16))
    assert payment_tasks.sweep_payments()["exports"] == 1
    batch.refresh_from_db()
    assert (batch.status, batch.next_attempt_at) == (ExportBatch.Status.SENT, None)
    assert len(receiver.received) == sent_before + 1
