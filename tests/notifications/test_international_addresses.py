"""Emails to internationalised addresses over a real SMTP conversation (aiosmtpd).

An IDN domain goes out in its ASCII form, through any server. A UTF-8 local
part (RFC 6531) needs a server that offers SMTPUTF8: through one it goes out;
through one that does not, the message fails at once with the reason, ops are
told, and the rest of the batch goes out.
"""

import pytest

from notifications import services
from notifications.models import Message
from orders.models import Customer
from orders.services import notify
from tests.notifications.conftest import SmtpSink
from tests.notifications.factories import realistic_order

pytestmark = pytest.mark.django_db
Status = Message.Status


def order_for(email: str):
    order = realistic_order()
    Customer.objects.filter(pk=order.customer_id).update(email=email)
    order.customer.refresh_from_db()
    return order


@pytest.fixture
def plain_sink(smtp_port):
    """A sink that does not offer SMTPUTF8 (the project's ``smtp_sink`` does, as aiosmtpd does by default)."""

    class PlainSink(SmtpSink):
        def start(self):
            from aiosmtpd.controller import Controller

            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=False)
            self.controller.start()
            return self

    sink = PlainSink(smtp_port).start()
    yield sink
    sink.stop()


def test_an_idn_domain_goes_out_in_its_ascii_form_through_any_server(plain_sink):
    [message_id] = notify.order_received(order_for("ana@exämple.com"))

    report = services.send_messages(message_ids=[message_id])

    assert report.sent == 1
    [delivered] = plain_sink.messages
    assert delivered.rcpt_tos == ["ana@xn--exmple-cua.com"]
    assert delivered.message["To"] == "ana@xn--exmple-cua.com"
    assert Message.objects.get(pk=message_id).status == Status.SENT


def test_a_utf8_local_part_goes_out_through_a_server_that_offers_smtputf8(smtp_sink):
    [to_jose] = notify.order_received(order_for("josé@exämple.com"))
    [to_ana] = notify.order_received(order_for("ana@example.com"))

    report = services.send_messages(message_ids=[to_jose, to_ana])

    assert report.sent == 2
    jose, ana = smtp_sink.messages
    assert jose.rcpt_tos == ["josé@xn--exmple-cua.com"]
    assert jose.message["To"] == "josé@xn--exmple-cua.com"
    assert "Hello Zoë," in jose.part("text/plain")
    assert ana.rcpt_tos == ["ana@example.com"]  # the same connection, after it
    assert set(Message.objects.values_list("status", flat=True)) == {Status.SENT}


def test_a_utf8_local_part_fails_with_its_reason_through_a_server_without_smtputf8(plain_sink, ops_emails):
    [to_jose] = notify.order_received(order_for("用户@例子.广告"))
    [to_ana] = notify.order_received(order_for("ana@example.com"))

    report = services.send_messages(message_ids=[to_jose, to_ana])

    message = Message.objects.get(pk=to_jose)
    assert (message.status, message.attempts) == (Status.FAILED, 1)  # failed at once: a retry would not help
    assert message.last_error == (
        "用户@例子.广告 has a non-ASCII local part (RFC 6531): it can only be sent through a mail server "
        f"that offers SMTPUTF8, and 127.0.0.1:{plain_sink.port} does not."
    )
    assert report.failed == 1
    # the rest of the batch went out, and ops were told
    assert Message.objects.get(pk=to_ana).status == Status.SENT
    alert = Message.objects.get(event="message_failed")
    assert alert.context["failed"]["recipient"] == "用户@例子.广告"
    assert [m.rcpt_tos for m in plain_sink.messages] == [["ana@example.com"], ["ops@example.com"]]
