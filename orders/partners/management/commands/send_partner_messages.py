"""Send the outbound 3PL messages due now, a batch per connection: what the sweep does, from a shell."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from orders.partners import services


class Command(BaseCommand):
    help = (
        "Send every outbound 3PL message due now (new ones, retries whose wait is over, sends a killed worker "
        "left), a batch per connection over one sitting with the partner; prints how many got through."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500, help="At most this many messages (default 500).")

    def handle(self, *args, limit: int, **options):
        sent = services.send_due_messages(limit=limit)
        self.stdout.write(f"{sent} message{'s' if sent != 1 else ''} sent.")
