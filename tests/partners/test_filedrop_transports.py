"""The file-drop transports beyond the conformance kit: bad rows and unreadable files, the SFTP server killed
mid-exchange, 997s for every group, control numbers that never repeat, credentials kept encrypted, the console."""

import datetime as dt
import re

import pytest
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from inventory.models import StockLevel, StockMovement
from orders.partners import services
from orders.partners.models import (
    ControlNumber,
    Direction,
    MessageKind,
    MessageStatus,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
)
from orders.partners.simulator import FileDropSimulator
from orders.partners.transports.csv_sftp import read_outbound_file
from tests.notifications.test_concurrency import run_in_parallel

from .filedrop_peer import file_drop_connection
from .test_admin import login  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # an SFTP server process per test


@pytest.fixture
def csv_connection(connection, drop_server):
    return file_drop_connection(connection, drop_server, "csv_sftp")


@pytest.fixture
def x12_connection(connection, drop_server):
    return file_drop_connection(connection, drop_server, "x12_sftp", x12_our_id="NORTHWINDOMS", x12_their_id="ACME3PL")


def _drop(server, folder: str, name: str, text: str) -> None:
    (server.root / folder).mkdir(exist_ok=True)
    (server.root / folder / name).write_text(text)


def _files(server, folder: str) -> list[str]:
    path = server.root / folder
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def _on_hand(sites, product) -> int:
    level = StockLevel.objects.filter(warehouse=sites["DAL"], product=product).first()
    return level.on_hand if level else 0


def test_a_bad_row_is_reported_by_file_row_and_column_and_the_good_rows_apply(
    csv_connection, drop_server, products, sites
):
    a, b = products[:2]
    _drop(
        drop_server,
        "out",
        "receipts-0001.csv",
        f"message_id,receipt,sku,quantity\nr-1,ASN-1,ACME-A,4\nr-2,ASN-2,ACME-A,two\nr-3,ASN-3,{b.sku},6\n",
    )

    statuses = services.poll_connection(connection_id=csv_connection.pk)

    assert statuses == [202, 202, 202]
    assert _on_hand(sites, a) == 4 and _on_hand(sites, b) == 6
    bad = PartnerMessage.objects.get(direction=Direction.IN, key="r-2")
    assert bad.status == MessageStatus.EXCEPTION
    assert "receipts-0001.csv row 3, quantity: 'two' is not a whole number" in bad.last_error
    assert bad.envelope == {"file": "receipts-0001.csv", "rows": [3]}
    assert _files(drop_server, "out") == [] and _files(drop_server, "processed") == ["receipts-0001.csv"]

    # the partner drops the same file again: every record is a duplicate, nothing applies twice
    _drop(drop_server, "out", "receipts-0001.csv", (drop_server.root / "processed" / "receipts-0001.csv").read_text())
    assert services.poll_connection(connection_id=csv_connection.pk) == [200, 200, 200]
    assert _on_hand(sites, a) == 4
    assert _files(drop_server, "processed") == ["receipts-0001-2.csv", "receipts-0001.csv"]


def test_records_without_an_id_are_kept_once_by_file_and_row(csv_connection, drop_server, products, sites):
    a = products[0]
    text = "receipt,sku,quantity\nASN-9,ACME-A,2\n"
    _drop(drop_server, "out", "receipts-0002.csv", text)
    assert services.poll_connection(connection_id=csv_connection.pk) == [202]
    assert PartnerMessage.objects.filter(direction=Direction.IN, key="receipts-0002.csv#2").exists()
    _drop(drop_server, "out", "receipts-0002.csv", text)
    assert services.poll_connection(connection_id=csv_connection.pk) == [200]
    assert _on_hand(sites, a) == 2


def test_a_receipt_dropped_again_in_a_file_of_another_name_is_a_duplicate_and_applies_nothing(
    csv_connection, drop_server, products, sites
):
    a = products[0]
    text = "receipt,sku,quantity\nASN-9,ACME-A,2\n"
    _drop(drop_server, "out", "receipts-0002.csv", text)
    assert services.poll_connection(connection_id=csv_connection.pk) == [202]

    _drop(drop_server, "out", "receipts-0002-resent.csv", text)  # a new name: a new message id
    assert services.poll_connection(connection_id=csv_connection.pk) == [202]

    again = PartnerMessage.objects.get(direction=Direction.IN, key="receipts-0002-resent.csv#2")
    assert again.status == MessageStatus.APPLIED
    assert (
        again.outcome == "Duplicate of receipt ASN-9, applied already by message receipts-0002.csv#2: nothing applied."
    )
    assert _on_hand(sites, a) == 2
    assert StockMovement.objects.filter(warehouse=sites["DAL"], product=a).count() == 1


def test_an_unreadable_file_goes_to_failed_with_its_reason_and_the_log_says_why(csv_connection, drop_server):
    _drop(drop_server, "out", "inventory-7.csv", "sku,count\nACME-A,3\n")
    _drop(drop_server, "out", "whatever.txt", "hello")

    services.poll_connection(connection_id=csv_connection.pk)

    assert _files(drop_server, "out") == []
    failed = _files(drop_server, "failed")
    assert "inventory-7.csv" in failed and "inventory-7.csv.reason.txt" in failed and "whatever.txt" in failed
    reason = (drop_server.root / "failed" / "inventory-7.csv.reason.txt").read_text()
    assert "the header lacks the column as_of, on_hand" in reason
    logged = PartnerMessage.objects.get(direction=Direction.IN, kind=MessageKind.STOCK_SNAPSHOT)
    assert logged.status == MessageStatus.EXCEPTION and "inventory-7.csv" in logged.last_error
    csv_connection.refresh_from_db()
    assert "whatever.txt" in csv_connection.last_error and "failed/" in csv_connection.last_error


def test_the_server_killed_mid_upload_then_restarted_loses_nothing_and_sends_once(
    csv_connection, drop_server, products, sites, stock, routed, settings
):
    a = products[0]
    stock(sites["DAL"], a, 5)
    settings.PARTNER_TIMEOUT_SECONDS = 1.0
    drop_server.kill()
    drop_server.start(pause_after_bytes=40)  # the release file stops arriving after 40 bytes

    order = routed([(a, 2)])  # released: the write stalls, times out

    drop_server.wait_until_paused()
    drop_server.kill()
    message = PartnerMessage.objects.get(direction=Direction.OUT, kind=MessageKind.RELEASE)
    assert message.status == MessageStatus.FAILED
    leftovers = [name for name in _files(drop_server, "in") if name.endswith(".part")]
    assert leftovers  # half a file under its temporary name: the 3PL never reads it

    drop_server.start()
    services.send_due_messages(now=timezone.now() + dt.timedelta(hours=1))

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert [name for name in _files(drop_server, "in") if name.startswith(".")] == []
    simulator = FileDropSimulator(
        root=drop_server.root, poll=lambda: services.poll_connection(connection_id=csv_connection.pk)
    )
    simulator.pump()
    assert [kind for _, kind in simulator.taken].count("release") == 1
    order.refresh_from_db()
    assert order.lines.get().quantity_shipped == 2
    assert StockMovement.objects.filter(warehouse=sites["DAL"], kind="shipment").count() == 1


def test_the_server_killed_after_a_file_was_recorded_before_it_was_archived(
    csv_connection, drop_server, products, sites
):
    a = products[0]
    _drop(drop_server, "out", "receipts-0003.csv", "message_id,receipt,sku,quantity\nk-1,ASN-K,ACME-A,3\n")
    transport = services.polling.transport_for(csv_connection)
    record = services.polling._recorder(csv_connection)

    def record_then_crash(records):
        statuses = record(records)
        drop_server.kill()  # the peer dies between our commit and the archive
        return statuses

    with pytest.raises(services.polling.TemporaryFailure):
        transport.poll(record_then_crash)
    assert _on_hand(sites, a) == 3
    assert (drop_server.root / "out" / "receipts-0003.csv").exists()

    drop_server.start()
    assert services.poll_connection(connection_id=csv_connection.pk) == [200]

    assert _on_hand(sites, a) == 3
    assert _files(drop_server, "processed") == ["receipts-0003.csv"]
    assert PartnerMessage.objects.filter(direction=Direction.IN, key="k-1").count() == 1


def test_a_poll_with_the_server_down_notes_it_on_the_connection(csv_connection, drop_server):
    drop_server.kill()
    assert services.poll_connection(connection_id=csv_connection.pk) == []
    csv_connection.refresh_from_db()
    assert "cannot be reached" in csv_connection.last_error


def _isa13(text: str) -> int:
    return int(text.split("*")[13])


def test_x12_the_partner_gets_a_997_for_every_group_and_ours_reads_as_received(
    x12_connection, drop_server, products, sites, stock, routed
):
    from oms_core import x12

    a = products[0]
    stock(sites["DAL"], a, 5)
    order = routed([(a, 1)])
    release = PartnerRelease.objects.get(shipment__order=order)
    sent = PartnerMessage.objects.get(direction=Direction.OUT, kind=MessageKind.RELEASE)
    (file_940,) = [name for name in _files(drop_server, "in") if name.startswith("940-")]
    text = (drop_server.root / "in" / file_940).read_text()
    assert _isa13(text) == sent.envelope["interchange"] and sent.envelope["file"] == file_940
    assert "W05*N*" + release.shipment.number in text

    peer = x12.TradingPartner(our_id="ACME3PL", their_id="NORTHWINDOMS")
    simulator = FileDropSimulator(
        root=drop_server.root,
        poll=lambda: services.poll_connection(connection_id=x12_connection.pk),
        file_format="x12",
        partner=peer,
    )
    simulator.pump()  # it takes the 940, sends its 997, answers, ships (945); we send a 997 for the 945's group
    simulator.take_files()

    (ours,) = simulator.acknowledged
    assert ours.functional_id == "SW" and ours.status == "A"
    received = PartnerMessage.objects.get(direction=Direction.IN, key__startswith="997:")
    assert received.status == MessageStatus.APPLIED and "release received" in received.outcome
    confirmation = PartnerMessage.objects.get(direction=Direction.IN, kind=MessageKind.SHIP_CONFIRMATION)
    assert confirmation.envelope["997"].startswith("997-ACME3PL-")
    sent.refresh_from_db()
    assert sent.status == MessageStatus.ACCEPTED  # accepted by the acknowledgement file, not by the 997


def test_x12_a_retried_940_keeps_its_control_numbers(x12_connection, drop_server, products, sites, stock, routed):
    a = products[0]
    stock(sites["DAL"], a, 5)
    drop_server.kill()
    routed([(a, 1)])
    message = PartnerMessage.objects.get(direction=Direction.OUT, kind=MessageKind.RELEASE)
    assert message.status == MessageStatus.FAILED
    numbers = dict(message.envelope)
    assert numbers["interchange"] >= 1
    counters = dict(ControlNumber.objects.filter(connection=x12_connection).values_list("kind", "last"))

    drop_server.start()
    services.send_due_messages(now=timezone.now() + dt.timedelta(hours=1))

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.envelope == numbers
    text = (drop_server.root / "in" / numbers["file"]).read_text()
    assert _isa13(text) == numbers["interchange"]
    assert dict(ControlNumber.objects.filter(connection=x12_connection).values_list("kind", "last")) == counters


def test_x12_an_unreadable_file_has_no_997_and_goes_to_failed(x12_connection, drop_server):
    _drop(drop_server, "out", "broken.x12", "ISA*00*nonsense~")
    services.poll_connection(connection_id=x12_connection.pk)
    assert "broken.x12" in _files(drop_server, "failed")
    assert not [name for name in _files(drop_server, "in") if name.startswith("997-")]


@pytest.mark.postgres
def test_control_numbers_allocated_in_parallel_never_repeat(connection):
    def work():
        return [services.allocate_control_number(connection_id=connection.pk, kind="interchange") for _ in range(25)]

    results = run_in_parallel(*[work] * 6)

    numbers = [number for batch in results for number in batch]
    assert len(numbers) == 150 and len(set(numbers)) == 150
    assert sorted(numbers) == list(range(1, 151))
    assert ControlNumber.objects.get(connection=connection, kind="interchange").last == 150


def test_sftp_credentials_are_kept_encrypted(x12_connection, drop_server):
    key = drop_server.client_key_path.read_text()
    with db.cursor() as cursor:
        cursor.execute("SELECT sftp_private_key FROM partners_partnerconnection WHERE id = %s", [x12_connection.pk])
        (stored,) = cursor.fetchone()
    assert stored and "PRIVATE KEY" not in stored and key.strip() not in stored
    assert PartnerConnection.objects.get(pk=x12_connection.pk).sftp_private_key == key


def test_the_manager_adds_a_file_drop_connection_and_its_key_is_never_shown_again(login, sites):  # noqa: F811
    client = login("Operations manager")
    fields = {
        "code": "edi",
        "name": "EDI 3PL",
        "warehouse": sites["RNO"].pk,
        "kind": "x12_sftp",
        "endpoint": "sftp://edi.example/oms",
        "sftp_host": "edi.example",
        "sftp_port": 22,
        "sftp_username": "northwind",
        "sftp_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nkey-material-here\n-----END OPENSSH PRIVATE KEY-----",
        "x12_version": "005010",
        "x12_our_qualifier": "ZZ",
        "x12_their_qualifier": "ZZ",
        "service_levels": "{}",
        "sku_map": "{}",
        "ack_deadline_minutes": 60,
        "is_active": "on",
    }
    page = client.post(reverse("admin:partners_partnerconnection_add"), fields)
    content = page.content.decode()
    assert page.status_code == 200
    assert "Give the SHA256" in content or "Required for a file-drop connection" in content

    fields |= {"sftp_host_key": "SHA256:" + "A" * 43, "x12_our_id": "NORTHWIND", "x12_their_id": "EDI3PL"}
    page = client.post(reverse("admin:partners_partnerconnection_add"), fields)
    assert page.status_code == 302, page.content.decode()[:2000]
    added = PartnerConnection.objects.get(code="edi")
    assert added.kind == "x12_sftp" and added.x12_version == "005010"
    assert "key-material-here" in added.sftp_private_key
    form = client.get(reverse("admin:partners_partnerconnection_change", args=[added.pk])).content.decode()
    assert "key-material-here" not in form


def test_the_csv_columns_read_back_as_sent():
    from orders.partners.transports import Envelope
    from orders.partners.transports.csv_sftp import render_csv

    payload = {
        "release": "SO-1-1",
        "order": "SO-1",
        "version": 2,
        "ship_to": {"name": "Ana Díaz", "line1": '1 Elm St, Apt "2"', "city": "Dallas", "postal_code": "75201"},
        "service_level": "STD",
        "carrier": "budget",
        "promised_date": "2026-12-10",
        "reason": "=cmd",
        "lines": [{"line": 7, "sku": "ACME-A", "name": "Tee, blue", "quantity": 2}],
    }
    name, data = render_csv(Envelope(message_id="change:SO-1-1:v2", kind="change", payload=payload))
    assert re.fullmatch(r"orders-change_SO-1-1_v2-[0-9a-f]{8}\.csv", name)
    ((message_id, kind, read),) = read_outbound_file(name, data)
    assert (message_id, kind) == ("change:SO-1-1:v2", "change")
    assert read["ship_to"] == payload["ship_to"] and read["lines"] == payload["lines"] and read["version"] == 2


def test_the_beat_polls_every_file_drop_connection(csv_connection, drop_server, products, sites, settings):
    from celery import current_app

    entry = settings.CELERY_BEAT_SCHEDULE["poll-partner-file-drops"]
    task = current_app.tasks[entry["task"]]
    _drop(drop_server, "out", "receipts-0009.csv", "message_id,receipt,sku,quantity\nb-1,ASN-B,ACME-A,1\n")

    assert task.apply().get() == 1

    assert _on_hand(sites, products[0]) == 1
    assert _files(drop_server, "processed") == ["receipts-0009.csv"]
