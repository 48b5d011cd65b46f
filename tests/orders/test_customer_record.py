"""The customer record: figures equal hand-computed ones, the list's columns and filters, the page, the
notes and tags, the merge and its invariants, the export, and who may do what."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Message
from oms_site.roles import OPERATIONS_ASSOCIATE, OPERATIONS_MANAGER, RETURNS_ASSOCIATE
from orders import customer_selectors as selectors
from orders.customer_models import CustomerEvent, CustomerNote
from orders.exceptions import CustomerRecordError
from orders.models import Customer, Order, OrderEvent, OrderStatus
from orders.returns.models import OrderErrorCase, Refund, ReturnRequest, StoreCredit
from orders.services import customers as services
from tests.factories import AddressFactory, CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def make_order(customer, *, total: str, currency: str = "USD", days_ago: int = 0, status=OrderStatus.DELIVERED):
    order = OrderFactory(customer=customer, currency=currency, status=status)
    Order.objects.filter(pk=order.pk).update(grand_total=Decimal(total), placed_at=timezone.now() - days_ago * DAY)
    order.refresh_from_db()
    return order


def make_message(order, *, event: str, status=Message.Status.SENT, n: int = 0):
    return Message.objects.create(
        key=f"test:{order.pk}:{event}:{n}",
        event=event,
        audience=Message.Audience.CUSTOMER,
        order=order,
        recipient=order.customer.email,
        context={"customer_name": order.customer.name},
        status=status,
        subject=f"Your order {order.number}",
    )


def make_return(order, *, reason: str, note: str = "", n: int = 1):
    return ReturnRequest.objects.create(order=order, reason=reason, number=f"RMA-T{order.pk}-{n}", customer_note=note)


@pytest.fixture
def history():
    """Ann's hand-built history: 4 USD orders (one cancelled), 1 EUR order, 2 returns on 2 orders, an order
    error, a refund, 3 messages (one failed), two addresses."""
    ann = CustomerFactory(name="Ann Lee", email="ann@example.com", phone="+1 555 0100")
    usd1 = make_order(ann, total="100.00", days_ago=30)
    usd2 = make_order(ann, total="50.50", days_ago=20)
    usd3 = make_order(ann, total="19.50", days_ago=10)
    cancelled = make_order(ann, total="999.00", days_ago=5, status=OrderStatus.CANCELLED)
    eur = make_order(ann, total="80.00", currency="EUR", days_ago=2)
    first_return = make_return(usd1, reason=ReturnRequest.Reason.DAMAGED, note="Box crushed, call Ann on +1 555 0100")
    make_return(usd2, reason=ReturnRequest.Reason.DAMAGED)
    make_return(
        usd2,
        reason=ReturnRequest.Reason.WRONG_ITEM,
        n=2,
    )
    OrderErrorCase.objects.create(
        order=usd3, kind=OrderErrorCase.Kind.values[0], root_cause=OrderErrorCase.RootCause.values[0]
    )
    Refund.objects.create(
        order=usd1,
        rma=first_return,
        amount=Decimal("30.00"),
        currency="USD",
        idempotency_key="t-refund-1",
        confirmed_by_name="test",
    )
    make_message(usd1, event="order_received")
    make_message(usd1, event="order_shipped")
    make_message(eur, event="order_received", status=Message.Status.FAILED)
    return {"ann": ann, "usd": [usd1, usd2, usd3], "cancelled": cancelled, "eur": eur}


def test_the_record_figures_equal_hand_computed_ones(history):
    record = selectors.customer_record(history["ann"])

    assert record.order_count == 5
    assert record.cancelled_count == 1
    by_currency = {f.currency: f for f in record.by_currency}
    assert set(by_currency) == {"USD", "EUR"}  # never added together
    assert by_currency["USD"].orders == 3
    assert by_currency["USD"].lifetime_value == Decimal("170.00")  # 100 + 50.50 + 19.50; the cancelled 999 is not
    assert by_currency["USD"].average_order_value == Decimal("56.67")  # 170 / 3
    assert by_currency["USD"].refunded == Decimal("30.00")
    assert by_currency["EUR"].lifetime_value == Decimal("80.00")
    assert by_currency["EUR"].average_order_value == Decimal("80.00")
    assert record.first_order_at == history["usd"][0].placed_at
    assert record.last_order_at == history["eur"].placed_at
    assert record.orders_returned == 2
    assert record.returns_rate == Decimal(2) / 4  # 2 of the 4 orders that were not cancelled
    assert record.returns_rate_text == "2 of 4 orders (50%)"
    assert record.return_reasons == [("Damaged", 2), ("Wrong item", 1)]
    assert len(record.error_cases) == 1
    assert dict(record.message_status) == {"Sent": 2, "Failed": 1}
    # Each order has its own address row; the same address is listed once, with the orders that used it.
    [(address, numbers)] = record.addresses_used
    assert address.startswith("Ann Lee, 100 Main St") and len(numbers) == 5


def test_the_list_columns_come_from_one_annotated_query(history, django_assert_max_num_queries):
    bob = CustomerFactory(name="Bob Ray", email="bob@example.com")
    make_order(bob, total="10.00")
    CustomerFactory(name="Cy New", email="cy@example.com")

    with django_assert_max_num_queries(3):  # the rows with their figures, the tags, the values per currency
        customers = {c.email: c for c in selectors.customer_list()}
        values = selectors.values_by_currency([c.pk for c in customers.values()])

    ann = customers["ann@example.com"]
    assert (ann.order_count, ann.counted_orders, ann.currency_count, ann.has_returns) == (5, 4, 2, True)
    assert values[ann.pk] == {"USD": Decimal("170.00"), "EUR": Decimal("80.00")}
    assert customers["cy@example.com"].order_count == 0
    assert customers["bob@example.com"].has_returns is False
    assert selectors.money(values[ann.pk]) == "EUR 80.00 · USD 170.00"


def test_the_list_page_shows_the_figures_without_a_query_per_row(
    client, superuser, history, django_assert_max_num_queries
):
    for n in range(15):
        make_order(CustomerFactory(email=f"many{n}@example.com"), total="5.00")
    client.force_login(superuser)
    url = reverse("admin:orders_customer_changelist")
    client.get(url)  # warm the session and the content types
    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "EUR 80.00 · USD 170.00" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("orders=5-9", {"ann@example.com"}),
        ("orders=1", {"bob@example.com"}),
        ("orders=0", {"cy@example.com"}),
        ("value=100-500", {"ann@example.com"}),  # USD 170 (EUR 80 alone would not be)
        ("value=0-100", {"ann@example.com", "bob@example.com"}),  # Ann's EUR 80, Bob's USD 10
        ("value=500-2000", set()),  # the cancelled 999 does not count, and nothing is added across currencies
        ("returns=yes", {"ann@example.com"}),
        ("returns=no", {"bob@example.com", "cy@example.com"}),
        ("tag=vip", {"bob@example.com"}),
        ("q=vip", {"bob@example.com"}),
        ("q=ann%40example", {"ann@example.com"}),
    ],
)
def test_the_list_filters(client, superuser, history, query, expected):
    bob = CustomerFactory(name="Bob Ray", email="bob@example.com")
    make_order(bob, total="10.00")
    CustomerFactory(name="Cy New", email="cy@example.com")
    services.set_customer_tags(customer_id=bob.pk, names=["vip"], actor=superuser)
    client.force_login(superuser)

    response = client.get(reverse("admin:orders_customer_changelist") + "?" + query)

    assert response.status_code == 200
    assert {c.email for c in response.context["cl"].result_list} == expected


def test_the_customer_page_shows_the_record(client, role_user, history):
    associate = role_user(OPERATIONS_ASSOCIATE)
    client.force_login(associate)

    response = client.get(reverse("admin:orders_customer_change", args=[history["ann"].pk]))

    assert response.status_code == 200
    page = response.content.decode()
    for order in [*history["usd"], history["eur"], history["cancelled"]]:
        assert order.number in page
    assert "170.00" in page and "56.67" in page and "80.00" in page
    assert "2 of 4 orders (50%)" in page
    assert "Your order" in page  # the messages sent
    assert 'id="merge-link"' not in page and 'id="erase-link"' not in page and 'id="export-button"' not in page


def test_an_associate_adds_notes_and_tags(client, role_user, history):
    associate = role_user(OPERATIONS_ASSOCIATE)
    client.force_login(associate)
    ann = history["ann"]

    client.post(reverse("admin:orders_customer_note", args=[ann.pk]), {"body": "Prefers deliveries after 5pm."})
    client.post(reverse("admin:orders_customer_tags", args=[ann.pk]), {"tags": "VIP, late deliveries, vip"})
    response = client.get(reverse("admin:orders_customer_change", args=[ann.pk]))

    note = CustomerNote.objects.get(customer=ann)
    assert (note.body, note.author, note.author_name) == (
        "Prefers deliveries after 5pm.",
        associate,
        associate.username,
    )
    assert sorted(t.name for t in ann.tags.all()) == ["late deliveries", "vip"]
    page = response.content.decode()
    assert "Prefers deliveries after 5pm." in page
    assert "tagged vip, late deliveries" in page  # the customer's timeline


def test_an_empty_note_is_refused(client, role_user, history):
    client.force_login(role_user(OPERATIONS_ASSOCIATE))
    response = client.post(reverse("admin:orders_customer_note", args=[history["ann"].pk]), {"body": "  "}, follow=True)
    assert "Write the note first" in response.content.decode()
    assert not CustomerNote.objects.exists()


@pytest.mark.parametrize("name", ["note", "tags", "merge", "export", "erase"])
def test_a_returns_associate_may_only_read_the_page(client, role_user, history, name):
    client.force_login(role_user(RETURNS_ASSOCIATE))
    ann = history["ann"]
    assert client.get(reverse("admin:orders_customer_change", args=[ann.pk])).status_code == 200
    response = client.post(reverse(f"admin:orders_customer_{name}", args=[ann.pk]), {"body": "x", "tags": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["merge", "export", "erase"])
def test_managers_only_merge_export_and_erase(client, role_user, history, name):
    ann = history["ann"]
    client.force_login(role_user(OPERATIONS_ASSOCIATE))
    assert client.post(reverse(f"admin:orders_customer_{name}", args=[ann.pk])).status_code == 403
    client.force_login(role_user(OPERATIONS_MANAGER))
    assert client.post(reverse(f"admin:orders_customer_{name}", args=[ann.pk])).status_code in (200, 302)


# --- merge ---------------------------------------------------------------------------------------------


@pytest.fixture
def duplicate(history):
    """Ann again, from another channel, under another address of hers: an order, a return, a message, a note."""
    dup = CustomerFactory(name="Ann Lee", email="ANN.LEE@work.example", phone="+1 555 0100")
    Customer.objects.filter(pk=dup.pk).update(email="ANN.LEE@work.example")
    order = make_order(dup, total="40.00", days_ago=1)
    make_return(order, reason=ReturnRequest.Reason.DAMAGED)
    make_message(order, event="order_received")
    AddressFactory(customer=dup, line1="1 Office Park")
    services.add_customer_note(customer_id=dup.pk, body="Called about the office order.", actor="test")
    services.set_customer_tags(customer_id=dup.pk, names=["b2b"], actor="test")
    return {"customer": dup, "order": order}


def related_counts() -> dict[str, int]:
    """How many rows each model that refers to customers holds: a merge deletes none of them."""
    return {
        relation.related_model._meta.label: relation.related_model._base_manager.count()
        for relation in Customer._meta.related_objects
        if not relation.many_to_many
    }


def test_the_merge_page_previews_then_merges(client, role_user, history, duplicate):
    manager = role_user(OPERATIONS_MANAGER)
    client.force_login(manager)
    ann, dup, moved = history["ann"], duplicate["customer"], duplicate["order"]
    url = reverse("admin:orders_customer_merge", args=[ann.pk])
    messages_before, returns_before, orders_before = (
        Message.objects.count(),
        ReturnRequest.objects.count(),
        Order.objects.count(),
    )

    related_before = related_counts()

    preview = client.get(url, {"duplicate": dup.pk})
    page = preview.content.decode()
    assert moved.number in page and "1 return" in page and "1 message" in page and "1 note" in page
    assert Customer.objects.filter(pk=dup.pk).exists()  # a preview changes nothing

    response = client.post(url, {"duplicate": dup.pk, "previewed": dup.pk})

    assert response.status_code == 302
    assert not Customer.objects.filter(pk=dup.pk).exists()
    # Every order, address, note, credit and timeline entry kept; one more entry: the merge itself.
    assert related_counts() == {**related_before, "orders.CustomerEvent": related_before["orders.CustomerEvent"] + 1}
    moved.refresh_from_db()
    assert moved.customer == ann
    assert Order.objects.count() == orders_before and Message.objects.count() == messages_before
    assert ReturnRequest.objects.count() == returns_before
    assert ReturnRequest.objects.filter(order__customer=ann).count() == 4
    assert ann.addresses.filter(line1="1 Office Park").exists()
    assert ann.notes.filter(body="Called about the office order.").exists()
    assert {t.name for t in ann.tags.all()} == {"b2b"}
    merged = CustomerEvent.objects.get(customer=ann, kind=CustomerEvent.Kind.MERGED)
    assert moved.number in merged.message and merged.actor == manager
    order_entry = OrderEvent.objects.get(order=moved, data__customer_merge__to=ann.pk)
    assert "ann.lee@work.example" in order_entry.message.lower() and order_entry.actor == manager
    record = selectors.customer_record(ann)
    assert record.order_count == 6
    assert {f.currency: f.lifetime_value for f in record.by_currency} == {
        "USD": Decimal("210.00"),
        "EUR": Decimal("80.00"),
    }


def test_a_merge_moves_store_credit(history, duplicate, superuser):
    dup, order = duplicate["customer"], duplicate["order"]
    refund = Refund.objects.create(
        order=order,
        rma=order.returns.first(),
        amount=Decimal("5.00"),
        currency="USD",
        idempotency_key="t-sc",
        confirmed_by_name="t",
    )
    credit = StoreCredit.objects.create(
        number="SC-T1", customer=dup, order=order, refund=refund, amount=Decimal("5.00"), currency="USD"
    )
    services.merge_customers(keep_id=history["ann"].pk, duplicate_id=dup.pk, actor=superuser)
    credit.refresh_from_db()
    assert credit.customer == history["ann"]


def test_possible_duplicates_are_offered_on_the_page(client, superuser, history, duplicate):
    client.force_login(superuser)
    page = client.get(reverse("admin:orders_customer_change", args=[history["ann"].pk])).content.decode()
    assert "Possible duplicates" in page  # same phone
    assert f"?duplicate={duplicate['customer'].pk}" in page


def test_a_merge_is_refused_into_itself_and_for_an_erased_customer(history, duplicate, superuser):
    ann, dup = history["ann"], duplicate["customer"]
    with pytest.raises(CustomerRecordError, match="into itself"):
        services.merge_customers(keep_id=ann.pk, duplicate_id=ann.pk, actor=superuser)
    ReturnRequest.objects.filter(order__customer=dup).update(status=ReturnRequest.Status.CLOSED)
    services.erase_customer(customer_id=dup.pk, actor=superuser)
    with pytest.raises(CustomerRecordError, match="erased"):
        services.merge_customers(keep_id=ann.pk, duplicate_id=dup.pk, actor=superuser)
    assert Customer.objects.filter(pk=dup.pk).exists()


def test_the_changelist_action_takes_two_customers_to_the_merge_page(client, superuser, history, duplicate):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:orders_customer_changelist"),
        {"action": "merge_selected", "_selected_action": [history["ann"].pk, duplicate["customer"].pk]},
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/merge/?duplicate={duplicate['customer'].pk}")


# --- export --------------------------------------------------------------------------------------------


def test_a_manager_downloads_the_personal_data_as_json(client, role_user, history):
    manager = role_user(OPERATIONS_MANAGER)
    client.force_login(manager)
    ann = history["ann"]
    services.add_customer_note(customer_id=ann.pk, body="Likes tea.", actor=manager)

    response = client.post(reverse("admin:orders_customer_export", args=[ann.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="customer-{ann.pk}-personal-data.json"'
    document = json.loads(response.content)
    assert document["customer"]["email"] == "ann@example.com"
    assert {o["number"] for o in document["orders"]} == {o.number for o in Order.objects.filter(customer=ann)}
    assert any(r["customer_note"].startswith("Box crushed") for r in document["returns"])
    assert len(document["messages"]) == 3
    assert document["notes"][0]["body"] == "Likes tea."
    assert CustomerEvent.objects.filter(customer=ann, kind=CustomerEvent.Kind.EXPORTED, actor=manager).exists()
    assert client.get(reverse("admin:orders_customer_export", args=[ann.pk])).status_code == 405


def test_the_customer_page_reads_the_same_number_of_times_for_many_orders(client, superuser):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(superuser)
    few, many = CustomerFactory(), CustomerFactory()
    for customer, count in ((few, 2), (many, 12)):
        for n in range(count):
            order = make_order(customer, total="10.00", days_ago=n)
            make_message(order, event="order_received")
            make_return(order, reason=ReturnRequest.Reason.DAMAGED)
    client.get(reverse("admin:orders_customer_change", args=[few.pk]))  # warm the session and content types

    counted = []
    for customer in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("admin:orders_customer_change", args=[customer.pk])).status_code == 200
        counted.append(len(queries))

    assert counted[0] == counted[1]
