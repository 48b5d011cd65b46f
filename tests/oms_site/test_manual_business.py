"""The manual's page per business customer: written from its setup as it is now, a change shows at once with who
made it, and the printable manual gives each customer a page of its own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from oms_site import roles as role_table
from orders.models import BusinessProfile
from tests.factories import CustomerFactory, UserFactory, WarehouseFactory
from tests.oms_site.test_change_history import submit_change_form
from tests.oms_site.test_manual import block, text
from tests.shipping.readback import page_count, pdf_text

pytestmark = pytest.mark.django_db

PAGE = "/admin/manual/business-customers/"


@pytest.fixture
def manager(roles):
    return UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role=role_table.OPERATIONS_MANAGER)


@pytest.fixture
def acme(db):
    customer = CustomerFactory(name="Acme Wholesale", email="orders@acme.example")
    profile = BusinessProfile.objects.create(
        customer=customer, kind="wholesale", packing_instructions="One pallet per order."
    )
    profile.excluded_warehouses.add(WarehouseFactory(code="EWR", name="Edison"))
    return profile


def test_with_no_business_customer_the_page_says_how_to_set_one_up(client, manager):
    client.force_login(manager)

    assert "No business customer is set up yet." in text(client.get(PAGE))


def test_each_business_customer_has_its_page_written_from_its_setup(client, manager, acme):
    client.force_login(manager)

    page = client.get(PAGE)

    assert page.status_code == 200
    entry = block(page, f'id="customer-{acme.customer_id}"', "</article>")
    assert "Acme Wholesale" in entry and "Wholesale account" in entry
    assert "Never ships from EWR" in entry
    assert "Packing instructions One pallet per order." in entry
    assert "no limit; paid at checkout" in entry
    assert "Setup: 0 of 7 steps done" in entry


def test_a_change_to_the_setup_in_the_console_shows_at_once_with_who_made_it(client, manager, acme):
    client.force_login(manager)
    assert "One pallet per order." in text(client.get(PAGE))

    response = submit_change_form(
        client,
        f"/admin/orders/businessprofile/{acme.pk}/change/",
        packing_instructions="Two pallets, corner boards.",
        credit_limit="2500.00",
        payment_terms_days="30",
        excluded_warehouses=[w.pk for w in acme.excluded_warehouses.all()],
        slip_logo="",
        **{"contacts-TOTAL_FORMS": "0"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    after = client.get(PAGE)
    entry = block(after, f'id="customer-{acme.customer_id}"', "</article>")
    assert "Two pallets, corner boards." in entry and "One pallet per order." not in entry
    assert "limit 2500.00 USD; net 30" in entry
    assert "by Maya Lindqvist: Business customer setup of Acme Wholesale changed" in entry
    # and the contents page says the section changed too
    assert "by Maya Lindqvist" in text(client.get("/admin/manual/"))


def test_a_step_confirmed_shows_on_the_page_at_once(client, manager, acme):
    client.force_login(manager)

    client.post(f"/admin/orders/businessprofile/{acme.pk}/steps/warehouses/", {"done": "1"})

    entry = block(client.get(PAGE), f'id="customer-{acme.customer_id}"', "</article>")
    assert "Setup: 1 of 7 steps done" in entry
    assert "Warehouses (default and excluded): done (Maya Lindqvist" in entry


def test_the_printed_manual_gives_each_business_customer_a_page(client, manager, acme, tmp_path):
    other = BusinessProfile.objects.create(customer=CustomerFactory(name="Bolt Marketplace"), kind="marketplace")
    client.force_login(manager)

    document = client.get("/admin/manual/operations-manual.pdf").content

    pages = [" ".join(pdf_text(document, tmp_path, page=n).split()) for n in range(1, page_count(document) + 1)]
    acme_pages = [n for n, page in enumerate(pages) if "Acme Wholesale Wholesale account" in page]
    bolt_pages = [n for n, page in enumerate(pages) if f"{other.customer.name} Marketplace seller" in page]
    assert len(acme_pages) == 1 and len(bolt_pages) == 1
    assert acme_pages != bolt_pages


def test_the_page_costs_the_same_queries_for_one_business_customer_as_for_many(client, manager, acme):
    client.force_login(manager)
    client.get(PAGE)  # the session and the permissions are loaded once
    with CaptureQueriesContext(connection) as one:
        client.get(PAGE)
    for n in range(4):
        profile = BusinessProfile.objects.create(customer=CustomerFactory(name=f"Wholesaler {n}"), kind="b2b")
        profile.contacts.create(email=f"buyer{n}@example.com")
    with CaptureQueriesContext(connection) as five:
        page = client.get(PAGE)

    assert "Wholesaler 3" in text(page)
    assert len(five.captured_queries) == len(one.captured_queries)


def test_readers_who_may_not_read_business_setups_do_not_get_the_page(client, roles, acme, tmp_path):
    # given a contact's address and a credit limit on Acme's page, and a warehouse reader of the manual
    acme.credit_limit = 25000
    acme.save()
    acme.contacts.create(name="Bertha", email="bertha@acme.example", role="all")
    client.force_login(UserFactory(username="wes", role=role_table.WAREHOUSE_STAFF))

    # then the page is not theirs, the contents do not list it, and their printed manual leaves it out
    assert client.get(PAGE).status_code == 404
    assert "Business customers" not in text(client.get("/admin/manual/"))
    printed = pdf_text(client.get("/admin/manual/operations-manual.pdf").content, tmp_path)
    assert "bertha@acme.example" not in printed and "Acme Wholesale" not in printed
