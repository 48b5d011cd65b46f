"""The order workflow queues its messages: placing, routing, holding, cancelling, the daily inventory report."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from inventory import services as inventory
from inventory.models import StockLevel
from notifications import services as notifications
from notifications.events import CUSTOMER, EVENTS
from notifications.models import Message, RecipientList
from orders import services
from orders.models import OrderStatus
from tests.factories import CustomerFactory
from tests.notifications.factories import realistic_order, rma_for, split_shipments

pytestmark = pytest.mark.django_db


def order_data(external_id="WEB-1001", email="zoe@example.com", accepts_marketing=False, sku="SKU-A"):
    return services.OrderData(
        external_id=external_id,
        customer=services.CustomerData(name="Zoë Álvarez", email=email, accepts_marketing=accepts_marketing),
        shipping_address=services.AddressData(
            name="Zoë Álvarez", line1="1 Main St", city="Dallas", state="TX", postal_code="75201"
        ),
        lines=[services.LineData(sku=sku, quantity=2, unit_price=Decimal("25.00"))],
        shipping_total=Decimal("5.00"),
    )


def test_placing_an_order_sends_the_confirmation_after_commit(
    smtp_sink, channel, products, django_capture_on_commit_callbacks
):
    # when an order is placed (its routing then finds no stock: backordered)
    with django_capture_on_commit_callbacks(execute=True):
        order, created = services.place_order(channel=channel, data=order_data(), actor="api")

    # then the customer gets the confirmation, then the backorder notice, each once
    assert created
    subjects = [m.subject for m in smtp_sink.messages]
    assert subjects == [
        f"Northwind OMS: we received your order {order.number}",
        f"Part of your order {order.number} is delayed",
    ]
    confirmation = smtp_sink.messages[0]
    assert confirmation.rcpt_tos == ["zoe@example.com"]
    assert "2 × " in confirmation.part("text/plain") and "Total: $55.00" in confirmation.part("text/plain")
    assert Message.objects.filter(order=order, status=Message.Status.SENT).count() == 2


def test_a_customer_who_declined_marketing_hears_of_their_order_arriving(
    smtp_sink, channel, sites, stock, products, django_capture_on_commit_callbacks
):
    # given stock for an order placed through the API, whose customers are not asked about marketing
    stock(sites["DAL"], products[0], 5)
    with django_capture_on_commit_callbacks(execute=True):
        order, _ = services.place_order(channel=channel, data=order_data(accepts_marketing=False), actor="api")
    assert not order.customer.accepts_marketing

    # when the order is delivered
    with django_capture_on_commit_callbacks(execute=True):
        services.notify.order_delivered(order)

    # then the customer got the confirmation, 'in process' and 'delivered'
    assert [m.subject for m in smtp_sink.messages] == [
        f"Northwind OMS: we received your order {order.number}",
        f"Your order {order.number} is being prepared",
        f"Your order {order.number} was delivered",
    ]
    assert {m.rcpt_tos[0] for m in smtp_sink.messages} == {"zoe@example.com"}


def test_every_order_and_return_message_reaches_a_customer_who_declined_marketing(smtp_sink):
    # given a customer who said no to marketing
    order = realistic_order(accepts_marketing=False)
    rma = rma_for(order, refund_id="1")

    # when each step of the order and its return queues its message, and the outbox sends them
    ids = [
        *services.notify.order_received(order),
        *services.notify.order_allocated(order),
        *services.notify.order_backordered(order),
        *services.notify.order_shipped(order, shipments=split_shipments(order)),
        *services.notify.order_delivered(order),
        *services.notify.order_cancelled(order),
        *services.notify.order_lines_cancelled(
            order,
            changes=[{"sku": "TEE-M", "name": "Tee", "cancelled": 1, "after": 1}],
            total_before=order.grand_total + 1,
            occurrence="1",
        ),
        *services.notify.order_changed(
            order,
            occurrence="2",
            changes=[{"sku": "TEE-M", "name": "Tee", "before": 1, "after": 2}],
            total_before=order.grand_total - 1,
        ),
        *services.notify.order_delayed(
            order, cause="backordered", promised_date=dt.date(2026, 12, 4), new_estimate=dt.date(2026, 12, 8)
        ),
        *services.notify.return_authorised(order, rma=rma),
        *services.notify.return_received(order, rma=rma),
        *services.notify.return_refunded(order, rma=rma),
    ]
    notifications.send_messages(message_ids=ids)

    # then every one of them reached the customer
    customer_events = {code for code, event in EVENTS.items() if event.audience == CUSTOMER}
    assert {str(m.message["X-OMS-Event"]) for m in smtp_sink.messages} == customer_events
    assert len(smtp_sink.messages) == len(customer_events)
    assert {m.rcpt_tos[0] for m in smtp_sink.messages} == {order.customer.email}


def test_the_backorder_email_offers_to_wait_or_to_cancel_the_whole_order(
    smtp_sink, channel, products, django_capture_on_commit_callbacks
):
    # given a store whose support address takes replies
    channel.support_email = "help@webstore.example"
    channel.save()

    # when an order arrives for items nobody has in stock
    with django_capture_on_commit_callbacks(execute=True):
        order, _ = services.place_order(channel=channel, data=order_data(), actor="api")

    # then the backorder email offers only what operations can do: wait, or cancel the whole order
    [backorder] = [m for m in smtp_sink.messages if m.subject == f"Part of your order {order.number} is delayed"]
    text, html = backorder.part("text/plain"), backorder.part("text/html")
    assert "You need not do anything to keep your order." in text
    assert (
        "Would you rather not wait? Reply to this email and we will cancel your whole order, "
        "as long as none of it has shipped yet. The delayed items cannot be cancelled on their own." in text
    )
    assert "cancel your whole order" in html
    assert "cancel the delayed items" not in text + html
    assert str(backorder.message["Reply-To"]) == "help@webstore.example"


def test_placing_the_same_order_again_queues_no_second_confirmation(channel, products):
    first, _ = services.place_order(channel=channel, data=order_data(), actor="api", route=False)
    again, created = services.place_order(channel=channel, data=order_data(), actor="api", route=False)

    assert again == first and not created
    assert Message.objects.filter(event="order_received").count() == 1


def test_a_routing_batch_queues_in_process_and_backorders_for_every_customer(sites, stock, products, order_to):
    a, b = products[0], products[1]
    stock(sites["DAL"], a, 10)
    opted_in = order_to("DFW", [(a, 1)])
    opted_in.customer.accepts_marketing = True
    opted_in.customer.save()
    opted_out = order_to("DFW", [(a, 1)])
    waiting = order_to("DFW", [(a, 1), (b, 2)])  # nobody has b

    services.allocate_orders(order_ids=[opted_in.pk, opted_out.pk, waiting.pk], actor="wave")

    events = dict(Message.objects.values_list("order_id", "event"))
    assert events == {
        opted_in.pk: "order_allocated",
        opted_out.pk: "order_allocated",  # an order's status is not marketing
        waiting.pk: "order_backordered",
    }
    backorder = Message.objects.get(order=waiting).context
    assert backorder["backordered"] == [{"sku": b.sku, "name": b.name, "quantity": 2}]
    assert backorder["in_stock"] == [{"sku": a.sku, "name": a.name, "quantity": 1}]
    assert backorder["estimate"]


def test_a_backorder_filled_later_tells_the_customer_it_is_in_process(sites, stock, products, order_to):
    a = products[0]
    order = order_to("DFW", [(a, 2)])
    order.customer.accepts_marketing = True
    order.customer.save()
    services.allocate_order(order_id=order.pk, actor="routing")
    stock(sites["DAL"], a, 5)

    services.fill_backorders(product_ids=[a.pk])

    assert list(Message.objects.filter(order=order).order_by("pk").values_list("event", flat=True)) == [
        "order_backordered",
        "order_allocated",
    ]


def test_each_hold_alerts_ops_once(ops_emails):
    order = realistic_order()

    services.hold_order(order_id=order.pk, reason="Address mismatch", actor="ana")
    services.release_order(order_id=order.pk, actor="ana")
    services.hold_order(order_id=order.pk, reason="Card declined", actor="ana")

    alerts = Message.objects.filter(event="order_on_hold", order=order).order_by("pk")
    assert [m.context["reason"] for m in alerts] == ["Address mismatch", "Card declined"]
    assert all(m.recipient == "ops@example.com" and m.context["actor"] == "ana" for m in alerts)
    assert alerts[0].context["order"]["admin_url"].endswith(f"/admin/orders/order/{order.pk}/change/")


def test_cancelling_tells_the_customer(smtp_sink, django_capture_on_commit_callbacks):
    order = realistic_order(status=OrderStatus.ALLOCATED)

    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_order(order_id=order.pk, reason="Fraud suspected", actor="ana")

    [delivered] = smtp_sink.messages
    assert delivered.subject == f"Your order {order.number} was cancelled"
    assert "Fraud suspected" not in delivered.part("text/plain")  # the operator's reason stays internal


def test_the_daily_inventory_report_goes_through_the_outbox(smtp_sink, settings, sites, stock, products):
    settings.OPS_EMAILS = ["ops@example.com"]
    RecipientList.objects.update_or_create(event="inventory_report", defaults={"emails": "stock@example.com"})
    level = stock(sites["DAL"], products[0], 3)
    StockLevel.objects.filter(pk=level.pk).update(reorder_point=5)

    run = inventory.run_inventory_check(triggered_by="test")

    messages = Message.objects.filter(event="inventory_report")
    assert sorted(messages.values_list("recipient", flat=True)) == ["ops@example.com", "stock@example.com"]
    assert set(messages.values_list("status", flat=True)) == {"sent"}
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["ops@example.com", "stock@example.com"]
    body = smtp_sink.messages[0].part("text/plain")
    assert "Below reorder point: 1" in body and f"/admin/inventory/inventorycheckrun/{run.pk}/change/" in body
    run.refresh_from_db()
    assert run.summary["emailed_to"] == ["ops@example.com", "stock@example.com"]
    assert mail.outbox == []  # nothing bypasses the outbox


def test_the_order_page_lists_its_messages(client, superuser, smtp_sink):
    order = realistic_order()
    [message_id] = services.notify.order_received(order)
    from notifications.services import send_messages

    send_messages(message_ids=[message_id])
    client.force_login(superuser)

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    # on the timeline: which email, to whom, sent, and a link to it
    assert "Email: Order received" in page and f"to {order.customer.email}: sent." in page
    assert reverse("admin:notifications_message_change", args=[message_id]) in page


def test_warehouse_staff_see_no_customer_messages_on_the_order_page(client, role_user):
    order = realistic_order()
    [message_id] = services.notify.order_received(order)
    client.force_login(role_user("Warehouse staff"))

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert "Order received" not in page
    assert reverse("admin:notifications_message_change", args=[message_id]) not in page


def test_customers_are_matched_by_email_for_their_preference(channel, products):
    CustomerFactory(email="fan@example.com", accepts_marketing=True)
    order, _ = services.place_order(channel=channel, data=order_data(email="FAN@example.com"), actor="api", route=False)

    assert order.customer.accepts_marketing
    assert services.notify.order_allocated(order)
