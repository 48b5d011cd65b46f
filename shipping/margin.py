"""The margin guard: is what an order's shipping costs us out of line with what the order brings in?

A pure function, no database. Shipping is "at risk" when its cost is more
than ``max_share`` of the order's goods, or more than ``max_multiple`` times
what the customer paid for shipping. Each test needs its base: the first
applies to orders with goods value (not a free replacement), the second
only when the customer paid something for shipping (free shipping is
judged by the first alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class CostCheck:
    """The figures of one check and, when the cost is out of line, why (one sentence per test failed)."""

    cost: Decimal
    order_value: Decimal
    paid: Decimal
    max_share: Decimal
    max_multiple: Decimal
    reasons: tuple[str, ...]

    @property
    def at_risk(self) -> bool:
        return bool(self.reasons)

    def as_data(self) -> dict:
        return {
            "cost": str(self.cost),
            "order_value": str(self.order_value),
            "paid": str(self.paid),
            "max_share": str(self.max_share),
            "max_multiple": str(self.max_multiple),
            "reasons": list(self.reasons),
        }


def check_shipping_cost(
    *, cost: Decimal, order_value: Decimal, paid: Decimal, max_share: Decimal, max_multiple: Decimal
) -> CostCheck:
    """Compare a shipping cost with the order's goods and with what the customer paid for shipping."""
    reasons = []
    if order_value > 0 and cost > order_value * max_share:
        share = (cost / order_value * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
        reasons.append(
            f"costs {cost}, {share}% of the order's goods ({order_value}); the limit is {_percent(max_share)}"
        )
    if paid > 0 and cost > paid * max_multiple:
        multiple = (cost / paid).quantize(CENT, rounding=ROUND_HALF_UP).normalize()
        reasons.append(
            f"costs {cost}, {multiple:f}× the {paid} the customer paid for shipping; "
            f"the limit is {max_multiple.normalize():f}×"
        )
    return CostCheck(cost, order_value, paid, max_share, max_multiple, tuple(reasons))


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"
