"""The wires a 3PL connection speaks. Each transport is a class named in ``settings.PARTNER_TRANSPORTS``.

A transport only moves envelopes; the services decide what they mean. Outbound, ``session()`` opens one
sitting with the partner for a batch of messages (one SFTP connection for a file drop; REST needs none),
and the sitting's ``send`` delivers one envelope and answers ``Delivered`` (the partner has it: a retry of
the same message id is a duplicate to it), or raises ``TemporaryFailure`` (try again later: the peer is
down, timed out, answered 5xx, the connection broke) or ``PermanentFailure`` (the partner refuses this
message as it is: it goes to the dead letters at once). ``send`` on the transport itself is a batch of one.
Inbound, a push transport (REST) hands envelopes to ``services.inbound.receive_message`` from its webhook;
a polling transport (a file drop, ``filedrop.FileDropTransport``) is polled by beat: its ``poll(record)``
hands each file's messages to ``record`` (which calls ``receive_message`` the same way) before it moves
the file aside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from ..exceptions import PartnerError


@dataclass(frozen=True)
class Envelope:
    """One message on the wire: its id (our key outbound, the partner's inbound), its type, its payload."""

    message_id: str
    kind: str
    payload: dict
    sent_at: str = ""

    def as_data(self) -> dict:
        return {"message_id": self.message_id, "type": self.kind, "sent_at": self.sent_at, "payload": self.payload}


@dataclass(frozen=True)
class Delivered:
    detail: str = ""
    duplicate: bool = False
    answer: dict = field(default_factory=dict)


class TemporaryFailure(Exception):
    """The message did not get through this time (peer down, timeout, 5xx): try again later."""


class PermanentFailure(Exception):
    """The partner refused the message as it is (4xx): retrying the same payload cannot help."""


class Transport:
    """What every transport offers; ``connection`` is the PartnerConnection it speaks for."""

    pushes_inbound = True  # True: the partner pushes (a webhook); False: the sweep polls ``fetch``

    def __init__(self, connection):
        self.connection = connection

    def send(self, envelope: Envelope) -> Delivered:  # pragma: no cover - each transport has its own
        raise PermanentFailure(f"{type(self).__name__} cannot send")

    @contextlib.contextmanager
    def session(self) -> Iterator[Transport]:
        """One sitting with the partner for a batch: what it yields ``send``s each envelope, in turn.

        By default the transport itself (each ``send`` stands alone); a transport with a costly connection
        opens it once here and closes it after the batch.
        """
        yield self

    def poll(self, record) -> list[int]:
        """A polling transport hands the partner's waiting messages to ``record``; a push transport has none."""
        return []


def transport_for(connection) -> Transport:
    path = settings.PARTNER_TRANSPORTS.get(connection.kind)
    if path is None:
        raise PartnerError(
            f"Connection {connection.code}: no transport for {connection.get_kind_display()} is installed "
            "(PARTNER_TRANSPORTS)."
        )
    return import_string(path)(connection)
