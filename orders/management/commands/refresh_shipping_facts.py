"""``manage.py refresh_shipping_facts``: compute every order's shipping facts again from its shipments, and the
cockpit's day rollups from the facts.

The cockpit reads each order's shipping facts (``orders.services.shipping_facts``) and their sums by local day
(``orders.services.cockpit_rollups``), which the shipping services keep in step with the shipments. Run this
after changing ``TIME_ZONE`` (a late shipment is one that left on a later local day than planned, and the
rollups' days are local days: until it runs, the cockpit sums the facts order by order, right but slower),
after restoring shipments from elsewhere, or after writing shipments with SQL. It is safe at any time: both are
derived, and the command replaces them in one transaction.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from orders.services import refresh_all_shipping_facts


class Command(BaseCommand):
    help = (
        "Compute every order's shipping facts again from its shipments, and the cockpit's day rollups from them "
        "(after changing TIME_ZONE, or writing shipments with SQL)."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            rows = refresh_all_shipping_facts()
        self.stdout.write(f"Shipping facts computed again: {rows:,} orders with a shipment.")
        self.stdout.write(f"The cockpit's day rollups summed again in {settings.TIME_ZONE}.")
