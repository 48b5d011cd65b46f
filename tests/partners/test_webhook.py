"""The 3PLs' webhook through the test client: signed, fresh, once per message id, refusing the rest."""

import json
import time

import pytest

from orders.partners.models import Direction, MessageStatus, PartnerMessage
from orders.partners.signing import MESSAGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

from .conftest import SECRET, webhook_path

pytestmark = pytest.mark.django_db


def post(client, connection, envelope, *, secret=SECRET, now=None, body=None):
    body = body if body is not None else json.dumps(envelope).encode()
    headers = signed_headers(secret, body, message_id=envelope.get("message_id", ""), now=now)
    headers.pop("Content-Type")
    return client.post(webhook_path(connection), data=body, content_type="application/json", headers=headers)


def receipt(message_id="rcpt-1", sku="ACME-A", quantity=4):
    return {
        "message_id": message_id,
        "type": "receipt",
        "payload": {"receipt": "ASN-7", "lines": [{"sku": sku, "quantity": quantity}]},
    }


def test_a_signed_receipt_is_recorded_once_and_stock_arrives(
    client, connection, products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, connection, receipt())
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, connection, receipt())

    assert first.status_code == 202 and first.json()["duplicate"] is False
    assert again.status_code == 200 and again.json() == {"message_id": "rcpt-1", "status": "applied", "duplicate": True}
    message = PartnerMessage.objects.get(direction=Direction.IN)
    assert message.status == MessageStatus.APPLIED and "SKU-A +4" in message.outcome
    assert connection.warehouse.stock_levels.get(product=products[0]).on_hand == 4
    connection.refresh_from_db()
    assert connection.last_inbound_at is not None


@pytest.mark.parametrize(
    "how",
    ["wrong secret", "stale timestamp", "no signature", "unknown connection", "inactive connection"],
)
def test_refused_without_a_good_signature_and_nothing_is_recorded(client, connection, how):
    envelope = receipt()
    if how == "wrong secret":
        response = post(client, connection, envelope, secret="guess")
    elif how == "stale timestamp":
        response = post(client, connection, envelope, now=time.time() - 3600)
    elif how == "no signature":
        response = client.post(webhook_path(connection), data=envelope, content_type="application/json")
    elif how == "unknown connection":
        connection.code = "nobody"
        response = post(client, connection, envelope)
    else:
        connection.is_active = False
        connection.save()
        response = post(client, connection, envelope)

    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"] == ["header", SIGNATURE_HEADER]
    assert not PartnerMessage.objects.exists()


def test_a_tampered_body_fails_its_signature(client, connection):
    body = json.dumps(receipt()).encode()
    headers = signed_headers(SECRET, body, message_id="rcpt-1")
    response = client.post(
        webhook_path(connection),
        data=body.replace(b"4", b"9"),
        content_type="application/json",
        headers={
            TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER],
            SIGNATURE_HEADER: headers[SIGNATURE_HEADER],
            MESSAGE_ID_HEADER: "rcpt-1",
        },
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("envelope", "where"),
    [
        ({"type": "receipt", "payload": {}}, "message_id"),
        ({"message_id": "x", "type": "invoice", "payload": {}}, "type"),
    ],
)
def test_an_envelope_without_an_id_or_with_an_unknown_type_is_a_400(client, connection, envelope, where):
    response = post(client, connection, envelope)
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", where]
    assert not PartnerMessage.objects.exists()


def test_not_json_is_a_400(client, connection):
    response = post(client, connection, {"message_id": "x"}, body=b"{not json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"][0]["msg"]


def test_a_payload_that_cannot_be_applied_is_recorded_as_an_exception(
    client, connection, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, connection, receipt(sku="NOPE"))

    assert response.status_code == 202
    message = PartnerMessage.objects.get()
    assert message.status == MessageStatus.EXCEPTION
    assert "unknown item code NOPE" in message.last_error
