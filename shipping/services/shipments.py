"""Shipments: making them, choosing their carrier service, labels, tracking.

These run inside the order workflow's transaction (``orders.services.shipping``),
which holds the order's row lock; they lock shipment rows by primary key
after it. Nothing here writes the order's timeline: each function returns
what happened and the order workflow records it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory import geo

from .. import lanes, rating, selectors
from ..carriers import CarrierError, get_adapter
from ..exceptions import ShippingError
from ..models import (
    UNSHIPPED_STATUSES,
    CarrierService,
    Parcel,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
    Vendor,
)

GRAM = Decimal("0.001")


@dataclass(frozen=True)
class ShipmentLineData:
    order_line_id: int
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_weight_kg: Decimal


@dataclass(frozen=True)
class CarrierChoice:
    option: rating.Option | None
    reason: str
    options: list[rating.Option]
    refusals: list[rating.Refusal]

    def as_data(self) -> dict:
        return {
            "chosen": self.option.as_dict() if self.option else None,
            "options": [option.as_dict() for option in self.options],
            "refused": [{"service": r.label, "reason": r.reason} for r in self.refusals],
        }


def split_into_parcels(total_kg: Decimal, max_parcel_kg: Decimal) -> list[Decimal]:
    """Parcel weights for a shipment: as few parcels as the weight limit allows, evenly filled."""
    total_kg = max(total_kg, GRAM)
    count = max(1, math.ceil(total_kg / max_parcel_kg))
    share = (total_kg / count).quantize(GRAM, rounding=ROUND_HALF_UP)
    weights = [share] * (count - 1)
    weights.append(total_kg - share * (count - 1))
    return weights


def zone_between(warehouse, ship_to_postal_code: str, country: str = "US") -> int:
    """The carrier zone from a warehouse to a postal code; raises ShippingError when either is unknown."""
    if warehouse.coordinates is None:
        raise ShippingError(f"Warehouse {warehouse.code} has no location; save it with a known postal code.")
    try:
        destination = geo.coordinates(ship_to_postal_code, country)
    except geo.UnknownPostalCode as error:
        raise ShippingError(str(error)) from None
    return rating.zone_for_distance(geo.distance_km(warehouse.coordinates, destination))


def quote_for(
    *,
    warehouse,
    zone: int,
    parcel_weights: list[Decimal],
    now: dt.datetime | None = None,
    terms: list[rating.ServiceTerms] | None = None,
    postal_code: str = "",
    country: str = "US",
) -> tuple[list[rating.Option], list[rating.Refusal]]:
    """Every active service's price and delivery date for these parcels from this warehouse.

    The cut-offs are read on the warehouse's own clock (``Warehouse.local_now``):
    the promise and the shipment's carrier choice both come through here.
    With the destination's ``postal_code``, a lane that has learned its
    transit days (``shipping.lanes``) dates its service by them.
    """
    terms = selectors.active_service_terms() if terms is None else terms
    by_vendor: dict[int, list[rating.ServiceTerms]] = {}
    for service in terms:
        by_vendor.setdefault(service.vendor_id, []).append(service)
    vendors = {vendor.pk: vendor for vendor in Vendor.objects.filter(pk__in=list(by_vendor))} if by_vendor else {}
    options: list[rating.Option] = []
    refusals: list[rating.Refusal] = []
    for vendor_id, services in by_vendor.items():
        if vendor_id not in vendors:
            continue  # deleted since the rate cache was filled (other processes keep it for a while)
        try:
            found, refused = get_adapter(vendors[vendor_id]).rate(
                services=services,
                zone=zone,
                parcel_weights=parcel_weights,
                now=warehouse.local_now(now),
                warehouse_cutoff=warehouse.daily_cutoff,
                processing_days=warehouse.processing_days,
                holidays=settings.SHIPPING_HOLIDAYS,
            )
        except CarrierError as outage:
            # One carrier down or refusing takes out its own services, never the choice among the others.
            found = []
            refused = [
                rating.Refusal(s.service_id, f"{s.vendor_name} {s.name}", f"no quote from the carrier: {outage}")
                for s in services
            ]
        options += found
        refusals += refused
    options.sort(key=lambda o: (o.price, o.eta, o.vendor_code, o.service_code))
    area = lanes.zip3(postal_code, country) if postal_code else ""
    if area and options:
        learned = lanes.learned_days(areas=[area], warehouse_ids=[warehouse.pk]).get((warehouse.pk, area), {})
        options = lanes.apply_learned_days(options, learned)
    return options, refusals


def create_shipment(
    *,
    order,
    warehouse,
    lines: list[ShipmentLineData],
    ship_to: dict,
    promised_date: dt.date | None,
    currency: str,
    now: dt.datetime | None = None,
    aim_date: dt.date | None = None,
    preference: rating.Preference | None = None,
) -> tuple[Shipment, CarrierChoice]:
    """Make a shipment of these lines from one warehouse, pack it into parcels and choose its service.

    ``order`` is the locked order (its pk and number are used); ``ship_to``
    is the address snapshot printed on the label. ``aim_date``: when nothing
    was promised, the date routing aimed at (``shipping.landed_cost.default_target``); ``preference``: the
    customer's preferred carrier (``choose_carrier``).
    """
    if not lines:
        raise ShippingError("A shipment needs at least one line.")
    sequence = Shipment.objects.filter(order_id=order.pk).count() + 1
    shipment = Shipment.objects.create(
        number=f"{order.number}-{sequence}",
        order_id=order.pk,
        order_number=order.number,
        warehouse=warehouse,
        ship_to=ship_to,
        promised_date=promised_date,
        currency=currency,
        label_format=warehouse.label_format,
        created_at=now or timezone.now(),
    )
    ShipmentLine.objects.bulk_create(
        ShipmentLine(
            shipment=shipment,
            order_line_id=line.order_line_id,
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
        )
        for line in lines
    )
    total = sum((line.unit_weight_kg * line.quantity for line in lines), Decimal("0"))
    max_parcel = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))
    Parcel.objects.bulk_create(
        Parcel(shipment=shipment, index=i, weight_kg=weight)
        for i, weight in enumerate(split_into_parcels(total, max_parcel), start=1)
    )
    return shipment, choose_carrier(shipment=shipment, now=now, aim_date=aim_date, preference=preference)


def repack_shipment(*, shipment: Shipment, total_kg: Decimal) -> int:
    """Pack a shipment waiting for its label into parcels again, for a new total weight (its lines changed).

    Only before a label is bought: parcels then have no tracking number. Returns the number of parcels.
    """
    if shipment.status != ShipmentStatus.AWAITING_LABEL:
        raise ShippingError(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}; only a shipment waiting for its label "
            "can be packed again."
        )
    shipment.parcels.all().delete()
    max_parcel = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))
    parcels = Parcel.objects.bulk_create(
        Parcel(shipment=shipment, index=i, weight_kg=weight)
        for i, weight in enumerate(split_into_parcels(total_kg, max_parcel), start=1)
    )
    return len(parcels)


def choose_carrier(
    *,
    shipment: Shipment,
    now: dt.datetime | None = None,
    aim_date: dt.date | None = None,
    preference: rating.Preference | None = None,
) -> CarrierChoice:
    """Price every service for the shipment's parcels and keep the cheapest that meets the promise.

    When none meets the promised date, the fastest. Without a promised date,
    the cheapest arriving by ``aim_date`` (the store's own target), unless
    that costs more than ``SHIPPING_PROMISE_TARGET_MAX_PREMIUM`` over the
    cheapest: then the cheapest. A customer's ``preference`` (its preferred
    service, else vendor) comes first whenever it arrives by that date; the
    reason names the customer's rule either way. Saves the choice, its reason
    and the options considered on the shipment.
    """
    zone = zone_between(shipment.warehouse, shipment.ship_to["postal_code"], shipment.ship_to.get("country", "US"))
    weights = list(shipment.parcels.order_by("index").values_list("weight_kg", flat=True))
    options, refusals = quote_for(
        warehouse=shipment.warehouse,
        zone=zone,
        parcel_weights=weights,
        now=now,
        postal_code=shipment.ship_to["postal_code"],
        country=shipment.ship_to.get("country", "US"),
    )
    from .. import landed_cost  # it prices routing's plans with this module's parcels

    aim = shipment.promised_date or aim_date
    option, reason = rating.choose(options, aim)
    if shipment.promised_date is None and aim is not None and landed_cost.waive_target(options, option):
        dearer = option
        option, reason = rating.choose(options, None)
        reason += (
            f"; arriving by the target {aim:%a %d %b} ({dearer.label}) would cost {dearer.price - option.price} "
            f"more (the limit is {settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM})"
        )
    if preference is not None:
        preferred = rating.choose_preferred(options, aim, preference)
        if preferred is not None:
            option, reason = preferred
        else:
            by = f" by {aim:%a %d %b}" if aim else ""
            reason += f"; {preference.label}, preferred by {preference.rule}, cannot deliver it{by}"
    choice = CarrierChoice(option, reason, options, refusals)
    shipment.zone = zone
    shipment.options = choice.as_data()["options"]
    shipment.choice_reason = reason
    _apply_option(shipment, option)
    shipment.save(
        update_fields=[
            "zone",
            "options",
            "choice_reason",
            "service",
            "shipping_cost",
            "estimated_delivery",
            "ship_date",
        ]
    )
    return choice


def _apply_option(shipment: Shipment, option: rating.Option | None) -> None:
    if option is None:
        shipment.service = None
        shipment.shipping_cost = None
        shipment.estimated_delivery = None
        shipment.ship_date = None
        return
    shipment.service_id = option.service_id
    shipment.shipping_cost = option.price
    shipment.estimated_delivery = option.eta
    shipment.ship_date = option.ship_date


def lock_shipment(shipment_id: int) -> Shipment:
    try:
        return Shipment.objects.select_for_update(of=("self",)).select_related("warehouse").get(pk=shipment_id)
    except Shipment.DoesNotExist:
        raise ShippingError(f"No shipment with id {shipment_id}.") from None


def override_service(
    *, shipment: Shipment, service_id: int, reason: str, now: dt.datetime | None = None
) -> rating.Option:
    """Put a shipment on another service, priced and dated now; only before its label is bought."""
    if shipment.status != ShipmentStatus.AWAITING_LABEL:
        raise ShippingError(
            f"Shipment {shipment} has a label ({shipment.get_status_display().lower()}); void it before "
            "changing the service."
        )
    if not (reason or "").strip():
        raise ShippingError("Give a reason for overriding the carrier choice.")
    service = CarrierService.objects.select_related("vendor").filter(pk=service_id).first()
    if service is None or not service.is_active or not service.vendor.is_active:
        raise ShippingError("That service is not active.")
    zone = zone_between(shipment.warehouse, shipment.ship_to["postal_code"], shipment.ship_to.get("country", "US"))
    weights = list(shipment.parcels.order_by("index").values_list("weight_kg", flat=True))
    terms = selectors.load_service_terms(CarrierService.objects.filter(pk=service_id))
    options, refusals = quote_for(
        warehouse=shipment.warehouse,
        zone=zone,
        parcel_weights=weights,
        now=now,
        terms=terms,
        postal_code=shipment.ship_to["postal_code"],
        country=shipment.ship_to.get("country", "US"),
    )
    if not options:
        raise ShippingError(f"{service} cannot take this shipment: {refusals[0].reason}.")
    option = options[0]
    _apply_option(shipment, option)
    shipment.zone = zone
    shipment.choice_reason = f"overridden to {option.label} at {option.price}: {reason.strip()}"
    shipment.save(
        update_fields=["service", "shipping_cost", "estimated_delivery", "ship_date", "zone", "choice_reason"]
    )
    return option


def purchase_labels(*, shipment: Shipment) -> list[str]:
    """Buy one label per parcel from the shipment's vendor; the shipment becomes label created.

    The label document is rendered after commit (``shipping.tasks.render_shipment_label``).
    Raises ShippingError when there is no service or the carrier refuses.
    """
    if shipment.status != ShipmentStatus.AWAITING_LABEL:
        raise ShippingError(f"Shipment {shipment} is {shipment.get_status_display().lower()}, not awaiting a label.")
    if shipment.service_id is None:
        raise ShippingError(f"Shipment {shipment} has no carrier service; choose one first.")
    service = CarrierService.objects.select_related("vendor").get(pk=shipment.service_id)
    parcels = list(shipment.parcels.select_for_update().order_by("pk"))
    try:
        purchased = get_adapter(service.vendor).buy_label(shipment=shipment, parcels=parcels)
    except CarrierError as refusal:
        raise ShippingError(f"{service.vendor} refused the label: {refusal}") from refusal
    numbers = {label.parcel_id: label.tracking_number for label in purchased}
    for parcel in parcels:
        parcel.tracking_number = numbers[parcel.pk]
    Parcel.objects.bulk_update(parcels, ["tracking_number"])
    shipment.status = ShipmentStatus.LABEL_CREATED
    shipment.label_file = ""
    shipment.label_rendered_at = None
    shipment.label_error = ""
    shipment.save(update_fields=["status", "label_file", "label_rendered_at", "label_error"])
    from .. import tasks

    shipment_id = shipment.pk
    transaction.on_commit(lambda: tasks.render_shipment_label.delay(shipment_id))
    return [parcel.tracking_number for parcel in parcels]


def record_partner_labels(*, shipment: Shipment, tracking_numbers: list[str], quantities: dict[int, int]) -> list[str]:
    """A 3PL packed and labelled the shipment itself: its packages become the parcels, with its tracking numbers.

    ``quantities``: units per order line the 3PL shipped; a line shipped short keeps only those units, a
    line not shipped at all leaves the shipment. The shipment becomes label created (no label file: the
    3PL printed it). Raises ShippingError when the shipment is not awaiting a label, a quantity is more
    than the line holds, nothing ships, or a tracking number is already on another parcel.
    """
    if shipment.status != ShipmentStatus.AWAITING_LABEL:
        raise ShippingError(f"Shipment {shipment} is {shipment.get_status_display().lower()}, not awaiting a label.")
    numbers = [number.strip() for number in tracking_numbers]
    if not numbers or any(not number for number in numbers) or len(set(numbers)) != len(numbers):
        raise ShippingError(f"Shipment {shipment}: each package needs its own tracking number.")
    too_long = [number for number in numbers if len(number) > Parcel._meta.get_field("tracking_number").max_length]
    if too_long:
        raise ShippingError(f"Shipment {shipment}: tracking number {too_long[0]!r} is longer than 40 characters.")
    taken = sorted(Parcel.objects.filter(tracking_number__in=numbers).values_list("tracking_number", flat=True))
    if taken:
        raise ShippingError(f"Shipment {shipment}: tracking number {', '.join(taken)} is already on another parcel.")
    lines = list(shipment.lines.select_related("product").select_for_update(of=("self",)).order_by("pk"))
    unknown = sorted(set(quantities) - {line.order_line_id for line in lines})
    if unknown:
        raise ShippingError(f"Shipment {shipment}: order lines {unknown} are not in it.")
    weight = Decimal("0")
    for line in lines:
        quantity = quantities.get(line.order_line_id, 0)
        if quantity < 0 or quantity > line.quantity:
            raise ShippingError(f"Shipment {shipment}: {line.sku} holds {line.quantity}, not {quantity}.")
        weight += line.product.weight_kg * quantity
    if not any(quantities.values()):
        raise ShippingError(f"Shipment {shipment}: nothing shipped.")
    for line in lines:
        quantity = quantities.get(line.order_line_id, 0)
        if quantity == 0:
            line.delete()
        elif quantity != line.quantity:
            line.quantity = quantity
            line.save(update_fields=["quantity"])
    shipment.parcels.all().delete()
    share = (weight / len(numbers)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    Parcel.objects.bulk_create(
        [
            Parcel(shipment=shipment, index=index, weight_kg=share, tracking_number=number)
            for index, number in enumerate(numbers, start=1)
        ]
    )
    shipment.status = ShipmentStatus.LABEL_CREATED
    shipment.save(update_fields=["status"])
    return numbers


def void_labels(*, shipment: Shipment) -> list[str]:
    """Cancel the shipment's labels with the vendor; it goes back to awaiting a label.

    Returns the voided tracking numbers (never issued again).
    """
    if shipment.status != ShipmentStatus.LABEL_CREATED:
        raise ShippingError(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}; only a label not yet handed "
            "to the carrier can be voided."
        )
    parcels = list(shipment.parcels.select_for_update().order_by("pk"))
    numbers = [parcel.tracking_number for parcel in parcels if parcel.tracking_number]
    vendor = shipment.service.vendor
    try:
        get_adapter(vendor).void_label(shipment=shipment, tracking_numbers=numbers)
    except CarrierError as refusal:
        raise ShippingError(f"{vendor} refused to void the label: {refusal}") from refusal
    for parcel in parcels:
        parcel.tracking_number = None
    Parcel.objects.bulk_update(parcels, ["tracking_number"])
    if shipment.label_file:
        shipment.label_file.delete(save=False)
    shipment.status = ShipmentStatus.AWAITING_LABEL
    shipment.label_file = ""
    shipment.label_rendered_at = None
    shipment.save(update_fields=["status", "label_file", "label_rendered_at"])
    return numbers


def cancel_shipment(*, shipment: Shipment) -> list[str]:
    """Cancel a shipment that has not left: its labels are voided first. Returns voided numbers."""
    if shipment.status not in UNSHIPPED_STATUSES:
        raise ShippingError(f"Shipment {shipment} has left the warehouse; it cannot be cancelled.")
    voided = void_labels(shipment=shipment) if shipment.status == ShipmentStatus.LABEL_CREATED else []
    shipment.status = ShipmentStatus.CANCELLED
    shipment.save(update_fields=["status"])
    return voided


def hand_over(*, shipment: Shipment, now: dt.datetime | None = None) -> None:
    """The carrier has the parcels: the shipment is in transit."""
    if shipment.status != ShipmentStatus.LABEL_CREATED:
        raise ShippingError(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}; print its label before shipping."
        )
    shipment.status = ShipmentStatus.IN_TRANSIT
    shipment.shipped_at = now or timezone.now()
    shipment.save(update_fields=["status", "shipped_at"])


TRACKABLE = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION)


@dataclass(frozen=True)
class TrackingResult:
    shipment: Shipment
    event: TrackingEvent | None  # None: a replay of an event already recorded
    status_changed: bool


def record_tracking_event(
    *,
    tracking_number: str,
    status: str,
    occurred_at: dt.datetime,
    source: str,
    recorded_by: str,
    description: str = "",
    location: str = "",
    vendor: Vendor | None = None,
) -> TrackingResult:
    """Record a carrier scan (or a status set by hand) against the parcel's shipment.

    A replay of the same (tracking number, status, time) changes nothing. The
    shipment's status follows the newest event; delivered is final.
    Raises ShippingError for an unknown number or a status the shipment cannot take.
    """
    if status not in TRACKABLE:
        raise ShippingError(f"Unknown tracking status {status!r}; use one of {', '.join(TRACKABLE)}.")
    parcel = Parcel.objects.filter(tracking_number=tracking_number).select_related("shipment__service").first()
    if parcel is None:
        raise ShippingError(f"No parcel with tracking number {tracking_number!r}.")
    if vendor is not None and parcel.shipment.service.vendor_id != vendor.pk:
        raise ShippingError(f"Tracking number {tracking_number!r} is not one of {vendor}'s.")
    shipment = Shipment.objects.select_for_update(of=("self",)).get(pk=parcel.shipment_id)
    if shipment.status not in TRACKABLE:
        raise ShippingError(f"Shipment {shipment} has not been handed to the carrier (it is {shipment.status}).")
    event, created = TrackingEvent.objects.get_or_create(
        tracking_number=tracking_number,
        status=status,
        occurred_at=occurred_at,
        defaults={
            "shipment": shipment,
            "description": description[:300],
            "location": location[:100],
            "source": source,
            "recorded_by": recorded_by,
        },
    )
    if not created:
        return TrackingResult(shipment, None, False)
    newest = shipment.tracking_events.order_by("-occurred_at", "-id").first()
    if status == ShipmentStatus.DELIVERED and not _every_parcel_delivered(shipment):
        status = ShipmentStatus.IN_TRANSIT  # a shipment is delivered when its last parcel is
    changed = False
    if shipment.status != ShipmentStatus.DELIVERED and newest.pk == event.pk and shipment.status != status:
        shipment.status = status
        update = ["status"]
        if status == ShipmentStatus.DELIVERED:
            shipment.delivered_at = occurred_at
            update.append("delivered_at")
        shipment.save(update_fields=update)
        changed = True
        if status == ShipmentStatus.DELIVERED:
            lanes.record_delivery(shipment=shipment)  # promise accuracy: its lane learns what this one took
    return TrackingResult(shipment, event, changed)


def _every_parcel_delivered(shipment: Shipment) -> bool:
    numbers = set(shipment.parcels.exclude(tracking_number=None).values_list("tracking_number", flat=True))
    delivered = set(
        shipment.tracking_events.filter(status=ShipmentStatus.DELIVERED).values_list("tracking_number", flat=True)
    )
    return bool(numbers) and numbers <= delivered
