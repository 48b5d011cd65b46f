"""The simulated 3PL over a file drop, as ``run_partner_simulator`` and the demo run it: it works in the drop
folder (in/ from the OMS, out/ to it), and a connection named in PARTNER_DROP_FOLDERS reaches that folder on
this machine, so a release goes out, is acknowledged and accepted, ships and comes back confirmed."""

import pytest
from django.core.management import CommandError, call_command

from orders.demo_data import DEMO_3PL_CODE
from orders.models import OrderStatus
from orders.partners import services
from orders.partners.models import Direction, MessageKind, MessageStatus, PartnerConnection, PartnerRelease
from orders.partners.simulator import drop_runner_for, start_demo_file_drop_simulator


def file_drop(connection: PartnerConnection, kind: str) -> PartnerConnection:
    PartnerConnection.objects.filter(pk=connection.pk).update(
        kind=kind, x12_our_id="NORTHWINDOMS", x12_their_id="ACME3PL", x12_version="005010"
    )
    connection.refresh_from_db()
    return connection


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["csv_sftp", "x12_sftp"])
def test_a_release_goes_round_the_simulated_3pls_drop_folder_and_comes_back_shipped(
    kind, connection, products, sites, stock, routed, settings, tmp_path
):
    folder = tmp_path / "drop"
    settings.PARTNER_DROP_FOLDERS = {connection.code: str(folder)}
    connection = file_drop(connection, kind)
    a = products[0]
    stock(sites["DAL"], a, 5)
    runner = drop_runner_for(connection, folder=folder, ship_delay=0, snapshot_every=300)
    simulator = runner.simulator

    order = routed([(a, 2)])  # released: the file lands in the 3PL's in/
    release = PartnerRelease.objects.get(shipment__order=order)
    assert [p.name.split("-")[0] for p in (folder / "in").iterdir()] == ["940" if kind == "x12_sftp" else "orders"]

    simulator.pump(ship=False)  # takes it, answers: received, accepted (and a 997 over X12)
    assert list((folder / "in").iterdir()) == []
    assert [k for _, k in simulator.taken] == ["release"]
    assert services.poll_connection(connection_id=connection.pk)
    release.refresh_from_db()
    assert release.state == "accepted"

    simulator.ship_due(force=True)
    simulator.pump(ship=False)  # the confirmation, in out/
    services.poll_connection(connection_id=connection.pk)

    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert order.lines.get().quantity_shipped == 2
    release.refresh_from_db()
    assert release.state == "shipped"
    confirmation = connection.messages.get(direction=Direction.IN, kind=MessageKind.SHIP_CONFIRMATION)
    assert confirmation.status == MessageStatus.APPLIED
    assert list((folder / "out").iterdir()) == []  # every file the 3PL left was taken in and moved aside
    assert list((folder / "processed").iterdir())


@pytest.mark.django_db
def test_the_command_asks_for_the_folder_of_a_file_drop_connection_it_cannot_find(connection, settings):
    settings.PARTNER_DROP_FOLDERS = {}
    file_drop(connection, "csv_sftp")

    with pytest.raises(CommandError, match="give --folder, the drop folder its SFTP server serves"):
        call_command("run_partner_simulator", connection.code)


@pytest.mark.django_db
def test_the_demo_3pl_speaks_what_its_setting_says(connection, settings, tmp_path):
    PartnerConnection.objects.filter(pk=connection.pk).update(code=DEMO_3PL_CODE)
    settings.DEMO_3PL_SIMULATOR = True
    settings.DEMO_3PL_TRANSPORT = "csv_sftp"
    settings.PARTNER_DROP_FOLDERS = {DEMO_3PL_CODE: str(tmp_path / "demo-drop")}
    said = []

    runner = start_demo_file_drop_simulator(report=said.append)
    runner.stop()

    connection.refresh_from_db()
    assert connection.kind == "csv_sftp"
    assert (tmp_path / "demo-drop" / "in").is_dir() and (tmp_path / "demo-drop" / "out").is_dir()
    assert any("now speaks CSV files over SFTP" in line for line in said)

    settings.DEMO_3PL_TRANSPORT = "rest"
    assert start_demo_file_drop_simulator(report=said.append) is None
    connection.refresh_from_db()
    assert connection.kind == "rest"  # the REST simulator serves it again
