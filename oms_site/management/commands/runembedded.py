"""Serve the embedded shape: web server, Celery worker and Celery beat together.

The worker and beat use the broker from settings; in the embedded shape that
is kombu's filesystem transport (var/celery/), so long jobs run in the
background with no broker server installed. Without an address it serves
where OMS_BASE_URL points, so the links in emails and the ones
`create_demo_logins` prints are the ones served. When the demo's 3PL
connection is there and DEMO_3PL_SIMULATOR is on (the embedded shape's
default), the simulated 3PL runs beside the web server and stops with it.
"""

import os
import subprocess
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server with a Celery worker and beat beside it (the embedded shape)."

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport", nargs="?", default=None, help="host:port to serve on (default: OMS_BASE_URL's host and port)."
        )

    def handle(self, *args, addrport: str | None, **options):
        addrport = addrport or addrport_of(settings.OMS_BASE_URL)
        # runserver's autoreloader re-runs this command in a child process
        # (RUN_MAIN=true); only the parent starts the worker and beat.
        if os.environ.get("RUN_MAIN") == "true":
            call_command("runserver", addrport)
            return
        celery = [sys.executable, "-m", "celery", "-A", "oms_site"]
        # The one worker consumes every queue, email's own too when NOTIFICATIONS_QUEUE names one.
        queues = ",".join(q for q in (settings.CELERY_TASK_DEFAULT_QUEUE, settings.NOTIFICATIONS_QUEUE) if q)
        helpers = [
            # Fixed argument lists, no shell, nothing from input but the settings' queue names.
            subprocess.Popen(  # noqa: S603
                [*celery, "worker", "--pool=solo", "--loglevel=INFO", "--hostname=embedded@%h", "-Q", queues]
            ),
            subprocess.Popen([*celery, "beat", "--loglevel=INFO"]),  # noqa: S603
        ]
        self.stdout.write(f"Celery worker (pid {helpers[0].pid}) and beat (pid {helpers[1].pid}) started.")
        self.stdout.write(f"The console: http://{addrport}/admin/")
        from orders.partners.simulator import start_demo_file_drop_simulator, start_demo_simulator

        # The demo warehouse's 3PL, in a thread of this process: it posts to the web server being started, or
        # works in its drop folder (DEMO_3PL_TRANSPORT).
        simulator = start_demo_file_drop_simulator(report=self.stdout.write) or start_demo_simulator(
            base_url=f"http://{addrport}", report=self.stdout.write
        )
        try:
            call_command("runserver", addrport)
        finally:
            if simulator is not None:
                simulator.stop()
            for process in helpers:
                process.terminate()
            for process in helpers:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


def addrport_of(url: str) -> str:
    """The host:port runserver needs to serve ``url`` (http://127.0.0.1:8765 -> 127.0.0.1:8765)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
