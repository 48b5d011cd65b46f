"""Play a 3PL on 127.0.0.1 for a connection: take its releases, ship them after a delay, send snapshots."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders.partners.models import PartnerConnection
from orders.partners.simulator import runner_for


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
        runner = runner_for(
            connection,
            base_url=oms_url or settings.OMS_BASE_URL,
            ship_delay=ship_delay,
            snapshot_every=snapshot_every,
            port=port,
            report=self.stdout.write,
        )
        runner.start()
        simulator = runner.simulator
        self.stdout.write(f"Simulated 3PL for {connection} at {simulator.url}, posting to {simulator.webhook_url}")
        try:
            runner.thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            runner.stop()
