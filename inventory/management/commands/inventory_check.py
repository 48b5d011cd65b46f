from django.core.management.base import BaseCommand

from inventory.models import InventoryFinding
from inventory.services import run_inventory_check


class Command(BaseCommand):
    help = "Run the daily inventory check now: reconcile the ledger, store the report, email OPS_EMAILS."

    def add_arguments(self, parser):
        parser.add_argument("--no-email", action="store_true", help="Store the report but send no email.")

    def handle(self, *args, no_email: bool, **options):
        run = run_inventory_check(triggered_by="manage.py inventory_check", email=not no_email)
        labels = dict(InventoryFinding.Kind.choices)
        plural = "s" if run.finding_count != 1 else ""
        self.stdout.write(f"Inventory check: {run.finding_count} finding{plural}, took {run.took} (run #{run.pk}).")
        for kind, total in run.summary.get("totals", {}).items():
            if total:
                self.stdout.write(f"  {labels[kind]}: {total}")
