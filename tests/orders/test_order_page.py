"""The order page through the admin client, as each role sees it: banners, actions, lines, timeline, note box."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import Message
from notifications.services.sending import send_messages
from orders import services
from orders.models import OrderEvent, OrderStatus
from orders.payments.models import PaymentTransaction
from tests.factories import OrderFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

S = OrderStatus
pytestmark = pytest.mark.django_db
ROLES = ("Operations manager", "Operations associate", "Returns associate", "Warehouse staff")
MAY_HOLD = {"Operations manager", "Operations associate"}


def page_of(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def note_url(order) -> str:
    return reverse("admin:orders_order_add_note", args=[order.pk])


def signed_in(client, role: str, **names):
    user = UserFactory(username=role.lower().replace(" ", "-"), role=role, **names)
    client.force_login(user)
    return user


def timeline_entries(html: str) -> list[tuple[str, str]]:
    """(data-kind, text) of each timeline entry, top to bottom."""
    entries = re.findall(
        r'<li class="timeline-entry [^"]*" data-kind="(\w+)">.*?<p class="timeline-text">(.*?)</p>', html, re.S
    )
    return [(kind, re.sub(r"<[^>]+>", "", text).strip()) for kind, text in entries]


def banner(html: str, key: str) -> str:
    found = re.search(
        rf'<div class="order-banner order-banner-{key}".*?</div>\s*(?:<a [^>]*>[^<]*</a>\s*)?</div>', html, re.S
    )
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0))).strip() if found else ""


# --- banners ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_a_held_order_says_why_who_held_it_and_when_and_offers_release_to_who_may(client, role):
    # given an order Maria put on hold
    maria = UserFactory(username="mlopez", first_name="Maria", last_name="Lopez", role="Operations manager")
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="Fraud check: billing and shipping differ", actor=maria)
    held_at = timezone.localtime(order.events.latest("created_at").created_at)
    signed_in(client, role)

    # when someone of this role opens the order
    html = client.get(page_of(order)).content.decode()

    # then the banner names the reason, who and when; Release only for who may release
    text = banner(html, "hold")
    assert text.startswith("On hold: Customer request Fraud check: billing and shipping differ by Maria Lopez on ")
    assert f"{held_at:%a} {held_at.day} {held_at:%b %Y, %H:%M}" in text
    assert ('data-action="release"' in html) == (role in MAY_HOLD)
    assert ("Release" in text) == (role in MAY_HOLD)
    assert 'data-action="hold"' not in html  # already on hold


def test_release_from_the_banner_goes_to_the_release_page_and_back(client):
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="Fraud check", actor="test")
    signed_in(client, "Operations associate")

    html = client.get(page_of(order)).content.decode()
    release = re.search(r'<a href="([^"]+)" class="oms-action" data-action="release">Release</a>', html).group(1)
    done = client.post(release.split("?")[0], {"ids": str(order.pk), "reason": "", "next": page_of(order)})

    order.refresh_from_db()
    assert done.status_code == 302 and done["Location"] == page_of(order)
    assert order.status == S.ALLOCATED
    assert "order-banner-hold" not in client.get(page_of(order)).content.decode()


def test_a_cancelled_order_says_why(client):
    order = OrderFactory(status=S.RECEIVED)
    services.cancel_order(order_id=order.pk, reason="Customer changed their mind", actor="test")
    signed_in(client, "Operations manager")

    html = client.get(page_of(order)).content.decode()

    assert banner(html, "cancelled").startswith("Cancelled Customer changed their mind by test on ")
    assert 'data-action="cancel"' not in html


def test_an_open_order_past_its_promised_date_is_late_and_one_due_now_at_risk(client):
    today = timezone.localdate()
    late = OrderFactory(status=S.ALLOCATED, promised_date=today - dt.timedelta(days=2))
    due = OrderFactory(status=S.ALLOCATED, promised_date=today)
    fine = OrderFactory(status=S.ALLOCATED, promised_date=today + dt.timedelta(days=10))
    shipped = OrderFactory(status=S.SHIPPED, promised_date=today - dt.timedelta(days=2))
    signed_in(client, "Operations associate")

    late_html, due_html, fine_html, shipped_html = (
        client.get(page_of(order)).content.decode() for order in (late, due, fine, shipped)
    )

    assert banner(late_html, "late").endswith("2 days ago, and not shipped yet.")
    assert banner(due_html, "at-risk").startswith("At risk Promised for")
    assert "order-banner" not in fine_html and "order-banner" not in shipped_html


# --- actions ---------------------------------------------------------------------------------------------


def action_groups(html: str) -> dict[str, list[str]]:
    """Each action group's title -> the data-action of its buttons."""
    groups = re.findall(r'<section class="order-action-group[^"]*" data-group="(\w+)">(.*?)</section>', html, re.S)
    return {key: re.findall(r'data-action="([\w-]+)"', body) for key, body in groups}


@pytest.mark.usefixtures("carriers")
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "Operations manager",
            {
                "fulfil": ["create-shipments"],
                "hold": ["hold"],
                "edit": ["change-address", "set-po-number", "edit-items", "revoke-status-link"],
                "return": ["open-order-error"],
                "cancel": ["cancel", "cancel-items"],
            },
        ),
        (
            "Operations associate",
            {"hold": ["hold"], "edit": ["change-address", "set-po-number", "edit-items", "revoke-status-link"]},
        ),
        ("Returns associate", {"return": ["open-order-error"]}),
        ("Warehouse staff", {"fulfil": ["create-shipments"]}),
    ],
)
def test_actions_are_grouped_by_purpose_and_shown_to_who_may_use_them(
    client, role, expected, sites, stock, products, order_to
):
    # given an order with its stock reserved at DAL, whose 'in process' email has gone out with its status link
    stock(sites["DAL"], products[0], 5)
    order = order_to("DFW", [(products[0], 2)])
    services.allocate_order(order_id=order.pk, actor="test")
    send_messages(message_ids=list(Message.objects.filter(order=order).values_list("pk", flat=True)))
    signed_in(client, role)

    html = client.get(page_of(order)).content.decode()

    assert action_groups(html) == expected


def test_returns_buttons_sit_in_the_return_group_once_something_shipped(client):
    order = OrderFactory(status=S.SHIPPED)
    order.lines.update(quantity_shipped=2)
    signed_in(client, "Returns associate")

    html = client.get(page_of(order)).content.decode()

    assert action_groups(html) == {"return": ["open-return", "open-order-error"]}


# --- lines and their fulfilment ----------------------------------------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_each_line_says_where_its_units_are_reserved_shipped_and_tracked(
    client, sites, stock, products, order_to, django_capture_on_commit_callbacks
):
    # given an order whose shirt is reserved at EWR, in a shipment with a label; its mug has no stock anywhere
    shirt, mug = products[:2]
    stock(sites["EWR"], shirt, 5)
    order = order_to("NYC", [(shirt, 2), (mug, 1)])
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    tracking = shipment.parcels.get().tracking_number
    signed_in(client, "Warehouse staff")

    # when warehouse staff open it
    html = client.get(page_of(order)).content.decode()

    # then the shirt's row names the warehouse, the shipment (linked) and its tracking; the mug waits
    rows = dict(re.findall(r'<tr data-line="([^"]+)">(.*?)</tr>', html, re.S))
    shirt_row, mug_row = rows[shirt.sku], rows[mug.sku]
    assert "2 at EWR" in shirt_row
    shipment_url = reverse("admin:shipping_shipment_change", args=[shipment.pk])
    assert f'<a href="{shipment_url}">{shipment.number}</a>' in shirt_row
    assert tracking in shirt_row and "Label created" in shirt_row
    assert "1 not reserved" in mug_row
    assert "Reserved stock" in html


# --- the facts ---------------------------------------------------------------------------------------------


def test_the_customer_card_links_their_record_and_counts_their_orders(client):
    order = OrderFactory()
    OrderFactory.create_batch(2, customer=order.customer)
    signed_in(client, "Operations manager")

    html = client.get(page_of(order)).content.decode()

    customer_url = reverse("admin:orders_customer_change", args=[order.customer_id])
    assert f'<a href="{customer_url}">{order.customer.name}</a>' in html
    assert order.customer.email in html and "3 orders</a>" in html
    assert order.external_id in html and order.channel.name in html
    assert "Same as shipping address." in html


def test_warehouse_staff_see_the_customer_without_a_link_to_a_record_they_may_not_open(client):
    order = OrderFactory()
    signed_in(client, "Warehouse staff")

    html = client.get(page_of(order)).content.decode()

    assert order.customer.name in html
    assert reverse("admin:orders_customer_change", args=[order.customer_id]) not in html


# --- the timeline -----------------------------------------------------------------------------------------


def with_email_and_payment(order, minutes_ago: int) -> None:
    moment = timezone.now() - dt.timedelta(minutes=minutes_ago)
    Message.objects.create(
        key=f"test:{order.pk}:{minutes_ago}",
        event="order_received",
        audience=Message.Audience.CUSTOMER,
        order=order,
        recipient=order.customer.email,
        subject="We have your order",
        status=Message.Status.SENT,
        created_at=moment,
        sent_at=moment,
    )
    PaymentTransaction.objects.create(
        order=order,
        kind=PaymentTransaction.Kind.AUTHORISE,
        gateway="test_card",
        amount=Decimal("50.00"),
        currency="USD",
        status=PaymentTransaction.Status.SUCCEEDED,
        idempotency_key=f"test:{order.pk}:{minutes_ago}",
        created_at=moment - dt.timedelta(seconds=30),
    )


def test_the_timeline_is_newest_first_and_merges_events_emails_and_payment_calls(client):
    # given an order placed an hour ago, with an email and a payment call since, then put on hold
    order = OrderFactory(status=S.ALLOCATED)
    order.events.update(created_at=timezone.now() - dt.timedelta(hours=1))
    with_email_and_payment(order, minutes_ago=30)
    services.hold_order(order_id=order.pk, reason="Fraud check", actor="test")
    signed_in(client, "Operations manager")

    html = client.get(page_of(order)).content.decode()

    assert timeline_entries(html) == [
        ("status", "Put on hold: Fraud check"),
        ("messages", f"“We have your order” to {order.customer.email}: sent. view email"),
        ("payment", "Authorise 50.00 USD on test_card: succeeded. view call"),
        ("status", "Order placed."),
    ]
    assert 'data-filter="notes"' in html and 'data-filter="messages"' in html


def test_without_javascript_every_entry_shows_and_the_chips_stay_hidden(client):
    order = OrderFactory()
    services.add_order_note(order_id=order.pk, message="Fragile", actor="test")
    signed_in(client, "Operations associate")

    html = client.get(page_of(order)).content.decode()

    assert '<div class="timeline-filters" role="group" aria-label="Show" hidden>' in html
    assert len(timeline_entries(html)) == 2 and "<li hidden" not in html
    assert f'href="{reverse("admin:orders_order_history", args=[order.pk])}"' in html  # every event, on History


def test_warehouse_staff_see_the_timeline_with_holds_and_notes_but_not_emails_or_payments(client):
    # given a held order with a note, an email and a payment call
    order = OrderFactory(status=S.ALLOCATED)
    with_email_and_payment(order, minutes_ago=30)
    services.hold_order(order_id=order.pk, reason="Address check", actor="test")
    services.add_order_note(order_id=order.pk, message="Pack with the gift note", actor="test")
    signed_in(client, "Warehouse staff")

    html = client.get(page_of(order)).content.decode()

    assert [text for _, text in timeline_entries(html)] == [
        "Pack with the gift note",
        "Put on hold: Address check",
        "Order placed.",
    ]
    assert "order-note-box" in html  # and they may add a note


@pytest.mark.parametrize("role", ROLES)
def test_a_note_posted_from_the_box_goes_on_top_of_the_timeline_with_its_author(client, role):
    # given an order with some history
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="Fraud check", actor="test")
    author = signed_in(client, role, first_name="Noor", last_name="Haddad")

    # when they write a note and add it
    response = client.post(note_url(order), {"message": "  Customer called: leave at the back door  "})

    # then they are back on the page's timeline, told it worked, and the note is first, in their name
    assert response.status_code == 302
    assert response["Location"] == page_of(order) + "#timeline"
    html = client.get(page_of(order)).content.decode()
    assert f"Note added to {order.number}." in html
    assert timeline_entries(html)[0] == ("notes", "Customer called: leave at the back door")
    assert re.search(r'<span class="timeline-who">Noor Haddad</span>', html)
    note = order.events.get(kind=OrderEvent.Kind.NOTE)
    assert (note.actor, note.message) == (author, "Customer called: leave at the back door")


def test_an_empty_note_is_refused_on_the_page_and_nothing_is_written(client):
    order = OrderFactory()
    signed_in(client, "Operations associate")

    response = client.post(note_url(order), {"message": "   "})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Write the note first: an empty note is not added." in html
    assert 'id="order-note-box"' in html and order.number in html
    assert not order.events.filter(kind=OrderEvent.Kind.NOTE).exists()


def test_who_may_not_view_orders_may_not_add_a_note_and_a_get_adds_nothing(client):
    order = OrderFactory()
    client.force_login(UserFactory(username="visitor"))  # staff, no role

    refused = client.post(note_url(order), {"message": "hello"})
    signed_in(client, "Warehouse staff")
    fetched = client.get(note_url(order))

    assert refused.status_code == 403 and fetched.status_code == 405
    assert not order.events.filter(kind=OrderEvent.Kind.NOTE).exists()


def test_the_note_box_needs_the_csrf_token(superuser):
    from django.test import Client

    order = OrderFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)

    response = client.post(note_url(order), {"message": "hello"})

    assert response.status_code == 403
    assert not order.events.filter(kind=OrderEvent.Kind.NOTE).exists()


def test_the_latest_notes_show_beside_the_order(client):
    order = OrderFactory()
    for text in ("first", "second", "third", "fourth"):
        services.add_order_note(order_id=order.pk, message=f"{text} note", actor="test")
    signed_in(client, "Operations associate")

    html = client.get(page_of(order)).content.decode()

    notes = re.search(r'<ul class="order-notes">(.*?)</ul>', html, re.S).group(1)
    assert re.findall(r"<p>(\w+) note</p>", notes) == ["fourth", "third", "second"]


# --- a fixed number of queries -------------------------------------------------------------------------------


def busy_order(size: int):
    """An order with ``size`` lines, ``size`` notes, emails and payment calls, on hold."""
    order = OrderFactory(status=S.ALLOCATED, lines=size)
    for minute in range(size):
        services.add_order_note(order_id=order.pk, message=f"note {minute}", actor=UserFactory())
        with_email_and_payment(order, minutes_ago=minute + 1)
    services.hold_order(order_id=order.pk, reason="Fraud check", actor=UserFactory())
    return order


@pytest.mark.parametrize("role", ["Operations manager", "Warehouse staff"])
def test_the_page_reads_the_same_number_of_queries_for_2_and_10_lines_and_events(client, role):
    small, large = busy_order(2), busy_order(10)
    signed_in(client, role)
    client.get(page_of(small))  # the first request after signing in also writes the session

    with CaptureQueriesContext(connection) as few:
        assert client.get(page_of(small)).status_code == 200
    with CaptureQueriesContext(connection) as many:
        response = client.get(page_of(large))

    assert len(timeline_entries(response.content.decode())) >= 11
    assert len(many.captured_queries) == len(few.captured_queries)
