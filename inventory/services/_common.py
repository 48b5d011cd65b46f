"""Helpers shared by the stock services: row locks in a fixed order, ledger rows, actors."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from ..models import StockLevel, StockMovement


def user_or_none(actor):
    """The actor when it is a signed-in user; None for a system label (str) or None."""
    return actor if getattr(actor, "is_authenticated", False) else None


def actor_fields(actor) -> dict:
    """The movement's actor columns for a user, a system label (str) or None."""
    user = user_or_none(actor)
    if user is not None:
        return {"actor": user, "actor_name": user.get_username()}
    return {"actor": None, "actor_name": actor if isinstance(actor, str) and actor else "system"}


def lock_levels(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Lock the stock levels of (warehouse id, product id) pairs, creating missing ones.

    Locks are always taken in primary-key order, so two transactions that
    lock overlapping levels queue instead of deadlocking.
    """
    pairs = set(pairs)
    if not pairs:
        return {}
    _ensure_levels(pairs)
    warehouse_ids = {w for w, _ in pairs}
    product_ids = {p for _, p in pairs}
    levels = (
        StockLevel.objects.select_for_update(no_key=True)
        .filter(warehouse_id__in=warehouse_ids, product_id__in=product_ids)
        .order_by("pk")
    )
    return {
        (level.warehouse_id, level.product_id): level
        for level in levels
        if (level.warehouse_id, level.product_id) in pairs
    }


def _ensure_levels(pairs: set[tuple[int, int]]) -> None:
    existing = set(
        StockLevel.objects.filter(
            warehouse_id__in={w for w, _ in pairs}, product_id__in={p for _, p in pairs}
        ).values_list("warehouse_id", "product_id")
    )
    missing = pairs - existing
    if missing:
        with transaction.atomic():
            StockLevel.objects.bulk_create(
                [StockLevel(warehouse_id=w, product_id=p) for w, p in sorted(missing)], ignore_conflicts=True
            )


def post_movement(level: StockLevel, *, kind: str, quantity: int, actor, **fields) -> StockMovement:
    """Change a locked level's on hand and write the ledger row for it."""
    level.on_hand += quantity
    level.save(update_fields=["on_hand", "allocated", "updated_at"])
    return StockMovement.objects.create(
        warehouse_id=level.warehouse_id,
        product_id=level.product_id,
        kind=kind,
        quantity=quantity,
        **actor_fields(actor),
        **fields,
    )


def enqueue_backorder_fill(product_ids: Iterable[int]) -> None:
    """After commit, ask the order workflow to allocate waiting backorders for these SKUs.

    The task is named in settings so that inventory does not import orders.
    """
    from django.conf import settings
    from django.utils.module_loading import import_string

    product_ids = sorted(set(product_ids))
    if not product_ids or not settings.INVENTORY_BACKORDER_FILL_TASK:
        return
    task = import_string(settings.INVENTORY_BACKORDER_FILL_TASK)
    transaction.on_commit(lambda: task.delay(product_ids))
