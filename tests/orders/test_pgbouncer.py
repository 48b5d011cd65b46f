"""Intake behind PgBouncer in transaction mode: orders placed through the service and the API from parallel threads,
over the connections the settings make with PG_POOL_MODE=transaction.

A session-scoped fixture starts Debian's ``pgbouncer`` (``pool_mode = transaction``, two server connections shared
by all its clients) in a temporary folder, in front of the test database's server. Each test points Django's connections
at it with the database settings ``oms_site/settings.py`` makes for ``PG_POOL_MODE=transaction``, so that every
transaction of every thread may run on either server connection.
"""

import os
import runpy
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Sum
from django.test import Client

from inventory.models import Allocation, StockLevel
from notifications.models import Message
from orders import services
from orders.models import Order, OrderStatus
from tests.api.conftest import order_payload
from tests.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6
ORDERS_EACH = 8  # more than psycopg's prepare_threshold (5) runs of each statement on one connection
SERVER_CONNECTIONS = 2

INI = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 100
"""


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found is None and os.access("/usr/sbin/pgbouncer", os.X_OK):  # Debian's place, not on a user's PATH
        found = "/usr/sbin/pgbouncer"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def pgbouncer(django_db_setup, tmp_path_factory) -> int:
    """PgBouncer in transaction pool mode in front of the test database's server; its port.

    After the test database is made (django_db_setup), so that it stops, and its server connections go,
    before the database is dropped.
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("PgBouncer pools PostgreSQL connections; the database is SQLite (set DATABASE_URL)")
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    folder = tmp_path_factory.mktemp("pgbouncer")
    folder.chmod(0o755)  # readable by the user it runs as when started by root
    listen_port = free_port()
    # PgBouncer logs in to PostgreSQL with the password it has for the user, whatever the client's (trust)
    (folder / "userlist.txt").write_text(f'"{database["USER"]}" "{database["PASSWORD"] or ""}"\n')
    (folder / "pgbouncer.ini").write_text(
        INI.format(
            host=database["HOST"] or "127.0.0.1",
            port=database["PORT"] or 5432,
            listen_port=listen_port,
            folder=folder,
            pool_size=SERVER_CONNECTIONS,
        )
    )
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["--user", "nobody"]  # it refuses to run as root
    with (folder / "pgbouncer.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own argv
    try:
        wait_for(listen_port, process, folder / "pgbouncer.log")
        yield listen_port
    finally:
        process.terminate()
        process.wait(timeout=10)
        wait_until_gone(database)


def wait_until_gone(database: dict) -> None:
    """Until PostgreSQL's backends that served PgBouncer have gone: the test database is dropped next."""
    params = {"host": database["HOST"] or "127.0.0.1", "port": database["PORT"] or 5432, "user": database["USER"]}
    with psycopg.connect(**params, password=database["PASSWORD"] or None, dbname="postgres", autocommit=True) as admin:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            others = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database["NAME"]],
            ).fetchone()[0]
            if not others:
                return
            time.sleep(0.05)


def wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"pgbouncer did not listen on port {port} within 10 s:\n{log.read_text()}")


def database_settings(*, port: int, pool_mode: str) -> dict:
    """DATABASES["default"] as oms_site/settings.py makes it for this PG_POOL_MODE, on PgBouncer's port."""
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    url = f"postgres://{database['USER']}{password}@127.0.0.1:{port}/{database['NAME']}"
    with mock.patch.dict(os.environ, {"DATABASE_URL": url, "PG_POOL_MODE": pool_mode}):
        made = runpy.run_path(str(Path(settings.BASE_DIR) / "oms_site" / "settings.py"))
    return made["DATABASES"]["default"]


POOLED_KEYS = ("HOST", "PORT", "OPTIONS", "CONN_MAX_AGE", "DISABLE_SERVER_SIDE_CURSORS")


@pytest.fixture
def through_pgbouncer(pgbouncer, transactional_db):
    """Every connection Django opens from now on (any thread's) goes through PgBouncer, as PG_POOL_MODE=transaction
    sets it up; the test database's own settings come back afterwards."""
    shared = connections["default"].settings_dict  # the one dict every thread's connection is made from
    pooled = database_settings(port=pgbouncer, pool_mode="transaction")
    saved = {key: shared[key] for key in POOLED_KEYS if key in shared}
    connections.close_all()
    shared.update({key: pooled[key] for key in POOLED_KEYS if key in pooled})
    try:
        yield pgbouncer
    finally:
        connections.close_all()
        for key in POOLED_KEYS:
            shared.pop(key, None)
        shared.update(saved)


@pytest.fixture
def in_stock(sites, stock):
    """The two goods of every order (as the API tests' order_payload has them), enough of each in one warehouse."""
    goods = {
        "tee": ProductFactory(sku="TEE-1", name="Tee", weight_kg="0.400", price="24.00"),
        "mug": ProductFactory(sku="MUG-1", name="Mug", weight_kg="0.600", price="18.50"),
    }
    units = THREADS * ORDERS_EACH * 3
    return {name: stock(sites["EWR"], product, units) for name, product in goods.items()}


def in_threads(work, *, port: int) -> list:
    """``work(thread_index)`` in THREADS threads at once, each on its own connection to ``port``; their results."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list = []
    ports: set[int] = set()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
            ports.add(connections["default"].connection.info.port)  # where this thread's work went
        except Exception as error:  # collected and asserted below, with the thread's index
            errors.append((index, error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ports == {port}
    return results


def order_data(external_id: str) -> services.OrderData:
    """Two tees and a mug to New York, as order_payload sends them."""
    return services.OrderData(
        external_id=external_id,
        customer=services.CustomerData(name="Zoë Álvarez", email=f"{external_id.lower()}@example.com"),
        shipping_address=services.AddressData(
            name="Zoë Álvarez", line1="350 5th Ave", city="New York", state="NY", postal_code="10118"
        ),
        lines=[
            services.LineData(sku="TEE-1", quantity=2, unit_price=Decimal("24.00")),
            services.LineData(sku="MUG-1", quantity=1, unit_price=Decimal("18.50")),
        ],
        shipping_total=Decimal("5.99"),
    )


def assert_placed_and_allocated(numbers: list[str], in_stock) -> None:
    """Each order whole (its two lines, allocated in full), one confirmation each, and the stock's count kept."""
    orders = Order.objects.filter(number__in=numbers).prefetch_related("lines", "allocations")
    assert orders.count() == len(numbers) == len(set(numbers))
    for order in orders:
        assert order.status == OrderStatus.ALLOCATED, order.number
        assert sorted((line.sku, line.quantity, line.quantity_allocated) for line in order.lines.all()) == [
            ("MUG-1", 1, 1),
            ("TEE-1", 2, 2),
        ]
        allocated = Counter()
        for allocation in order.allocations.all():
            allocated[allocation.order_line_id] += allocation.quantity
        assert allocated == Counter({line.pk: line.quantity for line in order.lines.all()}), order.number
    assert Message.objects.filter(order__number__in=numbers, event="order_received").count() == len(numbers)
    for name, per_order in (("tee", 2), ("mug", 1)):
        level = StockLevel.objects.get(pk=in_stock[name].pk)
        assert level.allocated == per_order * len(numbers)
        assert Allocation.objects.filter(product=level.product).aggregate(units=Sum("quantity"))["units"] == (
            per_order * len(numbers)
        )


def test_orders_placed_by_the_service_from_parallel_threads_through_pgbouncer(through_pgbouncer, channel, in_stock):
    # given threads that each place their own orders through PgBouncer, then place them all again
    def place_and_replay(index: int) -> list[tuple[Order, bool, Order, bool]]:
        ids = [f"POOL-{index}-{n}" for n in range(ORDERS_EACH)]
        placed = [services.place_order(channel=channel, data=order_data(id_), actor="channel: web") for id_ in ids]
        again = [services.place_order(channel=channel, data=order_data(id_), actor="channel: web") for id_ in ids]
        # and read them back outside a transaction with QuerySet.iterator(): a server-side cursor unless the
        # settings turn those off, and PgBouncer would run its fetches on whichever server connection is free
        read = list(Order.objects.filter(external_id__in=ids).iterator(chunk_size=3))
        assert sorted(order.pk for order in read) == sorted(order.pk for order, _ in placed)
        return [(*first, *second) for first, second in zip(placed, again, strict=True)]

    # when they run at once
    results = [row for rows in in_threads(place_and_replay, port=through_pgbouncer) for row in rows]

    # then each order was made once and its replay returned it, and each is whole and allocated
    assert [(created, created_again) for _, created, _, created_again in results] == [(True, False)] * len(results)
    assert all(order.pk == again.pk for order, _, again, _ in results)
    assert_placed_and_allocated([order.number for order, _, _, _ in results], in_stock)


def test_orders_posted_to_the_api_from_parallel_threads_through_pgbouncer(through_pgbouncer, channel_key, in_stock):
    # given threads that each POST their own orders with the channel's key, then POST them all again
    def post_and_replay(index: int) -> list[tuple[int, str, int, str]]:
        client = Client()
        answers = []
        for n in range(ORDERS_EACH):
            customer = {"name": "Kim Lee", "email": f"kim-{index}-{n}@example.com"}
            payload = order_payload(f"API-POOL-{index}-{n}", customer=customer)
            first = client.post("/api/v1/orders", payload, content_type="application/json", headers=channel_key.headers)
            answers.append((first.status_code, first.json().get("number"), payload))
        replays = [
            client.post("/api/v1/orders", payload, content_type="application/json", headers=channel_key.headers)
            for _, _, payload in answers
        ]
        return [
            (status, number, again.status_code, again.json().get("number"))
            for (status, number, _), again in zip(answers, replays, strict=True)
        ]

    # when they run at once
    results = [row for rows in in_threads(post_and_replay, port=through_pgbouncer) for row in rows]

    # then each order was 201 once and 200 with the same number on its replay, and each is whole and allocated
    assert [(status, replay) for status, _, replay, _ in results] == [(201, 200)] * (THREADS * ORDERS_EACH)
    assert all(number == again for _, number, _, again in results)
    assert_placed_and_allocated([number for _, number, _, _ in results], in_stock)


# --- why the switch: what PgBouncer in transaction mode does to the session-mode settings -------------------------


def test_the_session_settings_startup_options_are_refused_by_pgbouncer(pgbouncer, transactional_db):
    params = connection_params(database_settings(port=pgbouncer, pool_mode="session"))

    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(**params).close()


@pytest.mark.parametrize(("pool_mode", "fails"), [("session", True), ("transaction", False)])
def test_a_statement_prepared_on_one_server_connection_is_run_on_another(pgbouncer, transactional_db, pool_mode, fails):
    # given a client whose connection has run a statement often enough for psycopg to prepare it (with the
    # session settings), the server connection it ran on then held by another client's open transaction
    params = connection_params(database_settings(port=pgbouncer, pool_mode=pool_mode))
    params.pop("options", None)  # refused by PgBouncer (above); the statements are the point here
    with psycopg.connect(**params, autocommit=True) as client, psycopg.connect(**params, autocommit=True) as other:
        for _ in range(6):
            client.execute("SELECT %s::int", [1])
        with other.transaction():
            other.execute("SELECT 1")  # PgBouncer hands it the server connection released last: the client's

            # when the client runs the statement again (on the other server connection)
            if fails:
                # then with the session settings PostgreSQL has no such prepared statement there
                with pytest.raises(psycopg.errors.InvalidSqlStatementName):
                    client.execute("SELECT %s::int", [1])
            else:
                # then with the transaction settings nothing was prepared, and it runs
                assert client.execute("SELECT %s::int", [1]).fetchone() == (1,)


def connection_params(database: dict) -> dict:
    """psycopg's connect() arguments as Django's backend makes them from these settings."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    database = {**connections["default"].settings_dict, **database}
    params = DatabaseWrapper(database).get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return params
