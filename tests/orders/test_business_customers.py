"""A business customer's own order process, as ops meet it: routing and carrier choice obey its rules and say so,
its packing instructions and PO number reach the pick list, the packing slip, the label and the order page, its
credit limit holds an invoice order, its contacts get copies, and its setup is a checklist managers confirm."""

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from inventory.models import Allocation
from notifications.models import Message
from oms_site import roles as role_table
from orders import selectors, services
from orders.exceptions import CustomerRecordError
from orders.models import BusinessProfile, Hold, HoldType, Order, OrderStatus, SetupCheck
from orders.payments import accounting
from orders.payments.models import PaymentTransaction as T
from orders.services import business
from orders.services import customers as customer_services
from shipping.documents import render_labels_pdf, render_packing_slip_pdf, render_pick_list_pdf
from shipping.models import Shipment
from shipping.services.labels import label_data_for
from tests.conftest import CUSTOMER_ZIPS
from tests.factories import (
    AddressFactory,
    ChannelFactory,
    CustomerFactory,
    OrderFactory,
    ProductFactory,
    UserFactory,
    WarehouseFactory,
)
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here
from tests.shipping.readback import pdf_text

pytestmark = pytest.mark.django_db

INSTRUCTIONS = "Pack on one pallet, shrink-wrapped.\nNo branded boxes: plain cartons only."


def squeezed(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def acme(db):
    customer = CustomerFactory(name="Acme Wholesale", email="orders@acme.example")
    return BusinessProfile.objects.create(
        customer=customer, kind="wholesale", account_number="AC-1001", packing_instructions=INSTRUCTIONS
    )


@pytest.fixture
def order_for(db):
    """order_for(customer, "NYC", [(product, qty)], **fields): a received order of that customer to that city."""
    channel = ChannelFactory(code="b2b")

    def make(customer, city, lines, **fields):
        postal_code, state = CUSTOMER_ZIPS[city]
        address = AddressFactory(customer=None, name=customer.name, postal_code=postal_code, state=state)
        order = OrderFactory(customer=customer, shipping_address=address, channel=channel, lines=0, **fields)
        total = Decimal("0")
        for product, quantity in lines:
            order.lines.create(
                product=product, sku=product.sku, name=product.name, quantity=quantity, unit_price=product.price
            )
            total += product.price * quantity
        Order.objects.filter(pk=order.pk).update(subtotal=total, grand_total=total)
        order.refresh_from_db()
        return order

    return make


def routed_reason(order) -> str:
    return order.events.filter(kind="status_changed", data__to__in=["allocated", "backordered"]).get().message


# --- routing ------------------------------------------------------------------------------------------------


def test_an_excluded_warehouse_is_never_chosen_though_it_is_the_nearest_with_stock(
    acme, sites, stock, products, order_for
):
    # given Acme never ships from EWR, the nearest to New York; DAL has the stock too
    acme.excluded_warehouses.add(sites["EWR"])
    stock(sites["EWR"], products[0], 10)
    stock(sites["DAL"], products[0], 10)
    order = order_for(acme.customer, "NYC", [(products[0], 2)])

    services.allocate_order(order_id=order.pk, actor="test")

    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"DAL"}
    reason = routed_reason(order)
    assert reason.startswith("Reserved at DAL")
    assert "EWR excluded by rule 'business customer Acme Wholesale'" in reason


def test_an_order_waits_as_a_backorder_rather_than_ship_from_the_only_warehouse_with_stock_when_it_is_excluded(
    acme, sites, stock, products, order_for
):
    # given the only stock is at EWR, the nearest, which Acme excludes
    acme.excluded_warehouses.add(sites["EWR"])
    stock(sites["EWR"], products[0], 10)
    order = order_for(acme.customer, "NYC", [(products[0], 2)])
    ordinary = order_for(CustomerFactory(), "NYC", [(products[0], 2)])

    services.allocate_orders(order_ids=[order.pk, ordinary.pk], actor="test")

    # then Acme's order is backordered, nothing reserved, and the reason names its rule
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED
    assert not Allocation.objects.filter(order=order).exists()
    assert "EWR excluded by rule 'business customer Acme Wholesale'" in routed_reason(order)
    # while an ordinary customer's same order ships from EWR
    ordinary.refresh_from_db()
    assert ordinary.status == OrderStatus.ALLOCATED
    assert set(Allocation.objects.filter(order=ordinary).values_list("warehouse__code", flat=True)) == {"EWR"}


def test_a_default_warehouse_with_the_stock_is_preferred_to_the_nearest_and_the_reason_says_whose_rule(
    acme, sites, stock, products, order_for
):
    acme.default_warehouses.add(sites["DAL"])
    stock(sites["EWR"], products[0], 10)
    stock(sites["DAL"], products[0], 10)
    order = order_for(acme.customer, "NYC", [(products[0], 2)])

    services.allocate_order(order_id=order.pk, actor="test")

    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"DAL"}
    assert routed_reason(order).startswith(
        "Reserved at DAL: default warehouse of business customer Acme Wholesale; nearest with full stock"
    )


def test_a_default_warehouse_without_the_stock_gives_way_to_the_nearest_that_has_it(
    acme, sites, stock, products, order_for
):
    acme.default_warehouses.add(sites["DAL"])
    stock(sites["EWR"], products[0], 10)
    order = order_for(acme.customer, "NYC", [(products[0], 2)])

    services.allocate_order(order_id=order.pk, actor="test")

    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"EWR"}
    assert "default warehouse of business customer Acme Wholesale could not ship it complete" in routed_reason(order)


def test_a_change_to_the_rules_applies_to_the_next_order_routed(acme, sites, stock, products, order_for):
    stock(sites["EWR"], products[0], 10)
    stock(sites["DAL"], products[0], 10)
    first = order_for(acme.customer, "NYC", [(products[0], 1)])
    services.allocate_order(order_id=first.pk, actor="test")
    acme.excluded_warehouses.add(sites["EWR"])
    second = order_for(acme.customer, "NYC", [(products[0], 1)])

    services.allocate_order(order_id=second.pk, actor="test")

    assert list(Allocation.objects.filter(order=first).values_list("warehouse__code", flat=True)) == ["EWR"]
    assert list(Allocation.objects.filter(order=second).values_list("warehouse__code", flat=True)) == ["DAL"]


def test_routing_a_batch_of_ordinary_customers_reads_the_business_rules_once(sites, stock, products, order_for):
    # the batch's rules come from one query whatever its size, and nothing more when nobody has a profile
    stock(sites["EWR"], products[0], 20)
    orders = [order_for(CustomerFactory(), "NYC", [(products[0], 1)]) for _ in range(4)]
    with CaptureRules() as captured:
        services.allocate_orders(order_ids=[order.pk for order in orders], actor="test")
    assert captured.queries == 1


class CaptureRules:
    """Counts the queries that read business profiles (the batch's rules)."""

    def __enter__(self):
        from django.db import connection

        self.context = connection.execute_wrapper(self._count)
        self.queries = 0
        self.context.__enter__()
        return self

    def _count(self, execute, sql, params, many, context):
        if "orders_businessprofile" in sql:
            self.queries += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self.context.__exit__(*exc)


# --- carrier choice -----------------------------------------------------------------------------------------


@pytest.fixture
def reserved_at_dal(sites, stock, products, order_for, acme):
    """Acme's order to Dallas, its stock reserved at DAL, promised in a week."""
    stock(sites["DAL"], products[0], 10)
    order = order_for(
        acme.customer, "DFW", [(products[0], 2)], promised_date=timezone.localdate() + dt.timedelta(days=10)
    )
    services.allocate_order(order_id=order.pk, actor="test")
    return order


def test_the_preferred_service_is_bought_when_it_makes_the_date_and_the_reason_names_the_customer(
    carriers,  # noqa: F811 - the shipping fixture
    acme,
    reserved_at_dal,
):
    # given Acme prefers Rapid Air's two-day service, dearer than the ground service that also makes the date
    acme.preferred_service = carriers["2day"]
    acme.save()

    [shipment] = services.create_shipments(order_id=reserved_at_dal.pk, actor="test")

    assert shipment.service == carriers["2day"]
    assert "preferred service of business customer Acme Wholesale" in shipment.choice_reason
    said = reserved_at_dal.events.filter(kind="shipment").values_list("message", flat=True)
    assert any("preferred service of business customer Acme Wholesale" in message for message in said)


def test_without_a_preference_the_cheapest_on_time_is_bought(carriers, acme, reserved_at_dal):  # noqa: F811
    [shipment] = services.create_shipments(order_id=reserved_at_dal.pk, actor="test")

    assert shipment.service == carriers["ground"]
    assert "business customer" not in shipment.choice_reason


def test_a_preferred_vendor_that_cannot_make_the_date_gives_way_and_the_reason_says_so(
    carriers,  # noqa: F811 - the shipping fixture
    acme,
    sites,
    stock,
    products,
    order_for,
):
    # given Acme prefers Budget Freight (ground, five days) and the order is promised in two business days
    acme.preferred_vendor = carriers["ground"].vendor
    acme.save()
    stock(sites["DAL"], products[0], 10)
    monday = dt.date(2026, 11, 23)
    order = order_for(acme.customer, "DFW", [(products[0], 1)], promised_date=monday + dt.timedelta(days=3))
    services.allocate_order(order_id=order.pk, actor="test")

    [shipment] = services.create_shipments(
        order_id=order.pk, actor="test", now=dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
    )

    assert shipment.service != carriers["ground"]
    assert "Budget Freight, preferred by business customer Acme Wholesale, cannot deliver it by" in (
        shipment.choice_reason
    )


# --- documents and the order page -----------------------------------------------------------------------------


def test_packing_instructions_and_po_number_are_on_the_pick_list_the_packing_slip_and_the_label(
    carriers,  # noqa: F811 - the shipping fixture
    acme,
    reserved_at_dal,
    tmp_path,
):
    # given Acme's order carries its PO number and Acme brands its slips
    business.set_po_number(order_id=reserved_at_dal.pk, po_number="PO-4500012345", actor="test")
    acme.slip_brand_name = "Acme Supply Co."
    acme.save()
    [shipment] = services.create_shipments(order_id=reserved_at_dal.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")

    pick_list = squeezed(pdf_text(render_pick_list_pdf(selectors.pick_list_for([reserved_at_dal.pk])), tmp_path))
    slip = squeezed(pdf_text(render_packing_slip_pdf(selectors.packing_slips_for([shipment.pk])), tmp_path))
    labelled = Shipment.objects.select_related("warehouse", "service__vendor").prefetch_related("parcels")
    label = squeezed(pdf_text(render_labels_pdf(label_data_for(labelled.get(pk=shipment.pk))), tmp_path))

    for text in (pick_list, slip):
        assert "Pack on one pallet, shrink-wrapped." in text
        assert "No branded boxes: plain cartons only." in text
        assert "PO-4500012345" in text
    assert "Acme Wholesale" in pick_list
    assert "PACKING INSTRUCTIONS" in slip
    assert "Your PO PO-4500012345" in slip
    assert "Acme Supply Co." in slip
    assert f"Ref. {shipment.number} / PO PO-4500012345" in label


def test_a_batch_of_slips_reads_the_customer_s_logo_once(acme, monkeypatch, settings, tmp_path):
    # given Acme's logo in storage, and three of its shipments to print together
    settings.MEDIA_ROOT = str(tmp_path)
    acme.slip_logo.save("acme.png", ContentFile(b"\x89PNG\r\n\x1a\nlogo"))
    warehouse = WarehouseFactory()
    shipments = [
        Shipment.objects.create(
            number=f"SO-B-{n}", order=order, order_number=order.number, warehouse=warehouse, ship_to={}
        )
        for n, order in enumerate(OrderFactory.create_batch(3, customer=acme.customer, lines=0))
    ]
    opened = []
    storage = type(acme.slip_logo.storage._wrapped)
    storage_open = storage.open
    monkeypatch.setattr(
        storage, "open", lambda self, name, *args: opened.append(name) or storage_open(self, name, *args)
    )

    slips = selectors.packing_slips_for([s.pk for s in shipments])

    # then each slip wears the logo, read from storage once for the batch
    assert [slip.brand_logo.startswith("data:image/png;base64,") for slip in slips] == [True] * 3
    assert len(opened) == 1


def test_an_ordinary_customers_documents_show_no_instructions(sites, stock, products, order_for, carriers, tmp_path):  # noqa: F811
    stock(sites["DAL"], products[0], 10)
    order = order_for(CustomerFactory(), "DFW", [(products[0], 1)])
    services.allocate_order(order_id=order.pk, actor="test")
    [shipment] = services.create_shipments(order_id=order.pk, actor="test")

    pick_list = squeezed(pdf_text(render_pick_list_pdf(selectors.pick_list_for([order.pk])), tmp_path))
    slip = squeezed(pdf_text(render_packing_slip_pdf(selectors.packing_slips_for([shipment.pk])), tmp_path))

    assert "CUSTOMER INSTRUCTIONS" not in pick_list
    assert "PACKING INSTRUCTIONS" not in slip


@pytest.fixture
def manager(roles):
    return UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role=role_table.OPERATIONS_MANAGER)


@pytest.fixture
def associate(roles):
    return UserFactory(username="omar", first_name="Omar", last_name="Haddad", role=role_table.OPERATIONS_ASSOCIATE)


def page_text(response) -> str:
    return squeezed(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_the_order_page_shows_the_packing_instructions_and_the_po_number(client, manager, acme, order_for, products):
    order = order_for(acme.customer, "NYC", [(products[0], 1)], po_number="PO-77")
    client.force_login(manager)

    text = page_text(client.get(reverse("admin:orders_order_change", args=[order.pk])))

    assert "Business customer: wholesale account" in text
    assert "Pack on one pallet, shrink-wrapped." in text
    assert "Customer reference (PO) PO-77" in text


def test_warehouse_staff_see_the_packing_instructions_but_not_the_customer_s_credit(
    client, roles, acme, order_for, products
):
    # given Acme's credit limit and terms, which the warehouse has no business reading (its setup is not theirs)
    acme.credit_limit, acme.payment_terms_days = Decimal("25000.00"), 30
    acme.save()
    order = order_for(acme.customer, "NYC", [(products[0], 1)], po_number="PO-77")
    client.force_login(UserFactory(username="wes", role=role_table.WAREHOUSE_STAFF))

    text = page_text(client.get(reverse("admin:orders_order_change", args=[order.pk])))

    # then the order page shows them how to pack it, and nothing of the account's money
    assert "Pack on one pallet, shrink-wrapped." in text
    assert "25000" not in text and "net 30" not in text


def test_a_returns_associate_does_not_read_a_business_customer_s_setup_on_its_page(client, roles, acme):
    acme.credit_limit = Decimal("25000.00")
    acme.save()
    client.force_login(UserFactory(username="rita", role=role_table.RETURNS_ASSOCIATE))

    page = client.get(reverse("admin:orders_customer_change", args=[acme.customer_id]))

    assert page.status_code == 200
    assert "Acme Wholesale" in page.content.decode()
    assert "25000" not in page_text(page) and 'id="business-setup"' not in page.content.decode()


def test_an_associate_sets_the_po_number_from_the_order_page_and_the_timeline_says_so(
    client, associate, acme, order_for, products
):
    order = order_for(acme.customer, "NYC", [(products[0], 1)])
    client.force_login(associate)
    url = reverse("admin:orders_order_act", args=["set-po-number"]) + f"?ids={order.pk}"
    page = client.get(url)
    assert page.status_code == 200, url

    client.post(url, {"po_number": " PO-981 "})

    order.refresh_from_db()
    assert order.po_number == "PO-981"
    assert order.events.filter(message="Customer reference (PO) set to PO-981", actor=associate).exists()


def test_the_channel_api_takes_the_po_number_and_answers_it(client, channel_key):
    from tests.api.conftest import order_payload  # the API tests' valid order

    ProductFactory(sku="TEE-1", price="24.00")
    ProductFactory(sku="MUG-1", price="18.50")
    payload = order_payload(po_number="PO-2026-0042")

    answer = client.post("/api/v1/orders", payload, content_type="application/json", headers=channel_key.headers)

    assert answer.status_code == 201, answer.content
    assert answer.json()["po_number"] == "PO-2026-0042"
    assert Order.objects.get(number=answer.json()["number"]).po_number == "PO-2026-0042"


# --- credit -----------------------------------------------------------------------------------------------


def test_an_invoice_order_that_takes_the_open_balance_over_the_credit_limit_is_held_as_a_credit_rule(
    acme, products, order_for
):
    # given Acme may owe 500.00 on net 30 and already owes 400.00 on an invoice order
    acme.credit_limit = Decimal("500.00")
    acme.payment_terms_days = 30
    acme.save()
    owed = order_for(acme.customer, "NYC", [(products[0], 1)], payment_gateway="manual")
    Order.objects.filter(pk=owed.pk).update(grand_total=Decimal("400.00"), status=OrderStatus.ALLOCATED)
    within = order_for(acme.customer, "NYC", [(products[0], 1)], payment_gateway="manual")
    Order.objects.filter(pk=within.pk).update(grand_total=Decimal("100.00"))

    # when a 100.00 order comes (to 500.00: within) and then a 50.00 one (to 550.00: over)
    assert services.prepare_order(order_id=within.pk, actor="test") is True
    over = order_for(acme.customer, "NYC", [(products[0], 1)], payment_gateway="manual")
    Order.objects.filter(pk=over.pk).update(grand_total=Decimal("50.00"))
    assert services.prepare_order(order_id=over.pk, actor="test") is False

    # then the second is on a credit-rule hold that says why
    over.refresh_from_db()
    assert over.status == OrderStatus.ON_HOLD
    hold = Hold.objects.get(order=over, released_at__isnull=True)
    assert hold.hold_type == HoldType.CREDIT_RULE
    assert hold.reason == (
        "Credit check: rule 'credit limit of business customer Acme Wholesale': open balance 550.00 USD with this "
        "order (50.00) is over the credit limit 500.00 USD (net 30)"
    )


def test_goods_paid_for_then_returned_and_paid_back_give_no_extra_credit(acme, products, order_for):
    # given Acme may owe 100.00; a 300.00 invoice order was invoiced, paid, then returned and paid back
    acme.credit_limit = Decimal("100.00")
    acme.save()
    returned = order_for(acme.customer, "NYC", [(products[0], 1)], payment_gateway="manual")
    Order.objects.filter(pk=returned.pk).update(grand_total=Decimal("300.00"), status=OrderStatus.DELIVERED)
    returned.refresh_from_db()
    for n, kind in enumerate((T.Kind.CAPTURE, T.Kind.SETTLE, T.Kind.REFUND)):
        txn = T.objects.create(
            order=returned,
            kind=kind,
            gateway="manual",
            amount=Decimal("300.00"),
            currency="USD",
            status=T.Status.SUCCEEDED,
            idempotency_key=f"{returned.number}:{kind}:{n}",
        )
        accounting.journal_transaction(txn, settles=False)
    assert accounting.receivable_balance(returned) == 0  # nothing is owed on it

    # when a 150.00 invoice order comes: Acme would owe 150.00, over its limit
    order = order_for(acme.customer, "NYC", [(products[0], 1)], payment_gateway="manual")
    Order.objects.filter(pk=order.pk).update(grand_total=Decimal("150.00"))

    # then it is held: the refund paid back in cash is no credit on account
    assert services.prepare_order(order_id=order.pk, actor="test") is False
    assert "open balance 150.00 USD" in Hold.objects.get(order=order, released_at__isnull=True).reason


def test_a_card_order_does_not_draw_on_the_credit_limit(acme, products, order_for):
    acme.credit_limit = Decimal("0.00")
    acme.save()
    order = order_for(acme.customer, "NYC", [(products[0], 1)])

    assert services.prepare_order(order_id=order.pk, actor="test") is True


# --- copies of the emails ---------------------------------------------------------------------------------


def test_contacts_get_copies_of_the_emails_their_role_covers(acme, sites, stock, products, order_for):
    acme.contacts.create(name="Dock", email="dock@acme.example", role="shipping")
    acme.contacts.create(name="Buyer", email="buyer@acme.example", role="all")
    stock(sites["EWR"], products[0], 10)
    order = order_for(acme.customer, "NYC", [(products[0], 1)])

    services.allocate_order(order_id=order.pk, actor="test")

    recipients = set(Message.objects.filter(order=order, event="order_allocated").values_list("recipient", flat=True))
    assert recipients == {"orders@acme.example", "buyer@acme.example"}  # shipping notices only for the dock


def test_a_contact_for_every_email_gets_a_copy_of_the_order_confirmation(acme, products):
    acme.contacts.create(name="Dock", email="dock@acme.example", role="shipping")
    acme.contacts.create(name="Buyer", email="buyer@acme.example", role="all")
    data = services.OrderData(
        external_id="po-7781",
        customer=services.CustomerData(name="Acme Wholesale", email="Orders@acme.example"),
        shipping_address=services.AddressData(
            name="Acme", line1="1 Dock Rd", city="Newark", state="NJ", postal_code="07102"
        ),
        lines=[services.LineData(sku=products[0].sku, quantity=3, unit_price=products[0].price)],
        po_number="PO-7781",
    )

    order, _ = services.place_order(channel=ChannelFactory(code="b2b"), data=data, actor=None, route=False)

    confirmations = Message.objects.filter(order=order, event="order_received")
    assert set(confirmations.values_list("recipient", flat=True)) == {"orders@acme.example", "buyer@acme.example"}
    # the buyer's copy is the customer's own confirmation
    own, copy = (confirmations.get(recipient=r) for r in ("orders@acme.example", "buyer@acme.example"))
    assert (copy.subject, copy.context["order"]) == (own.subject, own.context["order"])


# --- the setup checklist ------------------------------------------------------------------------------------


def customer_page(client, profile):
    return client.get(reverse("admin:orders_customer_change", args=[profile.customer_id]))


def test_a_manager_confirms_each_step_and_the_customer_page_says_by_whom_and_when(client, manager, acme):
    client.force_login(manager)
    before = page_text(customer_page(client, acme))
    assert "0 of 7 steps done" in before

    step = reverse("admin:orders_businessprofile_step", args=[acme.pk, "packing"])
    answer = client.post(step, {"done": "1"})

    assert answer.status_code == 302
    check = SetupCheck.objects.get(profile=acme, step="packing")
    assert check.done and check.changed_by_name == "Maya Lindqvist"
    html = customer_page(client, acme).content.decode()
    row = re.search(r'<tr data-step="packing".*?</tr>', html, re.S).group(0)
    assert "Maya Lindqvist" in row and ">done<" in row
    assert "1 of 7 steps done" in page_text(customer_page(client, acme))
    # and reopening it is recorded too
    client.post(step, {"done": "0"})
    check.refresh_from_db()
    assert not check.done


def test_an_associate_reads_the_checklist_but_may_not_confirm_or_edit_it(client, associate, acme):
    client.force_login(associate)
    html = customer_page(client, acme).content.decode()

    assert 'id="business-checklist"' in html
    assert "Mark done" not in html and 'id="business-edit-link"' not in html
    step = reverse("admin:orders_businessprofile_step", args=[acme.pk, "packing"])
    assert client.post(step, {"done": "1"}).status_code == 403
    assert not SetupCheck.objects.exists()
    edit = reverse("admin:orders_businessprofile_change", args=[acme.pk])
    assert client.post(edit, {"kind": "b2b"}).status_code == 403


def test_an_unknown_step_is_refused_naming_the_steps(client, manager, acme):
    client.force_login(manager)

    answer = client.post(
        reverse("admin:orders_businessprofile_step", args=[acme.pk, "pallets"]), {"done": "1"}, follow=True
    )

    assert "Step: 'pallets' is not a setup step; one of profile, warehouses" in page_text(answer)
    assert not SetupCheck.objects.exists()


def test_a_warehouse_both_default_and_excluded_is_refused_naming_the_field(client, manager, acme, sites):
    client.force_login(manager)
    url = reverse("admin:orders_businessprofile_change", args=[acme.pk])
    form = {
        "kind": "wholesale",
        "default_warehouses": [sites["DAL"].pk],
        "excluded_warehouses": [sites["DAL"].pk],
        "slip_shows_po_number": "on",
        "credit_currency": "USD",
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
    }

    answer = client.post(url, form)

    assert answer.status_code == 200
    assert "DAL: a warehouse cannot be both a default and excluded." in page_text(answer)
    assert not acme.excluded_warehouses.exists()


def test_two_business_customers_that_are_one_can_be_merged_once_a_manager_removes_one_setup(client, manager, acme):
    # given Acme entered twice, each set up as a business customer
    twin = BusinessProfile.objects.create(customer=CustomerFactory(name="ACME Wholesale"), kind="wholesale")
    with pytest.raises(CustomerRecordError, match="keep one of them first"):
        customer_services.merge_customers(keep_id=acme.customer_id, duplicate_id=twin.customer_id, actor=manager)

    # when the manager deletes the twin's setup in the console, as the refusal asks
    client.force_login(manager)
    delete_url = reverse("admin:orders_businessprofile_delete", args=[twin.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 302

    # then the merge goes through, and Acme keeps its own setup
    customer_services.merge_customers(keep_id=acme.customer_id, duplicate_id=twin.customer_id, actor=manager)
    assert list(BusinessProfile.objects.values_list("pk", flat=True)) == [acme.pk]
