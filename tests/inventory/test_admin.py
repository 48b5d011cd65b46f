"""The inventory console through the admin client: stock, the ledger, counts, the daily check, roles."""

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory import admin as inventory_admin
from inventory import services as inventory
from inventory.models import (
    CycleCount,
    CycleCountLine,
    ImportJob,
    InventoryCheckRun,
    InventoryFinding,
    RoutingExclusion,
    SafetyStockRule,
    StockLevel,
    StockMovement,
    Warehouse,
)
from orders import services as order_services
from tests.conftest import ROLES
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db
Kind = StockMovement.Kind

LEVELS = reverse("admin:inventory_stocklevel_changelist")
MOVEMENTS = reverse("admin:inventory_stockmovement_changelist")
RECEIVE = reverse("admin:inventory_stocklevel_receive")
ADJUST = reverse("admin:inventory_stocklevel_adjust")
TRANSFER = reverse("admin:inventory_stocklevel_transfer")
START_COUNT = reverse("admin:inventory_cyclecount_add")
RUN_CHECK = reverse("admin:inventory_inventorycheckrun_run")


@pytest.fixture
def ops(client, superuser):
    client.force_login(superuser)
    return client


def login(client, role: str):
    user = UserFactory(username=role.lower().replace(" ", "-"), role=role)
    client.force_login(user)
    return user


def messages_of(response) -> list[str]:
    """The messages waiting for the next page (follow=True: the ones that page showed)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def ledger(warehouse, product) -> list[tuple[str, int]]:
    return list(
        StockMovement.objects.filter(warehouse=warehouse, product=product)
        .order_by("id")
        .values_list("kind", "quantity")
    )


def on_hand(warehouse, product) -> int | None:
    level = StockLevel.objects.filter(warehouse=warehouse, product=product).first()
    return None if level is None else level.on_hand


def set_level(level: StockLevel, **fields) -> StockLevel:
    """Test setup for the editable columns (reorder point, bin); quantities go through services."""
    StockLevel.objects.filter(pk=level.pk).update(**fields)
    level.refresh_from_db()
    return level


def count_url(count, step: str = "change") -> str:
    return reverse(f"admin:inventory_cyclecount_{step}", args=[count.pk])


@pytest.fixture
def one_of_each(sites, stock, product, order_to, channel, superuser):
    """A row behind every inventory page: level, ledger, allocation, rules, count, check run and finding."""
    dal = sites["DAL"]
    level = set_level(stock(dal, product, 40), reorder_point=50, bin_location="A-01")
    order = order_to("DFW", [(product, 2)], channel=channel)
    order_services.allocate_order(order_id=order.pk, actor="system")
    SafetyStockRule.objects.create(channel=channel, warehouse=dal, quantity=2, note="keep two for the web")
    RoutingExclusion.objects.create(warehouse=sites["RNO"], destination_state="HI", reason="no air freight")
    count = inventory.start_cycle_count(warehouse_id=dal.pk, actor=superuser)
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    ImportJob.objects.create(  # CSV imports: a checked receipts file
        kind="stock_receipt", status=ImportJob.Status.DRY_RUN_DONE, file_name="r.csv", content=""
    )
    return {"level": level, "order": order, "count": count, "run": run}


# --- every page ------------------------------------------------------------------

INVENTORY_ADMINS = [model for model in admin.site._registry if model._meta.app_label == "inventory"]


@pytest.mark.parametrize("who", ["superuser", *ROLES])
def test_every_inventory_page_renders_or_is_refused_never_breaks(client, one_of_each, superuser, who):
    user = superuser if who == "superuser" else login(client, who)
    client.force_login(user)
    for model in INVENTORY_ADMINS:
        opts, model_admin = model._meta, admin.site._registry[model]
        can_view = user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )
        expected = 200 if can_view else 403
        assert client.get(reverse(f"admin:inventory_{opts.model_name}_changelist")).status_code == expected, (
            who,
            opts.label,
        )
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"no {opts.label} row to open"
        change = client.get(reverse(f"admin:inventory_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == expected, (who, opts.label, "change")
        add = client.get(reverse(f"admin:inventory_{opts.model_name}_add"))
        assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403), (who, opts.label)


def test_the_superuser_opens_every_form_and_filtered_list(ops, one_of_each):
    level, run = one_of_each["level"], one_of_each["run"]
    pages = [
        RECEIVE,
        f"{ADJUST}?level={level.pk}",
        f"{TRANSFER}?level={level.pk}",
        START_COUNT,
        f"{LEVELS}?stock=low",
        f"{LEVELS}?stock=out",
        f"{LEVELS}?stock=available&q=TEE",
        f"{MOVEMENTS}?kind__exact=receipt&q=TEE-M",
        f"{reverse('admin:inventory_inventoryfinding_changelist')}?run={run.pk}&severity__exact=warning",
        reverse("admin:inventory_product_change", args=[level.product_id]),
        reverse("admin:inventory_warehouse_change", args=[level.warehouse_id]),
    ]
    for url in pages:
        assert ops.get(url).status_code == 200, url


# --- the stock level list ------------------------------------------------------------


@pytest.fixture
def three_levels(sites, stock, products):
    """A plenty, B low (2 on hand, reorder at 5), C out (received one, adjusted it away)."""
    dal = sites["DAL"]
    a, b, c = products[:3]
    plenty = set_level(stock(dal, a, 10), reorder_point=2, bin_location="A-01")
    low = set_level(stock(dal, b, 2), reorder_point=5, bin_location="B-07")
    stock(dal, c, 1)
    inventory.adjust_stock(warehouse_id=dal.pk, product_id=c.pk, quantity=-1, reason="damaged", actor="test")
    out = StockLevel.objects.get(warehouse=dal, product=c)
    return plenty, low, out


def listed(response) -> list[str]:
    return [level.product.sku for level in response.context["cl"].result_list]


def test_stock_list_shows_every_column_with_a_low_stock_marker(ops, three_levels):
    response = ops.get(LEVELS)

    html = response.content.decode()
    assert response.status_code == 200
    assert listed(response) == ["SKU-A", "SKU-B", "SKU-C"]
    for text in ("DAL", "SKU-B", "B-07", "oms-badge-low", "Available", "Reorder at"):
        assert text in html
    assert [level.available_quantity for level in response.context["cl"].result_list] == [10, 2, 0]


def test_stock_list_sorts_by_available(ops, three_levels):
    column = ops.get(LEVELS).context["cl"].list_display.index("available_display")

    response = ops.get(LEVELS, {"o": str(column)})

    assert listed(response) == ["SKU-C", "SKU-B", "SKU-A"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [("low", ["SKU-B", "SKU-C"]), ("out", ["SKU-C"]), ("available", ["SKU-A", "SKU-B"])],
)
def test_stock_filter(ops, three_levels, state, expected):
    assert listed(ops.get(LEVELS, {"stock": state})) == expected


def test_stock_list_filters_by_warehouse_and_searches_sku_and_bin(ops, three_levels, sites, stock, products):
    stock(sites["RNO"], products[0], 3)

    assert listed(ops.get(LEVELS, {"warehouse__id__exact": sites["RNO"].pk})) == ["SKU-A"]
    assert listed(ops.get(LEVELS, {"q": "SKU-B"})) == ["SKU-B"]
    assert listed(ops.get(LEVELS, {"q": "A-01"})) == ["SKU-A"]


def test_list_pages_do_not_query_per_row(ops, sites, stock, superuser):
    def add_activity(n: int):
        for _ in range(n):
            product = ProductFactory()
            stock(sites["DAL"], product, 5)
            inventory.transfer_stock(
                from_warehouse_id=sites["DAL"].pk,
                to_warehouse_id=sites["RNO"].pk,
                product_id=product.pk,
                quantity=1,
                actor=superuser,
            )
            inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, product_ids=[product.pk], actor=superuser)
        inventory.run_inventory_check(triggered_by="test", email=False)

    lists = [
        LEVELS,
        MOVEMENTS,
        reverse("admin:inventory_cyclecount_changelist"),
        reverse("admin:inventory_inventorycheckrun_changelist"),
        reverse("admin:inventory_inventoryfinding_changelist"),
    ]
    add_activity(2)
    ops.get(LEVELS)  # the session's first request records when it was seen: not measured
    few = {}
    for url in lists:
        with CaptureQueriesContext(connection) as queries:
            assert ops.get(url).status_code == 200
        few[url] = len(queries)
    add_activity(8)
    for url in lists:
        with CaptureQueriesContext(connection) as queries:
            ops.get(url)
        assert len(queries) == few[url], url


def test_quantities_are_read_only_on_the_level_page(client, sites, stock, product):
    level = stock(sites["DAL"], product, 40)
    login(client, "Warehouse staff")

    response = client.post(
        reverse("admin:inventory_stocklevel_change", args=[level.pk]),
        {"reorder_point": "12", "bin_location": "C-03", "on_hand": "999", "allocated": "5"},
    )

    assert response.status_code == 302
    level.refresh_from_db()
    assert (level.on_hand, level.allocated, level.reorder_point, level.bin_location) == (40, 0, 12, "C-03")
    assert ledger(sites["DAL"], product) == [(Kind.RECEIPT, 40)]


def test_a_returns_associate_cannot_change_a_stock_level(client, sites, stock, product):
    level = set_level(stock(sites["DAL"], product, 40), reorder_point=3)
    login(client, "Returns associate")
    url = reverse("admin:inventory_stocklevel_change", args=[level.pk])

    assert client.get(url).status_code == 200  # view only
    response = client.post(url, {"reorder_point": "99", "bin_location": "Z-99"})

    assert response.status_code == 403
    level.refresh_from_db()
    assert (level.reorder_point, level.bin_location) == (3, "")


# --- receive, adjust, transfer ------------------------------------------------------------


def test_receiving_through_the_console_writes_one_receipt(ops, sites, product):
    dal = sites["DAL"]

    response = ops.post(
        RECEIVE,
        {"warehouse": dal.pk, "product": product.pk, "quantity": "40", "reference": "PO-1001", "note": "dock 3"},
    )

    assert response.status_code == 302
    assert response["Location"] == LEVELS
    assert messages_of(response) == ["Received 40 × TEE-M at DAL (PO-1001)."]
    assert ledger(dal, product) == [(Kind.RECEIPT, 40)]
    movement = StockMovement.objects.get()
    assert (movement.reference, movement.reason, movement.actor_name) == ("PO-1001", "dock 3", "boss")
    assert on_hand(dal, product) == 40


def test_adjusting_with_a_reason_writes_one_signed_adjustment(ops, sites, stock, product):
    dal = sites["DAL"]
    level = stock(dal, product, 40)
    back = reverse("admin:inventory_stocklevel_change", args=[level.pk])

    page = ops.get(ADJUST, {"level": level.pk, "next": back})
    assert page.context["form"].initial["warehouse"] == dal.pk
    assert "40 on hand, 0 allocated, 40 available" in page.content.decode()

    response = ops.post(
        ADJUST, {"warehouse": dal.pk, "product": product.pk, "quantity": "-3", "reason": "crushed", "next": back}
    )

    assert response.status_code == 302
    assert response["Location"] == back
    assert messages_of(response) == ["Adjusted TEE-M at DAL by -3: crushed"]
    assert ledger(dal, product) == [(Kind.RECEIPT, 40), (Kind.ADJUSTMENT, -3)]
    assert on_hand(dal, product) == 37


def test_an_adjustment_without_a_reason_is_refused_and_writes_nothing(ops, sites, stock, product):
    dal = sites["DAL"]
    stock(dal, product, 40)

    response = ops.post(ADJUST, {"warehouse": dal.pk, "product": product.pk, "quantity": "-3", "reason": "  "})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert ledger(dal, product) == [(Kind.RECEIPT, 40)]
    assert on_hand(dal, product) == 40


def test_the_services_refusal_is_shown_on_the_form_and_nothing_is_written(ops, sites, stock, product):
    dal = sites["DAL"]
    stock(dal, product, 40)

    response = ops.post(ADJUST, {"warehouse": dal.pk, "product": product.pk, "quantity": "-50", "reason": "lost"})

    assert response.status_code == 200
    refusal = "Cannot remove 50 × TEE-M at DAL: 40 on hand, 0 allocated, 40 available."
    assert response.context["form"].non_field_errors() == [refusal]
    assert refusal in response.content.decode()
    assert ledger(dal, product) == [(Kind.RECEIPT, 40)]


def test_transferring_moves_units_with_two_movements_and_one_reference(ops, sites, stock, product):
    dal, rno = sites["DAL"], sites["RNO"]
    stock(dal, product, 40)

    response = ops.post(
        TRANSFER,
        {"product": product.pk, "from_warehouse": dal.pk, "to_warehouse": rno.pk, "quantity": "15", "reason": "west"},
    )

    assert response.status_code == 302
    out, into = StockMovement.objects.filter(kind__in=[Kind.TRANSFER_OUT, Kind.TRANSFER_IN]).order_by("id")
    assert (out.warehouse, out.quantity, into.warehouse, into.quantity) == (dal, -15, rno, 15)
    assert out.reference == into.reference
    assert messages_of(response) == [f"Transferred 15 × TEE-M from DAL to RNO ({out.reference})."]
    assert (on_hand(dal, product), on_hand(rno, product)) == (25, 15)


def test_transferring_more_than_available_is_refused_and_writes_nothing(ops, sites, stock, product):
    dal, rno = sites["DAL"], sites["RNO"]
    stock(dal, product, 40)

    response = ops.post(
        TRANSFER, {"product": product.pk, "from_warehouse": dal.pk, "to_warehouse": rno.pk, "quantity": "41"}
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Cannot transfer 41 × TEE-M at DAL: 40 on hand, 0 allocated, 40 available."
    ]
    assert ledger(dal, product) == [(Kind.RECEIPT, 40)]
    assert on_hand(dal, product) == 40
    assert on_hand(rno, product) is None  # not even an empty level


def test_warehouse_staff_receive_and_transfer_but_may_not_adjust(client, sites, stock, product):
    dal = sites["DAL"]
    stock(dal, product, 40)
    login(client, "Warehouse staff")

    tools = client.get(LEVELS).content.decode()
    assert 'data-action="receive"' in tools
    assert 'data-action="transfer"' in tools
    assert 'data-action="adjust"' not in tools

    received = client.post(RECEIVE, {"warehouse": dal.pk, "product": product.pk, "quantity": "5"})
    assert received.status_code == 302
    assert client.get(ADJUST).status_code == 403
    refused = client.post(ADJUST, {"warehouse": dal.pk, "product": product.pk, "quantity": "-5", "reason": "x"})
    assert refused.status_code == 403
    assert ledger(dal, product) == [(Kind.RECEIPT, 40), (Kind.RECEIPT, 5)]


def test_a_returns_associate_sees_no_stock_buttons_and_is_refused_the_forms(client, sites, product):
    login(client, "Returns associate")

    assert "data-action=" not in client.get(LEVELS).content.decode()
    for url in (RECEIVE, ADJUST, TRANSFER):
        assert client.get(url).status_code == 403
    refused = client.post(RECEIVE, {"warehouse": sites["DAL"].pk, "product": product.pk, "quantity": "5"})
    assert refused.status_code == 403
    assert not StockMovement.objects.exists()


def test_next_must_stay_on_this_site(ops, sites, product):
    response = ops.post(
        RECEIVE,
        {"warehouse": sites["DAL"].pk, "product": product.pk, "quantity": "1", "next": "https://evil.example/"},
    )

    assert response["Location"] == LEVELS


# --- SKU and warehouse pages ---------------------------------------------------------------


def test_sku_page_shows_stock_in_every_warehouse_and_the_last_25_movements(ops, sites, stock, product):
    set_level(stock(sites["DAL"], product, 10), reorder_point=20, bin_location="A-01")
    stock(sites["RNO"], product, 3)
    for n in range(25):
        inventory.receive_stock(
            warehouse_id=sites["RNO"].pk, product_id=product.pk, quantity=1, reference=f"R{n:02d}", actor="test"
        )

    response = ops.get(reverse("admin:inventory_product_change", args=[product.pk]))

    rows = {row["warehouse"].code: row["level"] for row in response.context["stock_rows"]}
    assert set(rows) == {"ATL", "DAL", "EWR", "RNO"}
    assert rows["EWR"] is None
    assert (rows["DAL"].on_hand, rows["DAL"].available_quantity, rows["DAL"].low_stock) == (10, 10, True)
    assert rows["RNO"].on_hand == 28
    movements = response.context["movements"]
    assert len(movements) == 25
    assert movements[0].reference == "R24"  # newest first
    assert all(m.kind == Kind.RECEIPT for m in movements)
    html = response.content.decode()
    assert "not stocked here" in html
    assert "A-01" in html


def test_warehouse_page_lists_low_stock_first_and_caps_the_table(ops, sites, stock, monkeypatch):
    monkeypatch.setattr(inventory_admin, "WAREHOUSE_STOCK_ROWS", 3)
    dal = sites["DAL"]
    for sku, quantity, reorder_point in [("A", 9, 1), ("B", 9, 1), ("C", 2, 4), ("D", 9, 1), ("E", 1, 1)]:
        set_level(stock(dal, ProductFactory(sku=f"W-{sku}"), quantity), reorder_point=reorder_point)

    response = ops.get(reverse("admin:inventory_warehouse_change", args=[dal.pk]))

    shown = [level.product.sku for level in response.context["stock_levels"]]
    assert shown == ["W-C", "W-E", "W-A"]
    assert (response.context["stock_total"], response.context["stock_low_total"]) == (5, 2)
    html = response.content.decode()
    assert html.count('class="oms-low"') == 2
    assert "Showing the first 3 of 5" in html
    assert f"{LEVELS}?warehouse__id__exact={dal.pk}" in html


def test_an_unknown_postal_code_is_an_error_on_that_field(ops):
    data = {
        "code": "BAD",
        "name": "Nowhere",
        "city": "Nowhere",
        "postal_code": "00000",
        "country": "US",
        "is_active": "on",
        "priority": "1",
        "time_zone": "America/New_York",
        "daily_cutoff": "15:00",
        "processing_days": "1",
        "handling_cost": "0.00",
        "label_format": "pdf",
    }

    response = ops.post(reverse("admin:inventory_warehouse_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["postal_code"] == ["Unknown US postal code '00000'."]
    assert not Warehouse.objects.filter(code="BAD").exists()

    ops.post(reverse("admin:inventory_warehouse_add"), {**data, "code": "NYC", "postal_code": "10001"})
    nyc = Warehouse.objects.get(code="NYC")
    assert nyc.coordinates == pytest.approx((40.7484, -73.9967))


# --- the ledger is read-only ------------------------------------------------------------------


def test_nobody_adds_changes_or_deletes_a_movement(ops, sites, stock, product):
    stock(sites["DAL"], product, 40)
    movement = StockMovement.objects.get()
    url = reverse("admin:inventory_stockmovement_change", args=[movement.pk])

    assert ops.get(url).status_code == 200
    assert ops.post(url, {"quantity": "400"}).status_code == 403
    assert ops.get(reverse("admin:inventory_stockmovement_add")).status_code == 403
    assert ops.post(reverse("admin:inventory_stockmovement_delete", args=[movement.pk])).status_code == 403
    movement.refresh_from_db()
    assert movement.quantity == 40


def test_ledger_list_filters_by_kind_warehouse_and_date_and_links_the_order(ops, one_of_each, sites, stock, products):
    old = StockMovement.objects.get(kind=Kind.RECEIPT)
    StockMovement.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    stock(sites["RNO"], products[0], 5)
    since = (timezone.localdate() - dt.timedelta(days=2)).isoformat()

    def kinds(**query):
        return [(m.kind, m.warehouse.code) for m in ops.get(MOVEMENTS, query).context["cl"].result_list]

    assert kinds(created_at__range__gte=since) == [(Kind.RECEIPT, "RNO")]
    assert kinds(warehouse__id__exact=sites["DAL"].pk) == [(Kind.RECEIPT, "DAL")]
    assert kinds(kind__exact=Kind.RECEIPT, q="SKU-A") == [(Kind.RECEIPT, "RNO")]
    order = one_of_each["order"]
    allocations = ops.get(reverse("admin:inventory_allocation_changelist")).content.decode()
    assert reverse("admin:orders_order_change", args=[order.pk]) in allocations


# --- cycle counts ------------------------------------------------------------------------


def test_a_count_from_start_to_approval_posts_the_variance(client, sites, stock, products):
    dal = sites["DAL"]
    a, b = products[:2]
    stock(dal, a, 10)
    stock(dal, b, 4)
    login(client, "Warehouse staff")

    # start
    started = client.post(START_COUNT, {"warehouse": dal.pk, "bin_prefix": "", "note": "weekly"})
    count = CycleCount.objects.get()
    assert started["Location"] == count_url(count)
    assert messages_of(started) == [f"{count} started with 2 lines."]
    lines = {line.product_id: line for line in count.lines.all()}
    page = client.get(count_url(count)).content.decode()
    assert f'name="line-{lines[a.pk].pk}"' in page
    assert "Approve" not in page

    # record one line, then the other with submit
    client.post(count_url(count, "record"), {f"line-{lines[a.pk].pk}": "7", f"line-{lines[b.pk].pk}": ""}, follow=True)
    first_counted_at = CycleCountLine.objects.get(pk=lines[a.pk].pk).counted_at
    submitted = client.post(
        count_url(count, "record"),
        {f"line-{lines[a.pk].pk}": "7", f"line-{lines[b.pk].pk}": "4", "_submit": "Save and submit"},
    )
    assert messages_of(submitted) == ["Recorded 1 count.", f"{count} submitted for approval."]
    assert CycleCountLine.objects.get(pk=lines[a.pk].pk).counted_at == first_counted_at  # unchanged line not re-sent
    count.refresh_from_db()
    assert count.status == CycleCount.Status.SUBMITTED

    # staff may not approve
    assert client.post(count_url(count, "approve")).status_code == 403
    assert not StockMovement.objects.filter(kind=Kind.COUNT_CORRECTION).exists()

    # the manager approves
    login(client, "Operations manager")
    assert "Approve and post corrections" in client.get(count_url(count)).content.decode()
    approved = client.post(count_url(count, "approve"))

    assert messages_of(approved) == [f"{count} approved: 1 correction posted to the ledger."]
    correction = StockMovement.objects.get(kind=Kind.COUNT_CORRECTION)
    assert (correction.product, correction.quantity, correction.cycle_count) == (a, -3, count)
    assert on_hand(dal, a) == 7
    assert on_hand(dal, b) == 4
    count.refresh_from_db()
    assert count.status == CycleCount.Status.APPROVED


def test_submitting_an_uncounted_count_is_refused_with_the_services_message(ops, sites, stock, products):
    stock(sites["DAL"], products[0], 10)
    stock(sites["DAL"], products[1], 4)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="test")
    first = count.lines.get(product=products[0])

    response = ops.post(count_url(count, "record"), {f"line-{first.pk}": "10", "_submit": "1"})

    assert messages_of(response) == [
        "Recorded 1 count.",
        "Count every line before submitting; not counted yet: SKU-B.",
    ]
    count.refresh_from_db()
    assert count.status == CycleCount.Status.OPEN


def test_a_negative_count_is_refused_and_nothing_is_recorded(ops, sites, stock, product):
    stock(sites["DAL"], product, 10)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="test")
    line = count.lines.get()

    response = ops.post(count_url(count, "record"), {f"line-{line.pk}": "-2"})

    assert messages_of(response) == ["TEE-M: Ensure this value is greater than or equal to 0."]
    line.refresh_from_db()
    assert line.counted_quantity is None


def test_rejecting_needs_a_reason_and_posts_nothing(ops, sites, stock, product):
    stock(sites["DAL"], product, 10)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="test")
    inventory.record_counts(count_id=count.pk, counted={count.lines.get().pk: 2}, actor="test")
    inventory.submit_cycle_count(count_id=count.pk, actor="test")

    no_reason = ops.post(count_url(count, "reject"), {"reason": ""}, follow=True)
    assert messages_of(no_reason) == ["Give a reason (up to 200 characters) to reject the count."]
    rejected = ops.post(count_url(count, "reject"), {"reason": "recount bay 4"}, follow=True)

    assert messages_of(rejected) == [f"{count} rejected."]
    count.refresh_from_db()
    assert (count.status, count.rejection_reason) == (CycleCount.Status.REJECTED, "recount bay 4")
    assert ledger(sites["DAL"], product) == [(Kind.RECEIPT, 10)]
    again = ops.post(count_url(count, "approve"))
    assert messages_of(again) == [f"{count} is rejected, not submitted."]


def test_starting_a_count_with_nothing_to_count_is_refused_and_writes_nothing(ops, sites):
    response = ops.post(START_COUNT, {"warehouse": sites["ATL"].pk, "bin_prefix": "Z-"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["Nothing to count: no SKU matches in this warehouse."]
    assert not CycleCount.objects.exists()


def test_count_steps_are_post_only(ops, sites, stock, product):
    stock(sites["DAL"], product, 1)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="test")

    assert ops.get(count_url(count, "approve")).status_code == 405


# --- the daily check ------------------------------------------------------------------------


def test_running_the_check_now_opens_its_report_with_links_to_the_subjects(ops, sites, stock, product):
    level = set_level(stock(sites["DAL"], product, 2), reorder_point=5)

    response = ops.post(RUN_CHECK)

    run = InventoryCheckRun.objects.get()
    assert response["Location"] == reverse("admin:inventory_inventorycheckrun_change", args=[run.pk])
    assert run.triggered_by == "boss"
    assert messages_of(response)[0].endswith("1 finding.")
    page = ops.get(response["Location"])
    (row,) = page.context["findings"]
    assert row["finding"].kind == InventoryFinding.Kind.BELOW_REORDER_POINT
    assert row["subject_url"] == reverse("admin:inventory_stocklevel_change", args=[level.pk])
    assert row["subject_url"] in page.content.decode()


def test_a_finding_about_a_row_without_an_admin_page_has_no_link(ops, sites, stock, product):
    stock(sites["DAL"], product, 1)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="test")
    run = InventoryCheckRun.objects.create(triggered_by="test")
    InventoryFinding.objects.create(
        run=run,
        kind=InventoryFinding.Kind.COUNT_VARIANCE,
        severity=InventoryFinding.Severity.INFO,
        message="a line",
        content_type=ContentType.objects.get_for_model(CycleCountLine),
        object_id=str(count.lines.get().pk),
    )

    page = ops.get(reverse("admin:inventory_inventorycheckrun_change", args=[run.pk]))
    findings = ops.get(reverse("admin:inventory_inventoryfinding_changelist"), {"run": run.pk})

    assert page.context["findings"][0]["subject_url"] is None
    assert page.status_code == findings.status_code == 200


@pytest.mark.parametrize("role", ["Operations associate", "Warehouse staff"])
def test_only_those_who_may_adjust_stock_run_the_check(client, role):
    login(client, role)

    assert client.post(RUN_CHECK).status_code == 403
    assert not InventoryCheckRun.objects.exists()
    if role == "Operations associate":  # may read the reports, sees no button
        assert (
            "run-check-now" not in client.get(reverse("admin:inventory_inventorycheckrun_changelist")).content.decode()
        )


def test_running_the_check_is_post_only(ops):
    assert ops.get(RUN_CHECK).status_code == 405
    assert not InventoryCheckRun.objects.exists()


def test_an_unknown_time_zone_is_an_error_on_that_field(ops):
    data = {
        "code": "RNO",
        "name": "Reno",
        "city": "Reno",
        "postal_code": "89501",
        "country": "US",
        "is_active": "on",
        "priority": "1",
        "time_zone": "Pacific Time",
        "daily_cutoff": "15:00",
        "processing_days": "0",
        "handling_cost": "1.50",
        "label_format": "pdf",
    }

    response = ops.post(reverse("admin:inventory_warehouse_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["time_zone"] == [
        "Pacific Time is not an IANA time zone name (e.g. America/New_York, America/Los_Angeles, UTC)."
    ]
    assert not Warehouse.objects.filter(code="RNO").exists()

    ops.post(reverse("admin:inventory_warehouse_add"), {**data, "time_zone": "America/Los_Angeles"})
    reno = Warehouse.objects.get(code="RNO")
    assert (reno.time_zone, reno.processing_days) == ("America/Los_Angeles", 0)
