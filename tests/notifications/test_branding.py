"""Customer emails go out under their order's channel's brand (From, Reply-To, name, logo, store, support);
what a channel leaves blank is the settings'; ops alerts stay the system's."""

from decimal import Decimal

import pytest
from django.urls import reverse

from notifications import services
from orders import services as orders
from orders.services import notify
from tests.factories import ChannelFactory, ProductFactory, UserFactory
from tests.notifications.factories import realistic_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def system(settings):
    """The system's own sender and brand, with no reply address and no support address."""
    settings.OMS_BRAND_NAME = "Northwind OMS"
    settings.NOTIFICATIONS_FROM_EMAIL = "Northwind OMS <orders@oms.example>"
    settings.NOTIFICATIONS_REPLY_TO = ""
    settings.NOTIFICATIONS_BRAND = {"support_email": "", "website_url": "", "logo_url": "", "address": ""}
    return settings


@pytest.fixture
def acme(db):
    return ChannelFactory(
        code="acme",
        name="Acme web store",
        brand_name="Acme Outdoors",
        sender_email="orders@acme.example",
        reply_to_email="help@acme.example",
        support_email="support@acme.example",
        store_url="https://acme.example/",
        logo_url="https://cdn.acme.example/logo.png",
    )


@pytest.fixture
def bloom(db):
    """A brand with a support address but no reply-to address."""
    return ChannelFactory(
        code="bloom",
        name="Bloom marketplace shop",
        brand_name="Bloom & Co",
        sender_email="hello@bloom.example",
        support_email="care@bloom.example",
        store_url="https://bloom.example/",
    )


def sent(sink, ids):
    services.send_messages(message_ids=ids)
    return {message.rcpt_tos[0]: message for message in sink.messages}


def test_each_channel_s_customers_get_its_sender_reply_to_and_brand(smtp_sink, system, acme, bloom):
    # given an order on each of two branded channels
    acme_order, bloom_order = realistic_order(channel=acme), realistic_order(channel=bloom)

    # when their confirmations go out
    mail = sent(smtp_sink, [*notify.order_received(acme_order), *notify.order_received(bloom_order)])

    # then each comes from its channel, replies go to its channel, and the body wears its brand
    from_acme = mail[acme_order.customer.email]
    assert from_acme.mail_from == "orders@acme.example"
    assert str(from_acme.message["From"]) == "Acme Outdoors <orders@acme.example>"
    assert str(from_acme.message["Reply-To"]) == "help@acme.example"
    assert from_acme.subject == f"Acme Outdoors: we received your order {acme_order.number}"
    text, html = from_acme.part("text/plain"), from_acme.part("text/html")
    assert "Questions? Reply to this email or write to support@acme.example." in text
    assert "Acme Outdoors · https://acme.example/" in text
    assert '<img src="https://cdn.acme.example/logo.png" alt="Acme Outdoors"' in html
    assert '<a href="https://acme.example/"' in html and 'href="mailto:support@acme.example"' in html
    assert "Northwind" not in text + html

    from_bloom = mail[bloom_order.customer.email]
    assert from_bloom.mail_from == "hello@bloom.example"
    assert str(from_bloom.message["From"]) == "Bloom & Co <hello@bloom.example>"
    assert str(from_bloom.message["Reply-To"]) == "care@bloom.example"  # no reply-to address: support's
    assert from_bloom.subject == f"Bloom & Co: we received your order {bloom_order.number}"
    assert "Questions? Reply to this email or write to care@bloom.example." in from_bloom.part("text/plain")
    assert "Bloom &amp; Co" in from_bloom.part("text/html")
    assert "Acme" not in from_bloom.part("text/plain") and "Northwind" not in from_bloom.part("text/plain")


def test_a_channel_without_brand_fields_sends_under_the_settings(smtp_sink, system):
    # given the settings' brand with a reply address, and a channel that sets none of its own
    system.NOTIFICATIONS_FROM_EMAIL = "Northwind <orders@northwind.example>"
    system.NOTIFICATIONS_REPLY_TO = "care@northwind.example"
    system.NOTIFICATIONS_BRAND = {
        "support_email": "support@northwind.example",
        "website_url": "https://northwind.example/",
        "logo_url": "",
        "address": "",
    }
    order = realistic_order(channel=ChannelFactory(code="phone", name="Phone orders"))

    [delivered] = sent(smtp_sink, notify.order_received(order)).values()

    assert delivered.mail_from == "orders@northwind.example"
    assert str(delivered.message["From"]) == "Northwind <orders@northwind.example>"
    assert str(delivered.message["Reply-To"]) == "care@northwind.example"
    assert delivered.subject == f"Northwind OMS: we received your order {order.number}"
    text = delivered.part("text/plain")
    assert "Questions? Reply to this email or write to support@northwind.example." in text
    assert "Northwind OMS · https://northwind.example/" in text


def test_a_channel_with_some_brand_fields_takes_the_rest_from_the_settings(smtp_sink, system):
    system.NOTIFICATIONS_BRAND = {**system.NOTIFICATIONS_BRAND, "support_email": "support@oms.example"}
    order = realistic_order(channel=ChannelFactory(code="outlet", brand_name="Acme Outlet"))

    [delivered] = sent(smtp_sink, notify.order_received(order)).values()

    assert str(delivered.message["From"]) == "Acme Outlet <orders@oms.example>"  # the settings' address
    assert str(delivered.message["Reply-To"]) == "support@oms.example"  # the settings' support address
    assert delivered.subject.startswith("Acme Outlet: ")


def test_without_a_reply_to_the_emails_point_to_support_not_to_a_reply(smtp_sink, system):
    # given a channel with a support address but no reply-to, and one with neither (nor the settings)
    with_support = ChannelFactory(code="kiosk", brand_name="Kiosk", support_email="help@kiosk.example")
    without = ChannelFactory(code="fax", brand_name="Fax Orders")
    supported, unsupported = realistic_order(channel=with_support), realistic_order(channel=without)

    mail = sent(
        smtp_sink,
        [
            *notify.order_delivered(supported),
            *notify.order_delivered(unsupported),
            *notify.order_cancelled(unsupported),
        ],
    )

    # then the channel's support address is the Reply-To, so "reply" is true
    assert str(mail[supported.customer.email].message["Reply-To"]) == "help@kiosk.example"
    assert "Something not right? Reply to this email and we will sort it out." in mail[supported.customer.email].part(
        "text/plain"
    )
    # and with no address to reply to, no header and no "reply" in either part
    unsupported_mail = [m for m in smtp_sink.messages if m.rcpt_tos == [unsupported.customer.email]]
    assert len(unsupported_mail) == 2
    for message in unsupported_mail:
        assert message.message["Reply-To"] is None
        assert "reply" not in message.part("text/plain").lower() and "reply" not in message.part("text/html").lower()
        assert "Contact Fax Orders" in message.part("text/plain")


def test_ops_alerts_keep_the_system_s_sender_and_brand(smtp_sink, system, ops_emails, acme):
    order = realistic_order(channel=acme)

    [alert] = sent(smtp_sink, notify.order_on_hold(order, reason="Address mismatch", actor="ana")).values()

    assert str(alert.message["From"]) == "Northwind OMS <orders@oms.example>"
    assert alert.message["Reply-To"] is None
    assert "Northwind OMS operations alert" in alert.part("text/plain")
    assert "Acme Outdoors" not in alert.part("text/plain") + alert.part("text/html")


def test_an_order_placed_through_the_intake_is_confirmed_under_its_channel(
    smtp_sink, system, acme, django_capture_on_commit_callbacks
):
    ProductFactory(sku="TENT-2P", name="Two-person tent")
    data = orders.OrderData(
        external_id="ACME-1001",
        customer=orders.CustomerData(name="Ida Lind", email="ida@example.com"),
        shipping_address=orders.AddressData(
            name="Ida Lind", line1="1 Main St", city="Dallas", state="TX", postal_code="75201"
        ),
        lines=[orders.LineData(sku="TENT-2P", quantity=1, unit_price=Decimal("199.00"))],
    )

    with django_capture_on_commit_callbacks(execute=True):
        order, _ = orders.place_order(channel=acme, data=data, actor="api", route=False)

    [confirmation] = smtp_sink.messages
    assert str(confirmation.message["From"]) == "Acme Outdoors <orders@acme.example>"
    assert str(confirmation.message["Reply-To"]) == "help@acme.example"
    assert confirmation.subject == f"Acme Outdoors: we received your order {order.number}"


def test_the_confirmation_row_is_built_from_the_order_in_hand_without_a_query(system, acme, django_assert_num_queries):
    # the intake builds it inside its one statement: the channel is the order's already
    order = realistic_order(channel=acme)
    lines = list(order.lines.all())
    with django_assert_num_queries(0):
        outgoing = notify.order_received_message(order, lines=lines)

    assert (outgoing.sender, outgoing.reply_to) == ("Acme Outdoors <orders@acme.example>", "help@acme.example")
    assert outgoing.context["brand"]["name"] == "Acme Outdoors"


def test_the_outbox_page_shows_the_from_and_reply_to_it_is_sent_with(client, system, acme):
    client.force_login(UserFactory(username="root", is_superuser=True))
    [message_id] = notify.order_received(realistic_order(channel=acme))

    page = client.get(reverse("admin:notifications_message_change", args=[message_id])).content.decode()

    assert "Acme Outdoors &lt;orders@acme.example&gt;" in page
    assert "help@acme.example" in page


def test_the_template_preview_wears_the_order_s_channel_brand(client, system, acme):
    client.force_login(UserFactory(username="root", is_superuser=True))
    order = realistic_order(channel=acme)

    response = client.post(
        reverse("admin:notifications_messagetemplate_preview"),
        {"event": "order_delivered", "preview_order": order.number},
    )

    page = response.content.decode()
    assert f"{order.number} as it is now" in page  # no message yet: the order's snapshot
    assert "Reply to this email or write to support@acme.example." in page
    assert "https://cdn.acme.example/logo.png" in page and "Northwind" not in page
