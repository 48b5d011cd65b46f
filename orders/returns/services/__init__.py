"""Every write to returns, refunds and order errors. Each service is one transaction that locks the
order row first, then the return (or case), then stock levels through the inventory services, and writes
each step on the order's timeline with who did it. Money moves through ``refunds._settle`` only.
"""

from .errors import open_error_case, resolve_error_case
from .labels import label_link, render_return_label, return_label_data, rma_from_token
from .refunds import (
    RefundQuote,
    confirm_return_refund,
    mark_refund_settled,
    quote_error_refund,
    quote_return_refund,
    settle_refund,
    settles_by_hand,
)
from .returns import (
    Inspection,
    authorise_return,
    close_return,
    inspect_locked_return,
    inspect_return,
    open_locked_return,
    open_return,
    receive_locked_return,
    receive_return,
    reject_return,
)
from .self_service import CUSTOMER, ReturnOptions, request_return, reserve_replacement, return_options

__all__ = [
    "CUSTOMER",
    "Inspection",
    "RefundQuote",
    "ReturnOptions",
    "authorise_return",
    "close_return",
    "confirm_return_refund",
    "inspect_locked_return",
    "inspect_return",
    "label_link",
    "mark_refund_settled",
    "open_error_case",
    "open_locked_return",
    "open_return",
    "quote_error_refund",
    "quote_return_refund",
    "receive_locked_return",
    "receive_return",
    "reject_return",
    "render_return_label",
    "request_return",
    "reserve_replacement",
    "resolve_error_case",
    "return_label_data",
    "return_options",
    "rma_from_token",
    "settle_refund",
    "settles_by_hand",
]
