"""HTTP entry points for orders: tracking events pushed by carriers."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from ninja.security import HttpBearer
from pydantic import ConfigDict, Field, field_validator

from oms_core.api import FieldErrorsOut, PlainText, field_error
from shipping.models import ShipmentStatus, TrackingEvent, Vendor
from shipping.services.vendors import hash_token

from .. import services
from ..exceptions import OrderError

router = Router(tags=["tracking"])


class VendorToken(HttpBearer):
    """`Authorization: Bearer <token>`: the token issued to a vendor in the admin."""

    def authenticate(self, request: HttpRequest, token: str) -> Vendor | None:
        if not token:
            return None
        return Vendor.objects.filter(webhook_token_hash=hash_token(token), is_active=True).first()


class TrackableStatus(StrEnum):
    """The scans a carrier reports: the parcel is on its way, delivered, or held up."""

    IN_TRANSIT = ShipmentStatus.IN_TRANSIT.value
    DELIVERED = ShipmentStatus.DELIVERED.value
    EXCEPTION = ShipmentStatus.EXCEPTION.value


class TrackingEventIn(Schema):
    tracking_number: Annotated[str, Field(min_length=1, max_length=40), PlainText]
    status: TrackableStatus
    occurred_at: dt.datetime = Field(description="With a time zone offset: `2026-11-25T14:03:00Z`.")
    description: Annotated[str, Field(max_length=300), PlainText] = ""
    location: Annotated[str, Field(max_length=100), PlainText] = ""

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if not isinstance(value, str):  # as the schema says: a date-time string, not a Unix timestamp
            raise ValueError("must be a date and time as text, e.g. 2026-11-25T14:03:00Z")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone offset, e.g. 2026-11-25T14:03:00Z")
        return value


class TrackingIn(Schema):
    events: list[TrackingEventIn] = Field(min_length=1, max_length=1000)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "tracking_number": "1Z999AA10123456784",
                            "status": "delivered",
                            "occurred_at": "2026-11-25T14:03:00Z",
                            "location": "New York, NY",
                        }
                    ]
                }
            ]
        }
    )


class TrackingResultOut(Schema):
    tracking_number: str
    shipment: str
    shipment_status: ShipmentStatus
    recorded: bool = Field(description="False for a replay of a scan already recorded.")


class TrackingOut(Schema):
    results: list[TrackingResultOut]


@router.post(
    "/tracking",
    auth=VendorToken(),
    response={200: TrackingOut, 400: FieldErrorsOut, 401: FieldErrorsOut},
    summary="Carrier scans",
)
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
                try:
                    result = services.record_tracking(
                        tracking_number=event.tracking_number,
                        status=ShipmentStatus(event.status),
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
    return field_error(("body", "events", index, field), message)
