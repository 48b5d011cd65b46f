"""HTTP entry points for orders: tracking events pushed by carriers."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Annotated

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from ninja.security import HttpBearer
from pydantic import Field

from oms_core.api import PlainText
from shipping.models import ShipmentStatus, TrackingEvent, Vendor

from . import services
from .exceptions import OrderError

router = Router(tags=["tracking"])


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_vendor_token(vendor: Vendor) -> str:
    """A new webhook token for the vendor (the old one stops working); shown once, stored hashed."""
    token = secrets.token_urlsafe(32)
    Vendor.objects.filter(pk=vendor.pk).update(webhook_token_hash=hash_token(token))
    return token


class VendorToken(HttpBearer):
    """`Authorization: Bearer <token>`: the token issued to a vendor in the admin."""

    def authenticate(self, request: HttpRequest, token: str) -> Vendor | None:
        if not token:
            return None
        return Vendor.objects.filter(webhook_token_hash=hash_token(token), is_active=True).first()


class TrackingEventIn(Schema):
    tracking_number: Annotated[str, Field(min_length=1, max_length=40), PlainText]
    status: ShipmentStatus
    occurred_at: dt.datetime
    description: Annotated[str, Field(max_length=300), PlainText] = ""
    location: Annotated[str, Field(max_length=100), PlainText] = ""


class TrackingIn(Schema):
    events: list[TrackingEventIn] = Field(min_length=1, max_length=1000)


class TrackingResultOut(Schema):
    tracking_number: str
    shipment: str
    shipment_status: str
    recorded: bool


class TrackingOut(Schema):
    results: list[TrackingResultOut]


class ErrorOut(Schema):
    detail: list[dict]


TRACKABLE = {ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION}


@router.post("/tracking", auth=VendorToken(), response={200: TrackingOut, 400: ErrorOut}, summary="Carrier scans")
def tracking(request: HttpRequest, payload: TrackingIn):
    """Record a carrier's tracking events: in_transit, delivered or exception, per parcel.

    All or nothing: when any event is refused, none is recorded and each
    refusal names its `events[i]`. Replays of events already recorded are
    accepted and change nothing (`recorded: false`).
    """
    vendor: Vendor = request.auth
    errors = []
    results = []
    try:
        with transaction.atomic():
            for index, event in enumerate(payload.events):
                if event.occurred_at.tzinfo is None:
                    errors.append(_error(index, "occurred_at", "needs a time zone offset, e.g. 2026-11-25T14:03:00Z"))
                    continue
                if event.status not in TRACKABLE:
                    errors.append(_error(index, "status", f"must be one of {', '.join(sorted(TRACKABLE))}"))
                    continue
                try:
                    result = services.record_tracking(
                        tracking_number=event.tracking_number,
                        status=event.status,
                        occurred_at=event.occurred_at,
                        description=event.description,
                        location=event.location,
                        source=TrackingEvent.Source.WEBHOOK,
                        actor=f"carrier: {vendor.name}",
                        vendor=vendor,
                    )
                except OrderError as refusal:
                    errors.append(_error(index, "tracking_number", str(refusal)))
                    continue
                results.append(
                    {
                        "tracking_number": event.tracking_number,
                        "shipment": result.shipment.number,
                        "shipment_status": result.shipment.status,
                        "recorded": result.event is not None,
                    }
                )
            if errors:
                raise _Refused
    except _Refused:
        return Status(400, {"detail": errors})
    return Status(200, {"results": results})


class _Refused(Exception):
    """Rolls the webhook's transaction back when any event was refused."""


def _error(index: int, field: str, message: str) -> dict:
    return {"loc": ["body", "events", index, field], "path": f"events[{index}].{field}", "msg": message}
