import time

from django.core.management.base import BaseCommand, CommandError

from orders.demo_data import seed_demo
from orders.models import Order


class Command(BaseCommand):
    help = (
        "Load a realistic, deterministic demo data set: the story (orders driven through the real services, "
        "with payments, returns and the journal) and the order history (also the scale seed: --orders 1000000)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=500, help="How many history orders to create (default 500).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed; the same seed gives the same data.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already holds orders."
        )
        parser.add_argument(
            "--no-story",
            dest="story",
            action="store_false",
            help="Only the bulk history: no story orders through the services (payments, returns, journal).",
        )
        parser.add_argument("--batch-size", type=int, default=20_000)

    def handle(self, *args, orders: int, seed: int, if_empty: bool, story: bool, batch_size: int, **options):
        if orders < 0:
            raise CommandError("--orders must be zero or more.")
        if if_empty and Order.objects.exists():
            self.stdout.write("Demo data already loaded; nothing to do.")
            return
        started = time.perf_counter()
        result = seed_demo(orders=orders, seed=seed, batch_size=batch_size, story=story)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.orders:,} orders, {result.lines:,} lines, {result.events:,} timeline events, "
                f"{result.shipments:,} shipments and {result.customers:,} customers in {elapsed:.1f} s."
            )
        )
        if result.story is not None:
            self.stdout.write(f"Story: {result.story}.")
