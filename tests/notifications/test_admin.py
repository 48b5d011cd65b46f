"""The outbox in the console: the list and its filters, resends by role, template overrides with a preview."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from notifications import rendering, services
from notifications.models import Message, MessageTemplate, RecipientList
from orders.services import notify
from tests.factories import UserFactory
from tests.notifications.factories import realistic_order, split_shipments

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:notifications_message_changelist"


@pytest.fixture
def outbox(smtp_sink):
    """A sent confirmation, a failed 'shipped', a pending 'cancelled'."""
    order = realistic_order()
    [received] = notify.order_received(order)
    services.send_messages(message_ids=[received])
    [shipped] = notify.order_shipped(order, shipments=split_shipments(order))
    smtp_sink.handler.refuse = "550 no such user"
    services.send_messages(message_ids=[shipped])
    smtp_sink.handler.refuse = None
    [cancelled] = notify.order_cancelled(order)
    return {"order": order, "received": received, "shipped": shipped, "cancelled": cancelled, "sink": smtp_sink}


def login(client, role=None):
    user = UserFactory(username="root", is_superuser=True) if role is None else UserFactory(role=role)
    client.force_login(user)
    return user


class Frames(HTMLParser):
    """The attributes of each iframe of a page, as a browser reads them (entities decoded)."""

    def __init__(self, page: str):
        super().__init__()
        self.frames: list[dict[str, str | None]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.frames.append(dict(attrs))


def html_frame(page: str) -> dict[str, str | None]:
    [frame] = [frame for frame in Frames(page).frames if frame.get("title") == "HTML part"]
    return frame


def listed(response) -> list[int]:
    return [message.pk for message in response.context["cl"].result_list]


def test_the_list_filters_by_event_status_and_date(client, outbox):
    login(client)
    url = reverse(CHANGELIST)

    assert sorted(listed(client.get(url))) == sorted([outbox["received"], outbox["shipped"], outbox["cancelled"]])
    assert listed(client.get(url, {"event": "order_shipped"})) == [outbox["shipped"]]
    assert listed(client.get(url, {"status__exact": "failed"})) == [outbox["shipped"]]
    assert listed(client.get(url, {"status__exact": "sent"})) == [outbox["received"]]
    today = Message.objects.get(pk=outbox["received"]).created_at.date().isoformat()
    assert len(listed(client.get(url, {"created_at__range__gte": today, "created_at__range__lte": today}))) == 3
    assert (
        listed(client.get(url, {"created_at__range__gte": "2001-01-01", "created_at__range__lte": "2001-01-02"})) == []
    )
    email = outbox["order"].customer.email
    assert len(listed(client.get(url, {"q": email}))) == 3
    assert len(listed(client.get(url, {"q": outbox["order"].number}))) == 3


def test_a_message_page_shows_its_history_and_how_it_renders(client, outbox):
    login(client)

    page = client.get(reverse("admin:notifications_message_change", args=[outbox["shipped"]])).content.decode()

    assert "SMTP 550: no such user" in page
    assert "Failed" in page and "queued" in page
    assert "1Z999AA10123456784" in page  # the rendered text part
    assert Message.objects.get(pk=outbox["shipped"]).message_id.replace("<", "&lt;").replace(">", "&gt;") in page


def test_a_message_page_frames_the_whole_html_part_in_a_sandbox(client, outbox):
    login(client)
    message = Message.objects.get(pk=outbox["received"])

    page = client.get(reverse("admin:notifications_message_change", args=[message.pk])).content.decode()

    frame = html_frame(page)
    html = rendering.render(
        message.event, message.context, extra=rendering.send_time_context([message], preview=True).get(message.pk)
    ).html
    assert frame["srcdoc"] == html  # the whole document, quotes and all, escaped into the attribute
    assert f"Order {outbox['order'].number}" in frame["srcdoc"] and frame["srcdoc"].rstrip().endswith("</html>")
    assert frame["sandbox"] == ""  # no scripts


@pytest.mark.parametrize(
    "role, allowed",
    [("Operations manager", True), ("Operations associate", True), ("Returns associate", False)],
)
def test_resend_is_for_the_roles_that_own_it(client, outbox, roles, role, allowed):
    login(client, role)
    url = reverse(CHANGELIST)

    listing = client.get(url)
    action_form = listing.context["action_form"]
    action_names = {name for name, _ in action_form.fields["action"].choices} if action_form else set()
    response = client.post(url, {"action": "resend_selected", "_selected_action": [outbox["shipped"]]})

    message = Message.objects.get(pk=outbox["shipped"])
    assert ("resend_selected" in action_names) == allowed
    if allowed:
        assert response.status_code == 302
        assert message.generation == 1 and message.resent_by
        assert message.status == Message.Status.PENDING
    else:
        assert message.status == Message.Status.FAILED


def test_resend_reports_what_it_refused(client, outbox):
    login(client)
    url = reverse(CHANGELIST)
    selection = [outbox["shipped"], outbox["cancelled"]]

    response = client.post(url, {"action": "resend_selected", "_selected_action": selection}, follow=True)

    texts = [str(m) for m in response.context["messages"]]
    assert any("pending, not resent" in text for text in texts)
    assert any("1 message(s) queued again" in text for text in texts)


def test_warehouse_staff_cannot_see_the_outbox(client, outbox, roles):
    login(client, "Warehouse staff")

    assert client.get(reverse(CHANGELIST)).status_code == 403


def test_nobody_edits_or_adds_messages(client, outbox):
    login(client)

    assert client.get(reverse("admin:notifications_message_add")).status_code == 403
    before = Message.objects.get(pk=outbox["received"]).recipient
    client.post(reverse("admin:notifications_message_change", args=[outbox["received"]]), {"recipient": "x@y.z"})
    assert Message.objects.get(pk=outbox["received"]).recipient == before


def test_a_new_override_starts_from_the_default_files(client):
    login(client)

    response = client.get(reverse("admin:notifications_messagetemplate_add"), {"event": "order_shipped"})

    form = response.context["adminform"].form
    assert '{% extends "notifications/base.html" %}' in form.initial["html_body"]
    assert "has shipped" in form.initial["subject"]


def test_the_preview_renders_the_unsaved_template_on_a_real_order(client, outbox):
    login(client)
    order = outbox["order"]

    response = client.post(
        reverse("admin:notifications_messagetemplate_preview"),
        {
            "event": "order_shipped",
            "subject": "On its way: {{ order.number }} for {{ customer.first_name }}",
            "text_body": "",
            "html_body": "<p>Track: {% for s in shipments %}{{ s.vendor_name }} {% endfor %}</p>",
            "preview_order": order.number,
        },
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert f"On its way: {order.number} for Zoë" in page
    assert "Track: UPS USPS" in page  # the unsaved HTML, on the shipments this order really had
    assert "Package 1: UPS Ground" in page  # blank text part: the default file
    assert not MessageTemplate.objects.exists()
    frame = html_frame(page)
    assert frame["srcdoc"] == "<p>Track: UPS USPS </p>" and frame["sandbox"] == ""


def test_the_preview_frames_the_whole_default_html_part(client, outbox):
    login(client)
    order = outbox["order"]

    response = client.post(
        reverse("admin:notifications_messagetemplate_preview"),
        {"event": "order_received", "preview_order": order.number},
    )

    frame = html_frame(response.content.decode())
    message = Message.objects.get(pk=outbox["received"])
    assert frame["srcdoc"] == rendering.render("order_received", message.context).html
    assert f"Order {order.number}" in frame["srcdoc"] and 'style="' in frame["srcdoc"]
    assert frame["sandbox"] == ""


def test_the_preview_falls_back_to_the_order_as_it_is_now(client):
    login(client)
    order = realistic_order()

    response = client.post(
        reverse("admin:notifications_messagetemplate_preview"),
        {"event": "return_authorised", "preview_order": str(order.pk)},
    )

    page = response.content.decode()
    assert f"{order.number} as it is now" in page
    assert "RMA-EXAMPLE" in page


def test_the_preview_says_what_is_wrong(client):
    login(client)
    url = reverse("admin:notifications_messagetemplate_preview")

    broken = client.post(url, {"event": "order_received", "subject": "{% if %}", "preview_order": ""})
    missing = client.post(url, {"event": "order_received", "preview_order": "SO-9999999"})

    assert "Template error" in broken.content.decode() or "Nothing to preview" in broken.content.decode()
    assert "Nothing to preview on: no order" in missing.content.decode()


def test_the_preview_needs_the_template_permission(client, roles):
    login(client, "Operations associate")

    response = client.post(reverse("admin:notifications_messagetemplate_preview"), {"event": "order_received"})

    assert response.status_code == 403


def test_saving_an_override_checks_its_syntax_and_records_who(client):
    user = login(client)
    url = reverse("admin:notifications_messagetemplate_add")
    data = {"event": "order_received", "is_active": "on", "subject": "Hi {% if %}", "text_body": "", "html_body": ""}

    refused = client.post(url, data)
    data["subject"] = "Thanks, {{ customer.first_name }}"
    saved = client.post(url, data)

    assert refused.status_code == 200 and "Template error" in refused.content.decode()
    assert saved.status_code == 302
    override = MessageTemplate.objects.get()
    assert override.updated_by == user.username


def test_the_override_is_used_for_the_next_message(smtp_sink):
    MessageTemplate.objects.create(event="order_received", subject="Thanks, {{ customer.first_name }}!")
    order = realistic_order()

    services.send_messages(message_ids=notify.order_received(order))

    assert smtp_sink.messages[0].subject == "Thanks, Zoë!"


def test_recipient_lists_refuse_bad_addresses(client):
    login(client)
    listing = RecipientList.objects.get_or_create(event="order_on_hold")[0]
    url = reverse("admin:notifications_recipientlist_change", args=[listing.pk])

    refused = client.post(url, {"event": "order_on_hold", "emails": "good@example.com, not-an-address"})
    saved = client.post(
        url, {"event": "order_on_hold", "emails": "A@example.com,b@example.com", "include_ops_emails": ""}
    )

    assert "Not an email address: not-an-address" in refused.content.decode()
    assert saved.status_code == 302
    listing.refresh_from_db()
    assert listing.addresses == ["a@example.com", "b@example.com"] and not listing.include_ops_emails


def test_the_dashboard_counts_failed_messages(client, outbox):
    login(client)

    response = client.get(reverse("admin:index"))

    panel = response.context["dashboard"]["failed_messages"]
    assert panel["count"] == 1
    assert panel["url"] in response.content.decode()


def test_the_override_page_has_the_preview_button_and_frame(client):
    login(client)
    override = MessageTemplate.objects.create(event="order_shipped", subject="Shipped {{ order.number }}")

    page = client.get(reverse("admin:notifications_messagetemplate_change", args=[override.pk])).content.decode()

    preview_url = reverse("admin:notifications_messagetemplate_preview")
    assert f'formaction="{preview_url}" formtarget="oms-preview"' in page
    assert '<iframe name="oms-preview"' in page
    assert '<input type="hidden" name="event_code" value="order_shipped">' in page
