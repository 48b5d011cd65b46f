"""Storefront webhooks: Shopify's ``orders/create`` becomes an order through ``place_order``; ``orders/updated``
and ``orders/cancelled`` change it through the same services as the console (``edit_lines``,
``change_shipping_address``, ``cancel_order``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Schema
from ninja.responses import Status

from notifications.services import queue_ops_alert
from oms_core.api import FieldErrorsOut, field_error
from oms_core.crypto import UnreadableSecret

from .. import services
from ..channels import PayloadError
from ..channels.shopify import order_data_from_shopify, shopify_edit, skuless_variant_ids, total_mismatch
from ..channels.variants import variant_skus
from ..exceptions import IntakeConflict, OrderError
from ..models import Channel, Order, OrderEvent, OrderIntake, OrderStatus
from ..services.intake import placed_at_problem

logger = logging.getLogger(__name__)

router = Router(tags=["webhooks"])

SHOPIFY_TOPIC = "orders/create"
SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
_CHANNEL_CODE = re.compile(r"[-a-zA-Z0-9_]{1,30}")
# Compared against when the channel is unknown, so that an unknown channel and a bad signature take as long.
_NO_SECRET = "no channel has this secret"  # noqa: S105 - a stand-in that matches no signature, not a credential


class WebhookOrderOut(Schema):
    order: str
    created: bool


class WebhookConflictOut(Schema):
    detail: str
    order: str
    differences: list[dict]


def shopify_signature(secret: str, body: bytes) -> str:
    """Shopify's ``X-Shopify-Hmac-Sha256``: base64 of the HMAC-SHA256 of the raw body, keyed with the secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@router.post(
    "/webhooks/shopify/{channel_code}/orders-create",
    response={
        200: WebhookOrderOut,
        201: WebhookOrderOut,
        400: FieldErrorsOut,
        401: FieldErrorsOut,
        409: WebhookConflictOut,
    },
    summary="Shopify orders/create webhook",
    openapi_extra={
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "base64 HMAC-SHA256 of the raw body, keyed with the channel's webhook secret",
                "schema": {"type": "string"},
            },
            {
                "name": TOPIC_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "enum": [SHOPIFY_TOPIC]},
            },
        ],
        "requestBody": {
            "required": True,
            "description": "Shopify's order object, as Shopify sends it.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
def shopify_orders_create(request: HttpRequest, channel_code: str):
    """Place the order a Shopify store sends with its `orders/create` webhook.

    Register this URL in the Shopify store (Settings → Notifications →
    Webhooks, or the app's webhook subscription) for the topic
    `orders/create`, format JSON, with `channel_code` the OMS channel's code.
    The body is Shopify's order object, sent as is.

    - `X-Shopify-Hmac-Sha256` must be the base64 HMAC-SHA256 of the raw body
      keyed with the channel's webhook secret (the Shopify app's client
      secret, entered on the channel in the console); `X-Shopify-Topic` must
      be `orders/create`.
    - **201** `{"order": "SO-0001042", "created": true}`: the order was placed.
    - **200** `{"order": ..., "created": false}`: a replay of an order already
      placed (Shopify retries); nothing changes.
    - **400** `{"detail": [{"loc": [...], "msg": ...}]}`: the body is not
      JSON, the topic is not `orders/create`, a field is missing or invalid
      (`loc` is its JSON path, e.g. `["body", "line_items", 2, "sku"]`), a
      SKU is unknown, or a line item has no SKU and its `variant_id` is not
      in the channel's variant table (Channel variants, in the console), or
      `created_at` is more than a few minutes ahead of the OMS's clock or more
      than a year ago (`ORDER_PLACED_AT_MAX_FUTURE_MINUTES`,
      `ORDER_PLACED_AT_MAX_AGE_DAYS`). Nothing is written.
    - An order whose `total_price` differs from the OMS's total by more than
      a cent is placed (201) and put on hold, the reason naming both totals.
    - **401**: unknown or inactive channel, no secret set, or a missing or
      wrong signature. Nothing is written.
    - **409**: this Shopify order id was already placed with different
      content; `differences` lists each changed path with both values.
    """
    body = request.body
    channel, refusal = _verified(request, channel_code)
    if refusal is not None:
        return refusal
    topic = request.headers.get(TOPIC_HEADER, "").strip()
    if topic != SHOPIFY_TOPIC:
        return _bad_request(["header", TOPIC_HEADER], f"must be {SHOPIFY_TOPIC}, not {topic[:60]!r}")
    try:
        payload = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        return _bad_request(["body"], f"not valid JSON: {str(error)[:200]}")
    variant_ids = skuless_variant_ids(payload)
    try:
        data = order_data_from_shopify(
            payload,
            variant_skus=variant_skus(channel=channel, variant_ids=variant_ids) if variant_ids else None,
            channel_code=channel.code,
        )
    except PayloadError as refusal:
        detail = [field_error(("body", *p.loc), p.message) for p in refusal.problems]
        _alert_ops(channel, payload, detail)
        return Status(400, {"detail": detail})
    problem = placed_at_problem(data.placed_at) if data.placed_at is not None else None
    if problem is not None:  # Shopify's created_at: a wrong clock, or a wrong year
        detail = [field_error(("body", "created_at"), problem)]
        _alert_ops(channel, payload, detail)
        return Status(400, {"detail": detail})
    actor = f"channel: {channel.name} (Shopify webhook)"
    try:
        # An order Shopify totals differently is held as it is placed: never routed, and never placed without it.
        with transaction.atomic():
            order, created = services.place_order(
                channel=channel, data=data, actor=actor, source=OrderIntake.Source.WEBHOOK
            )
            mismatch = total_mismatch(data, order.grand_total) if created else None
            if mismatch:
                services.hold_order(order_id=order.pk, reason=mismatch, actor=actor, cause="channel")
    except IntakeConflict as conflict:
        return Status(
            409,
            {
                "detail": str(conflict),
                "order": conflict.order.number,
                "differences": conflict.differences,
            },
        )
    except OrderError as refusal:
        detail = [field_error(("body", "line_items"), str(refusal))]
        _alert_ops(channel, payload, detail)
        return Status(400, {"detail": detail})
    return Status(201 if created else 200, {"order": order.number, "created": created})


def _verified(request: HttpRequest, channel_code: str) -> tuple[Channel | None, Status | None]:
    """The active channel whose webhook secret signed the raw body; else the 401 to answer (nothing is read)."""
    body = request.body
    channel = _active_channel(channel_code)
    received = request.headers.get(SIGNATURE_HEADER, "").strip().encode("latin-1", "replace")
    secret = channel.webhook_secret if channel is not None else ""
    if isinstance(secret, UnreadableSecret):  # decrypted by the model; this one opens with no key of the ring
        logger.error(
            "Shopify webhook refused for channel %r: its webhook secret opens with no key of OMS_SECRET_KEYS "
            "(was a key dropped before rotate_secrets ran?); put the key back or enter the secret again",
            channel.code,
        )
    expected = shopify_signature(secret or _NO_SECRET, body).encode()
    if not (hmac.compare_digest(expected, received) and secret):
        logger.warning("Shopify webhook refused for channel code %r: unknown channel or bad signature", channel_code)
        return None, Status(
            401,
            {
                "detail": [
                    field_error(
                        ("header", SIGNATURE_HEADER),
                        "Unknown or inactive channel, or the signature does not match the channel's webhook secret.",
                    )
                ]
            },
        )
    return channel, None


def _alert_ops(channel: Channel, payload, detail: list[dict], *, source: str = "Shopify", order: str = "") -> None:
    """A signed order from the channel was refused: ops hear of it once, however often Shopify retries it."""
    external_id = str(payload.get("id", "")) if isinstance(payload, dict) else ""
    digest = hashlib.sha256(json.dumps(detail, sort_keys=True, default=str).encode()).hexdigest()[:16]
    url = reverse("admin:orders_channel_change", args=[channel.pk])
    queue_ops_alert(
        event="channel_order_refused",
        context={
            "channel": channel.name,
            "source": source,
            "external_id": external_id or "(no id)",
            "errors": [
                {"where": ".".join(str(part) for part in e["loc"][1:]) or "body", "msg": e["msg"]} for e in detail
            ],
            "link": f"{settings.OMS_BASE_URL.rstrip('/')}{url}",
            "order": order,  # a change to an order already placed (orders/updated, orders/cancelled)
        },
        occurrence=f"{channel.code}:{external_id}:{source}:{digest}",
    )


def _active_channel(code: str) -> Channel | None:
    if not _CHANNEL_CODE.fullmatch(code):
        return None
    return Channel.objects.filter(code=code, is_active=True).first()


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _bad_request(loc: list, message: str) -> Status:
    return Status(400, {"detail": [field_error(loc, message)]})


def _path(parts: list) -> str:
    """``["line_items", 2, "sku"]`` as ``line_items[2].sku``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


UPDATED_TOPIC = "orders/updated"
CANCELLED_TOPIC = "orders/cancelled"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"


class WebhookChangeOut(Schema):
    order: str
    changed: bool
    applied: list[str]


class WebhookRefusedOut(Schema):
    detail: str
    order: str


def _change_parameters(topic: str) -> dict:
    return {
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "base64 HMAC-SHA256 of the raw body, keyed with the channel's webhook secret",
                "schema": {"type": "string"},
            },
            {"name": TOPIC_HEADER, "in": "header", "required": True, "schema": {"type": "string", "enum": [topic]}},
            {
                "name": WEBHOOK_ID_HEADER,
                "in": "header",
                "required": False,
                "description": "Shopify's id of this delivery: a retry of it changes nothing more",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "description": "Shopify's order object, as Shopify sends it.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    }


CHANGE_RESPONSES = {
    200: WebhookChangeOut,
    400: FieldErrorsOut,
    401: FieldErrorsOut,
    404: FieldErrorsOut,
    409: WebhookRefusedOut,
}


def _read_change(request: HttpRequest, channel_code: str, topic: str):
    """The signed, well-formed body of a change webhook and its channel and order; else the answer to give."""
    channel, refusal = _verified(request, channel_code)
    if refusal is not None:
        return None, None, None, refusal
    sent = request.headers.get(TOPIC_HEADER, "").strip()
    if sent != topic:
        return None, None, None, _bad_request(["header", TOPIC_HEADER], f"must be {topic}, not {sent[:60]!r}")
    try:
        payload = json.loads(request.body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        return None, None, None, _bad_request(["body"], f"not valid JSON: {str(error)[:200]}")
    if isinstance(payload, dict) and "line_items" not in payload and isinstance(payload.get("order"), dict):
        payload = payload["order"]
    external_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(external_id, bool) or not isinstance(external_id, int | str) or not str(external_id).strip():
        detail = [field_error(("body", "id"), "missing: the Shopify order's id")]
        _alert_ops(channel, payload, detail, source=f"Shopify {topic}")
        return None, None, None, Status(400, {"detail": detail})
    order = (
        Order.objects.filter(channel=channel, external_id=str(external_id).strip())
        .select_related("shipping_address")
        .first()
    )
    if order is None:
        detail = [field_error(("body", "id"), f"no order {external_id} from {channel.name} in the OMS")]
        _alert_ops(channel, payload, detail, source=f"Shopify {topic}")
        return None, None, None, Status(404, {"detail": detail})
    return channel, payload, order, None


# Where the order as Shopify last sent it is kept: on the timeline entry of the change it made, with that
# version's updated_at (an older version delivered late is not applied).
SEEN = "shopify_seen"
SEEN_AT = "shopify_updated_at"


def _updated_at(value) -> dt.datetime | None:
    """Shopify's ``updated_at`` (ISO 8601 with its offset) as an aware time; None when missing or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def _last_applied_at(order: Order) -> str | None:
    """The ``updated_at`` of the last Shopify update applied to the order (None: none kept)."""
    latest = (
        OrderEvent.objects.filter(order_id=order.pk, data__has_key=SEEN).order_by("-pk").values_list("data", flat=True)
    ).first()
    return (latest or {}).get(SEEN_AT)


def _last_seen(order: Order) -> dict | None:
    """The order as Shopify last sent it: the last change applied from Shopify, else what it was placed with
    (``orders/create``); None for an order that came another way (then the order itself is compared)."""
    latest = (
        OrderEvent.objects.filter(order_id=order.pk, data__has_key=SEEN).order_by("-pk").values_list("data", flat=True)
    ).first()
    if latest is not None:
        return latest[SEEN]
    intake = OrderIntake.objects.filter(order_id=order.pk, source=OrderIntake.Source.WEBHOOK).first()
    return intake.payload if intake is not None else None


def _delivery_key(request: HttpRequest, payload: dict, topic: str) -> str:
    """What tells a retry of this delivery apart: Shopify's webhook id, else the order's updated_at."""
    webhook_id = request.headers.get(WEBHOOK_ID_HEADER, "").strip()[:60]
    stamp = webhook_id or str(payload.get("updated_at") or "")[:40]
    return f"shopify:{topic}:{payload.get('id')}:{stamp}" if stamp else ""


@router.post(
    "/webhooks/shopify/{channel_code}/orders-updated",
    response=CHANGE_RESPONSES,
    summary="Shopify orders/updated webhook",
    openapi_extra=_change_parameters(UPDATED_TOPIC),
)
def shopify_orders_updated(request: HttpRequest, channel_code: str):
    """Apply a change made to a Shopify order to the OMS's order: its items, totals and ship-to address.

    Register this URL for the topic `orders/updated` (signed as `orders/create`). The body is Shopify's order
    object as it now stands; it is compared with the OMS's order and what differs is applied with the same
    services as the console and the API: line quantities (`current_quantity` after an edit in Shopify; a SKU
    no longer there is removed, a new SKU added at Shopify's price), the shipping, tax and discount totals as
    Shopify sent them (its several tax lines are summed in `total_tax`), and the ship-to address (checked:
    a ZIP code whose city and state agree). A `cancelled_at` cancels the order.

    - **200** `{"order": ..., "changed": true, "applied": ["items", "address"]}`, or `changed: false` when
      nothing differs (a retry, or a change the OMS does not keep, such as a note), or when the body's
      `updated_at` is older than the last change applied (delivered late: not applied, noted on the timeline).
    - **400** the body cannot be read (each field named, as for `orders/create`): nothing is written, ops are
      alerted.
    - **404** no order with this Shopify id on the channel: ops are alerted.
    - **409** the change cannot be applied (the order shipped, a label was bought, fewer units than are
      packed, an address that does not agree): the reason, nothing written, ops alerted.
    - **401** as for `orders/create`.
    """
    channel, payload, order, answer = _read_change(request, channel_code, UPDATED_TOPIC)
    if answer is not None:
        return answer
    source = f"Shopify {UPDATED_TOPIC}"
    if payload.get("cancelled_at"):
        return _cancel(channel, payload, order, source=source)
    actor = f"channel: {channel.name} (Shopify webhook)"
    updated_at, applied_at = payload.get("updated_at"), _last_applied_at(order)
    sent, applied = _updated_at(updated_at), _updated_at(applied_at)
    if sent is not None and applied is not None and sent <= applied:
        # Shopify does not promise the order of its deliveries: a version older than the one applied would undo
        # the newer change. The same version again is a retry of what was applied.
        if sent < applied:
            logger.info(
                "Shopify orders/updated for %s of %s arrived after the applied one of %s: not applied",
                order.number,
                updated_at,
                applied_at,
            )
            services.note_stale_channel_update(
                order_id=order.pk, updated_at=updated_at, applied_at=applied_at, actor=actor
            )
        return Status(200, {"order": order.number, "changed": False, "applied": []})
    variant_ids = skuless_variant_ids(payload)
    try:
        data = order_data_from_shopify(
            payload,
            variant_skus=variant_skus(channel=channel, variant_ids=variant_ids) if variant_ids else None,
            channel_code=channel.code,
        )
    except PayloadError as refusal:
        detail = [field_error(("body", *p.loc), p.message) for p in refusal.problems]
        _alert_ops(channel, payload, detail, source=source, order=order.number)
        return Status(400, {"detail": detail})
    edit = shopify_edit(order, data, seen=_last_seen(order))
    if edit.problems:
        detail = [field_error(("body", *p.loc), p.message) for p in edit.problems]
        _alert_ops(channel, payload, detail, source=source, order=order.number)
        return Status(400, {"detail": detail})
    if not edit.changes_anything:
        return Status(200, {"order": order.number, "changed": False, "applied": []})
    key = _delivery_key(request, payload, UPDATED_TOPIC)
    # The version is kept as seen only by the last step: when the items fail after the address was applied,
    # Shopify's retry still finds them differing (the address, already the order's, is not changed twice).
    seen = {SEEN: edit.seen, **({SEEN_AT: updated_at} if sent is not None else {})}
    items = bool(edit.changes or edit.totals)
    applied = []
    try:
        if items:
            services.preview_edit(order_id=order.pk, changes=edit.changes, totals=edit.totals)  # refused: nothing yet
        if edit.address is not None:
            services.change_shipping_address(
                order_id=order.pk,
                address=edit.address,
                reason="Changed in Shopify",
                actor=actor,
                idempotency_key=f"{key}:address" if key else "",
                data=None if items else seen,
            )
            applied.append("address")
        if items:
            services.edit_lines(
                order_id=order.pk,
                changes=edit.changes,
                totals=edit.totals,
                reason="Edited in Shopify",
                actor=actor,
                idempotency_key=f"{key}:items" if key else "",
                data=seen,
            )
            applied.append("items")
    except (OrderError, DjangoValidationError) as refusal:
        words = " ".join(refusal.messages) if isinstance(refusal, DjangoValidationError) else str(refusal)
        done = f" (applied first: {', '.join(applied)})" if applied else ""
        _alert_ops(channel, payload, [field_error(("body",), words + done)], source=source, order=order.number)
        return Status(409, {"detail": words + done, "order": order.number})
    return Status(200, {"order": order.number, "changed": True, "applied": applied})


@router.post(
    "/webhooks/shopify/{channel_code}/orders-cancelled",
    response=CHANGE_RESPONSES,
    summary="Shopify orders/cancelled webhook",
    openapi_extra=_change_parameters(CANCELLED_TOPIC),
)
def shopify_orders_cancelled(request: HttpRequest, channel_code: str):
    """Cancel the OMS's order when its Shopify order is cancelled (`orders/cancelled`, signed as `orders/create`).

    The reason on the timeline is Shopify's `cancel_reason` (customer, fraud, inventory, declined, other). The
    stock goes back on sale, labels are voided and the customer is told, as for a cancellation in the console.

    - **200** `{"order": ..., "changed": true, "applied": ["cancelled"]}`; `changed: false` when the order was
      cancelled already (a retry).
    - **409** the order has shipped (in part): the reason, nothing written, ops alerted to refund it through
      Returns.
    - **400**, **401**, **404** as for `orders/updated`.
    """
    channel, payload, order, answer = _read_change(request, channel_code, CANCELLED_TOPIC)
    if answer is not None:
        return answer
    return _cancel(channel, payload, order, source=f"Shopify {CANCELLED_TOPIC}")


def _cancel(channel: Channel, payload: dict, order: Order, *, source: str) -> Status:
    if order.status == OrderStatus.CANCELLED:
        return Status(200, {"order": order.number, "changed": False, "applied": []})
    why = payload.get("cancel_reason")
    why = why.strip()[:100] if isinstance(why, str) and why.strip() else "no reason given"
    try:
        services.cancel_order(
            order_id=order.pk,
            reason=f"Cancelled in Shopify ({why})",
            actor=f"channel: {channel.name} (Shopify webhook)",
        )
    except OrderError as refusal:
        words = f"{refusal} Refund what shipped through Returns if the customer is owed it."
        _alert_ops(channel, payload, [field_error(("body", "cancelled_at"), words)], source=source, order=order.number)
        return Status(409, {"detail": words, "order": order.number})
    return Status(200, {"order": order.number, "changed": True, "applied": ["cancelled"]})
