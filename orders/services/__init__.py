"""Every write to orders. Each service locks the order row first and writes
the timeline through ``orders.events``. The admin, the API and tasks call
these; these never call them back (they start a task by its name).

A service is one transaction, except where it calls a payment gateway: it
commits first and calls after, with no lock held (``payment``).
"""

from .amendments import (
    AddressChanged,
    EditSummary,
    LineChange,
    LinesCancelled,
    address_problems,
    cancel_lines,
    change_shipping_address,
    edit_lines,
    order_version,
    preview_cancellation,
    preview_edit,
)
from .delay_notices import suppress_delay_notice, sweep_delay_notices
from .fulfilment import (
    allocate_locked_order,
    allocate_order,
    allocate_orders,
    fill_backorders,
    mark_delivered,
    record_shipment,
    route_new_order,
    route_received_orders,
    route_waiting_orders,
)
from .holds import hold_shipment, release_shipment
from .intake import (
    AddressData,
    CustomerData,
    LineData,
    OrderData,
    PaymentData,
    canonical_payload,
    format_order_number,
    place_order,
)
from .lifecycle import (
    add_order_note,
    cancel_order,
    flag_late_orders,
    hold_order,
    note_stale_channel_update,
    release_order,
)
from .payment import capture_again, follow_up, prepare_order, ready_to_route, retry_payment
from .shipment_changes import (
    ShipmentChange,
    merge_shipments,
    move_shipment,
    preview_merge,
    preview_move,
    preview_split,
    shipment_version,
    split_shipment,
)
from .shipping import (
    approve_shipping_cost,
    buy_labels,
    create_shipments,
    override_carrier,
    record_shipment_tracking,
    record_tracking,
    ship_shipment,
    void_label,
)
from .shipping_facts import refresh_all_shipping_facts, refresh_shipping_facts
from .status_links import revoke_status_link

__all__ = [
    "AddressChanged",
    "AddressData",
    "CustomerData",
    "EditSummary",
    "LineChange",
    "LineData",
    "LinesCancelled",
    "OrderData",
    "PaymentData",
    "ShipmentChange",
    "add_order_note",
    "address_problems",
    "allocate_locked_order",
    "allocate_order",
    "allocate_orders",
    "approve_shipping_cost",
    "buy_labels",
    "cancel_lines",
    "cancel_order",
    "canonical_payload",
    "capture_again",
    "change_shipping_address",
    "create_shipments",
    "edit_lines",
    "fill_backorders",
    "flag_late_orders",
    "follow_up",
    "format_order_number",
    "hold_order",
    "hold_shipment",
    "mark_delivered",
    "merge_shipments",
    "move_shipment",
    "note_stale_channel_update",
    "order_version",
    "override_carrier",
    "place_order",
    "prepare_order",
    "preview_cancellation",
    "preview_edit",
    "preview_merge",
    "preview_move",
    "preview_split",
    "ready_to_route",
    "record_shipment",
    "record_shipment_tracking",
    "record_tracking",
    "refresh_all_shipping_facts",
    "refresh_shipping_facts",
    "release_order",
    "release_shipment",
    "retry_payment",
    "revoke_status_link",
    "route_new_order",
    "route_received_orders",
    "route_waiting_orders",
    "ship_shipment",
    "shipment_version",
    "split_shipment",
    "suppress_delay_notice",
    "sweep_delay_notices",
    "void_label",
]
