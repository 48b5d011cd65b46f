"""The order list ops work a queue from: its columns, its tabs with their counts, and search by number."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders import selectors
from orders.models import Order, OrderLine, OrderStatus, SavedOrderView
from orders.payments.models import PaymentTransaction
from orders.returns.models import ReturnRequest, ReturnStatus
from shipping.models import Shipment, ShipmentStatus
from tests.factories import OrderFactory, WarehouseFactory

S = OrderStatus
pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:orders_order_changelist")


@pytest.fixture(autouse=True)
def fresh_counts():
    """Tab counts are cached for 30 s: each test counts its own orders."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ops(client, superuser):
    client.force_login(superuser)
    return client


def listed(response) -> list[str]:
    return [order.number for order in response.context["cl"].result_list]


def tabs(response) -> dict[str, dict]:
    return {tab["label"]: tab for tab in response.context["order_tabs"]}


def shipment(order: Order, status: str) -> Shipment:
    warehouse = WarehouseFactory()
    return Shipment.objects.create(
        number=f"{order.number}-{Shipment.objects.filter(order=order).count() + 1}",
        order=order,
        order_number=order.number,
        warehouse=warehouse,
        status=status,
        ship_to={"name": "Ana", "line1": "1 Main St", "city": "Newark", "postal_code": "07102", "country": "US"},
    )


def authorised(order: Order, status: str = PaymentTransaction.Status.SUCCEEDED) -> PaymentTransaction:
    return PaymentTransaction.objects.create(
        order=order,
        kind=PaymentTransaction.Kind.AUTHORISE,
        gateway=order.payment_gateway,
        amount=order.grand_total,
        currency=order.currency,
        status=status,
        idempotency_key=f"{order.number}:authorise:1",
    )


def a_return(order: Order, status: str) -> ReturnRequest:
    return ReturnRequest.objects.create(order=order, status=status, reason=ReturnRequest.Reason.values[0])


@pytest.fixture
def queues():
    """One order or more per queue, and the edge cases between them, by name."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    orders = {
        "received": OrderFactory(status=S.RECEIVED),
        "received_paid": OrderFactory(status=S.RECEIVED, payment_gateway="test_card"),
        "awaiting_payment": OrderFactory(status=S.RECEIVED, payment_gateway="test_card"),
        "payment_retrying": OrderFactory(status=S.RECEIVED, payment_gateway="test_card"),
        "held": OrderFactory(status=S.ON_HOLD, held_from_status=S.RECEIVED),
        "to_pick": OrderFactory(status=S.ALLOCATED),
        "shipment_no_label": OrderFactory(status=S.ALLOCATED),
        "labelled": OrderFactory(status=S.ALLOCATED),
        "partly_shipped_labelled": OrderFactory(status=S.PARTIALLY_SHIPPED),
        "late_backorder": OrderFactory(status=S.BACKORDERED, promised_date=yesterday),
        "cancelled": OrderFactory(status=S.CANCELLED, promised_date=yesterday, payment_gateway="test_card"),
        "delivered_return_open": OrderFactory(status=S.DELIVERED),
        "delivered_return_closed": OrderFactory(status=S.DELIVERED),
        "shipped_late_date": OrderFactory(status=S.SHIPPED, promised_date=yesterday),
    }
    authorised(orders["received_paid"])
    authorised(orders["payment_retrying"], status=PaymentTransaction.Status.ERROR)
    shipment(orders["shipment_no_label"], ShipmentStatus.AWAITING_LABEL)
    shipment(orders["labelled"], ShipmentStatus.LABEL_CREATED)
    shipment(orders["partly_shipped_labelled"], ShipmentStatus.IN_TRANSIT)
    shipment(orders["partly_shipped_labelled"], ShipmentStatus.LABEL_CREATED)
    shipment(orders["cancelled"], ShipmentStatus.LABEL_CREATED)
    a_return(orders["delivered_return_open"], ReturnStatus.AUTHORISED)
    a_return(orders["delivered_return_closed"], ReturnStatus.CLOSED)
    return orders


EXPECTED = {
    "To route": {"received", "received_paid"},
    "To pick": {"to_pick"},
    "To ship": {"labelled", "partly_shipped_labelled"},
    "Late": {"late_backorder"},
    "On hold": {"held"},
    "Awaiting payment": {"awaiting_payment", "payment_retrying"},
    "Returns open": {"delivered_return_open"},
}


def test_each_tab_lists_exactly_its_queue_and_counts_what_it_lists(ops, queues):
    # given orders in every queue and between them
    number = {order.number: name for name, order in queues.items()}

    # when an associate opens the list
    response = ops.get(CHANGELIST)

    # then each tab's count is the number of rows its link lists, and those are exactly its orders
    shown = tabs(response)
    assert list(shown) == list(EXPECTED)
    for label, wanted in EXPECTED.items():
        tab = shown[label]
        rows = listed(ops.get(tab["url"]))
        assert {number[n] for n in rows} == wanted, label
        assert tab["count"] == str(len(rows)), label


def test_a_held_order_is_not_to_route_and_a_cancelled_order_is_in_no_queue(ops, queues):
    response = ops.get(CHANGELIST)

    for tab in response.context["order_tabs"]:
        rows = listed(ops.get(tab["url"]))
        assert queues["cancelled"].number not in rows, tab["label"]
        assert queues["shipped_late_date"].number not in rows, tab["label"]
    assert queues["held"].number not in listed(ops.get(tabs(response)["To route"]["url"]))


def test_the_tab_of_the_list_shown_is_marked_and_all_orders_when_unfiltered(ops, queues):
    response = ops.get(CHANGELIST)
    assert response.context["all_orders_active"]
    assert not any(tab["active"] for tab in response.context["order_tabs"])

    on_hold = ops.get(CHANGELIST, {"status__exact": "on_hold", "p": "1", "o": "2"})

    assert [tab["label"] for tab in on_hold.context["order_tabs"] if tab["active"]] == ["On hold"]
    assert not on_hold.context["all_orders_active"]
    html = on_hold.content.decode()
    assert re.search(r'class="oms-tab oms-tab-active" aria-current="page">On hold <span class="oms-tab-count">1<', html)


def test_the_queue_filter_is_not_in_the_sidebar_and_refuses_an_unknown_queue(ops, queues):
    response = ops.get(CHANGELIST, {"queue": "to_pick"})
    assert 'id="changelist-filter"' in response.content.decode()
    assert "By queue" not in response.content.decode()

    refused = ops.get(CHANGELIST, {"queue": "everything"})
    assert refused.status_code == 302
    assert refused.url.endswith("?e=1")


def test_counts_are_capped_and_shown_with_a_plus(ops, monkeypatch):
    # given more orders on hold than the cap
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 3)
    OrderFactory.create_batch(5, status=S.ON_HOLD, held_from_status=S.RECEIVED)
    OrderFactory.create_batch(2, status=S.ALLOCATED)

    response = ops.get(CHANGELIST)

    assert tabs(response)["On hold"]["count"] == "3+"
    assert tabs(response)["To pick"]["count"] == "2"


def test_counts_are_one_query_and_kept_for_thirty_seconds(ops, queues):
    ops.get(CHANGELIST)  # the first request after signing in also writes the session
    cache.clear()
    with CaptureQueriesContext(connection) as cold:
        ops.get(CHANGELIST)
    counting = [q["sql"] for q in cold.captured_queries if q["sql"].count("COUNT(*)") >= len(EXPECTED)]
    assert len(counting) == 1

    OrderFactory(status=S.ON_HOLD, held_from_status=S.RECEIVED)
    with CaptureQueriesContext(connection) as warm:
        response = ops.get(CHANGELIST)

    assert len(warm.captured_queries) == len(cold.captured_queries) - 1
    assert tabs(response)["On hold"]["count"] == "1"  # as counted less than 30 s ago
    cache.clear()
    assert tabs(ops.get(CHANGELIST))["On hold"]["count"] == "2"


def line_cells(response) -> dict[str, tuple[str, str]]:
    """Order number -> (items, the fulfilment column's text), row by row."""
    html = response.content.decode()
    rows = re.findall(r'>(SO-\d+)</a>.*?class="field-items">(\d+)</td><td class="field-fulfilment">(.*?)</td>', html)
    return {number: (items, re.sub(r"<[^>]+>", "", cell).strip()) for number, items, cell in rows}


def test_items_count_units_and_progress_says_how_many_shipped(ops):
    # given an order of 5 units of which 3 shipped, one of 3 units none shipped, and a cancelled one
    partly = OrderFactory(status=S.PARTIALLY_SHIPPED, lines=2)
    first, second = partly.lines.order_by("pk")
    OrderLine.objects.filter(pk=first.pk).update(quantity=3, quantity_shipped=3)
    OrderLine.objects.filter(pk=second.pk).update(quantity=2, quantity_shipped=0)
    fresh = OrderFactory(status=S.ALLOCATED, lines=1)
    fresh.lines.update(quantity=3)
    cancelled = OrderFactory(status=S.CANCELLED)

    response = ops.get(CHANGELIST)

    cells = line_cells(response)
    assert cells[partly.number] == ("5", "Partly shipped 3 of 5 shipped")
    assert cells[fresh.number] == ("3", "Reserved 0 of 3 shipped")
    assert cells[cancelled.number] == ("2", "—")
    html = response.content.decode()
    assert '<progress value="3" max="5"></progress>' in html


def test_promised_date_is_marked_late_or_at_risk_as_the_promise_filters_say(ops):
    today = timezone.localdate()
    late = OrderFactory(status=S.ALLOCATED, promised_date=today - dt.timedelta(days=2))
    at_risk = OrderFactory(status=S.RECEIVED, promised_date=today)
    on_track = OrderFactory(status=S.RECEIVED, promised_date=today + dt.timedelta(days=6))
    shipped = OrderFactory(status=S.SHIPPED, promised_date=today - dt.timedelta(days=2))

    html = ops.get(CHANGELIST).content.decode()

    def promise(order):
        cell = re.search(rf">{order.number}</a>.*?class=\"field-promised\">(.*?)</td>", html, re.S).group(1)
        mark = re.search(r'data-promise="([\w-]+)"', cell)
        return mark.group(1) if mark else "", re.sub(r"<[^>]+>", "", cell)

    assert promise(late) == ("late", f"{late.promised_date.day} {late.promised_date:%b} Late")
    assert promise(at_risk)[0] == "at-risk"
    assert promise(at_risk)[1].endswith("At risk")
    assert promise(on_track)[0] == ""
    assert promise(shipped)[0] == ""
    late_numbers = set(listed(ops.get(CHANGELIST, {"promise": "late"})))
    risk_numbers = set(listed(ops.get(CHANGELIST, {"promise": "at_risk"})))
    assert (late_numbers, risk_numbers) == ({late.number}, {at_risk.number})


def test_columns_in_order_with_placed_local_time_channel_and_total(ops):
    order = OrderFactory(grand_total=Decimal("1234.50"))
    Order.objects.filter(pk=order.pk).update(grand_total=Decimal("1234.50"))
    local = timezone.localtime(order.placed_at)

    html = ops.get(CHANGELIST).content.decode()

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert headers == [
        "number",
        "customer_name",
        "status_display",
        "placed",
        "items",
        "fulfilment",
        "promised",
        "channel",
        "total_display",
    ]
    assert f"{local.day} {local:%b %H:%M}</time>" in html
    assert order.channel.name in html
    assert "1,234.50 USD" in html


def test_list_query_count_is_the_same_for_5_and_40_orders(ops, superuser):
    # given a saved view of the user's (its count is a query of its own) and 5 orders with lines and shipments
    SavedOrderView.objects.create(user=superuser, name="Held", query="status__exact=on_hold")

    def orders(count: int) -> None:
        for made in OrderFactory.create_batch(count, status=S.ALLOCATED, lines=2):
            shipment(made, ShipmentStatus.LABEL_CREATED)

    def queries() -> tuple[int, int]:
        """The list's queries with its tab counts cached, then counted afresh."""
        with CaptureQueriesContext(connection) as warm:
            response = ops.get(CHANGELIST)
        cache.clear()
        with CaptureQueriesContext(connection) as cold:
            ops.get(CHANGELIST)
        counting = sum(" capped)" in query["sql"] for query in cold.captured_queries)
        counted_warm = sum(" capped)" in query["sql"] for query in warm.captured_queries)
        assert (counted_warm, counting) == (0, 2)  # cold: one for the queues, one for the user's views
        return len(response.context["cl"].result_list), len(warm.captured_queries), len(cold.captured_queries)

    orders(5)
    ops.get(CHANGELIST)  # the first request after signing in also writes the session
    five = queries()
    orders(35)
    forty = queries()

    assert (five[0], forty[0]) == (5, 40)
    assert five[1:] == forty[1:]


# --- search: a whole order number opens the order -----------------------------------------------


def test_searching_a_whole_order_number_opens_that_order(ops):
    target = OrderFactory()
    OrderFactory.create_batch(2)

    for term in (target.number, f"  {target.number.lower()} "):
        response = ops.get(CHANGELIST, {"q": term})
        assert response.status_code == 302
        assert response.url == reverse("admin:orders_order_change", args=[target.pk])


def test_a_partial_number_or_a_name_lists_the_matches(ops):
    target = OrderFactory()
    OrderFactory.create_batch(2)
    digits = target.number.removeprefix("SO-").lstrip("0")

    for term in (digits, f"SO-{digits}", target.customer.name.split()[0]):
        response = ops.get(CHANGELIST, {"q": term})
        assert response.status_code == 200, term
        assert target.number in listed(response), term


def test_a_number_that_is_also_another_orders_channel_id_lists_both(ops):
    target = OrderFactory()
    other = OrderFactory(external_id=target.number)

    response = ops.get(CHANGELIST, {"q": target.number})

    assert response.status_code == 200
    assert sorted(listed(response)) == sorted([target.number, other.number])


def test_a_number_search_without_permission_to_view_orders_opens_nothing(client):
    from tests.factories import UserFactory

    target = OrderFactory()
    client.force_login(UserFactory(username="nobody"))

    response = client.get(CHANGELIST, {"q": target.number})

    assert response.status_code == 403


def test_a_popup_list_has_no_tabs_and_counts_nothing(ops, queues):
    ops.get(CHANGELIST)
    cache.clear()

    with CaptureQueriesContext(connection) as popup:
        response = ops.get(CHANGELIST, {"_popup": "1"})

    assert response.status_code == 200
    assert "order_tabs" not in response.context
    assert 'class="oms-tabs"' not in response.content.decode()
    assert not any(" capped)" in query["sql"] for query in popup.captured_queries)
