"""The console's home for each role: the cockpit (key figures, charts, their CSVs) for operations, the work of
the warehouse and of the returns desk for theirs, the sidebar grouped by work, and a constant query count."""

import csv
import dataclasses
import datetime as dt
import io
from html import unescape
from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Allocation, CycleCount
from oms_site.nav import nav_groups
from orders.cockpit import ListLink, charts_for, kpis_for
from orders.models import OrderStatus
from orders.returns.models import OrderErrorCase, Refund, ReturnRequest
from orders.services import refresh_all_shipping_facts
from shipping.models import Shipment, ShipmentStatus
from tests.factories import OrderFactory, UserFactory, WarehouseFactory

S = OrderStatus
pytestmark = pytest.mark.django_db
HOME = "/admin/"
CHART_KEYS = {
    "orders_per_day",
    "time_to_ship",
    "on_time_by_warehouse",
    "on_time_by_vendor",
    "shipping_cost_per_day",
    "backlog_age",
}


@pytest.fixture(autouse=True)
def fresh_cockpit_cache():
    """The cockpit keeps its figures a minute in the cache: each test starts without another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def signed_in(client, roles):
    def sign_in(role: str | None = None, **fields):
        user = UserFactory(username=(role or "boss").lower().replace(" ", "-"), role=role, **fields)
        client.force_login(user)
        return client

    return sign_in


class Links(HTMLParser):
    """Every href inside the element with the given id, in page order."""

    def __init__(self, within: str):
        super().__init__()
        self.within, self.depth, self.hrefs = within, 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            self.depth += 1
        elif attrs.get("id") == self.within:
            self.depth = 1
        if self.depth and tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])  # the parser has unescaped it

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1


def hrefs_in(html: str, element_id: str) -> list[str]:
    parser = Links(element_id)
    parser.feed(html)
    return parser.hrefs


def list_links(value) -> set[str]:
    """Every ListLink's URL in the key figures, however deep."""
    if isinstance(value, ListLink):
        return {value.url}
    if dataclasses.is_dataclass(value):
        return set().union(*(list_links(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, (tuple, list)):
        return set().union(set(), *(list_links(item) for item in value))
    return set()


def some_orders(count: int, warehouse):
    """Orders of every kind the home counts: placed, on hold, late, shipped and delivered, returned, erred."""
    now = timezone.now()
    today = timezone.localdate()
    for _ in range(count):
        OrderFactory(status=S.ON_HOLD, promised_date=today - dt.timedelta(days=1))
        OrderFactory(status=S.ALLOCATED, promised_date=today + dt.timedelta(days=1))
        shipped = OrderFactory(status=S.DELIVERED, placed_at=now - dt.timedelta(days=2))
        shipment = Shipment.objects.create(
            number=f"SH-{shipped.pk}",
            order=shipped,
            order_number=shipped.number,
            warehouse=warehouse,
            status=ShipmentStatus.DELIVERED,
            ship_to={},
            ship_date=today - dt.timedelta(days=1),
            shipped_at=now - dt.timedelta(days=1),
            delivered_at=now - dt.timedelta(hours=2),
            shipping_cost="7.50",
        )
        rma = ReturnRequest.objects.create(
            order=shipped, reason="damaged", number=f"RMA-{shipped.pk}", status="received"
        )
        Refund.objects.create(order=shipped, rma=rma, amount=5, currency="USD", idempotency_key=f"r-{shipped.pk}")
        OrderErrorCase.objects.create(
            order=shipped, kind="wrong_item", root_cause="pick_error", warehouse=warehouse, shipment=shipment
        )
    refresh_all_shipping_facts()  # the shipments were written without the services that keep the facts


# --- who sees what ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["Operations manager", "Operations associate", None])
def test_operations_and_superusers_see_the_cockpit_and_the_order_queue(signed_in, role):
    client = signed_in(role, is_superuser=role is None)
    some_orders(1, WarehouseFactory(code="DAL"))

    response = client.get(HOME)

    page = response.content.decode()
    cockpit = response.context["cockpit"]
    assert cockpit is not None and cockpit["period"].kind == "last_7_days"
    for key in (
        "orders_placed",
        "revenue",
        "awaiting_fulfilment",
        "late_at_risk",
        "on_time_ship",
        "on_time_delivery",
        "time_to_ship",
        "time_to_delivery",
        "split_shipments",
        "backorders",
        "holds",
        "returns",
        "order_errors",
        "low_stock",
        "shipping_cost",
    ):
        assert f'id="kpi-{key}"' in page, key
    for key in CHART_KEYS:
        assert f'id="chart-{key}"' in page and f'id="chart-data-{key}"' in page, key
    assert 'id="panel-on_hold"' in page and 'id="panel-late"' in page and 'id="attention"' in page
    assert "Operations cockpit" in page
    assert response.context["warehouse_work"] is None and response.context["returns_work"] is None
    assert 'id="app-list"' not in page and "Recent actions" not in page  # the app list left the home


def test_the_returns_associate_sees_the_returns_queue_not_the_cockpit(signed_in):
    client = signed_in("Returns associate")
    some_orders(2, WarehouseFactory(code="DAL"))
    order = OrderFactory(status=S.DELIVERED)
    ReturnRequest.objects.create(order=order, reason="other", number="RMA-X", status="requested")
    ReturnRequest.objects.create(order=order, reason="other", number="RMA-Y", status="closed")

    response = client.get(HOME)

    page = response.content.decode()
    assert response.context["cockpit"] is None and 'id="cockpit"' not in page
    assert response.context["warehouse_work"] is None
    groups = {group["key"]: group for group in response.context["returns_work"]["groups"]}
    returns = {item["key"]: item["count"] for item in groups["returns"]["items"]}
    assert returns == {"requested": 1, "authorised": 0, "received": 2, "inspected": 0, "refunded": 0}
    assert groups["returns"]["total"]["count"] == 3
    assert {item["key"]: item["count"] for item in groups["refunds"]["items"]} == {"pending": 2, "failed": 0}
    assert groups["order_errors"]["total"]["count"] == 2
    # each count is the count of the list it opens
    for item in [*groups["returns"]["items"], *groups["refunds"]["items"], *groups["order_errors"]["items"]]:
        assert item["url"] in unescape(page)
        listed = client.get(item["url"])
        assert listed.status_code == 200 and listed.context["cl"].result_count == item["count"], item
    assert 'id="panel-on_hold"' in page  # the order queue stays for everyone who sees orders


def test_the_warehouse_sees_its_work_by_warehouse_not_the_cockpit(signed_in):
    client = signed_in("Warehouse staff")
    dal, reno = WarehouseFactory(code="DAL"), WarehouseFactory(code="RNO")
    WarehouseFactory(code="OLD", is_active=False)
    # one order reserved at DAL, its shipments made (counted under labels, packing...); another still to pick
    order, to_pick = OrderFactory(status=S.ALLOCATED, lines=2), OrderFactory(status=S.ALLOCATED, lines=2)
    for reserved in (order, to_pick):
        for line in reserved.lines.all():
            Allocation.objects.create(order=reserved, order_line=line, warehouse=dal, product=line.product, quantity=1)
    for number, warehouse, status in [
        ("SH-1", dal, ShipmentStatus.AWAITING_LABEL),
        ("SH-2", dal, ShipmentStatus.AWAITING_LABEL),
        ("SH-3", reno, ShipmentStatus.LABEL_CREATED),
        ("SH-4", reno, ShipmentStatus.EXCEPTION),
        ("SH-5", reno, ShipmentStatus.IN_TRANSIT),
    ]:
        Shipment.objects.create(
            number=number, order=order, order_number=order.number, warehouse=warehouse, status=status, ship_to={}
        )
    CycleCount.objects.create(warehouse=reno)
    CycleCount.objects.create(warehouse=reno, status=CycleCount.Status.APPROVED)

    response = client.get(HOME)

    page = response.content.decode()
    assert response.context["cockpit"] is None and 'id="cockpit"' not in page
    assert response.context["returns_work"] is None
    work = response.context["warehouse_work"]
    assert [c["key"] for c in work["columns"]] == ["pick", "labels", "ship", "exceptions", "counts", "submitted"]
    table = {row["code"]: {cell["key"]: cell for cell in row["cells"]} for row in work["rows"]}
    assert set(table) == {"DAL", "RNO"}  # active warehouses only
    assert {key: cell["count"] for key, cell in table["DAL"].items()} == {
        "pick": 1,
        "labels": 2,
        "ship": 0,
        "exceptions": 0,
        "counts": 0,
        "submitted": 0,
    }
    assert {key: cell["count"] for key, cell in table["RNO"].items()} == {
        "pick": 0,
        "labels": 0,
        "ship": 1,
        "exceptions": 1,
        "counts": 1,
        "submitted": 0,
    }
    for cells in table.values():
        for cell in cells.values():
            assert cell["url"] in unescape(page)
            listed = client.get(cell["url"])
            assert listed.status_code == 200 and listed.context["cl"].result_count == cell["count"], cell
    assert [batch["key"] for batch in work["batches"]] == ["queued", "rendering", "failed"]
    assert "Revenue" not in page


def test_a_user_without_orders_sees_no_work_and_no_cockpit(client, roles):
    client.force_login(UserFactory(username="nobody"))

    response = client.get(HOME)

    assert response.status_code == 200
    assert response.context["cockpit"] is None and response.context["dashboard"] is None
    assert "no work queue on this page" in response.content.decode()


# --- the cockpit's numbers ---------------------------------------------------------------------------------
def test_every_number_of_the_key_figures_links_to_its_list(signed_in):
    client = signed_in("Operations manager")
    some_orders(2, WarehouseFactory(code="DAL"))

    response = client.get(HOME, {"period": "last_30_days"})

    kpis = kpis_for(response.context["cockpit"]["period"])
    hrefs = hrefs_in(response.content.decode(), "cockpit-kpis")
    numbers = [
        v
        for card in response.context["cockpit"]["cards"]
        for v in [*card["values"], *(value for row in card["rows"] for value in row["values"])]
    ]
    assert len(hrefs) == len(numbers)  # every number on a card is a link
    assert set(hrefs) == list_links(kpis)  # and each is a figure's list, every list shown
    placed = next(card for card in response.context["cockpit"]["cards"] if card["key"] == "orders_placed")
    assert placed["values"][0]["text"] == str(kpis.orders_placed.value) == "6"
    assert placed["values"][0]["url"] == kpis.orders_placed.link.url


def test_the_period_and_filters_come_from_the_address(signed_in):
    client = signed_in("Operations manager")
    dal = WarehouseFactory(code="DAL")
    some_orders(1, dal)
    start, end = timezone.localdate() - dt.timedelta(days=9), timezone.localdate() - dt.timedelta(days=3)

    thirty = client.get(HOME, {"period": "last_30_days", "warehouse": dal.pk}).context["cockpit"]
    custom = client.get(HOME, {"period": "custom", "start": start.isoformat(), "end": end.isoformat()})
    wrong = client.get(HOME, {"period": "custom", "start": "yesterday"})

    assert (thirty["period"].kind, thirty["period"].days, thirty["period"].warehouse_id) == ("last_30_days", 30, dal.pk)
    assert f'<option value="{dal.pk}" selected>DAL</option>' in client.get(HOME, {"warehouse": dal.pk}).content.decode()
    assert (custom.context["cockpit"]["period"].start, custom.context["cockpit"]["period"].end) == (start, end)
    assert wrong.status_code == 200 and wrong.context["cockpit"]["period"].kind == "last_7_days"
    assert "is not a date" in wrong.content.decode() and "Showing the last 7 days instead" in wrong.content.decode()


def test_each_chart_has_its_data_its_table_and_a_csv_with_the_same_numbers(signed_in):
    client = signed_in("Operations manager")
    some_orders(2, WarehouseFactory(code="DAL"))

    response = client.get(HOME, {"period": "last_30_days"})

    charts = charts_for(response.context["cockpit"]["period"])
    shown = {chart["key"]: chart for chart in response.context["cockpit"]["charts"]}
    assert set(shown) == set(charts) == CHART_KEYS
    page = response.content.decode()
    for key, chart in charts.items():
        assert shown[key]["config"]["data"] == chart.chartjs()["data"]
        assert [shown[key]["header"], *shown[key]["rows"]] == chart.csv_rows()
        assert shown[key]["csv_url"] == f"/admin/cockpit/{key}.csv?period=last_30_days"
        assert f'href="{shown[key]["csv_url"]}"' in page
        download = client.get(shown[key]["csv_url"])
        assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
        assert download["Content-Disposition"].startswith(f'attachment; filename="cockpit-{key}-')
        assert list(csv.reader(io.StringIO(download.content.decode()))) == chart.csv_rows()
    orders_per_day = list(csv.reader(io.StringIO(client.get(shown["orders_per_day"]["csv_url"]).content.decode())))
    assert sum(int(value) for row in orders_per_day[1:] for value in row[1:]) == 6


def test_the_key_figures_csv_has_every_number_and_its_list(signed_in):
    client = signed_in("Operations manager")
    some_orders(1, WarehouseFactory(code="DAL"))
    cards = client.get(HOME).context["cockpit"]["cards"]

    download = client.get("/admin/cockpit/kpis.csv?period=last_7_days")

    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert download["Content-Disposition"].startswith('attachment; filename="cockpit-kpis-')
    assert rows[0] == ["Figure", "What", "Value", "List"]
    assert [
        "Orders placed",
        "orders placed",
        "3",
        next(c for c in cards if c["key"] == "orders_placed")["values"][0]["url"],
    ] in rows
    assert len(rows) - 1 == sum(len(c["values"]) + sum(len(r["values"]) for r in c["rows"]) for c in cards)


def test_the_csv_downloads_need_a_signed_in_cockpit_user(client, signed_in):
    url = "/admin/cockpit/orders_per_day.csv?period=today"

    anonymous = client.get(url)
    warehouse = signed_in("Warehouse staff").get(url)
    manager = signed_in("Operations manager")

    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert warehouse.status_code == 403
    assert manager.get("/admin/cockpit/nothing.csv").status_code == 404
    assert manager.get("/admin/cockpit/time_to_ship.csv?period=forever").status_code == 400


@pytest.mark.parametrize("role", ["Operations manager", "Warehouse staff", "Returns associate"])
def test_the_home_reads_the_same_number_of_queries_whatever_the_data(signed_in, role):
    client = signed_in(role)
    dal = WarehouseFactory(code="DAL")
    some_orders(1, dal)
    client.get(HOME)  # the session's first request records when it was seen
    cache.clear()  # the cockpit's figures computed on each measured request, not read from the cache
    with CaptureQueriesContext(connection) as few:
        client.get(HOME)
    some_orders(12, dal)
    WarehouseFactory(code="RNO")
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        client.get(HOME)

    assert len(many.captured_queries) == len(few.captured_queries)


# --- the sidebar --------------------------------------------------------------------------------------------
def test_the_sidebar_groups_what_the_user_may_open_by_work(signed_in):
    manager = signed_in("Operations manager").get("/admin/orders/order/").context["oms_nav"]
    warehouse = signed_in("Warehouse staff").get(HOME).context["oms_nav"]

    titles = [group["title"] for group in manager]
    assert titles[:6] == ["Orders", "Stock", "Shipping", "Money", "Messages", "Setup"]
    entries = {group["key"]: [entry["key"] for entry in group["entries"]] for group in manager}
    assert entries["orders"][:4] == [
        "orders.order",
        "shipping.shipment",
        "returns.returnrequest",
        "returns.ordererrorcase",
    ]
    assert "inventory.cyclecount" in entries["stock"] and "payments.paymenttransaction" in entries["money"]
    current = [entry["key"] for group in manager for entry in group["entries"] if entry["current"]]
    assert current == ["orders.order"]
    assert "money" not in {group["key"] for group in warehouse}  # the warehouse sees no payments
    assert "inventory.cyclecount" in [e["key"] for group in warehouse for e in group["entries"]]


def test_a_model_no_group_names_is_kept_under_other():
    apps = [
        {
            "app_label": "lab",
            "models": [{"name": "Gadgets", "object_name": "Gadget", "admin_url": "/admin/lab/gadget/"}],
        }
    ]

    groups = nav_groups(apps, "/admin/lab/gadget/1/change/")

    assert groups == [
        {
            "key": "other",
            "title": "Other",
            "entries": [
                {
                    "name": "Gadgets",
                    "url": "/admin/lab/gadget/",
                    "key": "lab.gadget",
                    "order": groups[0]["entries"][0]["order"],
                    "current": True,
                }
            ],
        }
    ]


def test_every_console_page_has_the_sidebar_and_the_search_key_target(signed_in):
    client = signed_in("Operations associate")

    for url in (HOME, "/admin/orders/order/", "/admin/inventory/stocklevel/", "/admin/no-such-page/"):
        page = client.get(url).content.decode()
        if url.startswith("/admin/no-such"):
            assert "oms/console.js" in page  # the error page has the console's look and keys
            continue
        assert 'id="oms-nav"' in page and "oms/console.js" in page, url
        assert '<meta name="oms-search-url" content="/admin/orders/order/">' in page, url
