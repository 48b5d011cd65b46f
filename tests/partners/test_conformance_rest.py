"""The conformance kit on the REST transport: the simulated 3PL serves HTTP on 127.0.0.1 and the OMS sends it real
requests. Its signed messages come back to the OMS's webhook through Django's test client (the whole stack:
URL, signature, view), and, on PostgreSQL, over real HTTP to a live server too."""

import pytest

from .conformance import SCENARIOS, Harness
from .conftest import webhook_path

pytestmark = pytest.mark.django_db(transaction=True)


class RestPeer:
    """The simulator behind the kit's Peer protocol."""

    def __init__(self, simulator):
        self.simulator = simulator

    def __getattr__(self, name):
        return getattr(self.simulator, name)

    def __setattr__(self, name, value):
        if name == "simulator":
            object.__setattr__(self, name, value)
        else:
            setattr(self.simulator, name, value)

    def received(self, kind: str) -> list[dict]:
        return [self.simulator.taken_payloads[mid] for mid, k in self.simulator.taken if k == kind]

    def times_seen(self, message_id: str) -> int:
        return self.simulator.seen.get(message_id, 0)

    def down(self) -> None:
        self.simulator.stop()

    def up(self) -> None:
        self.simulator.start()


@pytest.fixture(params=["client", pytest.param("http", marks=pytest.mark.postgres)])
def harness(request, connection, simulator, products, sites, stock, routed):
    if request.param == "http":  # the OMS serves HTTP too: the simulator posts to its webhook with urllib
        live_server = request.getfixturevalue("live_server")
        simulator.webhook_url = f"{live_server.url}{webhook_path(connection)}"
        simulator.deliver = simulator.post
    return Harness(
        connection=connection,
        peer=RestPeer(simulator),
        pump=simulator.pump,
        products=products,
        sites=sites,
        stock=stock,
        routed=routed,
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_rest_transport(scenario, harness):
    scenario(harness)
