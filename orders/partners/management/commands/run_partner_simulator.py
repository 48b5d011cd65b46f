"""Play a 3PL on this machine for a connection: take its releases, ship them after a delay, send snapshots.

REST: it serves the connection's endpoint on 127.0.0.1 and posts to the OMS's webhook. File drop (CSV or
X12): it works in the drop folder as the 3PL sees it (``--folder``: the folder the 3PL's SFTP server
serves; by default the connection's PARTNER_DROP_FOLDERS folder), taking the OMS's files from ``in/`` and
leaving its own in ``out/``, which the OMS's beat polls.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders.partners.models import PartnerConnection
from orders.partners.simulator import drop_runner_for, runner_for


class Command(BaseCommand):
    help = (
        "Run a simulated 3PL for a connection. REST: it serves the connection's endpoint and posts signed "
        "acknowledgements, ship confirmations and stock snapshots to the OMS's webhook. File drop (CSV or X12): "
        "it takes the OMS's files from in/ of --folder and leaves the same answers as files in out/. Each "
        "release ships after --ship-delay seconds with tracking numbers of its own."
    )

    def add_arguments(self, parser):
        parser.add_argument("code", help="The connection's code (REST: its endpoint's port is the one served).")
        parser.add_argument("--port", type=int, default=0, help="REST: port to serve (default: the endpoint's).")
        parser.add_argument(
            "--folder",
            default="",
            help="File drop: the drop folder as the 3PL sees it, holding in/ and out/ (default: the connection's "
            "PARTNER_DROP_FOLDERS folder).",
        )
        parser.add_argument("--ship-delay", type=float, default=30.0, help="Seconds before a release ships.")
        parser.add_argument("--snapshot-every", type=float, default=300.0, help="Seconds between stock snapshots.")
        parser.add_argument("--oms-url", default="", help="REST: the OMS's base URL (default OMS_BASE_URL).")

    def handle(self, *args, code: str, port: int, folder: str, ship_delay: float, snapshot_every: float, **options):
        connection = PartnerConnection.objects.select_related("warehouse").filter(code=code).first()
        if connection is None:
            raise CommandError(f"No 3PL connection with code {code!r}.")
        if connection.kind == PartnerConnection.Kind.REST:
            if not connection.secret:
                raise CommandError(f"{connection} has no shared secret: enter one in the console first.")
            runner = runner_for(
                connection,
                base_url=options["oms_url"] or settings.OMS_BASE_URL,
                ship_delay=ship_delay,
                snapshot_every=snapshot_every,
                port=port,
                report=self.stdout.write,
            )
            where = f"at {runner.simulator.url}, posting to {runner.simulator.webhook_url}"
        else:
            folder = folder or settings.PARTNER_DROP_FOLDERS.get(code, "")
            if not folder:
                raise CommandError(
                    f"{connection} speaks {connection.get_kind_display()}: give --folder, the drop folder its SFTP "
                    "server serves (or name the connection in PARTNER_DROP_FOLDERS)."
                )
            runner = drop_runner_for(
                connection,
                folder=folder,
                ship_delay=ship_delay,
                snapshot_every=snapshot_every,
                report=self.stdout.write,
            )
            where = f"in {folder} (in/ from the OMS, out/ to it, {connection.get_kind_display()})"
        runner.start()
        self.stdout.write(f"Simulated 3PL for {connection} {where}")
        try:
            runner.thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            runner.stop()
