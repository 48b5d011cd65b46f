"""Polling file-drop connections, and the X12 control numbers kept per connection.

``poll_connection`` asks the connection's transport for the files its partner left; each file's messages
are recorded in one transaction (each under its de-duplication id, so a file read twice changes nothing)
before the transport archives the file, and applied after commit as the webhook's are.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from oms_core.x12 import MAX_CONTROL_NUMBER

from ..models import ControlNumber, PartnerConnection
from ..transports import TemporaryFailure, transport_for
from ..transports.filedrop import InboundRecord
from .inbound import receive_message

logger = logging.getLogger(__name__)


def _recorder(connection: PartnerConnection):
    def record(records: list[InboundRecord]) -> list[int]:
        statuses = []
        with transaction.atomic(durable=True):  # a file's messages all at once, before it is archived
            for inbound in records:
                _, created = receive_message(
                    connection=connection,
                    message_id=inbound.key,
                    kind=inbound.kind,
                    payload=inbound.payload,
                    envelope=inbound.source,
                    refusal=inbound.error,
                )
                statuses.append(202 if created else 200)
        return statuses

    return record


def poll_connection(*, connection_id: int) -> list[int]:
    """Take in the files a file-drop partner left: one status per message (202 new, 200 a duplicate).

    A server down or breaking off is noted on the connection's health; the next poll resumes.
    """
    connection = PartnerConnection.objects.select_related("warehouse").get(pk=connection_id)
    transport = transport_for(connection)
    if transport.pushes_inbound or not connection.is_active:
        return []
    try:
        return transport.poll(_recorder(connection))
    except TemporaryFailure as failure:
        now = timezone.now()
        PartnerConnection.objects.filter(pk=connection.pk).update(
            last_error=f"Polling {connection.code}: {failure}"[:2000], last_error_at=now
        )
        logger.warning("3PL %s: poll failed: %s", connection.code, failure)
        return []


def poll_file_drops() -> int:
    """Poll every active connection whose partner leaves files (the beat's task); returns the messages taken in."""
    taken = 0
    for connection in PartnerConnection.objects.filter(is_active=True).order_by("pk"):
        if transport_for(connection).pushes_inbound:
            continue
        taken += sum(1 for status in poll_connection(connection_id=connection.pk) if status == 202)
    return taken


def allocate_control_number(*, connection_id: int, kind: str) -> int:
    """The next X12 control number of this kind for this connection: never the same twice (1..999999999).

    One row per connection and kind, locked (``select_for_update``) and raised in a short transaction of its
    own, so parallel workers each get their own number and a number taken is never given again, whatever
    happens to the file it went into. After 999999999 it starts again at 1, as X12 allows.
    """
    with transaction.atomic():
        ControlNumber.objects.bulk_create(
            [ControlNumber(connection_id=connection_id, kind=kind, last=0)], ignore_conflicts=True
        )
        counter = ControlNumber.objects.select_for_update().get(connection_id=connection_id, kind=kind)
        counter.last = counter.last % MAX_CONTROL_NUMBER + 1
        counter.save(update_fields=["last"])
        return counter.last
