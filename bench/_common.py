"""What the benchmark scripts share: Django set-up, the bench database, COPY, the measured commit.

Each script runs as ``python bench/<name>.py``, so this module is imported as
``_common`` (the script's folder is first on sys.path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def prepare_database(allow_any: bool, *, expected: str = INVENTORY_BENCH_DATABASE) -> str:
    """Exit 2 unless PostgreSQL; create the bench database when missing, migrate; return the server version."""
    from django.core.management import call_command
    from django.db import OperationalError, connection

    if connection.vendor != "postgresql":
        refuse(
            f"this benchmark needs PostgreSQL, but the database is {connection.vendor}. "
            f"Set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/{expected}"
        )
    params = connection.settings_dict
    if params["NAME"] != expected and not allow_any:
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
