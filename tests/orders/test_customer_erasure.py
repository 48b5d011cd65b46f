"""Erasing a customer's personal data on request: nothing of it is left in any text column of any table,
while the ledger, the journal, the outbox, amounts and SKUs stay; recorded once, never repeated."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.files.base import ContentFile
from django.db import models
from django.urls import reverse
from django.utils import timezone

from inventory.models import ImportJob, StockMovement
from notifications.models import Message
from oms_site.roles import OPERATIONS_MANAGER
from orders.customer_models import CustomerErasure, CustomerEvent
from orders.exceptions import CustomerRecordError
from orders.models import BusinessProfile, Customer, Order, OrderEvent, OrderIntake, OrderLine, OrderStatus
from orders.partners.models import PartnerConnection, PartnerMessage, PartnerRelease
from orders.payments.accounting import post_entry
from orders.payments.models import AccountRole, JournalEntry, JournalLine
from orders.returns.models import OrderErrorCase, ReturnRequest
from orders.services import customers as services
from orders.services import notify
from shipping.models import Shipment
from tests.api.conftest import api, goods, order_payload  # noqa: F401 - the API's fixtures
from tests.factories import AddressFactory, OrderFactory, WarehouseFactory
from tests.shipping.conftest import carriers  # noqa: F401 - the API's routing needs them

pytestmark = pytest.mark.django_db

NAME, EMAIL, PHONE, STREET = "Zoë Álvarez", "zoe.alvarez@example.com", "+1 212 555 0100", "350 5th Ave"
PERSONAL = (NAME, "Álvarez", EMAIL, PHONE, STREET, "Second Street 12")
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def find_personal_data(terms) -> list[str]:
    """Every text, char and JSON column of every model (history tables too) holding any term: 'table.column #pk'."""
    found = []
    lowered = [term.lower() for term in terms]
    for model in apps.get_models(include_auto_created=True):
        fields = [f for f in model._meta.concrete_fields if isinstance(f, TEXT_FIELDS)]
        if not fields:
            continue
        for row in model._base_manager.values_list("pk", *(f.attname for f in fields)):
            for field, value in zip(fields, row[1:], strict=True):
                if value is None:
                    continue
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                if any(term in text.lower() for term in lowered):
                    found.append(f"{model._meta.db_table}.{field.column} #{row[0]}")
    return found


def invariants() -> dict:
    """What must not change: the stock ledger, the journal, the outbox's rows, the amounts and the SKUs."""
    return {
        "ledger": list(StockMovement.objects.order_by("pk").values_list("pk", "product_id", "quantity", "kind")),
        "journal": list(JournalEntry.objects.order_by("pk").values_list("pk", "kind", "currency", "memo", "order_id")),
        "journal_lines": list(JournalLine.objects.order_by("pk").values_list("pk", "account_id", "debit", "credit")),
        "outbox": list(Message.objects.order_by("pk").values_list("pk", "event", "status", "order_id")),
        "orders": list(
            Order.objects.order_by("pk").values_list("pk", "number", "status", "currency", "grand_total", "subtotal")
        ),
        "lines": list(OrderLine.objects.order_by("pk").values_list("pk", "sku", "quantity", "unit_price")),
    }


def finish_history(customer) -> None:
    """Her orders delivered, her return closed: nothing still needs her address."""
    Order.objects.filter(customer=customer).update(status=OrderStatus.DELIVERED)
    ReturnRequest.objects.filter(order__customer=customer).update(status=ReturnRequest.Status.CLOSED)


@pytest.fixture
def zoe(api, goods, superuser):  # noqa: F811 - pytest fixtures
    """Zoë's history: an order through the API (stored payload, confirmation email), a second order at another
    address, a return with her words, an order error, a note, a stock movement and a journal entry."""
    response = api.post("/api/v1/orders", order_payload(external_id="WEB-ERASE-1"))
    assert response.status_code in (200, 201), response.content
    customer = Customer.objects.get(email=EMAIL)
    customer.phone = PHONE
    customer.save(update_fields=["phone"])
    placed = Order.objects.get(external_id="WEB-ERASE-1")
    Order.objects.filter(pk=placed.pk).update(status=OrderStatus.DELIVERED)  # her history is finished
    second = OrderFactory(
        customer=customer,
        shipping_address=AddressFactory(customer=None, name=NAME, line1="Second Street 12", phone=PHONE),
    )
    AddressFactory(customer=customer, name=NAME, line1=STREET, phone=PHONE)
    ReturnRequest.objects.create(
        order=placed, reason=ReturnRequest.Reason.values[0], number="RMA-Z1", customer_note=f"Call {NAME} on {PHONE}"
    )
    OrderErrorCase.objects.create(
        order=second,
        kind=OrderErrorCase.Kind.values[0],
        root_cause=OrderErrorCase.RootCause.values[0],
        description=f"Parcel left at {STREET}, {NAME} says it never came",
    )
    OrderEvent.record(order=second, kind=OrderEvent.Kind.NOTE, actor=superuser, message=f"Spoke to {NAME} ({EMAIL})")
    services.add_customer_note(customer_id=customer.pk, body=f"{NAME} prefers {PHONE}", actor=superuser)
    services.set_customer_tags(customer_id=customer.pk, names=["vip"], actor=superuser)
    StockMovement.objects.create(
        warehouse=WarehouseFactory(),
        product=goods["tee"],
        kind=StockMovement.Kind.RECEIPT,
        quantity=3,
        reason="receipt",
        actor_name="test",
        order=placed,
    )
    post_entry(
        kind=JournalEntry.Kind.CAPTURE,
        currency="USD",
        memo=f"{placed.number} captured",
        legs=[(AccountRole.CASH, Decimal("10.00")), (AccountRole.REVENUE, Decimal("-10.00"))],
        order=placed,
    )
    Message.objects.create(
        key=f"test:{second.pk}:order_shipped",
        event="order_shipped",
        audience=Message.Audience.CUSTOMER,
        order=second,
        recipient=EMAIL,
        context={"customer": {"name": NAME}, "ship_to": f"{NAME}, {STREET}"},
        subject=f"{NAME}, your order is on its way",
        status=Message.Status.SENT,
    )
    delivered = Shipment.objects.create(
        number=f"{second.number}-1",
        order=second,
        order_number=second.number,
        warehouse=WarehouseFactory(code="ER1"),
        ship_to={"name": NAME, "line1": "Second Street 12", "city": "Columbus", "phone": PHONE},
        choice_reason=f"Cheapest to {NAME}",
    )
    # The shipment went through a 3PL: the release sent to it carried her address.
    warehouse_3pl = WarehouseFactory(code="3PL")
    connection = PartnerConnection.objects.create(code="acme-3pl", name="Acme 3PL", warehouse=warehouse_3pl)
    release = PartnerRelease.objects.create(connection=connection, shipment=delivered, ack_due_at=timezone.now())
    PartnerMessage.objects.create(
        connection=connection,
        direction="out",
        kind="release",
        key=f"release:{delivered.number}:1",
        release=release,
        payload={"ship_to": {"name": NAME, "address1": STREET, "phone": PHONE}, "email": EMAIL},
        status="sent",
    )
    delivered.label_file.save("zoe-label.pdf", ContentFile(f"%PDF label for {NAME}".encode()), save=False)
    Shipment.objects.filter(pk=delivered.pk).update(label_file=delivered.label_file.name, status="delivered")
    # The console's change log names her, and an order import file held her row.
    LogEntry.objects.log_actions(
        user_id=superuser.pk, queryset=[customer], action_flag=CHANGE, change_message=f"Changed phone for {EMAIL}."
    )
    ImportJob.objects.create(
        kind="orders",
        file_name="orders.csv",
        content=f"external_id,name,email,line1\nCSV-9,{NAME},{EMAIL},{STREET}\n",
        preview=[{"name": NAME, "email": EMAIL}],
        uploaded_by=superuser,
    )
    return customer


def test_erasure_leaves_no_personal_data_in_any_column_and_keeps_the_accounts(
    zoe, superuser, django_capture_on_commit_callbacks
):
    assert OrderIntake.objects.filter(order__customer=zoe).exists()
    assert Message.objects.filter(recipient=EMAIL).count() >= 2  # the confirmation and the shipped email
    before = find_personal_data(PERSONAL)
    assert any(hit.startswith("orders_orderintake.payload") for hit in before)  # the test can see the data
    assert any(hit.startswith("notifications_message.recipient") for hit in before)
    assert any(hit.startswith("shipping_shipment.ship_to") for hit in before)
    assert any(hit.startswith("partners_partnermessage.payload") for hit in before)
    finish_history(zoe)
    kept = invariants()

    label = Shipment.objects.get(order__customer=zoe).label_file
    assert label.storage.exists(label.name)

    with django_capture_on_commit_callbacks(execute=True):
        erasure = services.erase_customer(customer_id=zoe.pk, actor=superuser, reference="GDPR-7")

    assert find_personal_data(PERSONAL) == []
    assert invariants() == kept
    zoe.refresh_from_db()
    assert (zoe.name, zoe.email, zoe.phone) == (services.ERASED_NAME, services.erased_email(zoe.pk), "")
    assert (erasure.erased_by, erasure.erased_by_name, erasure.request_reference) == (superuser, "boss", "GDPR-7")
    assert zoe.orders.count() == 2 and [t.name for t in zoe.tags.all()] == ["vip"]
    assert CustomerEvent.objects.filter(customer=zoe, kind=CustomerEvent.Kind.ERASED).exists()
    assert not label.storage.exists(label.name)  # the delivered parcel's label printed her address
    for order in zoe.orders.all():
        assert order.events.filter(message__contains="personal data was erased").exists()
        assert order.shipping_address.city  # the city, region and postal code stay for tax and shipping figures


def test_erasure_also_clears_what_a_channel_sent_that_the_oms_never_stored_elsewhere(
    zoe, superuser, django_capture_on_commit_callbacks
):
    # given her Shopify order's raw payload: her IP and browser, her account's default address (a street the
    # OMS never stored), a delivery note, and her phone written another way
    raw = json.loads((Path(__file__).parent / "shopify_order.json").read_text())["order"]
    raw.update(
        browser_ip="203.0.113.77",
        client_details={"browser_ip": "203.0.113.77", "user_agent": "Mozilla/5.0 (ZoePhone)"},
        note="Leave it with the concierge, ring twice",
        phone="(212) 555-0100",
        email=EMAIL,
        customer={"email": EMAIL, "default_address": {"address1": "77 Orchard Lane", "phone": "212.555.0100"}},
    )
    second = Order.objects.filter(customer=zoe).exclude(external_id="WEB-ERASE-1").get()
    OrderIntake.objects.create(order=second, source="shopify", fingerprint="f" * 64, payload=raw)
    OrderEvent.record(
        order=second,
        kind=OrderEvent.Kind.NOTE,
        actor=None,
        message="Shopify sent the order",
        data={"shopify_seen": raw},
    )
    only_there = ("203.0.113.77", "ZoePhone", "77 Orchard Lane", "ring twice", "(212) 555-0100", "212.555.0100")
    assert len(find_personal_data(only_there)) >= 2  # the intake payload and the timeline entry
    finish_history(zoe)
    kept = invariants()

    with django_capture_on_commit_callbacks(execute=True):
        services.erase_customer(customer_id=zoe.pk, actor=superuser, reference="GDPR-8")

    assert find_personal_data((*PERSONAL, *only_there)) == []
    assert invariants() == kept
    # what was sold stays readable in the payload: the SKUs and prices of its lines
    payload = OrderIntake.objects.get(order=second).payload
    assert [line["sku"] for line in payload["line_items"]] == [line["sku"] for line in raw["line_items"]]
    assert [line["price"] for line in payload["line_items"]] == [line["price"] for line in raw["line_items"]]


def test_a_second_erasure_is_refused_and_nothing_is_restorable(zoe, superuser):
    finish_history(zoe)
    services.erase_customer(customer_id=zoe.pk, actor=superuser)
    with pytest.raises(CustomerRecordError, match="already erased"):
        services.erase_customer(customer_id=zoe.pk, actor=superuser)
    assert CustomerErasure.objects.count() == 1
    document = services.export_customer_data(customer_id=zoe.pk, actor=superuser)
    assert find_personal_data(PERSONAL) == []
    assert EMAIL not in json.dumps(document, default=str, ensure_ascii=False)


def test_the_console_erases_after_the_email_is_typed(client, role_user, zoe):
    manager = role_user(OPERATIONS_MANAGER)
    client.force_login(manager)
    url = reverse("admin:orders_customer_erase", args=[zoe.pk])
    refused = client.post(url, {"confirm_email": EMAIL})
    assert "still open" in refused.content.decode() and not CustomerErasure.objects.exists()
    finish_history(zoe)

    page = client.get(url).content.decode()
    assert "cannot be undone" in page
    wrong = client.post(url, {"confirm_email": "someone@else.example"})
    assert "not the customer&#x27;s email" in wrong.content.decode()
    assert not CustomerErasure.objects.exists()

    done = client.post(url, {"confirm_email": EMAIL.upper(), "reference": "T-1"})

    assert done.status_code == 302
    erasure = CustomerErasure.objects.get(customer=zoe)
    assert (erasure.erased_by, erasure.request_reference) == (manager, "T-1")
    customer_page = client.get(reverse("admin:orders_customer_change", args=[zoe.pk])).content.decode()
    assert 'id="erased-banner"' in customer_page and 'id="erase-link"' not in customer_page
    again = client.post(url, {"confirm_email": services.erased_email(zoe.pk)})
    assert 'id="already-erased"' in again.content.decode()
    assert CustomerErasure.objects.count() == 1
    # The erased customer's details are read-only: nobody types the name back in.
    change = client.post(
        reverse("admin:orders_customer_change", args=[zoe.pk]), {"name": NAME, "email": EMAIL, "phone": PHONE}
    )
    assert change.status_code in (200, 302)
    zoe.refresh_from_db()
    assert zoe.name == services.ERASED_NAME


def test_erasure_waits_for_open_orders_and_returns(zoe, superuser):
    second = zoe.orders.exclude(external_id="WEB-ERASE-1").get()  # still received: to ship
    rma = ReturnRequest.objects.get(number="RMA-Z1")  # requested: being worked
    before = find_personal_data(PERSONAL)

    with pytest.raises(CustomerRecordError, match=rf"order {second.number}, return RMA-Z1 still open"):
        services.erase_customer(customer_id=zoe.pk, actor=superuser)

    assert find_personal_data(PERSONAL) == before  # nothing half-written
    assert not CustomerErasure.objects.exists()
    Order.objects.filter(pk=second.pk).update(status=OrderStatus.CANCELLED)
    ReturnRequest.objects.filter(pk=rma.pk).update(status=ReturnRequest.Status.CLOSED)
    services.erase_customer(customer_id=zoe.pk, actor=superuser)
    assert find_personal_data(PERSONAL) == []


def test_erasure_leaves_nothing_of_a_business_customer_s_contacts(superuser):
    # given a business customer whose buyer got a copy of an order email, and a contact removed since
    order = OrderFactory(status=OrderStatus.DELIVERED)
    profile = BusinessProfile.objects.create(customer=order.customer, kind="wholesale")
    profile.contacts.create(name="Bertha Quimby", email="bertha.quimby@acme.example", role="all")
    gone = profile.contacts.create(name="Dagobert Ferncastle", email="dago.ferncastle@acme.example", role="all")
    notify.order_delivered(order)
    gone.delete()
    assert Message.objects.filter(order=order, recipient="bertha.quimby@acme.example").exists()

    services.erase_customer(customer_id=order.customer_id, actor=superuser)

    # then neither contact's name nor address is left anywhere, the outbox's copy included
    assert find_personal_data(["Bertha", "Quimby", "bertha.quimby", "Ferncastle", "dago.ferncastle"]) == []
