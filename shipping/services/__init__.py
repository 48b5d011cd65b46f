"""Every write to shipping. The order workflow (orders.services.shipping) calls
these inside its transaction and writes the order's timeline from what they return.
"""

from .labels import join_label_batch, label_data_for, render_label_chunk, render_shipment_label, start_label_batch
from .shipments import (
    CarrierChoice,
    ShipmentLineData,
    cancel_shipment,
    choose_carrier,
    create_shipment,
    hand_over,
    lock_shipment,
    override_service,
    purchase_labels,
    quote_for,
    record_partner_labels,
    record_tracking_event,
    repack_shipment,
    split_into_parcels,
    void_labels,
    zone_between,
)

__all__ = [
    "CarrierChoice",
    "ShipmentLineData",
    "cancel_shipment",
    "choose_carrier",
    "create_shipment",
    "hand_over",
    "join_label_batch",
    "label_data_for",
    "lock_shipment",
    "override_service",
    "purchase_labels",
    "quote_for",
    "record_partner_labels",
    "record_tracking_event",
    "render_label_chunk",
    "render_shipment_label",
    "repack_shipment",
    "split_into_parcels",
    "start_label_batch",
    "void_labels",
    "zone_between",
]
