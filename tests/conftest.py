import pytest
from django.db import connection

from tests.factories import ChannelFactory, OrderFactory, ProductFactory, UserFactory

ROLES = ["Operations manager", "Operations associate", "Returns associate", "Warehouse staff"]


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need real parallel transactions: skip them on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No persistent connections in tests: threads must not keep the test database open."""
    from django.db import connections

    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0


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
