"""The console's action-with-a-form pattern as an operator meets it, through the admin client.

One view and one dispatcher serve every console's table of actions; these walk it through real ones: the order
console's "Put on hold" (a selection, a reason, a message per order), inventory's "Receive stock" (no rows, a
refusal kept on the form), and starting a cycle count (success leads to the new count's page).
"""

import re

import pytest
from django.urls import reverse

from inventory.models import CycleCount, StockLevel, StockMovement
from oms_core.console import FormAction
from orders.models import OrderEvent, OrderStatus
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db
HOLD = reverse("admin:orders_order_act", args=["hold"])
ORDERS = reverse("admin:orders_order_changelist")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def ops(client, superuser):
    client.force_login(superuser)
    return client


def test_the_page_and_its_post_are_refused_without_the_actions_permission(client, roles):
    order = OrderFactory(status=OrderStatus.ALLOCATED)
    client.force_login(UserFactory(username="wes", role="Warehouse staff"))  # may see orders, not hold them

    page = client.get(f"{HOLD}?ids={order.pk}")
    posted = client.post(HOLD, {"ids": str(order.pk), "reason": "Fraud check"})

    assert (page.status_code, posted.status_code) == (403, 403)
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert not order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).exists()


def test_an_action_the_table_does_not_have_is_not_found(ops):
    order = OrderFactory()

    response = ops.get(f"{reverse('admin:orders_order_act', args=['archive'])}?ids={order.pk}")

    assert response.status_code == 404


def test_an_action_with_its_own_url_is_served_there_only(ops):
    order = OrderFactory()

    elsewhere = ops.get(f"{reverse('admin:orders_order_act', args=['change-address'])}?ids={order.pk}")
    own = ops.get(reverse("admin:orders_order_change_address", args=[order.pk]))

    assert (elsewhere.status_code, own.status_code) == (404, 200)


def test_the_page_lists_the_rows_and_asks_for_the_input(ops):
    orders = OrderFactory.create_batch(2, status=OrderStatus.ALLOCATED)

    response = ops.get(f"{HOLD}?ids={','.join(str(o.pk) for o in orders)}")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Put on hold 2 orders</h1>" in html
    for order in orders:
        assert re.search(rf'<tr data-order="{order.pk}"><td>{order.number}</td>', html)
    assert 'name="reason"' in html
    assert 'value="Put on hold 2 orders"' in html  # the button says what it does


def test_an_invalid_form_comes_back_with_the_fields_error_and_nothing_is_called(ops):
    order = OrderFactory(status=OrderStatus.ALLOCATED)

    response = ops.post(HOLD, {"ids": str(order.pk), "reason": ""})

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(
        r'<div class="form-row errors field-reason">\s*<ul class="errorlist"[^>]*><li>This field is required.</li>',
        html,
    )
    assert f'name="ids" value="{order.pk}"' in html  # the same rows, to try again
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_a_valid_form_calls_the_service_for_each_row_and_reports_on_the_page_it_goes_back_to(ops, superuser):
    orders = OrderFactory.create_batch(2, status=OrderStatus.ALLOCATED)
    back = reverse("admin:orders_order_change", args=[orders[0].pk])

    response = ops.post(
        HOLD,
        {
            "ids": ",".join(str(o.pk) for o in orders),
            "hold_type": "fraud_review",
            "reason": "Fraud check",
            "next": back,
        },
        follow=True,
    )

    assert response.redirect_chain == [(back, 302)]
    assert messages_of(response) == [
        f"{orders[0]} put on a fraud review hold.",
        f"{orders[1]} put on a fraud review hold.",
        "2 of 2 orders done.",
    ]
    for order in orders:
        order.refresh_from_db()
        assert order.status == OrderStatus.ON_HOLD
        assert order.events.latest("created_at").actor == superuser


def test_a_refusal_is_that_rows_message_and_the_other_rows_go_ahead(ops):
    open_order = OrderFactory(status=OrderStatus.RECEIVED)
    shipped = OrderFactory(status=OrderStatus.SHIPPED)
    cancel = reverse("admin:orders_order_act", args=["cancel"])

    response = ops.post(cancel, {"ids": f"{open_order.pk},{shipped.pk}", "reason": "Asked"}, follow=True)

    said = messages_of(response)
    assert said[0] == f"{open_order} cancelled."
    assert "cannot go from shipped to cancelled" in said[1]
    assert said[2] == "1 of 2 orders done."
    assert response.redirect_chain == [(ORDERS, 302)]


def test_the_next_page_must_be_on_this_site(ops):
    order = OrderFactory(status=OrderStatus.ALLOCATED)

    response = ops.post(
        HOLD, {"ids": str(order.pk), "hold_type": "payment", "reason": "x", "next": "https://evil.example/"}
    )

    assert response["Location"] == ORDERS


def test_without_rows_the_page_says_nothing_was_selected(ops):
    response = ops.get(HOLD, follow=True)

    assert messages_of(response) == ["No orders were selected."]


def test_a_form_without_rows_calls_the_service_once_and_says_so(ops, sites, products):
    receive = reverse("admin:inventory_stocklevel_receive")
    data = {"warehouse": sites["DAL"].pk, "product": products[0].pk, "quantity": "7", "reference": "PO-1", "note": ""}

    response = ops.post(receive, data, follow=True)

    assert messages_of(response) == ["Received 7 × SKU-A at DAL (PO-1)."]
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=products[0]).on_hand == 7
    assert StockMovement.objects.count() == 1


def test_a_refusal_kept_on_the_form_says_why_then_that_nothing_changed(ops, sites, stock, products):
    stock(sites["DAL"], products[0], 3)
    adjust = reverse("admin:inventory_stocklevel_adjust")

    response = ops.post(
        adjust, {"warehouse": sites["DAL"].pk, "product": products[0].pk, "quantity": "-5", "reason": "lost"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    box = html[html.index('<div class="errornote oms-refusal" role="alert">') :]
    assert box.index("Cannot remove 5 × SKU-A at DAL") < box.index("Nothing was changed.")
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=products[0]).on_hand == 3


def test_a_success_that_made_a_row_leads_to_its_page(ops, sites, stock, products):
    stock(sites["DAL"], products[0], 3)

    response = ops.post(reverse("admin:inventory_cyclecount_add"), {"warehouse": sites["DAL"].pk}, follow=True)

    count = CycleCount.objects.get()
    assert response.redirect_chain == [(reverse("admin:inventory_cyclecount_change", args=[count.pk]), 302)]
    assert messages_of(response) == [f"{count} started with 1 line."]


def test_an_action_has_either_a_call_per_row_or_one_for_the_selection():
    with pytest.raises(TypeError):
        FormAction(title="Hold", permission="orders.hold_order")
    with pytest.raises(TypeError):
        FormAction(title="Hold", permission="orders.hold_order", apply=print, run=print)
