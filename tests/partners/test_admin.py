"""The 3PL console through the admin client: health, the log with payloads, dead letters, releases, and roles."""

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from orders import services as workflow
from orders.partners import services
from orders.partners.models import (
    Direction,
    MessageKind,
    MessageStatus,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
)
from tests.factories import UserFactory

from .conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client, roles):
    def as_role(role: str):
        client.force_login(UserFactory(username=role.lower().replace(" ", "-"), role=role))
        return client

    return as_role


@pytest.fixture
def dead(connection):
    return PartnerMessage.objects.create(
        connection=connection,
        direction=Direction.OUT,
        kind=MessageKind.ITEM_SYNC,
        key="item:SKU-A:broken",
        payload={"name": "no sku", "marker": "payload-shown-here"},
        status=MessageStatus.DEAD,
        attempts=8,
        last_error="HTTP 422 from http://127.0.0.1:9/messages: item_sync: sku is required",
    )


@pytest.fixture
def released(connection, stock, products, routed, sites):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, _ = services.release_shipment(shipment_id=shipment.pk, actor="test")
    PartnerRelease.objects.filter(pk=release.pk).update(released_at=timezone.now() - dt.timedelta(hours=3))
    services.flag_overdue_releases(now=timezone.now() + dt.timedelta(hours=1))
    return release


def test_the_manager_sees_each_connection_s_health(login, connection, dead, released):
    PartnerConnection.objects.filter(pk=connection.pk).update(
        last_inbound_at=timezone.now() - dt.timedelta(minutes=5),
        last_snapshot_as_of=timezone.now() - dt.timedelta(hours=30),
    )
    page = login("Operations manager").get(reverse("admin:partners_partnerconnection_changelist"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme Fulfilment" in text
    assert "5 min ago" in text  # last message in
    assert "30 h ago" in text  # last stock snapshot
    assert "3 h ago (1 overdue)" in text  # oldest unacknowledged release
    assert 'oms-badge-dead"' in text  # a dead letter waits
    assert SECRET not in text


def test_the_manager_adds_a_connection_whose_secret_is_never_shown_again(login, sites):
    client = login("Operations manager")
    page = client.post(
        reverse("admin:partners_partnerconnection_add"),
        {
            "code": "north",
            "name": "North 3PL",
            "warehouse": sites["RNO"].pk,
            "kind": "rest",
            "endpoint": "https://3pl.example/api",
            "secret": "brand-new-secret",
            "service_levels": json.dumps({"budget/GROUND": "STD"}),
            "sku_map": "{}",
            "ack_deadline_minutes": 45,
            "is_active": "on",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    added = PartnerConnection.objects.get(code="north")
    assert added.secret == "brand-new-secret"

    form = client.get(reverse("admin:partners_partnerconnection_change", args=[added.pk])).content.decode()
    assert "brand-new-secret" not in form
    assert "/api/v1/partners/north/webhook" in form


def test_a_kind_without_a_transport_is_refused_by_name(login, sites, settings):
    settings.PARTNER_TRANSPORTS = {"rest": "orders.partners.transports.rest.RestTransport"}
    page = login("Operations manager").post(
        reverse("admin:partners_partnerconnection_add"),
        {
            "code": "edi",
            "name": "EDI 3PL",
            "warehouse": sites["RNO"].pk,
            "kind": "x12_sftp",
            "endpoint": "sftp://edi.example/oms",
            "secret": "s",
            "service_levels": "{}",
            "sku_map": "{}",
            "ack_deadline_minutes": 60,
        },
    )
    assert page.status_code == 200
    assert "No transport for X12 EDI over SFTP is installed" in page.content.decode()


def test_the_message_log_shows_payloads_and_the_associate_resends_a_dead_letter(
    login, dead, django_capture_on_commit_callbacks
):
    client = login("Operations associate")
    page = client.get(reverse("admin:partners_partnermessage_change", args=[dead.pk]))
    assert page.status_code == 200 and "payload-shown-here" in page.content.decode()
    letters = client.get(reverse("admin:partners_deadletter_changelist"))
    assert "item:SKU-A:broken" in letters.content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(
            reverse("admin:partners_deadletter_changelist"),
            {"action": "resend_selected", "_selected_action": [dead.pk]},
            follow=True,
        )

    assert "queued again" in answer.content.decode()
    dead.refresh_from_db()
    assert dead.status == MessageStatus.QUEUED and dead.attempts == 0


def test_only_a_manager_fixes_a_dead_letter_s_payload(login, dead, client):
    url = reverse("admin:partners_deadletter_edit_payload", args=[dead.pk])
    assert login("Operations associate").get(url).status_code == 403

    manager = login("Operations manager")
    form = manager.get(url)
    assert form.status_code == 200 and "payload-shown-here" in form.content.decode()
    bad = manager.post(url, {"payload": "[1, 2]", "reason": "sku missing"})
    assert "must be a JSON object" in bad.content.decode()
    done = manager.post(url, {"payload": json.dumps({"sku": "ACME-A", "name": "Tee"}), "reason": "sku missing"})

    assert done.status_code == 302
    dead.refresh_from_db()
    assert dead.payload == {"sku": "ACME-A", "name": "Tee"}
    assert "sku missing" in dead.outcome and "payload-shown-here" in dead.outcome


def test_releases_awaiting_acknowledgement_are_listed_with_the_overdue_flagged(login, released):
    page = login("Operations associate").get(
        reverse("admin:partners_partnerrelease_changelist"), {"awaiting": "overdue"}
    )
    assert page.status_code == 200
    assert released.shipment.number in page.content.decode()


def test_a_manager_asks_the_3pl_to_cancel_a_release_with_a_reason(login, released, django_capture_on_commit_callbacks):
    client = login("Operations manager")
    url = reverse("admin:partners_partnerrelease_act", args=["cancel"]) + f"?ids={released.pk}"
    assert "Ask the 3PL to cancel 1 release" in client.get(url).content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        done = client.post(url, {"reason": "Duplicate order"}, follow=True)

    assert "cancellation asked" in done.content.decode()
    released.refresh_from_db()
    assert released.state == "cancel_requested" and released.note == "Duplicate order"
    assert PartnerMessage.objects.get(kind=MessageKind.CANCEL).payload["reason"] == "Duplicate order"
    assert login("Operations associate").get(url).status_code == 403


@pytest.mark.parametrize(
    ("role", "connections", "add", "log"),
    [
        ("Operations manager", 200, 200, 200),
        ("Operations associate", 200, 403, 200),
        ("Warehouse staff", 403, 403, 403),
        ("Returns associate", 403, 403, 403),
    ],
)
def test_least_privilege(login, connection, role, connections, add, log):
    client = login(role)
    assert client.get(reverse("admin:partners_partnerconnection_changelist")).status_code == connections
    assert client.get(reverse("admin:partners_partnerconnection_add")).status_code == add
    assert client.get(reverse("admin:partners_partnermessage_changelist")).status_code == log
