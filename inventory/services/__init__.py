"""Every write to stock: the ledger, allocations, counts and the daily check.

Split by domain (`stock`, `allocation`, `counts`, `check`); import the
functions from here.
"""

from .allocation import (
    AllocationResult,
    LineRequest,
    OrderRequest,
    Reservation,
    consume_allocations,
    plan_batch,
    release_allocations,
    release_units,
    reserve,
)
from .check import run_inventory_check
from .counts import approve_cycle_count, record_counts, reject_cycle_count, start_cycle_count, submit_cycle_count
from .reallocation import UnitMove, available_units, move_allocations
from .stock import adjust_stock, receive_stock, restock_return, transfer_stock, write_off_stock

__all__ = [
    "AllocationResult",
    "LineRequest",
    "OrderRequest",
    "Reservation",
    "UnitMove",
    "adjust_stock",
    "approve_cycle_count",
    "available_units",
    "consume_allocations",
    "move_allocations",
    "plan_batch",
    "receive_stock",
    "record_counts",
    "reject_cycle_count",
    "release_allocations",
    "release_units",
    "reserve",
    "restock_return",
    "run_inventory_check",
    "start_cycle_count",
    "submit_cycle_count",
    "transfer_stock",
    "write_off_stock",
]
