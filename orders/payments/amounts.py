"""How much each shipment captures: pure arithmetic, so the sums can be checked on their own."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CaptureSplit:
    """A capture and what it is for: goods (net of discount), shipping and tax; goods + shipping + tax = amount."""

    amount: Decimal
    goods: Decimal
    shipping: Decimal
    tax: Decimal

    def as_dict(self) -> dict:
        return {
            "amount": str(self.amount),
            "goods": str(self.goods),
            "shipping": str(self.shipping),
            "tax": str(self.tax),
        }

    @classmethod
    def from_dict(cls, data: dict) -> CaptureSplit:
        return cls(**{key: Decimal(data.get(key, "0")) for key in ("amount", "goods", "shipping", "tax")})


def split_capture(
    *,
    grand_total: Decimal,
    subtotal: Decimal,
    shipping_total: Decimal,
    tax_total: Decimal,
    discount_total: Decimal,
    value: Decimal,
    is_last: bool,
    previous: list[CaptureSplit],
) -> CaptureSplit:
    """The capture for a shipment whose goods are worth ``value`` (at the order's unit prices).

    A shipment carries its goods plus its share (value / subtotal) of
    shipping, tax and discount; the order's last shipment takes whatever is
    left, so the captures of an order sum exactly to its grand total.
    """
    captured = sum((split.amount for split in previous), ZERO)
    left = max(grand_total - captured, ZERO)
    if is_last:
        shipping = shipping_total - sum((split.shipping for split in previous), ZERO)
        tax = tax_total - sum((split.tax for split in previous), ZERO)
        amount = left
    else:
        share = (value / subtotal) if subtotal else Decimal("0")
        # Each share is rounded to the cent; never past what is left of the order's shipping and tax, so
        # that shares rounded up cannot add up to more than the total (the last shipment takes the rest).
        shipping = min(cents(shipping_total * share), shipping_total - sum((s.shipping for s in previous), ZERO))
        tax = min(cents(tax_total * share), tax_total - sum((s.tax for s in previous), ZERO))
        discount = cents(discount_total * share)
        # Nor may the goods' shares, each rounded to the cent, add up to more than the order's goods (after its
        # discount): a cent taken too early would leave the last shipment short of the shipping and tax left.
        goods_left = grand_total - shipping_total - tax_total - sum((s.goods for s in previous), ZERO)
        goods = min(max(cents(value - discount), ZERO), max(goods_left, ZERO))
        amount = min(goods + shipping + tax, left)
    shipping = min(max(shipping, ZERO), amount)
    tax = min(max(tax, ZERO), amount - shipping)
    return CaptureSplit(amount=amount, goods=amount - shipping - tax, shipping=shipping, tax=tax)
