"""Cycle counts: staff count bins/SKUs, a manager approves, corrections are posted to the ledger.

The expected quantity of a line is read when its count is recorded, and an
approval posts the variance (counted - expected) as a movement on top of
whatever happened since, so counting while orders allocate and ship does
not lose or invent units.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..exceptions import InsufficientStock, InvalidCount
from ..models import CycleCount, CycleCountLine, StockLevel, StockMovement
from ..selectors import count_valuation
from ._common import enqueue_backorder_fill, lock_levels, post_movement, user_or_none

Status = CycleCount.Status


def _lock_count(count_id: int, *, expected: str) -> CycleCount:
    # of=("self",): lock only the count, not the joined warehouse row, which
    # every allocation and movement insert must key-share lock.
    count = CycleCount.objects.select_for_update(of=("self",), no_key=True).select_related("warehouse").get(pk=count_id)
    if count.status != expected:
        raise InvalidCount(f"{count} is {count.get_status_display().lower()}, not {Status(expected).label.lower()}.")
    return count


@transaction.atomic
def start_cycle_count(
    *, warehouse_id: int, actor, product_ids: list[int] | None = None, bin_prefix: str = "", note: str = ""
) -> CycleCount:
    """Open a count for a warehouse's SKUs (all, a list, or the bins starting with a prefix)."""
    levels = StockLevel.objects.filter(warehouse_id=warehouse_id).select_related("product")
    if product_ids:
        levels = levels.filter(product_id__in=product_ids)
    if bin_prefix:
        levels = levels.filter(bin_location__istartswith=bin_prefix)
    levels = list(levels)
    known = {level.product_id for level in levels}
    count = CycleCount.objects.create(warehouse_id=warehouse_id, note=note, created_by=user_or_none(actor))
    CycleCountLine.objects.bulk_create(
        [CycleCountLine(count=count, product_id=level.product_id, bin_location=level.bin_location) for level in levels]
        + [CycleCountLine(count=count, product_id=pk) for pk in (product_ids or []) if pk not in known]
    )
    if not count.lines.exists():
        raise InvalidCount("Nothing to count: no SKU matches in this warehouse.")
    return count


@transaction.atomic
def record_counts(*, count_id: int, counted: dict[int, int], actor) -> CycleCount:
    """Record counted quantities for lines of an open count; snapshot what the system expected then."""
    count = _lock_count(count_id, expected=Status.OPEN)
    lines = {line.pk: line for line in count.lines.select_related("product")}
    unknown = sorted(set(counted) - set(lines))
    if unknown:
        raise InvalidCount(f"Lines {unknown} are not on {count}.")
    for line_id, quantity in counted.items():
        if quantity is None or quantity < 0:
            raise InvalidCount(f"{lines[line_id].product.sku}: a count must be zero or more, not {quantity!r}.")
    levels = lock_levels({(count.warehouse_id, lines[line_id].product_id) for line_id in counted})
    now = timezone.now()
    user = user_or_none(actor)
    for line_id, quantity in counted.items():
        line = lines[line_id]
        line.counted_quantity = quantity
        line.expected_quantity = levels[(count.warehouse_id, line.product_id)].on_hand
        line.counted_at = now
        line.counted_by = user
        line.save(update_fields=["counted_quantity", "expected_quantity", "counted_at", "counted_by"])
    return count


@transaction.atomic
def submit_cycle_count(*, count_id: int, actor) -> CycleCount:
    """Hand a fully counted count to a manager for approval."""
    count = _lock_count(count_id, expected=Status.OPEN)
    missing = list(count.lines.filter(counted_quantity__isnull=True).values_list("product__sku", flat=True))
    if missing:
        raise InvalidCount(f"Count every line before submitting; not counted yet: {', '.join(missing)}.")
    count.status = Status.SUBMITTED
    count.submitted_at = timezone.now()
    count.save(update_fields=["status", "submitted_at"])
    return count


@transaction.atomic
def approve_cycle_count(*, count_id: int, actor, variances_checked: bool = False) -> list[StockMovement]:
    """Approve a submitted count: post each variance as a cycle-count correction.

    When the variances are worth more than settings.CYCLE_COUNT_CONFIRM_VALUE
    (gains and losses alike), the approver must say they checked them
    (``variances_checked``); otherwise InvalidCount is raised and nothing is posted.
    """
    count = _lock_count(count_id, expected=Status.SUBMITTED)
    valuation = count_valuation(count)
    if valuation.needs_confirmation and not variances_checked:
        raise InvalidCount(
            f"The variances of {count} are worth {valuation.absolute_value:,.2f} {valuation.currency}, more than "
            f'{valuation.confirm_above:,.2f} {valuation.currency}: tick "I have checked these variances" '
            "to approve. Nothing was posted."
        )
    lines = [line for line in valuation.lines if line.variance]
    levels = lock_levels({(count.warehouse_id, line.product_id) for line in lines})
    movements = []
    for line in lines:
        level = levels[(count.warehouse_id, line.product_id)]
        if level.on_hand + line.variance < level.allocated:
            raise InsufficientStock(
                f"{line.product.sku}: the count leaves {level.on_hand + line.variance} on hand but "
                f"{level.allocated} are allocated to orders; release or reallocate them first."
            )
        movements.append(
            post_movement(
                level,
                kind=StockMovement.Kind.COUNT_CORRECTION,
                quantity=line.variance,
                actor=actor,
                cycle_count=count,
                reason=f"{count}: counted {line.counted_quantity}, expected {line.expected_quantity}",
            )
        )
    count.status = Status.APPROVED
    count.decided_by = user_or_none(actor)
    count.decided_at = timezone.now()
    count.save(update_fields=["status", "decided_by", "decided_at"])
    enqueue_backorder_fill(line.product_id for line in lines if line.variance > 0)
    return movements


@transaction.atomic
def reject_cycle_count(*, count_id: int, reason: str, actor) -> CycleCount:
    """Send a submitted count back as rejected, with a reason; nothing is posted."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidCount("A reason is required to reject a count.")
    count = _lock_count(count_id, expected=Status.SUBMITTED)
    count.status = Status.REJECTED
    count.rejection_reason = reason
    count.decided_by = user_or_none(actor)
    count.decided_at = timezone.now()
    count.save(update_fields=["status", "rejection_reason", "decided_by", "decided_at"])
    return count
