"""Every write about 3PL connections: releases and requests out, messages sent and retried, messages in applied.

Split by subject (``releases``, ``messages``, ``inbound``); import the functions from here.
"""

from .inbound import process_message, process_waiting_messages, receive_message, reprocess_message
from .messages import backoff, edit_message_payload, resend_message, send_due_messages, send_message
from .polling import allocate_control_number, poll_connection, poll_file_drops
from .releases import (
    flag_overdue_releases,
    release_orders,
    release_shipment,
    release_waiting_orders,
    release_waiting_shipments,
    request_cancel,
    request_change,
    sync_items,
)

__all__ = [
    "allocate_control_number",
    "backoff",
    "edit_message_payload",
    "flag_overdue_releases",
    "poll_connection",
    "poll_file_drops",
    "process_message",
    "process_waiting_messages",
    "receive_message",
    "release_orders",
    "release_shipment",
    "release_waiting_orders",
    "release_waiting_shipments",
    "reprocess_message",
    "request_cancel",
    "request_change",
    "resend_message",
    "send_due_messages",
    "send_message",
    "sync_items",
]
