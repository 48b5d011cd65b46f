"""The order console through the admin client: lists, search, actions."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders import services
from orders.models import Order, OrderEvent, OrderStatus
from shipping.models import Shipment
from tests.factories import CustomerFactory, OrderFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

S = OrderStatus
pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:orders_order_changelist")


@pytest.fixture
def ops(client, superuser):
    client.force_login(superuser)
    return client


def list_numbers(response) -> list[str]:
    return [order.number for order in response.context["cl"].result_list]


def test_order_list_shows_status_badges_channel_customer_total_and_promise(ops):
    order = OrderFactory(status=S.BACKORDERED)

    response = ops.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert order.number in html
    assert 'class="oms-badge oms-badge-backordered"' in html
    assert order.channel.name in html
    assert order.customer.name in html
    assert f"{order.grand_total:,.2f} USD" in html


def test_order_list_query_count_does_not_grow_with_rows(ops):
    ops.get(CHANGELIST)  # the first request after signing in also writes the session
    OrderFactory.create_batch(3)
    with CaptureQueriesContext(connection) as few:
        ops.get(CHANGELIST)
    OrderFactory.create_batch(25)
    with CaptureQueriesContext(connection) as many:
        response = ops.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 28
    assert len(many.captured_queries) == len(few.captured_queries)


def test_status_filter_lists_only_that_status(ops):
    held = OrderFactory(status=S.ON_HOLD)
    OrderFactory(status=S.RECEIVED)

    response = ops.get(CHANGELIST, {"status__exact": S.ON_HOLD})

    assert list_numbers(response) == [held.number]


def test_channel_and_placed_date_range_filters(ops):
    old = OrderFactory(placed_at=timezone.now() - dt.timedelta(days=40))
    recent = OrderFactory()

    response = ops.get(
        CHANGELIST,
        {"placed_at__range__gte": (timezone.localdate() - dt.timedelta(days=2)).isoformat()},
    )
    assert list_numbers(response) == [recent.number]

    response = ops.get(CHANGELIST, {"channel__id__exact": old.channel_id})
    assert list_numbers(response) == [old.number]


def test_promise_filter_separates_late_from_at_risk_most_overdue_first(ops):
    today = timezone.localdate()
    late = OrderFactory(status=S.ALLOCATED, promised_date=today - dt.timedelta(days=1))
    later = OrderFactory(status=S.BACKORDERED, promised_date=today - dt.timedelta(days=4))
    at_risk = OrderFactory(status=S.RECEIVED, promised_date=today)
    OrderFactory(status=S.SHIPPED, promised_date=today - dt.timedelta(days=2))  # shipped: neither
    OrderFactory(status=S.RECEIVED, promised_date=today + dt.timedelta(days=5))  # on track

    assert list_numbers(ops.get(CHANGELIST, {"promise": "late"})) == [later.number, late.number]
    assert list_numbers(ops.get(CHANGELIST, {"promise": "at_risk"})) == [at_risk.number]


@pytest.mark.parametrize(
    "term",
    [
        lambda o: "SO-" + o.number.removeprefix("SO-").lstrip("0"),
        lambda o: o.number.removeprefix("SO-").lstrip("0"),
        lambda o: o.external_id,
        lambda o: o.customer.email.upper(),
        lambda o: "Quintero",
    ],
    ids=["number-short", "number-digits", "external-id", "email", "name-part"],
)
def test_search_finds_the_order(ops, term):
    target = OrderFactory(customer=CustomerFactory(name="Ana Quintero-Ruiz", email="ana.q@example.com"))
    OrderFactory.create_batch(3)

    response = ops.get(CHANGELIST, {"q": term(target)})

    assert list_numbers(response) == [target.number]


@pytest.mark.parametrize("customer_limit", [500, 1], ids=["few-matching-customers", "many-matching-customers"])
def test_name_search_gives_the_same_orders_whichever_way_it_queries(ops, monkeypatch, customer_limit):
    monkeypatch.setattr("orders.selectors.NAME_SEARCH_CUSTOMER_LIMIT", customer_limit)
    wanted = [
        OrderFactory(customer=CustomerFactory(name="Ines Varga")),
        OrderFactory(customer=CustomerFactory(name="Tomas Vargas")),
    ]
    OrderFactory(customer=CustomerFactory(name="Someone Else"))

    response = ops.get(CHANGELIST, {"q": "varga"})

    assert sorted(list_numbers(response)) == sorted(o.number for o in wanted)


def test_search_with_no_match_lists_nothing(ops):
    OrderFactory.create_batch(2)

    assert list_numbers(ops.get(CHANGELIST, {"q": "xyzzy"})) == []


def test_order_page_shows_lines_and_timeline_read_only_with_actions(ops):
    order = OrderFactory(status=S.ALLOCATED, lines=2)

    response = ops.get(reverse("admin:orders_order_change", args=[order.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Order placed." in html
    for line in order.lines.all():
        assert line.sku in html
    assert 'data-action="hold"' in html
    assert 'data-action="cancel"' in html
    assert 'data-action="release"' not in html
    assert 'name="_save"' not in html  # nothing on the page is editable


def test_hold_action_asks_for_a_reason_then_holds_and_reports(ops, superuser):
    orders = OrderFactory.create_batch(2, status=S.ALLOCATED)
    ids = [o.pk for o in orders]

    response = ops.post(CHANGELIST, {"action": "hold_selected", "_selected_action": ids})
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.startswith(reverse("admin:orders_order_act", args=["hold"]))

    form_page = ops.get(form_url)
    assert form_page.status_code == 200
    assert all(o.number in form_page.content.decode() for o in orders)

    refused = ops.post(form_url, {"ids": ",".join(map(str, ids)), "reason": ""})
    assert refused.status_code == 200
    assert "This field is required" in refused.content.decode()

    done = ops.post(
        form_url, {"ids": ",".join(map(str, ids)), "hold_type": "fraud_review", "reason": "Fraud check"}, follow=True
    )
    text = done.content.decode()
    for order in orders:
        order.refresh_from_db()
        assert order.status == S.ON_HOLD
        assert f"{order.number} put on a fraud review hold." in text
        assert order.holds.get().hold_type == "fraud_review"
        event = order.events.latest("created_at")
        assert (event.message, event.actor) == ("Put on hold: Fraud check", superuser)


def test_bulk_actions_refuse_more_than_the_limit(ops, monkeypatch):
    monkeypatch.setattr("orders.admin.orders.MAX_BULK_ORDERS", 2)
    orders = OrderFactory.create_batch(3, status=S.ON_HOLD, held_from_status=S.RECEIVED)
    ids = [o.pk for o in orders]

    for action in ("hold_selected", "release_selected", "cancel_selected"):
        response = ops.post(CHANGELIST, {"action": action, "_selected_action": ids}, follow=True)
        assert "Select at most 2 orders at a time" in response.content.decode()

    assert {o.status for o in Order.objects.filter(pk__in=ids)} == {S.ON_HOLD}


def test_release_action_releases_and_reports_refusals(ops):
    held = OrderFactory(status=S.ON_HOLD, held_from_status=S.ALLOCATED)
    not_held = OrderFactory(status=S.RECEIVED)

    response = ops.post(
        CHANGELIST, {"action": "release_selected", "_selected_action": [held.pk, not_held.pk]}, follow=True
    )

    text = response.content.decode()
    held.refresh_from_db()
    assert held.status == S.ALLOCATED
    assert f"{held.number} released from hold." in text
    assert f"Order {not_held.number} is not on hold" in text


def test_cancel_from_the_order_page_records_reason_and_refuses_shipped_orders(ops):
    open_order = OrderFactory(status=S.RECEIVED)
    shipped = OrderFactory(status=S.SHIPPED)
    url = reverse("admin:orders_order_act", args=["cancel"])

    response = ops.post(url, {"ids": f"{open_order.pk},{shipped.pk}", "reason": "Customer request"}, follow=True)

    text = response.content.decode()
    open_order.refresh_from_db()
    shipped.refresh_from_db()
    assert open_order.status == S.CANCELLED
    assert shipped.status == S.SHIPPED
    assert f"{open_order.number} cancelled." in text
    assert "cannot go from shipped to cancelled" in text
    assert "1 of 2 orders done." in text


def test_note_from_the_order_page_lands_on_the_timeline(ops, superuser):
    order = OrderFactory()
    url = reverse("admin:orders_order_act", args=["note"])
    back = reverse("admin:orders_order_change", args=[order.pk])

    response = ops.post(url, {"ids": str(order.pk), "reason": "Customer called about gift wrap", "next": back})

    assert response.status_code == 302
    assert response["Location"] == back
    assert order.events.filter(kind=OrderEvent.Kind.NOTE, actor=superuser).count() == 1


def test_act_view_ignores_redirects_to_other_sites(ops):
    order = OrderFactory()
    url = reverse("admin:orders_order_act", args=["note"])

    response = ops.post(url, {"ids": str(order.pk), "reason": "x", "next": "https://evil.example/"})

    assert response["Location"] == CHANGELIST


def test_act_view_requires_csrf_token(client, superuser):
    order = OrderFactory()
    client = client.__class__(enforce_csrf_checks=True)
    client.force_login(superuser)

    response = client.post(reverse("admin:orders_order_act", args=["cancel"]), {"ids": str(order.pk), "reason": "x"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == S.RECEIVED


def test_allocate_from_the_order_page_routes_and_shows_reserved_stock(ops, sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 3)
    order = order_to("DFW", [(a, 2)])
    page = ops.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'data-action="allocate"' in page

    response = ops.post(reverse("admin:orders_order_act", args=["allocate"]), {"ids": str(order.pk)}, follow=True)

    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert f"{order.number} routed: allocated." in response.content.decode()
    page = ops.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "Reserved stock" in page
    assert "Reserved at DAL: nearest with full stock" in page
    assert 'data-action="allocate"' not in page


# --- History is the order's timeline ------------------------------------------------------------------


def test_the_order_pages_history_button_shows_the_timeline_newest_first_with_who_and_when(client):
    maria = UserFactory(username="mlopez", first_name="Maria", last_name="Lopez", role="Operations manager")
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="Fraud check", actor=maria)
    services.release_order(order_id=order.pk, note="", actor="system: credit control")
    client.force_login(UserFactory(username="wanda", role="Warehouse staff"))

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    history_url = reverse("admin:orders_order_history", args=[order.pk])
    assert f'href="{history_url}"' in page  # the History button
    response = client.get(history_url)

    html = response.content.decode()
    assert response.status_code == 200
    assert "doesn’t have a change history" not in html
    assert f"History of {order.number}" in html
    rows = re.findall(r'<tr data-kind="(\w+)">.*?oms-history-who">([^<]*)</td>.*?</span>([^<]*)</td>', html, re.S)
    assert rows == [
        ("status_changed", "system: credit control", "Released from hold to allocated"),
        ("status_changed", "Maria Lopez", "Put on hold: Fraud check"),
        ("placed", "test", "Order placed."),  # the factory places orders as "test"
    ]
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d</time>', html)


def test_history_of_a_missing_order_is_not_found(ops):
    response = ops.get(reverse("admin:orders_order_history", args=[987654]))

    assert response.status_code == 404


# --- Create shipments reports what it made; the list shows where fulfilment stands -----------------------


@pytest.mark.usefixtures("carriers")
def test_create_shipments_reports_each_shipment_made_with_a_link(ops, sites, stock, products, order_to):
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["ATL"], b, 5)
    order = order_to("NYC", [(a, 1), (b, 1)])
    services.allocate_order(order_id=order.pk, actor="test")

    response = ops.post(reverse("admin:orders_order_act", args=["ship"]), {"ids": str(order.pk)}, follow=True)

    made = list(Shipment.objects.filter(order=order).order_by("number").select_related("warehouse"))
    assert [s.warehouse.code for s in made] == ["ATL", "EWR"]
    links = [f'<a href="{reverse("admin:shipping_shipment_change", args=[s.pk])}">{s.number}</a>' for s in made]
    html = response.content.decode()
    assert f"Made 2 shipments for {order.number}: {links[0]} (ATL, " in html
    assert f"), {links[1]} (EWR, " in html


def fulfilment_column(response) -> dict[str, str]:
    """Order number -> the fulfilment column's stage, row by row."""
    html = response.content.decode()
    return dict(re.findall(r'>(SO-\d+)</a>.*?data-stage="([\w-]+)"', html, re.S))


@pytest.mark.usefixtures("carriers")
def test_order_list_shows_where_fulfilment_stands_in_a_fixed_number_of_queries(
    ops,
    sites,
    stock,
    products,
    order_to,
    django_capture_on_commit_callbacks,
):
    a = products[0]
    stock(sites["EWR"], a, 50)

    def allocated():
        order = order_to("NYC", [(a, 1)])
        services.allocate_order(order_id=order.pk, actor="test")
        return order

    received = order_to("NYC", [(a, 1)])
    reserved = allocated()
    ops.get(CHANGELIST)  # the first request after signing in also writes the session
    with CaptureQueriesContext(connection) as few:
        ops.get(CHANGELIST)
    created = allocated()
    services.create_shipments(order_id=created.pk, actor="test")
    labelled = allocated()
    (shipment,) = services.create_shipments(order_id=labelled.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    shipped = allocated()
    (shipment,) = services.create_shipments(order_id=shipped.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.ship_shipment(shipment_id=shipment.pk, actor="test")
    delivered = OrderFactory(status=S.DELIVERED)
    held = allocated()
    services.hold_order(order_id=held.pk, reason="Address check", actor="test")

    with CaptureQueriesContext(connection) as many:
        response = ops.get(CHANGELIST)

    assert fulfilment_column(response) == {
        received.number: "not-reserved",
        reserved.number: "reserved",
        created.number: "shipment-created",
        labelled.number: "label-bought",
        shipped.number: "shipped",
        delivered.number: "delivered",
        held.number: "reserved",
    }
    assert "Label bought" in response.content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
