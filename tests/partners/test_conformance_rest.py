"""The conformance kit on the REST transport: the simulated 3PL serves HTTP on 127.0.0.1, the OMS sends it real
requests; its signed messages come back through the OMS's webhook (URL routing, signature, the view)."""

import pytest

from .conformance import SCENARIOS, Harness

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


@pytest.fixture
def harness(connection, simulator, products, sites, stock, routed):
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
