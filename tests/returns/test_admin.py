"""The returns console through the admin client: the queue, the RMA steps, order errors, the report, the role."""

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from inventory.models import StockLevel, StockMovement
from orders.models import OrderStatus
from orders.returns import services
from orders.returns.models import OrderErrorCase, Refund, ReturnPolicy, ReturnRequest, ReturnStatus
from shipping.models import Vendor
from tests.factories import ProductFactory, UserFactory
from tests.returns.conftest import lines_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def associate(client, roles):
    user = UserFactory(username="rosa", role="Returns associate")
    client.force_login(user)
    return user


def step_url(rma, step):
    return reverse("admin:returns_returnrequest_step", args=[rma.pk, step])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_associate_opens_a_return_from_the_order_page_and_works_it_to_closed(
    client, associate, shipped_order, sites, shirt
):
    order = shipped_order()
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'data-action="open-return"' in page and 'data-action="open-order-error"' in page
    tee = lines_of(order)["TEE-1"]

    # open: 2 tees, no longer wanted
    opened = client.post(
        reverse("admin:returns_returnrequest_open", args=[order.pk]),
        {f"qty_{tee}": "2", "reason": "no_longer_wanted", "customer_note": "Too small"},
    )
    rma = ReturnRequest.objects.get()
    assert opened.status_code == 302 and opened.url == reverse("admin:returns_returnrequest_change", args=[rma.pk])
    page = client.get(opened.url).content.decode()
    assert 'data-step="authorise"' in page and 'data-step="reject"' in page and 'data-step="refund"' not in page

    # authorise, receive, inspect through their pages
    assert client.post(step_url(rma, "authorise"), {"warehouse": ""}).status_code == 302
    line = rma.lines.get()
    client.post(step_url(rma, "receive"), {"warehouse": sites["EWR"].pk, f"received_{line.pk}": "2"})
    client.post(
        step_url(rma, "inspect"),
        {f"restock_{line.pk}": "1", f"writeoff_{line.pk}": "1", f"reason_{line.pk}": "stained"},
    )
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.INSPECTED
    assert StockLevel.objects.get(warehouse=sites["EWR"], product=shirt).on_hand == 1

    # the refund page shows the computation before anything is confirmed
    preview = client.get(step_url(rma, "refund"))
    html = preview.content.decode()
    assert 'id="quote-amount">34.20 USD' in html and 'id="quote-computed">34.20' in html
    assert not Refund.objects.exists()
    assert preview.context["form"]["amount"].value() == Decimal("34.20")

    # more than allowed is refused on the page, naming the limit; the amount shown is confirmed
    refused = client.post(step_url(rma, "refund"), {"amount": "50.00"})
    assert "is more than the most allowed, 34.20 USD" in refused.content.decode()
    done = client.post(step_url(rma, "refund"), {"amount": "34.20"}, follow=True)
    assert any("refund of 34.20 USD recorded, to settle" in m for m in messages_of(done))
    client.post(step_url(rma, "close"), {"note": ""})
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED
    assert set(order.events.filter(kind__in=["return", "refund"]).values_list("actor_name", flat=True)) == {"rosa"}


def test_over_returning_from_the_console_shows_the_reason_and_opens_nothing(client, associate, shipped_order):
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]

    response = client.post(
        reverse("admin:returns_returnrequest_open", args=[order.pk]), {f"qty_{tee}": "5", "reason": "other"}
    )

    assert response.status_code == 200
    assert "TEE-1: cannot return 5; 3 shipped, 0 already returned or in an open return, so at most 3" in (
        response.content.decode()
    )
    assert not ReturnRequest.objects.exists()


def test_rejecting_needs_a_reason(client, associate, shipped_order):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="other", actor="t")

    assert client.post(step_url(rma, "reject"), {"reason": ""}).status_code == 200
    client.post(step_url(rma, "reject"), {"reason": "Bought elsewhere, not from us"})

    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REJECTED and rma.rejection_reason == "Bought elsewhere, not from us"


def test_the_queue_filters_and_bulk_receives(client, associate, shipped_order, sites):
    first, second = shipped_order(), shipped_order()
    rmas = [
        services.open_return(order_id=o.pk, lines={lines_of(o)["MUG-1"]: 1}, reason="damaged", actor="t")
        for o in (first, second)
    ]
    changelist = reverse("admin:returns_returnrequest_changelist")
    for query in (
        "",
        "?queue=open",
        "?status__exact=authorised",
        "?reason__exact=damaged",
        f"?warehouse__id__exact={sites['EWR'].pk}",
        f"?order__channel__id__exact={first.channel_id}",
        f"?q={first.number}",
    ):
        assert client.get(changelist + query).status_code == 200, query
    listed = client.get(changelist + f"?q={first.number}").context["cl"].result_list
    assert [r.pk for r in listed] == [rmas[0].pk]

    # select both → the bulk page → received at Atlanta
    action = client.post(changelist, {"action": "receive_selected", "_selected_action": [r.pk for r in rmas]})
    assert action.status_code == 302
    form = client.get(action.url)
    assert form.status_code == 200
    client.post(action.url, {"ids": ",".join(str(r.pk) for r in rmas), "warehouse": sites["ATL"].pk})

    for rma in rmas:
        rma.refresh_from_db()
        assert (rma.status, rma.warehouse.code) == (ReturnStatus.RECEIVED, "ATL")
        assert rma.lines.get().quantity_received == 1


def test_the_rma_page_links_the_order_its_shipments_and_the_customers_orders(client, associate, shipped_order):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="damaged", actor="t")

    page = client.get(reverse("admin:returns_returnrequest_change", args=[rma.pk])).content.decode()

    assert reverse("admin:orders_order_change", args=[order.pk]) in page
    assert f"{reverse('admin:shipping_shipment_changelist')}?q={order.number}" in page
    assert f"{reverse('admin:orders_order_changelist')}?q={order.customer.email}" in page
    assert client.get(f"{reverse('admin:shipping_shipment_changelist')}?q={order.number}").status_code == 200
    label = client.get(reverse("admin:returns_returnrequest_label", args=[rma.pk]))
    assert label["Content-Type"] == "application/pdf"


def test_the_customers_label_link_works_without_a_login_and_only_when_signed(client, shipped_order):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="damaged", actor="t")
    url = urlsplit(services.label_link(rma)).path

    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert client.get(url[:-3] + "xyz/").status_code == 404


def test_a_label_whose_file_was_lost_from_storage_is_drawn_again(
    client, shipped_order, django_capture_on_commit_callbacks
):
    order = shipped_order()
    with django_capture_on_commit_callbacks(execute=True):
        rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="damaged", actor="t")
    rma.refresh_from_db()
    assert rma.label_file  # rendered in the background
    rma.label_file.storage.delete(rma.label_file.name)  # a restore without the media folder, a wiped disk

    response = client.get(urlsplit(services.label_link(rma)).path)

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    rma.refresh_from_db()
    assert rma.label_file.storage.exists(rma.label_file.name)


def test_a_label_link_of_a_return_rejected_while_its_label_was_drawn_is_not_found(client, shipped_order, monkeypatch):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="damaged", actor="t")
    assert rma.status == ReturnStatus.AUTHORISED and not rma.label_file
    render = services.render_return_label

    def rejected_meanwhile(*, rma_id):
        services.reject_return(rma_id=rma_id, reason="Sent the wrong form", actor="t")
        return render(rma_id=rma_id)

    monkeypatch.setattr(services, "render_return_label", rejected_meanwhile)

    response = client.get(urlsplit(services.label_link(rma)).path)

    assert response.status_code == 404
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REJECTED and not rma.label_file


def test_resolving_an_order_error_with_a_refund_needs_the_refund_permission(client, shipped_order):
    from django.contrib.auth.models import Permission

    clerk = UserFactory(username="clerk")
    clerk.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="returns", codename__in=["view_ordererrorcase", "resolve_ordererrorcase"]
        )
    )
    client.force_login(clerk)
    order = shipped_order()
    case = services.open_error_case(order_id=order.pk, kind="missing_item", root_cause="pick_error", actor="t")
    url = reverse("admin:returns_ordererrorcase_resolve", args=[case.pk])
    mug = lines_of(order)["MUG-1"]

    for refusing in ({f"reship_{mug}": "1", f"refund_{mug}": "1", "refund_amount": ""}, {"refund_amount": "5.00"}):
        refused = client.post(url, refusing)
        assert refused.status_code == 200
        assert "You may reship but not refund" in refused.content.decode()
    assert not Refund.objects.exists()
    case.refresh_from_db()
    assert case.resolution == ""

    reshipped = client.post(url, {f"reship_{mug}": "1", "refund_amount": ""})

    assert reshipped.status_code == 302
    case.refresh_from_db()
    assert case.resolution == OrderErrorCase.Resolution.RESHIP
    assert not Refund.objects.exists()


def test_an_order_error_is_opened_and_resolved_with_a_reship_and_a_refund(client, associate, shipped_order):
    order = shipped_order()
    opened = client.post(
        reverse("admin:returns_ordererrorcase_open", args=[order.pk]),
        {"kind": "missing_item", "root_cause": "pick_error", "shipment": "", "description": "No mug in the box"},
    )
    case = OrderErrorCase.objects.get()
    assert opened.url == reverse("admin:returns_ordererrorcase_resolve", args=[case.pk])
    mug = lines_of(order)["MUG-1"]

    # preview, then resolve: one mug reshipped, one refunded (10.00 − 1.00 + 0.90 + 10.00 shipping)
    preview = client.post(opened.url, {f"reship_{mug}": "1", f"refund_{mug}": "1", "preview": "1"})
    assert 'id="quote-amount">19.90 USD' in preview.content.decode()
    client.post(opened.url, {f"reship_{mug}": "1", f"refund_{mug}": "1", "refund_amount": ""})

    case.refresh_from_db()
    assert case.resolution == OrderErrorCase.Resolution.BOTH
    assert case.reship_order.lines.get().sku == "MUG-1"
    assert Refund.objects.get(error_case=case).amount == Decimal("19.90")
    page = client.get(reverse("admin:returns_ordererrorcase_change", args=[case.pk])).content.decode()
    assert case.reship_order.number in page


def test_the_error_report_shows_rates_and_denominators(client, associate, shipped_order):
    order = shipped_order()
    services.open_error_case(order_id=order.pk, kind="damaged_in_transit", root_cause="carrier_damage", actor="t")

    page = client.get(reverse("admin:returns_ordererrorcase_report")).content.decode()

    assert (
        'id="report-errors">1<' in page and 'id="report-shipments">1<' in page and 'id="report-rate">100.00 %' in page
    )
    assert "Carrier damage" in page and "Rapid Air" in page and "EWR" in page


def test_the_returns_associate_cannot_change_stock_prices_products_vendors_or_settings(client, associate, sites):
    product = ProductFactory(sku="PRICE-1", price=Decimal("10.00"))
    level = StockLevel.objects.create(warehouse=sites["EWR"], product=product, reorder_point=1)
    vendor = Vendor.objects.create(code="slow", name="Slow Post")
    policy = ReturnPolicy.current()

    refused = [
        client.post(reverse("admin:inventory_product_change", args=[product.pk]), {"sku": "PRICE-1", "price": "1.00"}),
        client.post(reverse("admin:inventory_stocklevel_change", args=[level.pk]), {"reorder_point": "9"}),
        client.post(reverse("admin:shipping_vendor_change", args=[vendor.pk]), {"code": "slow", "name": "Fast"}),
        client.post(reverse("admin:returns_returnpolicy_change", args=[policy.pk]), {"window_days": "365"}),
        client.get(reverse("admin:inventory_stocklevel_add")),
        client.get(reverse("admin:django_celery_beat_periodictask_changelist")),
    ]

    assert [r.status_code for r in refused] == [403] * len(refused)
    product.refresh_from_db()
    level.refresh_from_db()
    policy.refresh_from_db()
    assert (product.price, level.reorder_point, policy.window_days) == (Decimal("10.00"), 1, 30)
    assert Vendor.objects.get(pk=vendor.pk).name == "Slow Post"
    assert not StockMovement.objects.exists()
    # but may see the policy, the queue, refunds and order errors
    for page in ("returns_returnpolicy", "returns_returnrequest", "returns_refund", "returns_ordererrorcase"):
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200, page


@pytest.mark.parametrize("role", ["Operations associate", "Warehouse staff"])
def test_other_roles_cannot_work_returns(client, roles, role, shipped_order):
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 1}, reason="other", actor="t")
    client.force_login(UserFactory(username="someone", role=role))

    assert client.get(reverse("admin:returns_returnrequest_open", args=[order.pk])).status_code == 403
    assert client.post(step_url(rma, "authorise"), {"warehouse": ""}).status_code == 403
    assert client.get(reverse("admin:returns_ordererrorcase_open", args=[order.pk])).status_code == 403
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.REQUESTED
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'data-action="open-return"' not in page


def test_the_manager_changes_the_policy(client, roles):
    client.force_login(UserFactory(username="max", role="Operations manager"))
    policy = ReturnPolicy.current()
    rules = list(policy.reasons.order_by("pk"))
    data = {
        "window_days": "45",
        "reasons-TOTAL_FORMS": str(len(rules)),
        "reasons-INITIAL_FORMS": str(len(rules)),
        "reasons-MIN_NUM_FORMS": "0",
        "reasons-MAX_NUM_FORMS": "1000",
    }
    for i, rule in enumerate(rules):
        data |= {
            f"reasons-{i}-id": str(rule.pk),
            f"reasons-{i}-policy": str(policy.pk),
            f"reasons-{i}-reason": rule.reason,
            f"reasons-{i}-restocking_fee_percent": "20"
            if rule.reason == "no_longer_wanted"
            else str(rule.restocking_fee_percent),
        }
        if rule.auto_authorise:
            data[f"reasons-{i}-auto_authorise"] = "on"
        if rule.our_error:
            data[f"reasons-{i}-our_error"] = "on"

    response = client.post(reverse("admin:returns_returnpolicy_change", args=[policy.pk]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    policy.refresh_from_db()
    assert policy.window_days == 45
    assert policy.rule("no_longer_wanted").restocking_fee_percent == Decimal("20.00")


def test_order_page_offers_no_return_before_anything_shipped(client, associate, order_to, shirt):
    order = order_to("NYC", [(shirt, 1)])
    assert order.status == OrderStatus.RECEIVED

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert 'data-action="open-return"' not in page


# --- refunds paid back outside the gateway: marked settled -----------------------------------


def refund_to_settle(order) -> Refund:
    """A damaged tee returned, inspected and refunded on an order with no gateway: recorded, to settle."""
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 1}, reason="damaged", actor="t")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="t")
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: services.Inspection(restock=1)}, actor="t")
    return services.confirm_return_refund(rma_id=rma.pk, actor="t")


def test_the_associate_marks_a_refund_settled_from_its_page_once(client, associate, shipped_order):
    order = shipped_order()
    refund = refund_to_settle(order)
    page_url = reverse("admin:returns_refund_change", args=[refund.pk])
    settle_url = reverse("admin:returns_refund_settle", args=[refund.pk])
    assert f'href="{settle_url}" class="oms-action" data-action="mark-settled"' in client.get(page_url).content.decode()

    done = client.post(settle_url, {"method": "bank_transfer", "reference": "BT-2291", "note": ""}, follow=True)

    assert done.redirect_chain == [(page_url, 302)]
    assert f"for {refund.rma.number} marked settled: bank transfer, reference BT-2291." in messages_of(done)[0]
    html = done.content.decode()
    assert ">Settled</span>" in html and "BT-2291" in html and "Bank transfer" in html
    assert 'data-action="mark-settled"' not in html
    assert order.events.filter(kind="refund", actor_name="rosa", message__contains="reference BT-2291").exists()

    # a second try (another tab, a double click) is refused, and says why
    again = client.post(settle_url, {"method": "cheque", "reference": "CHQ-1"})
    assert again.status_code == 200
    assert "Nothing was changed." in again.content.decode() and "it cannot be settled twice" in again.content.decode()
    refund.refresh_from_db()
    assert (refund.settlement_method, refund.settlement_reference) == ("bank_transfer", "BT-2291")


def test_the_settle_form_asks_for_the_method_and_the_reference(client, associate, shipped_order):
    refund = refund_to_settle(shipped_order())

    response = client.post(reverse("admin:returns_refund_settle", args=[refund.pk]), {"method": "", "reference": ""})

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"method", "reference"}
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING


def test_refunds_to_settle_are_marked_settled_together_from_the_list(client, associate, shipped_order):
    refunds = [refund_to_settle(shipped_order()), refund_to_settle(shipped_order())]
    to_settle = f"{reverse('admin:returns_refund_changelist')}?status__exact=pending"
    assert sorted(r.pk for r in client.get(to_settle).context["cl"].result_list) == [r.pk for r in refunds]

    action = client.post(to_settle, {"action": "mark_settled_selected", "_selected_action": [r.pk for r in refunds]})
    ids = ",".join(str(r.pk) for r in refunds)
    assert action.status_code == 302 and action.url == f"{reverse('admin:returns_refund_bulk_settle')}?ids={ids}"
    form_page = client.get(action.url).content.decode()
    assert all(f'data-refund="{r.pk}"' in form_page for r in refunds)
    done = client.post(
        reverse("admin:returns_refund_bulk_settle"),
        {"ids": ids, "method": "store_credit", "reference": "GC-APRIL-BATCH"},
        follow=True,
    )

    assert "2 of 2 refunds marked settled." in messages_of(done)
    assert not done.context["cl"].result_list  # back on the list of refunds to settle: empty now
    assert set(Refund.objects.values_list("status", "settlement_method", "settlement_reference")) == {
        (Refund.Status.SETTLED, "store_credit", "GC-APRIL-BATCH")
    }


def test_marking_refunds_settled_has_its_own_permission_granted_to_those_who_refund(client, shipped_order):
    # the roles as the migrations grant them (no fixture re-granting them)
    holders = set(
        Group.objects.filter(
            permissions__codename="settle_refund", permissions__content_type__app_label="returns"
        ).values_list("name", flat=True)
    )
    assert holders == {"Operations manager", "Returns associate"}

    refund = refund_to_settle(shipped_order())
    client.force_login(UserFactory(username="olga", role="Operations associate"))
    page = client.get(reverse("admin:returns_refund_change", args=[refund.pk]))
    assert page.status_code == 200 and 'data-action="mark-settled"' not in page.content.decode()
    changelist = client.get(reverse("admin:returns_refund_changelist"))
    assert "mark_settled_selected" not in changelist.content.decode()
    settle_url = reverse("admin:returns_refund_settle", args=[refund.pk])
    assert client.post(settle_url, {"method": "cheque", "reference": "CHQ-1"}).status_code == 403
    bulk_url = reverse("admin:returns_refund_bulk_settle")
    assert client.post(bulk_url, {"ids": str(refund.pk), "method": "cheque", "reference": "C"}).status_code == 403
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING


# --- the refund and RMA pages read plainly ----------------------------------------------------


def test_the_refund_page_shows_the_breakdown_as_a_table_and_names_the_return(client, associate, shipped_order):
    order = shipped_order()
    refund = refund_to_settle(order)
    rma = refund.rma

    html = client.get(reverse("admin:returns_refund_change", args=[refund.pk])).content.decode()

    assert "Rma:" not in html and "Breakdown:" not in html and "&quot;lines&quot;" not in html
    assert ">Return:</label>" in html
    rma_url = reverse("admin:returns_returnrequest_change", args=[rma.pk])
    assert f'<a href="{rma_url}" id="refund-rma">{rma.number}</a>' in html
    # one tee of 20.00: discount share 2.00, tax share 1.80, no fee (damaged), shipping back 10.00
    assert '<tr data-sku="TEE-1"><td>TEE-1</td><td class="num">1</td><td class="num">20.00</td>' in html
    assert (
        '<tr data-row="shipping"><td>Shipping (refunded when the error is ours)</td><td class="num">10.00 USD' in html
    )
    assert f'<tr class="oms-total" data-row="amount"><td>Refunded</td><td class="num">{refund.amount} USD' in html
    assert refund.amount == Decimal("29.80")


def test_the_rma_close_step_is_named_as_an_action_on_the_return(client, associate, shipped_order):
    order = shipped_order()
    rma = refund_to_settle(order).rma

    html = client.get(reverse("admin:returns_returnrequest_change", args=[rma.pk])).content.decode()

    close = f'<a href="{step_url(rma, "close")}" class="oms-action" data-step="close">Close return</a>'
    assert close in html
    assert f"Close return {rma.number}" in client.get(step_url(rma, "close")).content.decode()
