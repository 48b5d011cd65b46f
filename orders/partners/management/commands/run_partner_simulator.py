"""Play a 3PL on 127.0.0.1 for a connection: take its releases, ship them after a delay, send snapshots."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders.partners.models import PartnerConnection
from orders.partners.simulator import Simulator


class Command(BaseCommand):
    help = (
        "Run a simulated 3PL for a REST connection: it serves the connection's endpoint, ships each release "
        "after --ship-delay seconds with tracking numbers of its own, and posts signed acknowledgements, "
        "ship confirmations and stock snapshots to the OMS's webhook."
    )

    def add_arguments(self, parser):
        parser.add_argument("code", help="The connection's code (its endpoint's port is the one served).")
        parser.add_argument("--port", type=int, default=0, help="Port to serve (default: the endpoint's).")
        parser.add_argument("--ship-delay", type=float, default=30.0, help="Seconds before a release ships.")
        parser.add_argument("--snapshot-every", type=float, default=300.0, help="Seconds between stock snapshots.")
        parser.add_argument("--oms-url", default="", help="The OMS's base URL (default OMS_BASE_URL).")

    def handle(self, *args, code: str, port: int, ship_delay: float, snapshot_every: float, oms_url: str, **options):
        connection = PartnerConnection.objects.select_related("warehouse").filter(code=code).first()
        if connection is None:
            raise CommandError(f"No 3PL connection with code {code!r}.")
        if connection.kind != PartnerConnection.Kind.REST:
            raise CommandError(f"{connection} speaks {connection.get_kind_display()}; the simulator speaks REST.")
        if not connection.secret:
            raise CommandError(f"{connection} has no shared secret: enter one in the console first.")
        if not port:
            port = int(connection.endpoint.rsplit(":", 1)[-1].split("/")[0]) if ":" in connection.endpoint else 0
        base = (oms_url or settings.OMS_BASE_URL).rstrip("/")
        simulator = Simulator(
            secret=connection.secret,
            webhook_url=f"{base}/api/v1/partners/{connection.code}/webhook",
            ship_delay=ship_delay,
            port=port,
        )
        simulator.stock = {
            connection.partner_sku(sku): on_hand
            for sku, on_hand in connection.warehouse.stock_levels.values_list("product__sku", "on_hand")
        }
        simulator.start()
        self.stdout.write(f"Simulated 3PL for {connection} at {simulator.url}, posting to {simulator.webhook_url}")
        last_snapshot = time.monotonic()
        try:
            while True:
                if time.monotonic() - last_snapshot >= snapshot_every:
                    simulator.snapshot()
                    last_snapshot = time.monotonic()
                for status in simulator.pump():
                    if status not in (200, 202):
                        self.stderr.write(f"The OMS answered {status or 'nothing'}; trying again in a second.")
                time.sleep(1)  # the demo's pace: one round a second
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
