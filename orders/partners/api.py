"""The 3PLs' webhook: ``POST /api/v1/partners/{connection code}/webhook``, one signed message per request."""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status

from oms_core.api import FieldErrorsOut, field_error
from oms_core.crypto import UnreadableSecret

from .exceptions import PayloadError
from .models import PartnerConnection
from .services import receive_message
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verification_problem

logger = logging.getLogger(__name__)

router = Router(tags=["3PL webhooks"])

_CODE = re.compile(r"[-a-zA-Z0-9_]{1,30}")


class PartnerMessageOut(Schema):
    message_id: str
    status: str
    duplicate: bool


@router.post(
    "/partners/{code}/webhook",
    response={200: PartnerMessageOut, 202: PartnerMessageOut, 400: FieldErrorsOut, 401: FieldErrorsOut},
    summary="A 3PL's message: acknowledgement, ship confirmation, stock snapshot, receipt",
    openapi_extra={
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>' keyed with the connection's "
                "secret>",
                "schema": {"type": "string"},
            },
            {
                "name": TIMESTAMP_HEADER,
                "in": "header",
                "required": True,
                "description": "seconds since the epoch when the message was sent",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "description": '{"message_id": "...", "type": "ship_confirmation", "payload": {...}}',
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
def partner_webhook(request: HttpRequest, code: str):
    """Take one message from the 3PL that runs a warehouse (docs/reference/partners.md).

    - **202** `{"message_id", "status": "queued", "duplicate": false}`: recorded; it is applied at once
      in the background.
    - **200** `{..., "duplicate": true}`: this `message_id` arrived before; nothing changes.
    - **400**: not JSON, or no `message_id`, or an unknown `type`. Nothing is recorded. (A payload that
      cannot be applied is recorded and becomes an exception for ops: answer 202.)
    - **401**: unknown or inactive connection, a bad signature, or a timestamp more than
      `PARTNER_WEBHOOK_MAX_SKEW_SECONDS` from the OMS's clock.
    """
    body = request.body
    connection = (
        PartnerConnection.objects.select_related("warehouse").filter(code=code, is_active=True).first()
        if _CODE.fullmatch(code)
        else None
    )
    secret = connection.secret if connection is not None else ""
    if isinstance(secret, UnreadableSecret):
        logger.error("3PL webhook refused for %r: its secret opens with no key of OMS_SECRET_KEYS", code)
    problem = verification_problem(
        secret,
        body,
        timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
        received=request.headers.get(SIGNATURE_HEADER, ""),
        max_skew_seconds=settings.PARTNER_WEBHOOK_MAX_SKEW_SECONDS,
    )
    if connection is None or problem:
        logger.warning("3PL webhook refused for %r: %s", code, problem or "unknown or inactive connection")
        return Status(
            401,
            {
                "detail": [
                    field_error(
                        ("header", SIGNATURE_HEADER),
                        "Unknown or inactive connection, a signature that does not match its secret, "
                        "or a stale timestamp.",
                    )
                ]
            },
        )
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError) as error:
        return Status(400, {"detail": [field_error(["body"], f"not valid JSON: {str(error)[:200]}")]})
    if not isinstance(envelope, dict):
        return Status(400, {"detail": [field_error(["body"], "must be a JSON object")]})
    try:
        message, created = receive_message(
            connection=connection,
            message_id=str(envelope.get("message_id") or ""),
            kind=str(envelope.get("type") or ""),
            payload=envelope.get("payload"),
        )
    except PayloadError as refusal:
        field, _, msg = str(refusal).partition(": ")
        return Status(400, {"detail": [field_error(["body", field], msg or str(refusal))]})
    return Status(
        202 if created else 200, {"message_id": message.key, "status": message.status, "duplicate": not created}
    )
