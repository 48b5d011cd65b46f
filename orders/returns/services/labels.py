"""The return label: the shipping label renderer, from the customer to the receiving warehouse.

Its barcode carries the RMA number (the warehouse scans it to find the
return). The customer gets a signed link that works without a login for
``RETURNS_LABEL_LINK_DAYS``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from shipping import documents
from shipping.models import Shipment
from shipping.services.labels import warehouse_address

from ..exceptions import ReturnError
from ..models import ReturnRequest, ReturnStatus

SIGNING_SALT = "orders.returns.label"
LABELLED = (ReturnStatus.AUTHORISED, ReturnStatus.RECEIVED, ReturnStatus.INSPECTED, ReturnStatus.REFUNDED)


def return_label_data(rma: ReturnRequest) -> documents.LabelData:
    """The return label as printed: from the order's ship-to address, to the return's warehouse."""
    if rma.warehouse_id is None:
        raise ReturnError(f"Return {rma} has no warehouse to come back to.")
    order = rma.order
    address = order.shipping_address
    lines = list(rma.lines.select_related("product"))
    weight = sum((line.product.weight_kg * line.quantity for line in lines), Decimal("0")) or Decimal("0.5")
    shipment = (
        Shipment.objects.filter(order_id=order.pk, service__isnull=False)
        .select_related("service__vendor")
        .order_by("-created_at")
        .first()
    )
    return documents.LabelData(
        tracking_number=rma.number,
        ship_from=documents.PostalAddress(
            name=address.name,
            company=address.company,
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            state=address.state,
            postal_code=address.postal_code,
            country=address.country,
            phone=address.phone,
        ),
        ship_to=warehouse_address(rma.warehouse),
        vendor_name=shipment.service.vendor.name if shipment else settings.OMS_BRAND_NAME,
        service_name="Return",
        service_code="RETURN",
        weight_kg=weight,
        order_number=order.number,
        parcel_index=1,
        parcel_count=1,
        ship_date=timezone.localdate(),
        warehouse_code=rma.warehouse.code,
        reference=rma.number,
    )


def render_return_label(*, rma_id: int) -> ReturnRequest | None:
    """Render the return's label PDF and store it; None when the return no longer needs one (rejected)."""
    rma = ReturnRequest.objects.select_related("order__shipping_address", "warehouse").get(pk=rma_id)
    if rma.status not in LABELLED:
        return None
    content = documents.render_labels_pdf([return_label_data(rma)])
    with transaction.atomic():
        current = ReturnRequest.objects.select_for_update().get(pk=rma_id)
        if current.status not in LABELLED:  # rejected while the PDF was drawn
            return None
        if current.label_file:
            current.label_file.delete(save=False)
        current.label_file.save(f"{current.number}.pdf", ContentFile(content), save=False)
        current.save(update_fields=["label_file"])
    return current


def label_link(rma: ReturnRequest) -> str:
    """The absolute, signed link to the return label that the customer's email carries."""
    token = signing.dumps({"rma": rma.pk}, salt=SIGNING_SALT)
    path = reverse("return_label", args=[token])
    return f"{settings.OMS_BASE_URL.rstrip('/')}{path}"


def rma_from_token(token: str) -> int:
    """The return id a label link was signed for; raises signing.BadSignature (or SignatureExpired)."""
    max_age = settings.RETURNS_LABEL_LINK_DAYS * 24 * 3600
    return int(signing.loads(token, salt=SIGNING_SALT, max_age=max_age)["rma"])
