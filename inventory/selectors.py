"""Reads of stock: what can be sold, per warehouse and in total, from one formula.

available = on_hand - allocated, read from the same rows the allocation
service locks, so the console, the API and the daily check agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet, Sum

from .models import CycleCount, Product, RoutingExclusion, SafetyStockRule, StockLevel, StockMovement


@dataclass(frozen=True)
class WarehouseStock:
    warehouse_code: str
    warehouse_name: str
    on_hand: int
    allocated: int
    available: int


def stock_levels() -> QuerySet[StockLevel]:
    """Stock levels with their warehouse and product, and ``available_quantity`` annotated."""
    return StockLevel.objects.select_related("warehouse", "product").annotate(
        available_quantity=F("on_hand") - F("allocated")
    )


def stock_by_warehouse(product: Product, *, active_only: bool = True) -> list[WarehouseStock]:
    """A SKU's stock in every warehouse that holds a level for it."""
    levels = stock_levels().filter(product=product).order_by("warehouse__code")
    if active_only:
        levels = levels.filter(warehouse__is_active=True)
    return [
        WarehouseStock(
            level.warehouse.code, level.warehouse.name, level.on_hand, level.allocated, level.available_quantity
        )
        for level in levels
    ]


def available_to_sell(product: Product) -> int:
    """Units of a SKU free to sell across active warehouses."""
    total = StockLevel.objects.filter(product=product, warehouse__is_active=True).aggregate(
        available=Sum(F("on_hand") - F("allocated"))
    )["available"]
    return total or 0


def channel_stock(product: Product, *, channel_id: int) -> list[WarehouseStock]:
    """What one channel may sell of a SKU, per warehouse, by the rules allocation applies.

    Per warehouse: on hand - allocated - the channel's safety stock there
    (the largest rule that covers the SKU and warehouse, as allocation
    takes it), never below zero. Inactive warehouses and warehouses the
    channel is excluded from everywhere are left out.
    """
    excluded = set(
        RoutingExclusion.objects.filter(
            Q(channel_id=channel_id) | Q(channel__isnull=True), destination_state=""
        ).values_list("warehouse_id", flat=True)
    )
    rules = list(
        SafetyStockRule.objects.filter(channel_id=channel_id).filter(Q(product=product) | Q(product__isnull=True))
    )
    rows = []
    for level in stock_levels().filter(product=product, warehouse__is_active=True).order_by("warehouse__code"):
        if level.warehouse_id in excluded:
            continue
        held = max(
            (rule.quantity for rule in rules if rule.warehouse_id in (None, level.warehouse_id)),
            default=0,
        )
        rows.append(
            WarehouseStock(
                level.warehouse.code,
                level.warehouse.name,
                level.on_hand,
                level.allocated,
                max(0, level.available_quantity - held),
            )
        )
    return rows


def recent_movements(product: Product, limit: int = 25) -> QuerySet[StockMovement]:
    return product.movements.select_related("warehouse", "product", "order").order_by("-created_at", "-id")[:limit]


def stock_levels_with_low_flag() -> QuerySet[StockLevel]:
    """``stock_levels()`` plus ``low_stock`` (on hand at or below the reorder point), to sort on."""
    return stock_levels().annotate(
        low_stock=ExpressionWrapper(Q(on_hand__lte=F("reorder_point")), output_field=BooleanField())
    )


def filter_stock(queryset: QuerySet[StockLevel], state: str | None) -> QuerySet[StockLevel]:
    """Levels that are low (at or under the reorder point), out (nothing available) or available."""
    if state == "low":
        return queryset.filter(on_hand__lte=F("reorder_point"))
    if state == "out":
        return queryset.filter(on_hand__lte=F("allocated"))
    if state == "available":
        return queryset.filter(on_hand__gt=F("allocated"))
    return queryset


def level_movements(level: StockLevel, *, limit: int = 25) -> list[StockMovement]:
    """The last movements of one stock level, newest first."""
    movements = StockMovement.objects.filter(warehouse_id=level.warehouse_id, product_id=level.product_id)
    return list(movements.select_related("warehouse", "product", "order").order_by("-created_at", "-id")[:limit])


def active_products(skus) -> dict[str, Product]:
    """The active products with these SKUs, by SKU: one hand-written read (the order intake's, every request)."""

    from oms_core.sql import columns, from_row, prepared_cursor

    skus = sorted(set(skus))
    if not skus:
        return {}
    product_columns, names = columns(Product, "p")
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {product_columns} FROM {Product._meta.db_table} AS p "
            f"WHERE p.sku IN ({', '.join(['%s'] * len(skus))}) AND p.is_active",
            skus,
        )
        products = [from_row(Product, names, row) for row in cursor.fetchall()]
    return {product.sku: product for product in products}


@dataclass(frozen=True)
class CountValuation:
    """What a cycle count's variances are worth at unit cost, and whether approving it needs a confirmation."""

    lines: list  # CycleCountLine, product loaded, in the count's order
    net_value: Decimal  # gains minus losses
    absolute_value: Decimal  # gains plus losses: what the confirmation threshold is compared with
    confirm_above: Decimal
    currency: str

    @property
    def needs_confirmation(self) -> bool:
        return self.absolute_value > self.confirm_above


def count_valuation(count: CycleCount) -> CountValuation:
    """Value each line's variance (units × the product's unit cost) and total them.

    Gains and losses both count towards the confirmation threshold
    (settings.CYCLE_COUNT_CONFIRM_VALUE): a count that finds 600.00 too much
    of one SKU and 600.00 too little of another needs a second look too.
    """
    lines = list(count.lines.select_related("product"))
    values = [line.variance_value for line in lines if line.variance_value is not None]
    return CountValuation(
        lines=lines,
        net_value=sum(values, Decimal("0.00")),
        absolute_value=sum((abs(value) for value in values), Decimal("0.00")),
        confirm_above=Decimal(str(settings.CYCLE_COUNT_CONFIRM_VALUE)),
        currency=settings.ACCOUNTING_CURRENCY,
    )
