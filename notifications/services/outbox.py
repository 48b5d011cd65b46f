"""Queueing messages: outbox rows written in the caller's transaction, sent after it commits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from oms_core.bulk import bulk_insert

from ..events import CUSTOMER, OPS, get_event
from ..models import Message, RecipientList, parse_emails


@dataclass(frozen=True)
class Outgoing:
    """One message to queue.

    ``occurrence`` tells repeats of an event on one order apart (each hold,
    each shipment); the same (order, event, occurrence, recipient) is queued
    at most once, however often the caller runs.
    ``accepts_marketing`` is the customer's preference: marketing events
    (not ``transactional``) are not queued for customers who said no.
    ``sender`` (a From header) and ``reply_to`` are the brand's the message
    goes out under; blank: the settings'.
    """

    event: str
    recipient: str
    context: dict
    order_id: int | None = None
    occurrence: str = ""
    accepts_marketing: bool = True
    sender: str = ""
    reply_to: str = ""


def message_key(*, event: str, recipient: str, order_id: int | None, occurrence: str) -> str:
    key = f"{order_id if order_id is not None else '-'}:{event}:{occurrence}:{recipient}"
    if len(key) > 300:
        key = f"{key[:235]}#{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def queue_messages(*, messages: Iterable[Outgoing], dispatch: bool = True) -> list[int]:
    """Write outbox rows in the current transaction; returns the ids of the rows written.

    After commit (``dispatch``), the rows are handed to ``send_messages``
    tasks in batches. Repeats of a row already queued are skipped (a
    savepoint keeps the caller's transaction intact). Marketing messages
    (not transactional) are dropped for customers who do not accept marketing.
    """
    rows = build_messages(messages)
    if not rows:
        return []
    written = _insert(rows)
    ids = [row.pk for row in written]
    if dispatch and ids:
        transaction.on_commit(partial(dispatch_messages, message_ids=ids))
    return ids


def build_messages(messages: Iterable[Outgoing]) -> list[Message]:
    """The outbox rows for these messages, not yet saved: one per key, unwanted ones left out.

    For a caller that writes them itself (the order intake writes its rows in
    one statement); it then calls ``dispatch_messages`` after commit.
    """
    now = timezone.now()
    rows: dict[str, Message] = {}
    for outgoing in messages:
        event = get_event(outgoing.event)
        if event.audience == CUSTOMER and not event.transactional and not outgoing.accepts_marketing:
            continue
        recipient = outgoing.recipient.strip().lower()
        if not recipient:
            continue
        key = message_key(
            event=event.code, recipient=recipient, order_id=outgoing.order_id, occurrence=outgoing.occurrence
        )
        rows.setdefault(
            key,
            Message(
                key=key,
                event=event.code,
                audience=event.audience,
                order_id=outgoing.order_id,
                recipient=recipient,
                sender=outgoing.sender,
                reply_to=outgoing.reply_to,
                context=outgoing.context,
                created_at=now,
                next_attempt_at=now,
            ),
        )
    return list(rows.values())


def _insert(rows: list[Message]) -> list[Message]:
    try:
        with transaction.atomic():
            bulk_insert(Message, rows)  # cheaper in Python than bulk_create (oms_core.bulk)
            return rows
    except IntegrityError:
        # Some were queued before (a repeated call): write only the new ones.
        existing = set(Message.objects.filter(key__in=[row.key for row in rows]).values_list("key", flat=True))
        fresh = [row for row in rows if row.key not in existing]
        return Message.objects.bulk_create(fresh) if fresh else []


# The wake-up flag of the sending drain (oms_core.wakeups).
SENDING = "notifications:send"


def dispatch_messages(*, message_ids: list[int]) -> None:
    """Hand rows to ``send_messages`` tasks, a batch per task. Call after commit.

    With a Redis broker this wakes the sending drain instead (``send_due_messages``),
    which sends every due row: a burst of commits then queues one task, not one each.
    """
    from oms_core import wakeups

    from .. import tasks

    if wakeups.flags_client() is not None:
        wakeups.wake(tasks.send_due_messages, SENDING)
        return
    size = settings.NOTIFICATIONS_BATCH_SIZE
    for start in range(0, len(message_ids), size):
        wakeups.publish(tasks.send_messages, message_ids[start : start + size])  # an outage: the sweep sends them


def ops_recipients(event: str) -> list[str]:
    """OPS_EMAILS (unless the event's list opts out of them) plus the event's recipient list."""
    listing = RecipientList.objects.filter(event=event).first()
    addresses = [] if listing is not None and not listing.include_ops_emails else list(settings.OPS_EMAILS)
    if listing is not None:
        addresses += listing.addresses
    return parse_emails(" ".join(addresses))


def queue_ops_alert(
    *, event: str, context: dict, order_id: int | None = None, occurrence: str = "", dispatch: bool = True
) -> list[int]:
    """Queue an ops message to each of the event's recipients; returns the row ids (none if nobody is listed)."""
    if get_event(event).audience != OPS:
        raise ValueError(f"{event!r} is not an ops event.")
    return queue_messages(
        messages=[
            Outgoing(event=event, recipient=address, context=context, order_id=order_id, occurrence=occurrence)
            for address in ops_recipients(event)
        ],
        dispatch=dispatch,
    )
