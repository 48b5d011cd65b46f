"""The conformance kit on CSV over SFTP: the OMS writes and polls CSV files on a real SFTP server (asyncssh on
127.0.0.1, in a process of its own); the simulated 3PL reads and writes the same folder on its side."""

import pytest

from .conformance import SCENARIOS
from .filedrop_peer import file_drop_connection, file_drop_harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # an SFTP server process per test


@pytest.fixture
def csv_connection(connection, drop_server):
    return file_drop_connection(connection, drop_server, "csv_sftp")


@pytest.fixture
def harness(csv_connection, drop_server, products, sites, stock, routed):
    connection = csv_connection
    return file_drop_harness(
        connection,
        drop_server,
        file_format="csv",
        products=products,
        sites=sites,
        stock=stock,
        routed=routed,
        refusal="sku: required",
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_csv_sftp_transport(scenario, harness):
    scenario(harness)
