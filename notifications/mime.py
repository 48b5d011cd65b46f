"""The outgoing message: headers in one place, and a direct MIME writer for SMTP.

Django's ``EmailMultiAlternatives`` goes through the standard library's email
generator (header folding, a regex compiled per boundary), a large share of
the outbox's time per message (bench/README.md, email).
Over SMTP the outbox writes the same multipart/alternative message directly
(quoted-printable parts from ``binascii``, RFC 2047 for non-ASCII headers) and
hands the bytes to the open SMTP connection; other backends (the embedded
shape's files, the tests' memory outbox) get the equivalent Django object.
"""

from __future__ import annotations

import binascii
from email.header import Header
from email.headerregistry import Address
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from oms_core.emails import smtp_address

from .models import Message
from .rendering import Rendered, reply_address

CRLF = b"\r\n"


class HeaderInjection(ValueError):
    """A header value with a line break: refused, never sent."""


def sender(message: Message) -> str:
    """The From of a message: its own (its order's channel's), else NOTIFICATIONS_FROM_EMAIL."""
    return message.sender or settings.NOTIFICATIONS_FROM_EMAIL


def envelope_sender(message: Message) -> str:
    return _parsed_sender(sender(message))[1]


def sender_header(*, name: str, address: str) -> str:
    """``Name <address>`` for a message's ``sender`` (quoted where the name needs it; encoded when sent)."""
    return str(Address(display_name=" ".join(name.split()), addr_spec=address))


@lru_cache(maxsize=256)  # one entry per sender in use: the system's and each branded channel's
def _parsed_sender(value: str) -> tuple[str, str]:
    """(From header, envelope address) for the configured sender, parsed once per value."""
    name, address = parseaddr(_check(value))
    if not address:
        raise HeaderInjection(f"Not an address: {value!r}")
    return (formataddr((name, address), charset="utf-8") if name else address), address


def extra_headers(message: Message) -> dict[str, str]:
    """Headers besides From/To/Subject/Date: the stable Message-ID first."""
    headers = {
        "Message-ID": message.message_id,
        "Auto-Submitted": "auto-generated",
        "X-OMS-Event": message.event,
    }
    reply_to = reply_address(message.reply_to, audience=message.audience)
    if reply_to:
        headers["Reply-To"] = reply_to
    return headers


def build_email(message: Message, rendered: Rendered, connection=None) -> EmailMultiAlternatives:
    """The Django email for a row (any backend): plain text first, HTML as the alternative."""
    headers = extra_headers(message)
    reply_to = headers.pop("Reply-To", None)
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=sender(message),
        to=[message.recipient],
        headers=headers,
        reply_to=[reply_to] if reply_to else None,
        connection=connection,
    )
    email.attach_alternative(rendered.html, "text/html")
    return email


def build_mime(message: Message, rendered: Rendered) -> bytes:
    """The same message as bytes, ready for ``smtplib.SMTP.sendmail`` (CRLF line ends)."""
    boundary = f"=_oms_{message.uid.hex}_{message.generation}".encode()
    headers = [
        ("From", _parsed_sender(sender(message))[0]),
        # A bare address, validated and lower-cased when queued; an IDN domain in its ASCII form.
        ("To", _check(smtp_address(message.recipient)[0])),
        ("Subject", _text(rendered.subject)),
        ("Date", formatdate(localtime=True)),
        *((name, _check(value)) for name, value in extra_headers(message).items()),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary.decode()}"'),
    ]
    out = [_header(name, value) for name, value in headers]
    out.append(b"")
    for content_type, body in (("text/plain", rendered.text), ("text/html", rendered.html)):
        out += [
            b"--" + boundary,
            f'Content-Type: {content_type}; charset="utf-8"'.encode(),
            b"Content-Transfer-Encoding: quoted-printable",
            b"",
            _quoted_printable(body),
        ]
    out.append(b"--" + boundary + b"--")
    out.append(b"")
    return CRLF.join(out)


def _header(name: str, value: str) -> bytes:
    # Values are checked (or encoded) already; only an encoder's folding has line breaks. Only the To of a
    # message sent with SMTPUTF8 (a UTF-8 local part, RFC 6532) is not ASCII.
    return f"{name}: {value}".encode()


def _check(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise HeaderInjection(f"Line break in a header: {value!r}")
    return value


def _text(value: str) -> str:
    """A header text, RFC 2047-encoded (and folded) when it is not ASCII."""
    if _check(value).isascii():
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _quoted_printable(text: str) -> bytes:
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True, header=False)
    # b2a_qp keeps LF line ends; SMTP wants CRLF.
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", CRLF).rstrip(CRLF)
