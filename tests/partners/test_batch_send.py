"""Outbound messages go in batches: one SFTP connection per batch of a connection's messages, and per poll; a
server killed mid-batch loses nothing and sends nothing twice."""

import datetime as dt
import threading

import paramiko
import pytest
from django.utils import timezone

from orders.partners import services
from orders.partners.models import Direction, MessageKind, MessageStatus, PartnerConnection, PartnerMessage
from orders.partners.outbox import queue_message
from orders.partners.simulator import FileDropSimulator
from orders.partners.transports.filedrop import message_file_stem

from .filedrop_peer import file_drop_connection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # an SFTP server process per test


@pytest.fixture
def csv_connection(connection, drop_server):
    return file_drop_connection(connection, drop_server, "csv_sftp")


@pytest.fixture
def ssh_connections(monkeypatch) -> list:
    """Every SSH connection the OMS opens during the test (each SSH handshake it starts)."""
    opened = []
    start_client = paramiko.Transport.start_client

    def counting(transport, *args, **kwargs):
        opened.append(transport)
        return start_client(transport, *args, **kwargs)

    monkeypatch.setattr(paramiko.Transport, "start_client", counting)
    return opened


def queue_releases(connection: PartnerConnection, names: list[str]) -> list[PartnerMessage]:
    """A release message per line name, queued while the connection is paused (nothing sent on commit), then the
    connection resumed: they wait for the outbox's drain."""
    PartnerConnection.objects.filter(pk=connection.pk).update(is_active=False)
    connection.refresh_from_db()
    messages = []
    for n, name in enumerate(names, start=1):
        message, _ = queue_message(
            connection,
            kind=MessageKind.RELEASE,
            key=f"release:SH-B{n:03d}:v1",
            payload={
                "release": f"SH-B{n:03d}",
                "order": f"NW-B{n:03d}",
                "version": 1,
                "ship_to": {"name": "Zoë Müller", "line1": "12 Elm St", "city": "Dallas", "postal_code": "75201"},
                "service_level": "STD",
                "lines": [{"line": n, "sku": "ACME-A", "name": name, "quantity": 1}],
            },
        )
        messages.append(message)
    PartnerConnection.objects.filter(pk=connection.pk).update(is_active=True)
    return messages


def landed(server, message: PartnerMessage) -> int:
    """How many times a complete file of this message was renamed into the 3PL's in/ folder."""
    stem = message_file_stem(message.key)
    return sum(
        1
        for op in server.operations()
        if op["op"] in ("posix_rename", "rename") and op["to"].startswith("in/") and stem in op["to"]
    )


def test_a_batch_of_releases_goes_over_one_sftp_connection(csv_connection, drop_server, ssh_connections):
    messages = queue_releases(csv_connection, ["Tee", "Mug", "Cap", "Bag", "Pen"])

    assert services.send_due_messages() == 5

    assert len(ssh_connections) == 1
    for message in messages:
        message.refresh_from_db()
        assert message.status == MessageStatus.SENT
        assert message.attempts == 1
        assert landed(drop_server, message) == 1
    assert sorted(p.name for p in (drop_server.root / "in").iterdir()) == sorted(
        f"orders-{message_file_stem(m.key)}.csv" for m in messages
    )
    csv_connection.refresh_from_db()
    assert csv_connection.last_outbound_at is not None


def test_the_send_task_takes_the_connections_other_due_messages_along(csv_connection, drop_server, ssh_connections):
    first, *others = queue_releases(csv_connection, ["Tee", "Mug", "Cap"])

    assert services.send_message(message_id=first.pk, with_due=True) == MessageStatus.SENT

    assert len(ssh_connections) == 1
    assert set(PartnerMessage.objects.filter(direction=Direction.OUT).values_list("status", flat=True)) == {
        MessageStatus.SENT
    }
    for message in others:  # their own tasks, running later, find nothing left to send
        assert services.send_message(message_id=message.pk, with_due=True) == ""
    assert len(ssh_connections) == 1


def test_a_server_killed_mid_batch_keeps_what_was_written_and_retries_the_rest_once(
    csv_connection, drop_server, settings
):
    settings.PARTNER_TIMEOUT_SECONDS = 30.0  # the kill, not a timeout, breaks the connection
    # the third release's file is the only one of 4,000 bytes or more: the server stops answering while it arrives
    messages = queue_releases(csv_connection, ["Tee", "Mug", "Quilt " + "patchwork " * 500, "Bag", "Pen"])
    drop_server.kill()
    drop_server.start(pause_after_bytes=4000)

    def kill_once_paused():
        drop_server.wait_until_paused()
        drop_server.kill()

    killer = threading.Thread(target=kill_once_paused)
    killer.start()
    sent = services.send_due_messages()
    killer.join()

    assert sent == 2
    for message in messages:
        message.refresh_from_db()
    assert [m.status for m in messages] == [MessageStatus.SENT] * 2 + [MessageStatus.FAILED] * 3
    assert "broke" in messages[2].last_error
    assert all(m.last_error.startswith(f"Not tried: the batch stopped at {messages[2].key}") for m in messages[3:])
    assert all(m.next_attempt_at > timezone.now() for m in messages[2:])  # they wait for the backoff
    complete = sorted(p.name for p in (drop_server.root / "in").iterdir() if not p.name.startswith("."))
    assert complete == sorted(f"orders-{message_file_stem(m.key)}.csv" for m in messages[:2])

    drop_server.start()
    assert services.send_due_messages(now=timezone.now() + dt.timedelta(hours=1)) == 3

    for message in messages:
        message.refresh_from_db()
        assert message.status == MessageStatus.SENT
        assert landed(drop_server, message) == 1  # written once each, the first two never again
    simulator = FileDropSimulator(
        root=drop_server.root, poll=lambda: services.poll_connection(connection_id=csv_connection.pk)
    )
    simulator.take_files()
    assert sorted(number for number, kind in simulator.taken) == sorted(m.key for m in messages)
    assert [name for name in (drop_server.root / "in").iterdir() if name.name.startswith(".")] == []


def test_a_poll_reads_every_waiting_file_over_one_sftp_connection(csv_connection, drop_server, ssh_connections):
    (drop_server.root / "out").mkdir(exist_ok=True)
    for n in range(1, 4):
        (drop_server.root / "out" / f"receipts-{n:04d}.csv").write_text(
            f"message_id,receipt,sku,quantity\nr-{n},ASN-{n},ACME-A,{n}\n"
        )

    assert services.poll_connection(connection_id=csv_connection.pk) == [202, 202, 202]

    assert len(ssh_connections) == 1
    assert sorted(p.name for p in (drop_server.root / "processed").iterdir()) == [
        "receipts-0001.csv",
        "receipts-0002.csv",
        "receipts-0003.csv",
    ]
