"""``manage.py refresh_shipping_facts``: compute every order's shipping facts again from its shipments.

The cockpit reads each order's shipping facts (``orders.services.shipping_facts``), which the shipping
services keep in step with the shipments. Run this after changing ``TIME_ZONE`` (a late shipment is one that
left on a later local day than planned), after restoring shipments from elsewhere, or after writing shipments
with SQL. It is safe at any time: the facts are derived, and the command replaces them in one transaction.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from orders.services import refresh_all_shipping_facts


class Command(BaseCommand):
    help = "Compute every order's shipping facts (which the cockpit reads) again from its shipments."

    def handle(self, *args, **options):
        with transaction.atomic():
            rows = refresh_all_shipping_facts()
        self.stdout.write(f"Shipping facts computed again: {rows:,} orders with a shipment.")
