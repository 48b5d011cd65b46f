"""The conformance kit on X12 EDI over SFTP: 940s out, 945/846/944/997 in and a 997 back for every group, on a
real SFTP server (asyncssh on 127.0.0.1, in a process of its own); the simulated 3PL reads and writes X12 on its
side, and answers requests in its acknowledgement file."""

import pytest

from oms_core import x12

from .conformance import SCENARIOS
from .filedrop_peer import file_drop_connection, file_drop_harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # an SFTP server process per test


@pytest.fixture(params=["004010", "005010"])
def x12_connection(request, connection, drop_server):
    return file_drop_connection(
        connection,
        drop_server,
        "x12_sftp",
        x12_our_id="NORTHWINDOMS",
        x12_their_id="ACME3PL",
        x12_version=request.param,
        x12_test=True,
    )


@pytest.fixture
def harness(x12_connection, drop_server, products, sites, stock, routed):
    connection = x12_connection
    peer_side = x12.TradingPartner(our_id="ACME3PL", their_id="NORTHWINDOMS", version=connection.x12_version)
    return file_drop_harness(
        connection,
        drop_server,
        file_format="x12",
        partner=peer_side,
        products=products,
        sites=sites,
        stock=stock,
        routed=routed,
        refusal="sku: required",
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_x12_sftp_transport(scenario, harness):
    scenario(harness)
