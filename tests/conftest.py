import pytest
from django.db import connection

from inventory import services as inventory
from inventory.models import StockLevel, Warehouse
from tests.factories import (
    AddressFactory,
    ChannelFactory,
    CustomerFactory,
    OrderFactory,
    ProductFactory,
    UserFactory,
)

ROLES = ["Operations manager", "Operations associate", "Returns associate", "Warehouse staff"]


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need real parallel transactions: skip them on SQLite.

    The quick run (SQLite, no OMS_FULL_SUITE) also leaves out the tests marked `slow` (those that start
    workers, brokers, SFTP servers or Django processes of their own) and the browser tests. They run on
    PostgreSQL (CI) and with OMS_FULL_SUITE=1.
    """
    import os

    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        quick = os.environ.get("OMS_FULL_SUITE", "") not in {"1", "true", "yes"}
        skip_slow = pytest.mark.skip(reason="slow: runs on PostgreSQL and with OMS_FULL_SUITE=1")
        skip_browser = pytest.mark.skip(reason="browser: runs on PostgreSQL and with OMS_FULL_SUITE=1")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
            elif quick and "slow" in item.keywords:
                item.add_marker(skip_slow)
            elif quick and "browser" in item.keywords:
                item.add_marker(skip_browser)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No persistent connections in tests: threads must not keep the test database open."""
    from django.db import connections

    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with Django's cache empty: counts the console keeps for 30 s are the test's own."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fresh_rate_cards():
    """Rate cards are cached per process: each test, wherever it lives, sees only the carriers it made."""
    from shipping.selectors import clear_rate_cache

    clear_rate_cache()
    yield
    clear_rate_cache()


@pytest.fixture(autouse=True)
def not_inside_a_worker():
    """A Celery worker run inside the test process (or its pool's start-up) marks the whole process as a worker,
    where ``result.get()`` refuses to wait; each test starts outside one, as a test process is."""
    from celery import _state

    _state._set_task_join_will_block(False)
    yield
    _state._set_task_join_will_block(False)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Labels and batch PDFs written by tests go to a temporary folder, not var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """Passwords hashed with one cheap round in tests: a sign-in costs microseconds, not half a second."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def celery_eager():
    """Tasks run in-process when enqueued (after commit); a real worker has its own test."""
    from oms_site.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def roles(db):
    """The role groups as the roles table makes them after migrate.

    Transactional tests flush the database afterwards, roles included; a
    transactional test that needs the roles asks for this.
    """
    from oms_site.roles import apply_roles

    apply_roles()


class ChannelKey:
    """A channel with a live API key, and the header that presents it."""

    def __init__(self, channel, key):
        self.channel = channel
        self.key = key
        self.headers = {"Authorization": f"Bearer {key}"}


@pytest.fixture
def channel_key(db):
    from orders.services.channels import issue_api_key

    channel = ChannelFactory(code="webstore", name="Web store", default_currency="USD")
    _, key = issue_api_key(channel_id=channel.pk, name="storefront", actor="test")
    return ChannelKey(channel, key)


@pytest.fixture
def superuser(db):
    return UserFactory(username="boss", is_superuser=True)


@pytest.fixture
def channel(db):
    return ChannelFactory(code="webstore", name="Web store")


@pytest.fixture
def product(db):
    return ProductFactory(sku="TEE-M", name="Tee M")


@pytest.fixture
def order(db):
    return OrderFactory()


@pytest.fixture
def role_user(db):
    """Make a staff user in one of the four roles."""

    def make(role: str):
        return UserFactory(username=role.lower().replace(" ", "-"), role=role)

    return make


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


# --- A hand-built geography: four warehouses at real ZIP codes, and helpers to stock them.

# Edison NJ, Atlanta GA, Dallas TX, Reno NV.
SITES = {"EWR": "08817", "ATL": "30303", "DAL": "75201", "RNO": "89501"}
# Customers: New York (nearest EWR), Dallas (DAL), Los Angeles (RNO), Miami (ATL).
CUSTOMER_ZIPS = {"NYC": ("10001", "NY"), "DFW": ("75201", "TX"), "LAX": ("90012", "CA"), "MIA": ("33130", "FL")}


def make_warehouse(code: str, postal_code: str, **fields) -> Warehouse:
    warehouse = Warehouse(code=code, name=f"{code} DC", city=code, postal_code=postal_code, **fields)
    warehouse.locate()
    warehouse.save()
    return warehouse


@pytest.fixture
def sites(db):
    return {code: make_warehouse(code, zip_code) for code, zip_code in SITES.items()}


@pytest.fixture
def stock():
    """stock(warehouse, product, quantity): receive units through the ledger."""

    def put(warehouse, product, quantity):
        inventory.receive_stock(
            warehouse_id=warehouse.pk, product_id=product.pk, quantity=quantity, actor="test: receiving"
        )
        return StockLevel.objects.get(warehouse=warehouse, product=product)

    return put


@pytest.fixture
def order_to(db):
    """order_to("NYC", [(product, qty), ...], channel=None): a received order shipping to that city."""

    def make(city: str, lines, channel=None, **fields):
        postal_code, state = CUSTOMER_ZIPS[city]
        customer = CustomerFactory()
        address = AddressFactory(customer=None, name=customer.name, postal_code=postal_code, state=state)
        order = OrderFactory(
            customer=customer,
            shipping_address=address,
            channel=channel or ChannelFactory(code="webstore"),
            lines=0,
            **fields,
        )
        for product, quantity in lines:
            order.lines.create(
                product=product, sku=product.sku, name=product.name, quantity=quantity, unit_price=product.price
            )
        return order

    return make


@pytest.fixture
def products(db):
    return [ProductFactory(sku=f"SKU-{letter}") for letter in "ABCD"]
