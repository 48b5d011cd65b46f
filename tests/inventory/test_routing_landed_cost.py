"""Landed-cost routing on hand-built networks: the cheapest plan that meets the date, nearest first on ties."""

import datetime as dt
from decimal import Decimal

from inventory.routing import Candidate, LineNeed, Offer, plan_allocation

MON = dt.date(2026, 11, 23)
TUE, WED, THU, FRI = (MON + dt.timedelta(days=n) for n in range(1, 5))
NEAR = Candidate(1, "NEAR", 1, 100.0)
MID = Candidate(2, "MID", 1, 800.0)
FAR = Candidate(3, "FAR", 1, 2000.0)
TEE = LineNeed(line_id=10, product_id=100, sku="TEE", quantity=1)
MUG = LineNeed(line_id=11, product_id=200, sku="MUG", quantity=1)


class Rates:
    """A hand-built pricing: offers and handling cost per warehouse code, one target date."""

    def __init__(self, offers, *, target, handling=None, extra="3.00"):
        self.by_code = offers
        self.handling = handling or {}
        self.target_date = target
        self.extra_shipment_cost = Decimal(extra)
        self.asked: list[tuple[str, dict]] = []

    def offers(self, candidate, units):
        self.asked.append((candidate.code, units))
        return [
            Offer(Decimal(price), eta, label, (label,)) for price, eta, label in self.by_code.get(candidate.code, [])
        ]

    def handling_cost(self, candidate):
        return Decimal(self.handling.get(candidate.code, "0"))


def everywhere(*candidates, units=5):
    return {(c.warehouse_id, p): units for c in candidates for p in (TEE.product_id, MUG.product_id)}


def test_a_farther_warehouse_wins_when_its_ground_arrives_in_time_for_less():
    # given the nearest needs air to make Wednesday, the middle one's ground makes it for less
    rates = Rates(
        {
            "NEAR": [("8.00", FRI, "Ground"), ("16.00", WED, "2Day")],
            "MID": [("9.50", WED, "Ground"), ("19.00", WED, "2Day")],
        },
        target=WED,
    )

    plan = plan_allocation([TEE], [NEAR, MID], everywhere(NEAR, MID), pricing=rates)

    assert [c.code for c in plan.warehouses] == ["MID"]
    assert plan.cost == Decimal("9.50") and plan.eta == WED and plan.target_date == WED
    assert plan.shipments[0].offer.label == "Ground"
    assert plan.reason == (
        "reserved at MID: least landed cost with full stock, 800 km; landed cost 9.50 (MID: Ground 9.50), "
        "arrives Wed 25 Nov, cheapest of 2 of 2 plans arriving by Wed 25 Nov; "
        "cheapest rejected: NEAR at 16.00, costs more"
    )


def test_a_cheaper_plan_that_misses_the_date_is_rejected_and_named_with_why():
    rates = Rates(
        {"NEAR": [("12.00", WED, "2Day")], "FAR": [("6.00", FRI, "Ground")]},
        target=WED,
    )

    plan = plan_allocation([TEE], [NEAR, FAR], everywhere(NEAR, FAR), pricing=rates)

    assert [c.code for c in plan.warehouses] == ["NEAR"]
    assert plan.reason.startswith("reserved at NEAR: nearest with full stock, 100 km; landed cost 12.00")
    assert plan.reason.endswith("cheapest rejected: FAR at 6.00, arrives Fri 27 Nov, after Wed 25 Nov")


def test_equal_landed_costs_go_to_the_nearest():
    rates = Rates({code: [("9.00", WED, "Ground")] for code in ("NEAR", "MID", "FAR")}, target=WED)

    plan = plan_allocation([TEE], [FAR, MID, NEAR], everywhere(NEAR, MID, FAR), pricing=rates)

    assert [c.code for c in plan.warehouses] == ["NEAR"]
    assert plan.reason.endswith("cheapest rejected: MID at 9.00, same cost, farther")


def test_handling_cost_is_part_of_the_landed_cost():
    # the nearest's label is 1.00 cheaper but packing there costs 2.00 more
    rates = Rates(
        {"NEAR": [("8.00", WED, "Ground")], "MID": [("9.00", WED, "Ground")]},
        target=WED,
        handling={"NEAR": "2.50", "MID": "0.50"},
    )

    plan = plan_allocation([TEE], [NEAR, MID], everywhere(NEAR, MID), pricing=rates)

    assert [c.code for c in plan.warehouses] == ["MID"]
    assert plan.cost == Decimal("9.50")
    assert "landed cost 9.50 (MID: Ground 9.00 + handling 0.50)" in plan.reason
    assert plan.reason.endswith("cheapest rejected: NEAR at 10.50, costs more")


def test_a_split_costs_its_labels_its_handling_and_the_extra_shipment():
    # given no warehouse has both SKUs: NEAR or MID has the tee, FAR the mug
    available = {(NEAR.warehouse_id, TEE.product_id): 1, (MID.warehouse_id, TEE.product_id): 1}
    available[(FAR.warehouse_id, MUG.product_id)] = 1
    rates = Rates(
        {
            "NEAR": [("11.00", WED, "2Day")],
            "MID": [("7.00", WED, "Ground")],
            "FAR": [("8.00", WED, "Ground")],
        },
        target=WED,
        handling={"FAR": "1.00"},
    )

    plan = plan_allocation([TEE, MUG], [NEAR, MID, FAR], available, pricing=rates)

    assert sorted(c.code for c in plan.warehouses) == ["FAR", "MID"]
    assert plan.cost == Decimal("7.00") + Decimal("8.00") + Decimal("1.00") + Decimal("3.00")
    assert "3.00 for 1 extra shipment" in plan.reason
    assert "cheapest rejected: NEAR + FAR at 23.00, costs more" in plan.reason
    assert ("MID", {TEE.product_id: 1}) in rates.asked  # each shipment priced with its own units


def test_when_no_plan_makes_the_date_the_earliest_one_wins_and_the_reason_says_so():
    rates = Rates(
        {
            "NEAR": [("8.00", FRI, "Ground"), ("30.00", THU, "Air")],
            "MID": [("9.00", THU, "Ground")],
        },
        target=TUE,
    )

    plan = plan_allocation([TEE], [NEAR, MID], everywhere(NEAR, MID), pricing=rates)

    assert [c.code for c in plan.warehouses] == ["MID"] and plan.target_date == THU
    assert "no plan arrives by Tue 24 Nov; cheapest of 2 arriving by the earliest, Thu 26 Nov" in plan.reason


def test_without_a_target_the_least_landed_cost_wins():
    rates = Rates({"NEAR": [("12.00", TUE, "Air")], "FAR": [("6.00", FRI, "Ground")]}, target=None)

    plan = plan_allocation([TEE], [NEAR, FAR], everywhere(NEAR, FAR), pricing=rates)

    assert [c.code for c in plan.warehouses] == ["FAR"]
    assert "landed cost 6.00 (FAR: Ground 6.00), arrives Fri 27 Nov, cheapest of 2 plans" in plan.reason


def test_a_warehouse_no_service_can_ship_from_is_left_out_and_with_none_routing_is_nearest_first():
    only_far = Rates({"FAR": [("20.00", WED, "Ground")]}, target=WED)
    plan = plan_allocation([TEE], [NEAR, FAR], everywhere(NEAR, FAR), pricing=only_far)
    assert [c.code for c in plan.warehouses] == ["FAR"]

    nobody = Rates({}, target=WED)
    plan = plan_allocation([TEE], [NEAR, FAR], everywhere(NEAR, FAR), pricing=nobody)
    assert [c.code for c in plan.warehouses] == ["NEAR"] and plan.cost is None
    assert plan.reason == "reserved at NEAR: nearest with full stock, 100 km"


def test_only_warehouses_with_the_stock_are_priced():
    rates = Rates({code: [("9.00", WED, "Ground")] for code in ("NEAR", "MID", "FAR")}, target=WED)
    available = everywhere(MID, FAR)

    plan = plan_allocation([TEE], [NEAR, MID, FAR], available, pricing=rates)

    assert [code for code, _ in rates.asked] == ["MID", "FAR"]
    assert plan.reason.startswith("reserved at MID: nearest with full stock, 800 km (NEAR short)")


class FlooredRates(Rates):
    """Rates that also say the least each warehouse's services ask, whatever the date."""

    def floor(self, candidate, units):
        return min((Decimal(price) for price, _, _ in self.by_code.get(candidate.code, [])), default=None)


def test_a_farther_warehouse_that_cannot_be_cheaper_is_not_priced_and_the_choice_is_the_same():
    offers = {
        "NEAR": [("8.00", WED, "Ground")],
        "MID": [("9.00", WED, "Ground")],
        "FAR": [("7.00", FRI, "Ground"), ("20.00", WED, "Air")],
    }
    floored, full = FlooredRates(offers, target=WED), Rates(offers, target=WED)

    pruned = plan_allocation([TEE], [NEAR, MID, FAR], everywhere(NEAR, MID, FAR), pricing=floored)
    searched = plan_allocation([TEE], [NEAR, MID, FAR], everywhere(NEAR, MID, FAR), pricing=full)

    # MID's floor (9.00) cannot beat NEAR's 8.00: not priced; FAR's (7.00) might: priced, and arrives too late
    assert [code for code, _ in floored.asked] == ["NEAR", "FAR"]
    assert pruned.warehouses == searched.warehouses == [NEAR] and pruned.cost == searched.cost
