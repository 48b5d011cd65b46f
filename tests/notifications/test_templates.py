"""Every event's templates render for a realistic order: split shipments, backorders, returns, ops alerts."""

import datetime as dt
import re

import pytest
from django.template import TemplateSyntaxError

from inventory import services as inventory
from inventory.services.check import report_context
from notifications import rendering
from notifications.events import EVENTS
from notifications.models import Message, MessageTemplate
from notifications.services import queue_ops_alert
from notifications.services.sending import alert_failed
from orders.models import OrderStatus
from orders.services import notify
from tests.notifications.factories import realistic_order, rma_for, split_shipments

pytestmark = pytest.mark.django_db


def queue_every_event(order) -> dict[str, int]:
    """One message of each event for ``order`` (ops ones with OPS_EMAILS set); event -> message id."""
    lines = list(order.lines.order_by("pk"))
    lines[0].quantity_allocated = lines[0].quantity  # the tee is in stock, the rest waits
    ids = {
        "order_received": notify.order_received(order),
        "order_allocated": notify.order_allocated(order),
        "order_backordered": notify.order_backordered(order, lines=lines),
        "order_shipped": notify.order_shipped(order, shipments=split_shipments(order)),
        "order_delivered": notify.order_delivered(order),
        "order_cancelled": notify.order_cancelled(order, reason="Customer changed their mind"),
        "order_lines_cancelled": notify.order_lines_cancelled(
            order,
            changes=[{"sku": lines[0].sku, "name": lines[0].name, "cancelled": 1, "after": lines[0].quantity}],
            total_before=order.grand_total + lines[0].unit_price,
            occurrence="1",
        ),
        "order_changed": notify.order_changed(
            order,
            changes=[{"sku": lines[0].sku, "name": lines[0].name, "before": 1, "after": lines[0].quantity}],
            total_before=order.grand_total - lines[0].unit_price,
            promised_before=dt.date(2026, 12, 3),
            occurrence="1",
        ),
        "order_delayed": notify.order_delayed(
            order,
            cause="carrier_exception",
            promised_date=dt.date(2026, 12, 4),
            new_estimate=dt.date(2026, 12, 8),
        ),
        "return_authorised": notify.return_authorised(order, rma=rma_for(order)),
        "return_received": notify.return_received(order, rma=rma_for(order, received_at="2026-12-10T15:00:00Z")),
        "return_refunded": notify.return_refunded(order, rma=rma_for(order)),
        "order_on_hold": notify.order_on_hold(order, reason="Address mismatch > $500", actor="ana"),
        "shipment_exception": notify.shipment_exception(
            order,
            shipment=f"{order.number}-1",
            tracking_number="1Z8W40000000012",
            description="Damaged in transit: box crushed",
            location="Secaucus, NJ",
            occurred_at=dt.datetime(2026, 11, 26, 14, 3, tzinfo=dt.UTC),
        ),
    }
    from orders.payments import alerts

    ids["payment_problem"] = alerts.payment_problem(
        order=order, problem="Capture of 42.00 USD declined", detail="amount exceeds authorisation", occurrence="t"
    )
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    ids["inventory_report"] = queue_ops_alert(
        event="inventory_report",
        context=report_context(run),
        occurrence=str(run.pk),
        dispatch=False,
    )
    ids["channel_order_refused"] = queue_ops_alert(  # channels: a storefront webhook refused
        event="channel_order_refused",
        context={
            "channel": "Shopify US",
            "source": "Shopify",
            "external_id": "450789469",
            "errors": [{"where": "line_items[1].sku", "msg": "missing: every line item needs a SKU"}],
            "link": "http://127.0.0.1:8000/admin/orders/channel/1/change/",
        },
        occurrence="t",
        dispatch=False,
    )
    shipped = Message.objects.get(pk=ids["order_shipped"][0])
    ids["message_failed"] = alert_failed(shipped, error="SMTP 550: mailbox unavailable", attempts=8)
    assert all(len(found) == 1 for found in ids.values()), ids
    return {event: found[0] for event, found in ids.items()}


def test_every_event_renders_both_parts_for_a_realistic_order(ops_emails):
    # given an order with three lines and an opted-in customer, and a message of every kind for it
    order = realistic_order()
    ids = queue_every_event(order)
    assert set(ids) == set(EVENTS), "a new event needs a case here"

    for event, message_id in ids.items():
        message = Message.objects.get(pk=message_id)
        # when it is rendered from its stored snapshot
        rendered = rendering.render(event, message.context)
        # then subject, text and HTML are filled in, with nothing left unrendered
        assert rendered.subject and "\n" not in rendered.subject, event
        assert len(rendered.text) > 80 and len(rendered.html) > 500, event
        for part in (rendered.subject, rendered.text, rendered.html):
            assert "{{" not in part and "{%" not in part and "None" not in part, (event, part)
        assert rendered.html.lstrip().startswith("<!doctype html>"), event
        if event not in ("inventory_report", "channel_order_refused"):  # about no order of ours
            assert order.number in rendered.text and order.number in rendered.html, event


def test_the_confirmation_shows_lines_totals_address_and_the_promise():
    order = realistic_order()
    message = Message.objects.get(pk=notify.order_received(order)[0])

    rendered = rendering.render("order_received", message.context)

    assert rendered.subject == f"Northwind OMS: we received your order {order.number}"
    assert "Hello Zoë," in rendered.text
    assert "3 × Merino socks, 3-pack (SOCK-3PK)  $63.00" in rendered.text
    assert "Total: $139.57" in rendered.text and "Discount: -$5.00" in rendered.text
    assert "742 Evergreen Terrace" in rendered.text and "Dallas, TX 75201" in rendered.text
    assert f"Expected delivery: {order.promised_date:%A, %B} {order.promised_date.day}" in rendered.text
    # HTML escapes what the text part shows as is
    assert "Stoneware mug &amp; saucer &lt;set&gt;" in rendered.html
    assert "Stoneware mug & saucer <set>" in rendered.text


def test_shipped_lists_each_shipment_of_a_split_order_with_tracking_links():
    order = realistic_order(status=OrderStatus.PARTIALLY_SHIPPED)
    first, second, _socks = order.lines.order_by("pk")
    for line in (first, second):
        line.quantity_shipped = line.quantity
        line.save()
    message = Message.objects.get(pk=notify.order_shipped(order, shipments=split_shipments(order))[0])

    rendered = rendering.render("order_shipped", message.context)

    assert rendered.subject == f"Part of your order {order.number} has shipped"
    assert "Package 1: UPS Ground" in rendered.text and "Package 2: USPS Priority Mail" in rendered.text
    for link in (
        "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "https://www.ups.com/track?tracknum=1Z999AA10123456795",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223856928499",
    ):
        assert link in rendered.text
        assert f'href="{link}"' in rendered.html
    # what is still to come: only the socks
    assert re.search(r"Still to ship:\n  3 × Merino socks", rendered.text)
    assert "Organic cotton tee" not in rendered.text.split("Still to ship:")[1]


def test_backordered_names_the_waiting_items_and_the_new_estimate(settings):
    settings.NOTIFICATIONS_BACKORDER_LEAD_DAYS = 30
    order = realistic_order()
    lines = list(order.lines.order_by("pk"))
    lines[0].quantity_allocated = lines[0].quantity

    message = Message.objects.get(pk=notify.order_backordered(order, lines=lines)[0])
    rendered = rendering.render("order_backordered", message.context)

    waiting = rendered.text.split("Waiting for stock:")[1].split("New estimated delivery")[0]
    assert "Merino socks" in waiting and "Stoneware mug" in waiting and "cotton tee" not in waiting
    assert "New estimated delivery:" in rendered.text
    assert "The rest of your order is in stock:\n  2 × Organic cotton tee" in rendered.text


def test_return_steps_carry_the_label_and_the_refund():
    order = realistic_order(status=OrderStatus.DELIVERED)
    authorised = Message.objects.get(pk=notify.return_authorised(order, rma=rma_for(order))[0])
    refunded = Message.objects.get(pk=notify.return_refunded(order, rma=rma_for(order))[0])

    label = rendering.render("return_authorised", authorised.context)
    refund = rendering.render("return_refunded", refunded.context)

    assert "https://labels.example.com/returns/RMA-000042.pdf" in label.text
    assert 'href="https://labels.example.com/returns/RMA-000042.pdf"' in label.html
    assert "by Sunday, December 20" in label.text
    assert refund.subject == f"Your refund of $24.00 for order {order.number}"
    assert "to your Visa ending 4242" in refund.text


def test_an_override_replaces_only_the_parts_it_fills():
    order = realistic_order()
    message = Message.objects.get(pk=notify.order_received(order)[0])
    override = MessageTemplate.objects.create(event="order_received", subject="Merci, {{ customer.first_name }}!")

    rendered = rendering.render("order_received", message.context, override=override)

    assert rendered.subject == "Merci, Zoë!"
    assert "Thank you for your order" in rendered.text  # the default body stays
    assert rendering.active_overrides({"order_received"}) == {"order_received": override}


def test_a_broken_override_is_a_syntax_error_with_its_line():
    with pytest.raises(TemplateSyntaxError):
        rendering.compile_source("Hello {% if customer.name %}")


def test_default_sources_are_readable_to_start_an_override():
    source = rendering.default_source("order_shipped", "html_body")

    assert '{% extends "notifications/base.html" %}' in source
