"""The double-entry journal and its export to accounting.

Every capture, refund, payment received, write-off and shipping cost
becomes one balanced ``JournalEntry`` (debits = credits) in its currency,
posted to the accounts mapped to each role in the console. The daily export
puts every entry not yet exported into one ``ExportBatch``: a CSV file, and
a signed JSON POST when ``ACCOUNTING_EXPORT_URL`` is set. The batch keeps
both exactly as produced, so a re-send is byte-for-byte the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone

from inventory.models import StockMovement
from oms_core.csvfiles import csv_writer

from . import alerts
from .amounts import ZERO, CaptureSplit, cents
from .models import (
    DEFAULT_CHART,
    Account,
    AccountMapping,
    AccountRole,
    ExportBatch,
    JournalEntry,
    JournalLine,
    PaymentTransaction,
)

logger = logging.getLogger(__name__)
R = AccountRole
CSV_COLUMNS = [
    "batch",
    "entry",
    "date",
    "kind",
    "order",
    "currency",
    "account_code",
    "account_name",
    "debit",
    "credit",
    "memo",
]


class Unbalanced(AssertionError):
    """A journal entry whose debits and credits differ: a bug, never posted."""


def account_for(role: str) -> Account:
    """The account mapped to ``role``; a missing mapping gets the default chart's account."""
    mapping = AccountMapping.objects.select_related("account").filter(role=role).first()
    if mapping is not None:
        return mapping.account
    code, name, kind = DEFAULT_CHART[role]
    account, _ = Account.objects.get_or_create(code=code, defaults={"name": name, "type": kind})
    return AccountMapping.objects.get_or_create(role=role, defaults={"account": account})[0].account


def post_entry(*, kind: str, currency: str, memo: str, legs: list[tuple[str, Decimal]], **links) -> JournalEntry:
    """Write one balanced entry. ``legs`` are (role, signed amount): positive debits, negative credits."""
    legs = [(role, cents(amount)) for role, amount in legs if cents(amount) != 0]
    if sum((amount for _, amount in legs), ZERO) != 0:
        raise Unbalanced(f"Journal entry {memo!r} does not balance: {legs}")
    entry = JournalEntry.objects.create(kind=kind, currency=currency.upper(), memo=memo[:300], **links)
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            account=account_for(role),
            debit=amount if amount > 0 else ZERO,
            credit=-amount if amount < 0 else ZERO,
        )
        for role, amount in legs
    )
    return entry


def receivable_balance(order) -> Decimal:
    """What the order's customer still owes on invoice: its receivables debits less credits in the journal."""
    totals = JournalLine.objects.filter(entry__order=order, account=account_for(R.RECEIVABLES)).aggregate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    return (totals["debit"] or ZERO) - (totals["credit"] or ZERO)


def journal_transaction(txn: PaymentTransaction, *, settles: bool) -> JournalEntry | None:
    """Journal a succeeded capture, refund or payment received (authorisations and voids move no money)."""
    T = PaymentTransaction.Kind
    number = txn.order.number
    if txn.kind == T.CAPTURE:
        split = CaptureSplit.from_dict(txn.breakdown) if txn.breakdown else None
        goods, shipping, tax = (split.goods, split.shipping, split.tax) if split else (txn.amount, ZERO, ZERO)
        legs = [
            (R.CASH if settles else R.RECEIVABLES, txn.amount),
            (R.REVENUE, -goods),
            (R.SHIPPING_INCOME, -shipping),
            (R.TAX, -tax),
        ]
        what = f" shipment {txn.shipment.number}" if txn.shipment_id else ""
        memo = f"{number} capture{what} ({txn.gateway} {txn.gateway_reference})".strip()
        kind = JournalEntry.Kind.CAPTURE
    elif txn.kind == T.REFUND:
        # An invoice not yet paid (the gateway does not settle at capture) is reduced, not paid out of cash.
        unpaid = ZERO if settles else min(max(receivable_balance(txn.order), ZERO), txn.amount)
        legs = [(R.REFUNDS, txn.amount), (R.RECEIVABLES, -unpaid), (R.CASH, -(txn.amount - unpaid))]
        memo = f"{number} refund ({txn.source}): {txn.reason}"
        kind = JournalEntry.Kind.REFUND
    elif txn.kind == T.SETTLE:
        legs = [(R.CASH, txn.amount), (R.RECEIVABLES, -txn.amount)]
        memo = f"{number} payment received {txn.gateway_reference}".strip()
        kind = JournalEntry.Kind.SETTLEMENT
    else:
        return None
    return post_entry(kind=kind, currency=txn.currency, memo=memo, legs=legs, order=txn.order, transaction=txn)


def journal_shipping_cost(*, order, shipment) -> JournalEntry | None:
    """Journal what the carrier charges for a shipment (its bought rate), once per shipment."""
    cost = shipment.shipping_cost or ZERO
    if cost <= 0 or JournalEntry.objects.filter(shipment=shipment, kind=JournalEntry.Kind.SHIPPING_COST).exists():
        return None
    return post_entry(
        kind=JournalEntry.Kind.SHIPPING_COST,
        currency=shipment.currency or order.currency,
        memo=f"{order.number} shipping cost {shipment.number} ({shipment.service or 'carrier'})",
        legs=[(R.SHIPPING_COST, cost), (R.CARRIER_PAYABLE, -cost)],
        order=order,
        shipment=shipment,
    )


def journal_write_offs(*, up_to: dt.date) -> int:
    """Journal write-off movements from the stock ledger up to ``up_to``, valued at unit cost; returns how many.

    Inventory knows nothing of accounting: its ledger rows are read here,
    each journaled once. Products with no unit cost have nothing to post.
    """
    end = timezone.make_aware(dt.datetime.combine(up_to + dt.timedelta(days=1), dt.time.min))
    movements = (
        StockMovement.objects.select_for_update(of=("self",))
        .filter(kind=StockMovement.Kind.WRITE_OFF, created_at__lt=end, journal_entry__isnull=True)
        .filter(product__unit_cost__gt=0)
        .select_related("product", "warehouse", "order")
        .order_by("pk")
    )
    posted = 0
    for movement in movements:
        value = cents(-movement.quantity * movement.product.unit_cost)
        post_entry(
            kind=JournalEntry.Kind.WRITE_OFF,
            currency=settings.ACCOUNTING_CURRENCY,
            memo=f"Write-off {-movement.quantity} × {movement.product.sku} at {movement.warehouse.code}"
            + (f": {movement.reason}" if movement.reason else ""),
            legs=[(R.WRITE_OFF, value), (R.INVENTORY, -value)],
            order=movement.order,
            movement=movement,
            entry_date=timezone.localdate(movement.created_at),
        )
        posted += 1
    return posted


# --- the export ------------------------------------------------------------------
def _csv(batch: ExportBatch, entries: list[JournalEntry]) -> str:
    """The batch's lines as CSV; text (account names, memos) is guarded against running as a formula."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        for line in entry.lines.all():
            writer.writerow(
                [
                    batch.pk,
                    entry.pk,
                    entry.entry_date,
                    entry.kind,
                    entry.order.number if entry.order_id else "",
                    entry.currency,
                    line.account.code,
                    line.account.name,
                    cents(line.debit),  # numbers, written as numbers (never guarded as text)
                    cents(line.credit),
                    entry.memo,
                ]
            )
    return out.getvalue()


def _json(batch: ExportBatch, entries: list[JournalEntry]) -> str:
    body = {
        "batch": batch.pk,
        "export_date": batch.export_date.isoformat(),
        "created_at": batch.created_at.isoformat(),
        "entries": [
            {
                "id": entry.pk,
                "date": entry.entry_date.isoformat(),
                "kind": entry.kind,
                "order": entry.order.number if entry.order_id else None,
                "currency": entry.currency,
                "memo": entry.memo,
                "lines": [
                    {"account": line.account.code, "debit": f"{line.debit:.2f}", "credit": f"{line.credit:.2f}"}
                    for line in entry.lines.all()
                ],
            }
            for entry in entries
        ],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


@transaction.atomic
def export_journal(*, export_date: dt.date, actor: str = "system: accounting export") -> ExportBatch | None:
    """Put every entry dated on or before ``export_date`` and not yet exported into one new batch.

    Write-offs up to that day are journaled first. Each entry is exported
    exactly once: running it again finds nothing new and returns None. The
    CSV file is written to ``ACCOUNTING_EXPORT_DIR``; with
    ``ACCOUNTING_EXPORT_URL`` set, the batch is left pending, for the caller
    to send after commit (``tasks.send_export_batch``).
    """
    journal_write_offs(up_to=export_date)
    entries = list(
        JournalEntry.objects.select_for_update(of=("self",))
        .filter(batch__isnull=True, entry_date__lte=export_date)
        .select_related("order")
        .prefetch_related("lines__account")
        .order_by("entry_date", "pk")
    )
    if not entries:
        return None
    url = settings.ACCOUNTING_EXPORT_URL
    batch = ExportBatch.objects.create(
        export_date=export_date,
        status=ExportBatch.Status.PENDING if url else ExportBatch.Status.WRITTEN,
        url=url,
        entry_count=len(entries),
        created_by=str(actor),
        csv_content="",
        json_body="",
    )
    JournalEntry.objects.filter(pk__in=[entry.pk for entry in entries]).update(batch=batch)
    batch.csv_content = _csv(batch, entries)
    batch.json_body = _json(batch, entries)
    folder = Path(settings.ACCOUNTING_EXPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"journal-{export_date:%Y-%m-%d}-batch{batch.pk:06d}.csv"
    path.write_text(batch.csv_content, encoding="utf-8", newline="")
    batch.file_path = str(path)
    batch.save(update_fields=["csv_content", "json_body", "file_path"])
    return batch


def signature(body: bytes, secret: str) -> str:
    """The ``X-OMS-Signature`` header: ``sha256=`` and the hex HMAC-SHA256 of the body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_batch(*, batch_id: int, resend: bool = False, actor: str = "system: accounting export") -> ExportBatch:
    """POST a batch's JSON body, exactly as stored, signed; record the outcome.

    A batch already sent is sent again only with ``resend``. A failure is
    recorded (attempts, last error) and the batch left ``retrying`` for the
    task to try again, or ``failed`` after ``ACCOUNTING_EXPORT_MAX_ATTEMPTS``
    (ops are alerted). The network call holds no database lock.
    """
    batch = ExportBatch.objects.get(pk=batch_id)
    url = batch.url or settings.ACCOUNTING_EXPORT_URL
    if (batch.status == ExportBatch.Status.SENT and not resend) or not url:
        return batch
    body = batch.json_body.encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-OMS-Batch": str(batch.pk),
            "X-OMS-Signature": signature(body, settings.ACCOUNTING_EXPORT_SECRET),
        },
    )
    error = ""
    try:
        with urllib.request.urlopen(request, timeout=settings.ACCOUNTING_EXPORT_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as failure:
        error = f"HTTP {failure.code} from {url}: {failure.read()[:300].decode(errors='replace')}"
    except (urllib.error.URLError, TimeoutError, OSError) as failure:
        error = f"{url}: {getattr(failure, 'reason', failure)}"
    with transaction.atomic():
        batch = ExportBatch.objects.select_for_update().get(pk=batch_id)
        batch.attempts += 1
        batch.url = url
        if not error:
            batch.status, batch.last_error, batch.sent_at = ExportBatch.Status.SENT, "", timezone.now()
        elif batch.attempts < settings.ACCOUNTING_EXPORT_MAX_ATTEMPTS and not resend:
            batch.status, batch.last_error = ExportBatch.Status.RETRYING, error
            batch.next_attempt_at = timezone.now() + dt.timedelta(seconds=export_backoff(batch.attempts))
        else:
            batch.status, batch.last_error = ExportBatch.Status.FAILED, error
            alerts.payment_problem(
                order=None,
                problem=f"Accounting export #{batch.pk} for {batch.export_date:%Y-%m-%d} failed",
                detail=f"{error} (after {batch.attempts} attempts). Re-send it from Export batches once fixed.",
                occurrence=f"export:{batch.pk}:{batch.attempts}",
                link=reverse("admin:payments_exportbatch_change", args=[batch.pk]),
            )
        if batch.status != ExportBatch.Status.RETRYING:
            batch.next_attempt_at = None
        batch.save(update_fields=["attempts", "url", "status", "last_error", "sent_at", "next_attempt_at"])
    logger.info("Accounting export %s: %s", batch.pk, batch.status)
    return batch


def export_backoff(attempts: int) -> int:
    return min(60 * 2 ** max(attempts - 1, 0), 3600)


# A batch's own task sends it (and schedules each retry); the sweep sends only what that task has left this long
# past its time, so a task that is merely queued behind others is not doubled (a doubled POST is the same batch,
# byte for byte, under the same X-OMS-Batch id: the receiver can tell).
EXPORT_TASK_LOST_AFTER = dt.timedelta(minutes=15)


def batches_to_send(now: dt.datetime | None = None) -> list[int]:
    """Batches whose sending task was lost (a broker outage, a worker gone): waiting to send since long ago, or
    retrying long past the time their retry was due. Batches written without a URL are not sent."""
    if not settings.ACCOUNTING_EXPORT_URL:
        return []
    overdue = (now or timezone.now()) - EXPORT_TASK_LOST_AFTER
    lost = Q(status=ExportBatch.Status.PENDING, created_at__lt=overdue) | Q(
        status=ExportBatch.Status.RETRYING, next_attempt_at__lt=overdue
    )
    return list(ExportBatch.objects.filter(lost).order_by("pk").values_list("pk", flat=True))


# --- checks ------------------------------------------------------------------------
def balance(entries) -> dict[str, tuple[Decimal, Decimal]]:
    """Debits and credits per currency of the given entries' lines."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for line in JournalLine.objects.filter(entry__in=entries).select_related("entry"):
        debit, credit = totals.get(line.entry.currency, (ZERO, ZERO))
        totals[line.entry.currency] = (debit + line.debit, credit + line.credit)
    return totals
