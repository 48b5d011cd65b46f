"""A business customer's warehouse rules in the pure planner: its defaults win when they ship complete by the date."""

import datetime as dt
from decimal import Decimal

from inventory.routing import Candidate, Exclusion, LineNeed, Offer, plan_allocation

MON = dt.date(2026, 11, 23)
WED, FRI = MON + dt.timedelta(days=2), MON + dt.timedelta(days=4)
NEAR = Candidate(1, "NEAR", 1, 100.0)
FAR = Candidate(3, "FAR", 1, 2000.0)
TEE = LineNeed(line_id=10, product_id=100, sku="TEE", quantity=1)
RULE = "business customer Acme Wholesale"


class Rates:
    def __init__(self, offers, *, target):
        self.by_code = offers
        self.target_date = target
        self.extra_shipment_cost = Decimal("3.00")

    def offers(self, candidate, units):
        return [
            Offer(Decimal(price), eta, label, (label,)) for price, eta, label in self.by_code.get(candidate.code, [])
        ]

    def handling_cost(self, candidate):
        return Decimal("0")


def stocked(*candidates, units=5):
    return {(c.warehouse_id, TEE.product_id): units for c in candidates}


def test_the_default_warehouse_wins_over_a_nearer_cheaper_one_when_it_makes_the_date():
    rates = Rates({"NEAR": [("8.00", WED, "Ground")], "FAR": [("12.00", WED, "Ground")]}, target=WED)

    plan = plan_allocation([TEE], [NEAR, FAR], stocked(NEAR, FAR), pricing=rates, preferred=(3,), preference=RULE)

    assert [c.code for c in plan.warehouses] == ["FAR"]
    assert plan.reason.startswith(f"reserved at FAR: default warehouse of {RULE}; ")


def test_the_default_warehouse_that_misses_the_date_gives_way_and_the_reason_says_so():
    rates = Rates({"NEAR": [("8.00", WED, "Ground")], "FAR": [("12.00", FRI, "Ground")]}, target=WED)

    plan = plan_allocation([TEE], [NEAR, FAR], stocked(NEAR, FAR), pricing=rates, preferred=(3,), preference=RULE)

    assert [c.code for c in plan.warehouses] == ["NEAR"]
    assert f"default warehouse of {RULE} could not ship it complete by its date" in plan.reason


def test_the_default_warehouse_without_the_stock_gives_way():
    plan = plan_allocation([TEE], [NEAR, FAR], stocked(NEAR), preferred=(3,), preference=RULE)

    assert [c.code for c in plan.warehouses] == ["NEAR"]
    assert f"default warehouse of {RULE} could not ship it complete" in plan.reason


def test_without_a_preference_the_nearest_ships_as_before():
    plan = plan_allocation([TEE], [NEAR, FAR], stocked(NEAR, FAR))

    assert plan.reason == "reserved at NEAR: nearest with full stock, 100 km"


def test_an_excluded_warehouse_is_named_when_the_order_waits():
    plan = plan_allocation([TEE], [FAR], {}, excluded=[Exclusion(NEAR, RULE)])

    assert plan.backordered == {TEE.line_id: 1}
    assert f"NEAR excluded by rule '{RULE}'" in plan.reason
