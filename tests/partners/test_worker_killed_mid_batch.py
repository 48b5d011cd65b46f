"""The process sending a batch of releases is killed (SIGKILL) while the 3PL is taking them; started again, it
sends every release, and the 3PL takes each one exactly once.

The peer is the simulated 3PL over real HTTP in this process; the sender is ``manage.py send_partner_messages``
(the outbox's drain, what the sweep runs) in a process of its own, on the test's PostgreSQL database. The 3PL
holds the fourth request of the batch open until the test has killed the sender: the kill lands mid-batch,
after three releases were delivered and before the batch's answers were recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection as db

from orders.partners.models import Direction, MessageStatus, PartnerConnection, PartnerMessage
from orders.partners.simulator import Simulator

from .conftest import SECRET
from .test_batch_send import queue_releases

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 120  # how long a step may take on a loaded machine before the test fails (never a timing claim)
pytestmark = [
    pytest.mark.postgres,  # a process killed holding claimed rows, another taking them over: PostgreSQL's
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
]


class HoldingSimulator(Simulator):
    """The simulated 3PL, holding the ``hold_at``-th request open (unanswered) until ``let_go`` is set."""

    def __init__(self, *, hold_at: int, **kwargs):
        super().__init__(**kwargs)
        self.hold_at = hold_at
        self.requests = 0
        self.counting = threading.Lock()
        self.holding = threading.Event()
        self.let_go = threading.Event()

    def handle(self, path: str, headers: dict, body: bytes):
        with self.counting:
            self.requests += 1
            number = self.requests
        if number == self.hold_at:
            self.holding.set()
            self.let_go.wait(BOUND_SECONDS)
            return None, {}  # the sender is gone: nothing taken, no answer
        return super().handle(path, headers, body)


def database_url() -> str:
    settings = db.settings_dict
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


def sender(tmp_path: Path, name: str, **env) -> tuple[list[str], dict, Path]:
    environment = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "oms_site.settings",
        "DATABASE_URL": database_url(),
        "OMS_VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    return [sys.executable, "manage.py", "send_partner_messages"], environment, tmp_path / f"{name}.log"


@pytest.fixture
def holding_peer(connection):
    peer = HoldingSimulator(hold_at=4, secret=SECRET, deliver=lambda body, headers: 202).start()
    PartnerConnection.objects.filter(pk=connection.pk).update(endpoint=peer.url)
    connection.refresh_from_db()
    yield peer
    peer.let_go.set()
    peer.stop()


def test_a_sender_killed_mid_batch_then_started_again_delivers_every_release_exactly_once(
    connection, holding_peer, tmp_path
):
    messages = queue_releases(connection, ["Tee", "Mug", "Cap", "Bag", "Pen", "Hat"])

    # the first sender's claim lease is 0 s: once it is dead, the next sender may take its messages over at once
    argv, env, log = sender(tmp_path, "first", PARTNER_SEND_LEASE_SECONDS="0", PARTNER_TIMEOUT_SECONDS="300")
    with log.open("w") as out:
        first = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    try:
        held = holding_peer.holding.wait(BOUND_SECONDS)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(BOUND_SECONDS)
    assert held, f"the sender never reached the fourth release:\n{log.read_text()[-3000:]}"
    holding_peer.let_go.set()

    assert first.returncode == -signal.SIGKILL
    statuses = PartnerMessage.objects.filter(direction=Direction.OUT).values_list("status", flat=True)
    assert set(statuses) == {MessageStatus.SENDING}  # killed before it recorded the batch's answers
    assert [kind for _, kind in holding_peer.taken] == ["release"] * 3

    argv, env, log = sender(tmp_path, "second")
    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BOUND_SECONDS, check=False)  # noqa: S603
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip() == "6 messages sent."

    for message in messages:
        message.refresh_from_db()
        assert message.status == MessageStatus.SENT
        assert message.attempts == 2
    taken = Counter(message_id for message_id, kind in holding_peer.taken if kind == "release")
    assert taken == Counter({message.key: 1 for message in messages})  # each release taken once
    assert sorted(holding_peer.releases) == [f"SH-B{n:03d}" for n in range(1, 7)]
    # the three it had before the kill came again under the same ids: duplicates to the 3PL, answered as such
    assert [holding_peer.seen[m.key] for m in messages] == [2, 2, 2, 1, 1, 1]
