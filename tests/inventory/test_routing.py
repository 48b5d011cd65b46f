"""Routing rules on a hand-built geography, as pure functions (no database)."""

from inventory.routing import Candidate, Exclusion, Hold, LineNeed, plan_allocation

NEAR = Candidate(1, "NEAR", 1, 100.0)
MID = Candidate(2, "MID", 1, 900.0)
FAR = Candidate(3, "FAR", 1, 2500.0)
A = LineNeed(line_id=10, product_id=100, sku="A", quantity=2)
B = LineNeed(line_id=11, product_id=200, sku="B", quantity=1)


def test_the_nearest_warehouse_with_everything_wins():
    stock = {(1, 100): 5, (1, 200): 5, (2, 100): 5, (2, 200): 5}

    plan = plan_allocation([A, B], [FAR, MID, NEAR], stock)

    assert plan.picks == [(10, 1, 2), (11, 1, 1)]
    assert plan.backordered == {}
    assert plan.reason == "reserved at NEAR: nearest with full stock, 100 km"


def test_a_farther_complete_warehouse_beats_a_nearer_partial_one():
    stock = {(1, 100): 5, (2, 100): 5, (2, 200): 1}

    plan = plan_allocation([A, B], [NEAR, MID, FAR], stock)

    assert {warehouse for _, warehouse, _ in plan.picks} == {2}
    assert plan.reason == "reserved at MID: nearest with full stock, 900 km (NEAR short)"


def test_priority_comes_before_distance():
    preferred_far = Candidate(3, "FAR", 0, 2500.0)
    stock = {(1, 100): 5, (3, 100): 5}

    plan = plan_allocation([A], [NEAR, preferred_far], stock)

    assert plan.picks == [(10, 3, 2)]


def test_split_uses_the_fewest_warehouses_then_the_nearest():
    # A is at NEAR and FAR, B at MID and FAR: FAR alone cannot do A (1 unit) so
    # two shipments are needed; NEAR+MID (1,000 km) beats MID+FAR and NEAR+FAR.
    stock = {(1, 100): 2, (2, 200): 1, (3, 100): 1, (3, 200): 1}

    plan = plan_allocation([A, B], [FAR, MID, NEAR], stock)

    assert sorted(plan.picks) == [(10, 1, 2), (11, 2, 1)]
    assert [c.code for c in plan.warehouses] == ["NEAR", "MID"]
    assert plan.reason == (
        "reserved at NEAR (1 line, 100 km) and MID (1 line, 900 km): "
        "no single warehouse had every line; fewest shipments"
    )


def test_one_line_split_across_warehouses_when_no_single_one_has_enough():
    stock = {(1, 100): 1, (2, 100): 1}

    plan = plan_allocation([A], [NEAR, MID], stock)

    assert sorted(plan.picks) == [(10, 1, 1), (10, 2, 1)]
    assert plan.backordered == {}


def test_what_no_warehouse_has_is_backordered_and_the_rest_ships_from_the_fewest():
    stock = {(2, 100): 2, (3, 100): 2}

    plan = plan_allocation([A, B], [NEAR, MID, FAR], stock)

    assert plan.picks == [(10, 2, 2)]
    assert plan.backordered == {11: 1}
    assert plan.reason == (
        "reserved at MID (1 line, 900 km): no warehouse had every line, nearest with the most stock; "
        "backordered 1 × B: not in stock in any eligible warehouse"
    )


def test_nothing_anywhere_backorders_everything():
    plan = plan_allocation([A, B], [NEAR, MID], {})

    assert plan.picks == []
    assert plan.backordered == {10: 2, 11: 1}


def test_unknown_distances_fall_back_to_priority_and_code():
    unknown_b = Candidate(5, "BBB", 1, None)
    unknown_a = Candidate(4, "AAA", 1, None)
    stock = {(4, 100): 5, (5, 100): 5}

    plan = plan_allocation([A], [unknown_b, unknown_a], stock)

    assert plan.picks == [(10, 4, 2)]


def test_two_lines_of_one_sku_draw_on_the_same_shelf():
    """A warehouse with 1 unit cannot ship two lines of that SKU: one line waits, nothing is over-reserved."""
    needs = [LineNeed(1, 10, "TEE", 1), LineNeed(2, 10, "TEE", 1)]
    near = Candidate(100, "EWR", 1, 10.0)
    far = Candidate(200, "DAL", 1, 2000.0)

    alone = plan_allocation(needs, [near], {(100, 10): 1})
    split = plan_allocation(needs, [near, far], {(100, 10): 1, (200, 10): 1})
    whole = plan_allocation(needs, [near, far], {(100, 10): 1, (200, 10): 2})

    assert alone.picks == [(1, 100, 1)] and alone.backordered == {2: 1}
    assert sorted(split.picks) == [(1, 100, 1), (2, 200, 1)]
    assert whole.picks == [(1, 200, 1), (2, 200, 1)]


# --- the reason names the rule that moved the order ---------------------------------------


def test_a_nearer_warehouse_kept_back_by_safety_stock_is_named_with_its_rule():
    stock = {(1, 100): 1, (2, 100): 5}  # NEAR has 1 free of A after its rule kept 4: it had 5
    held = {(1, 100): Hold(4, "keep 4 A at NEAR")}

    plan = plan_allocation([A], [NEAR, MID], stock, held=held)

    assert plan.picks == [(10, 2, 2)]
    assert (
        plan.reason
        == "reserved at MID: nearest with full stock, 900 km (NEAR skipped: safety stock rule 'keep 4 A at NEAR')"
    )


def test_a_nearer_warehouse_short_even_without_its_rule_is_just_short():
    stock = {(2, 100): 5}
    held = {(1, 100): Hold(1, "keep 1 A at NEAR")}  # 1 unit there: not enough for 2 anyway

    plan = plan_allocation([A], [NEAR, MID], stock, held=held)

    assert plan.reason == "reserved at MID: nearest with full stock, 900 km (NEAR short)"


def test_an_excluded_warehouse_nearer_than_the_one_used_is_named_with_its_rule_a_farther_one_is_not():
    stock = {(2, 100): 5}

    plan = plan_allocation(
        [A], [MID], stock, excluded=[Exclusion(NEAR, "no hazmat by road"), Exclusion(FAR, "closed for audit")]
    )

    assert plan.reason == "reserved at MID: nearest with full stock, 900 km (NEAR excluded by rule 'no hazmat by road')"


def test_a_split_says_how_many_lines_each_warehouse_reserved_and_which_rule_sent_a_sku_farther():
    # A is at NEAR (but kept back by a rule) and FAR; B only at MID
    stock = {(1, 100): 0, (3, 100): 2, (2, 200): 1}
    held = {(1, 100): Hold(3, "web buffer")}

    plan = plan_allocation([A, B], [NEAR, MID, FAR], stock, held=held)

    assert plan.reason == (
        "reserved at MID (1 line, 900 km) and FAR (1 line, 2,500 km): no single warehouse had every line; "
        "fewest shipments (NEAR skipped for A: safety stock rule 'web buffer')"
    )


def test_units_a_rule_kept_back_are_named_with_the_backorder():
    stock = {(1, 100): 1}
    held = {(1, 100): Hold(2, "keep 2 A at NEAR")}

    plan = plan_allocation([A, B], [NEAR, MID], stock, held=held)

    assert plan.backordered == {10: 1, 11: 1}
    assert plan.reason == (
        "reserved at NEAR (1 line, 100 km): no warehouse had every line, nearest with the most stock; "
        "backordered 1 × B: not in stock in any eligible warehouse; "
        "backordered 1 × A: held back at NEAR by safety stock rule 'keep 2 A at NEAR'"
    )
