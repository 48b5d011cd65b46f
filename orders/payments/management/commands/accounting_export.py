"""python manage.py accounting_export [--date YYYY-MM-DD] [--resend BATCH]"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...accounting import export_journal, send_batch
from ...models import ExportBatch
from ...tasks import send_export_batch


class Command(BaseCommand):
    help = (
        "Export journal entries dated on or before --date (default: yesterday) that were not exported yet: "
        "one batch, a CSV file, and a signed POST when ACCOUNTING_EXPORT_URL is set. --resend N sends "
        "batch N again exactly as it was."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The last day to export, YYYY-MM-DD (default: yesterday).")
        parser.add_argument("--resend", type=int, metavar="BATCH", help="Send this batch again, as it was.")

    def handle(self, *args, date=None, resend=None, **options):
        if resend is not None:
            if not ExportBatch.objects.filter(pk=resend).exists():
                raise CommandError(f"--resend: no export batch {resend}.")
            batch = send_batch(batch_id=resend, resend=True, actor="manage.py accounting_export")
            self.stdout.write(
                f"Batch {batch.pk}: {batch.get_status_display()}"
                + (f" — {batch.last_error}" if batch.last_error else "")
            )
            return
        try:
            day = dt.date.fromisoformat(date) if date else timezone.localdate() - dt.timedelta(days=1)
        except ValueError:
            raise CommandError(f"--date: {date!r} is not a date like 2026-11-24.") from None
        batch = export_journal(export_date=day, actor="manage.py accounting_export")
        if batch is None:
            self.stdout.write(f"Nothing to export up to {day:%Y-%m-%d}: every entry was exported already.")
            return
        if batch.status == ExportBatch.Status.PENDING:
            send_export_batch.delay(batch.pk)
        batch.refresh_from_db()
        self.stdout.write(
            f"Batch {batch.pk}: {batch.entry_count} entries up to {day:%Y-%m-%d} written to {batch.file_path}; "
            f"{batch.get_status_display().lower()}."
        )
