"""Internationalised email addresses (RFC 6531/6532) in the console: a customer's address is kept as typed."""

import pytest

from orders.models import Customer

pytestmark = pytest.mark.django_db


def customer_form(**values) -> dict:
    return {
        "name": "José Núñez",
        "phone": "",
        "addresses-TOTAL_FORMS": "0",
        "addresses-INITIAL_FORMS": "0",
        **values,
    }


@pytest.mark.parametrize("email", ["josé@exämple.com", "用户@例子.广告"])
def test_the_console_adds_and_edits_a_customer_with_an_internationalised_email(admin_client, email):
    added = admin_client.post("/admin/orders/customer/add/", customer_form(email=email))

    assert added.status_code == 302, added.context["adminform"].form.errors if added.context else added
    customer = Customer.objects.get()
    assert customer.email == email
    edited = admin_client.post(
        f"/admin/orders/customer/{customer.pk}/change/", customer_form(email=email, phone="+34 600 000 000")
    )
    assert edited.status_code == 302
    customer.refresh_from_db()
    assert (customer.email, customer.phone) == (email, "+34 600 000 000")


def test_the_console_still_refuses_what_is_not_an_email_address(admin_client):
    response = admin_client.post("/admin/orders/customer/add/", customer_form(email="josé@exä mple.com"))

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert not Customer.objects.exists()
