"""What the benchmark scripts share: Django set-up, the bench database, COPY, the host, ratios, clean-up.

Each script runs as ``python bench/<name>.py``, so this module is imported as
``_common`` (the script's folder is first on sys.path).

The machine the benchmarks run on is shared and its speed changes from day to
day, so every benchmark measures a baseline of its own in the same run (raw
pgbench, raw SMTP, bare WeasyPrint, the bare SQL of a page) and reports its
figure as a ratio to it (``Ratio``); the targets are ratios.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INVENTORY_BENCH_DATABASE = "oms_bench_inv"

# (code, name, city, state, ZIP): located by postal code, as in production.
WAREHOUSES = [
    ("EWR", "Edison DC", "Edison", "NJ", "08817"),
    ("ATL", "Atlanta DC", "Atlanta", "GA", "30303"),
    ("DAL", "Dallas DC", "Dallas", "TX", "75201"),
    ("RNO", "Reno DC", "Reno", "NV", "89501"),
]


def setup_django(*, test_client: bool = False) -> None:
    """Project root on sys.path, our settings; with ``test_client``, its host 'testserver' allowed."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "oms_site.settings"
    if test_client:
        hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
        if "testserver" not in hosts:
            hosts.append("testserver")
        os.environ["ALLOWED_HOSTS"] = ",".join(hosts)

    import django

    django.setup()


def refuse(message: str) -> NoReturn:
    """Stop with exit code 2 (the benchmark cannot run here), naming the script."""
    print(f"{Path(sys.argv[0]).stem}: {message}", file=sys.stderr)
    sys.exit(2)


def prepare_database(allow_any: bool, *, expected: str = INVENTORY_BENCH_DATABASE, truncates: bool = True) -> str:
    """Exit 2 unless PostgreSQL; create the bench database when missing, migrate; return the server version.

    A benchmark that ``truncates`` tables runs on its ``expected`` database only, unless ``allow_any``.
    """
    from django.core.management import call_command
    from django.db import OperationalError, connection

    if connection.vendor != "postgresql":
        refuse(
            f"this benchmark needs PostgreSQL, but the database is {connection.vendor}. "
            f"Set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/{expected}"
        )
    params = connection.settings_dict
    if truncates and params["NAME"] != expected and not allow_any:
        refuse(
            f"the database is {params['NAME']!r}; this benchmark truncates the inventory and orders tables, "
            f"so it runs on {expected!r} only (or pass --allow-any-database)"
        )
    try:
        connection.ensure_connection()
    except OperationalError as error:
        if "does not exist" not in str(error):
            refuse(f"cannot connect to PostgreSQL: {error}")
        create_database(params)
    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def create_database(params: dict) -> None:
    import psycopg
    from psycopg import sql

    print(f"Creating database {params['NAME']}...", flush=True)
    try:
        with psycopg.connect(
            dbname="postgres",
            host=params["HOST"] or None,
            port=params["PORT"] or None,
            user=params["USER"] or None,
            password=params["PASSWORD"] or None,
            autocommit=True,
        ) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params["NAME"])))
    except psycopg.Error as error:
        refuse(f"cannot create database {params['NAME']!r}: {error}")


def truncate_tables(app_labels: tuple[str, ...] = ("inventory", "orders")) -> None:
    """Empty every table of these apps (ids restart at 1)."""
    from django.apps import apps
    from django.db import connection

    tables = sorted(
        {
            model._meta.db_table
            for label in app_labels
            for model in apps.get_app_config(label).get_models(include_auto_created=True)
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def copy_rows(table: str, columns: list[str], rows) -> int:
    """COPY rows into a table; returns how many."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def git_revision() -> dict:
    """The commit measured, and whether the app code differed from it."""
    git = shutil.which("git")
    if git is None:
        return {}

    def run(*args: str) -> str:
        done = subprocess.run([git, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)  # noqa: S603
        return done.stdout.strip()

    changed = run("status", "--porcelain", "--", "inventory", "orders", "oms_site").splitlines()
    return {"commit": run("rev-parse", "--short", "HEAD"), "app_files_modified": len(changed)}


# --- the host ------------------------------------------------------------------


def host() -> dict:
    """The machine measured: date, CPUs (nproc), CPU model (lscpu), load average at the start."""
    model = ""
    lscpu = shutil.which("lscpu")
    if lscpu:
        done = subprocess.run([lscpu], capture_output=True, text=True, check=False)  # noqa: S603
        for line in done.stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.date.today().isoformat(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def describe_host(info: dict) -> str:
    return f"{info['date']}, {info['nproc']} × {info['cpu_model'] or 'unknown CPU'}, load {info['load_average_1m']}"


# --- ratios ----------------------------------------------------------------------


@dataclass
class Ratio:
    """A figure beside the baseline measured in the same run, and their ratio against a target ratio.

    Both are rates (more is better): ``ratio = figure / baseline``. A latency is given as its inverse
    by the caller (``Ratio.of_times``).
    """

    name: str
    figure: float
    baseline: float
    unit: str
    baseline_label: str
    target: float | None = None

    @classmethod
    def of_times(cls, name: str, *, figure_ms: float, baseline_ms: float, baseline_label: str, target=None):
        """For latencies: the ratio is baseline time / figure time (1.0: no slower than the baseline)."""
        return cls(name, figure_ms, baseline_ms, "ms", baseline_label, target)

    @property
    def ratio(self) -> float:
        if self.unit == "ms":
            return self.baseline / self.figure if self.figure else 0.0
        return self.figure / self.baseline if self.baseline else 0.0

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio >= self.target

    def line(self) -> str:
        verdict = ""
        if self.target is not None:
            verdict = f"  target >= {self.target:g}: {'met' if self.met else 'NOT met'}"
        if self.unit == "ms":
            return (
                f"{self.name}: {self.figure:,.2f} ms against {self.baseline:,.2f} ms for {self.baseline_label} "
                f"= ratio {self.ratio:.3f}{verdict}"
            )
        return (
            f"{self.name}: {self.figure:,.1f} {self.unit} ÷ {self.baseline:,.1f} {self.unit} "
            f"{self.baseline_label} = ratio {self.ratio:.3f}{verdict}"
        )

    def summary(self) -> dict:
        return {**asdict(self), "ratio": round(self.ratio, 4), "met": self.met}


def print_ratios(ratios: list[Ratio]) -> None:
    print("\nRatios (figure ÷ the baseline measured in this run):")
    for ratio in ratios:
        print(f"  {ratio.line()}")


# --- the logs of the processes a benchmark starts ----------------------------------

# A log record at WARNING or above ("2026-11-25 19:50:21,600 WARNING oms_core.wakeups: ...", Celery's
# "[2026-11-25 19:50:21,600: WARNING/MainProcess] ...") or an uncaught traceback. Python's warnings
# (Celery's root SecurityWarning) are not records and do not count.
LOG_PROBLEM = re.compile(r"^\[?\d{4}-\d\d-\d\d [\d:,]+:? (WARNING|ERROR|CRITICAL)\b|^Traceback ")


def log_problems(text: str) -> list[str]:
    """The lines of a log that are warnings, errors or tracebacks."""
    return [line for line in text.splitlines() if LOG_PROBLEM.match(line)]


# --- Redis ---------------------------------------------------------------------------


def purge_redis(url: str, queue: str) -> int:
    """Delete this run's keys from its Redis database: its queue, bindings and wake-up flags (all named
    after the run's own queue). Returns how many keys went."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


# The benchmarks' Celery worker: the project's app with remote control off, so that no broadcast
# queue, binding or deadline is created in Redis (a benchmark leaves nothing there but what its own
# queue's name says, which purge_redis deletes). Remote control carries no task.
WORKER_BOOT = (
    "import sys; from oms_site.celery import app; app.conf.worker_enable_remote_control = False; "
    "app.worker_main(['worker', *sys.argv[1:]])"
)


def worker_command(*options: str) -> list[str]:
    """argv of a ``celery worker`` (run it from PROJECT_ROOT): ``--without-mingle --without-gossip``,
    remote control off, then ``options``."""
    return [sys.executable, "-c", WORKER_BOOT, "--without-mingle", "--without-gossip", *options]


# --- the bare SQL of a request: a baseline for pages and reads ----------------------


def captured_reads(function, *args, **kwargs) -> tuple[object, list[str]]:
    """Call ``function``; return its result and the read statements it sent, as the SQL text sent (literals
    in place). Writes (a session touched, a key's last use) are left out: a replay must change nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = function(*args, **kwargs)
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    return result, reads


@contextmanager
def bare_connection():
    """A bare psycopg connection to the bench database (autocommit, no Django), as a function that sends a
    list of statements, fetches every row, and returns the milliseconds it took."""
    import time

    import psycopg
    from django.db import connection

    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"],
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    ) as bare:
        cursor = bare.cursor()

        def run(statements: list[str]) -> float:
            started = time.perf_counter()
            for sql in statements:
                cursor.execute(sql.encode())
                if cursor.description is not None:
                    cursor.fetchall()
            return (time.perf_counter() - started) * 1000

        yield run


def replay_bare(statement_lists: list[list[str]], *, repeat: int = 1, warmup: int = 1) -> list[float]:
    """Milliseconds to send each list of statements and fetch every row over one bare connection: the
    database's share of a request, with its round trips. Each list runs ``warmup`` times untimed, then
    ``repeat`` times; returns one time per list and repetition."""
    timings: list[float] = []
    with bare_connection() as run:
        for statements in statement_lists:
            for _ in range(warmup):
                run(statements)
            timings.extend(run(statements) for _ in range(repeat))
    return timings


# --- a benchmark process's own broker and log ---------------------------------------


def private_broker(name: str, default: str = "redis://127.0.0.1:6379/13") -> tuple[str, str]:
    """Point this process (and the processes it starts) at Redis on a queue of the run's own; returns the
    broker URL and the queue, for ``purge_redis`` at the end. Call before ``setup_django``.

    Without it, whatever a benchmark's set-up queues after commit (a seed's emails and labels) would go to
    the embedded shape's filesystem broker, var/celery/queue, where ``make run``'s worker would take it.
    """
    import uuid

    url = os.environ.setdefault("CELERY_BROKER_URL", default)
    if not url.startswith(("redis://", "rediss://")):
        refuse("this benchmark queues its tasks on Redis: set CELERY_BROKER_URL=redis://...")
    queue = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    return url, queue


def p95(values) -> float:
    """The 95th percentile by sorted index: the ceil(0.95 n)-th smallest value."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_on_private_broker(name: str, measure, args, *, test_client: bool = False, before=None) -> int:
    """A benchmark's run: Redis on a queue of its own (``private_broker``), Django set up, its warnings and errors
    counted from then on, ``measure(args, logged)``; the run's Redis keys deleted however it ends. ``before``
    runs once Django is set up (a worker's quieter settings)."""
    broker, queue = private_broker(name)
    setup_django(test_client=test_client)
    if before is not None:
        before()
    logged = count_logged_problems()
    try:
        return measure(args, logged)
    finally:
        print(f"Redis keys of the run deleted: {purge_redis(broker, queue)}")


class CountingHandler(logging.Handler):
    """Counts the records at WARNING or above that a process logs, and keeps the first few."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def count_logged_problems() -> CountingHandler:
    """Count this process's warnings and errors from now on (a handler on the root logger)."""
    handler = CountingHandler()
    logging.getLogger().addHandler(handler)
    return handler
