"""Captures per shipment: whatever the split, they sum to the order's total and never go negative."""

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from orders.payments.amounts import CaptureSplit, split_capture

money = st.decimals(min_value=Decimal("0"), max_value=Decimal("5000"), places=2)


@given(
    values=st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2000"), places=2), min_size=1, max_size=6
    ),
    shipping=money,
    tax=money,
    discount=money,
)
# A discount of nearly all the goods: each earlier shipment's goods, rounded to the cent, once took a cent the
# last shipment needed for its tax.
@example(
    values=[Decimal("3.49"), Decimal("13.28"), Decimal("1751.26"), Decimal("1999.64"), Decimal("0.01")],
    shipping=Decimal("0.00"),
    tax=Decimal("0.29"),
    discount=Decimal("3027.97"),
)
def test_shipment_captures_sum_to_the_grand_total(values, shipping, tax, discount):
    subtotal = sum(values, Decimal("0"))
    discount = min(discount, subtotal)
    grand_total = subtotal + shipping + tax - discount
    captures: list[CaptureSplit] = []
    for index, value in enumerate(values):
        split = split_capture(
            grand_total=grand_total,
            subtotal=subtotal,
            shipping_total=shipping,
            tax_total=tax,
            discount_total=discount,
            value=value,
            is_last=index == len(values) - 1,
            previous=captures,
        )
        assert split.amount >= 0 and split.goods >= 0 and split.shipping >= 0 and split.tax >= 0
        assert split.goods + split.shipping + split.tax == split.amount
        captures.append(split)

    assert sum(c.amount for c in captures) == grand_total
    assert sum(c.shipping for c in captures) == shipping
    assert sum(c.tax for c in captures) == tax
