"""Sending outbound messages: claim, commit, call the partner with no lock held, record the answers.

Messages go in batches, one connection at a time: the due messages of a connection (at most
PARTNER_SEND_BATCH_SIZE) are claimed in one short transaction, sent over one sitting with the partner (one
SFTP connection for a file drop: opened once, each file written atomically, closed), and their answers
recorded in one short transaction. A batch stops at the first failure that may pass (peer down, timeout,
5xx, a connection that broke): what was delivered before it is recorded as sent, the rest is tried again
after the backoff, as each message would be alone. A failure that may pass is tried again after
PARTNER_RETRY_BACKOFF_SECONDS × 2^(attempts-1); after PARTNER_MAX_ATTEMPTS tries, or at once when the
partner refuses the message as it is (4xx), it is dead: the console lists it, a manager may fix its
payload, and an associate resends it. The partner sees our key as the message id, so a message it already
got (the answer was lost, or the worker was killed before it recorded the batch) is a duplicate to it,
never a second order.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..exceptions import PartnerError
from ..models import DUE_STATUSES, Direction, MessageStatus, PartnerConnection, PartnerMessage
from ..outbox import SEND_TASK, enqueue
from ..transports import Envelope, PermanentFailure, TemporaryFailure, transport_for

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed try."""
    return dt.timedelta(seconds=settings.PARTNER_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message's try: delivered (no error), or the error and whether it is final."""

    error: str = ""
    permanent: bool = False
    detail: str = ""


def _due(now: dt.datetime) -> Q:
    return Q(status__in=DUE_STATUSES, next_attempt_at__lte=now) | Q(
        status=MessageStatus.SENDING, claimed_until__lte=now
    )


def _claim_batch(message_ids: list[int], now: dt.datetime) -> list[PartnerMessage]:
    """Claim the messages of ``message_ids`` that are due and not claimed by a live worker, in one transaction.

    Returns them in id order. A message locked by another worker right now is skipped (it is theirs).
    """
    with transaction.atomic(durable=True):
        found = list(
            PartnerMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("connection")
            .filter(pk__in=message_ids, direction=Direction.OUT)
            .order_by("pk")
        )
        claimed = []
        for message in found:
            if not message.connection.is_active:
                continue
            expired_claim = message.status == MessageStatus.SENDING and (
                message.claimed_until is None or message.claimed_until <= now
            )
            due = message.status in DUE_STATUSES and (message.next_attempt_at is None or message.next_attempt_at <= now)
            if not (due or expired_claim):
                continue
            if expired_claim and message.attempts >= settings.PARTNER_MAX_ATTEMPTS:
                # every try was cut off before its answer was recorded (a worker killed each time): ops look at it
                PartnerMessage.objects.filter(pk=message.pk).update(
                    status=MessageStatus.DEAD,
                    claimed_until=None,
                    next_attempt_at=None,
                    last_error=f"Interrupted {message.attempts} times before the partner's answer was recorded.",
                    updated_at=timezone.now(),
                )
                continue
            message.status = MessageStatus.SENDING
            message.attempts += 1
            message.claimed_until = now + dt.timedelta(seconds=settings.PARTNER_SEND_LEASE_SECONDS)
            claimed.append(message)
        if claimed:  # one statement for the batch: the same claim for each, one more try each
            PartnerMessage.objects.filter(pk__in=[message.pk for message in claimed]).update(
                status=MessageStatus.SENDING,
                attempts=F("attempts") + 1,
                claimed_until=claimed[0].claimed_until,
                updated_at=timezone.now(),
            )
        return claimed


def _claim(message_id: int, now: dt.datetime) -> PartnerMessage | None:
    """Claim one message (a batch of one): the message, or None when it is not due or not ours to send."""
    claimed = _claim_batch([message_id], now)
    return claimed[0] if claimed else None


def _deliver(connection: PartnerConnection, claimed: list[PartnerMessage], now: dt.datetime, outcomes: dict) -> None:
    """Send the claimed messages of one connection over one sitting, in order, filling ``outcomes`` as it goes.

    The first failure that may pass ends the batch (the connection is down or broke): the messages after it
    are not tried and get the same failure, so they wait for the backoff. A message the partner refuses as it
    is does not stop the others. An unexpected error leaves the messages without an outcome claimed (tried
    again once the lease runs out) and goes on up; those with one are still recorded (``_send_batch``).
    """
    sent_at = now.isoformat(timespec="seconds")
    try:
        transport = transport_for(connection)
    except PartnerError as failure:
        for message in claimed:
            outcomes[message.pk] = Outcome(error=str(failure), permanent=True)
        return
    stopped: tuple[PartnerMessage, str] | None = None
    try:
        with transport.session() as session:
            for message in claimed:
                envelope = Envelope(message_id=message.key, kind=message.kind, payload=message.payload, sent_at=sent_at)
                try:
                    outcomes[message.pk] = Outcome(detail=session.send(envelope).detail)
                except TemporaryFailure as failure:
                    outcomes[message.pk] = Outcome(error=str(failure))
                    stopped = (message, str(failure))
                    break
                except (PermanentFailure, PartnerError) as failure:
                    outcomes[message.pk] = Outcome(error=str(failure), permanent=True)
    except TemporaryFailure as failure:  # no sitting at all (the connection is not set up)
        stopped = (claimed[0], str(failure))
    if stopped is not None:
        first, error = stopped
        for message in claimed:
            if message.pk not in outcomes:
                outcomes[message.pk] = Outcome(error=f"Not tried: the batch stopped at {first.key}: {error}")


def _record(claimed: list[PartnerMessage], outcomes: dict) -> dict[int, str]:
    """Record the outcomes in one transaction; returns each claimed message's status afterwards.

    A message whose claim ran out and that another worker took over keeps that worker's answer.
    """
    now = timezone.now()
    statuses: dict[int, str] = {}
    connection = claimed[0].connection
    with transaction.atomic(durable=True):
        current = {
            pk: (status, attempts)
            for pk, status, attempts in PartnerMessage.objects.select_for_update()
            .filter(pk__in=[message.pk for message in claimed])
            .values_list("pk", "status", "attempts")
        }
        # messages that end the same way are written by one statement (a batch delivered: usually one in all)
        changes: dict[tuple, list[int]] = {}
        sent, last_error = False, None
        for message in claimed:
            status, attempts = current.get(message.pk, ("", 0))
            if status != MessageStatus.SENDING or attempts != message.attempts:
                statuses[message.pk] = status  # the claim ran out and another worker took it over
                continue
            outcome = outcomes[message.pk]
            change = {"claimed_until": None, "updated_at": now}
            if not outcome.error:
                status = MessageStatus.SENT
                change.update(sent_at=now, last_error="", outcome=outcome.detail, next_attempt_at=None)
                sent = True
            else:
                if outcome.permanent or message.attempts >= settings.PARTNER_MAX_ATTEMPTS:
                    status, next_attempt_at = MessageStatus.DEAD, None
                else:
                    status, next_attempt_at = MessageStatus.FAILED, now + backoff(message.attempts)
                change.update(last_error=outcome.error, next_attempt_at=next_attempt_at)
                last_error = f"{message}: {outcome.error}"
                logger.warning(
                    "3PL %s: %s not delivered (try %s): %s", connection.code, message, message.attempts, outcome.error
                )
            change["status"] = status
            changes.setdefault(tuple(sorted(change.items())), []).append(message.pk)
            statuses[message.pk] = status
        for change, pks in changes.items():
            PartnerMessage.objects.filter(pk__in=pks).update(**dict(change))
        health = {}
        if sent:
            health["last_outbound_at"] = now
        if last_error is not None:
            health.update(last_error=last_error[:2000], last_error_at=now)
        if health:
            PartnerConnection.objects.filter(pk=connection.pk).update(**health)
    return statuses


def _send_batch(message_ids: list[int], now: dt.datetime) -> dict[int, str]:
    """Claim, send over one sitting, record: the messages of one connection. Returns the statuses of those claimed."""
    claimed = _claim_batch(message_ids, now)
    if not claimed:
        return {}
    outcomes: dict[int, Outcome] = {}
    try:
        _deliver(claimed[0].connection, claimed, now, outcomes)
    finally:
        # what was delivered is recorded even when something unexpected stopped the batch
        statuses = _record([m for m in claimed if m.pk in outcomes], outcomes) if outcomes else {}
    return statuses


def send_message(*, message_id: int, now: dt.datetime | None = None, with_due: bool = False) -> str:
    """Send one due outbound message; returns its status afterwards ("" when it was not due or not ours to send).

    With ``with_due`` (the send task), the other messages of its connection that are due go in the same
    batch, after it: a burst of releases shares one sitting with the partner.
    """
    now = now or timezone.now()
    ids = [message_id]
    if with_due:
        connection_id = PartnerMessage.objects.filter(pk=message_id).values_list("connection_id", flat=True).first()
        if connection_id is None:
            return ""
        ids += list(
            PartnerMessage.objects.filter(direction=Direction.OUT, connection_id=connection_id)
            .filter(_due(now))
            .exclude(pk=message_id)
            .order_by("pk")
            .values_list("pk", flat=True)[: settings.PARTNER_SEND_BATCH_SIZE - 1]
        )
    return _send_batch(ids, now).get(message_id, "")


def send_due_messages(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Send every outbound message due now (retries whose wait is over, sends a dead worker left), a batch per
    connection at a time; returns how many got through."""
    now = now or timezone.now()
    due = list(
        PartnerMessage.objects.filter(direction=Direction.OUT, connection__is_active=True)
        .filter(_due(now))
        .order_by("pk")
        .values_list("pk", "connection_id")[:limit]
    )
    by_connection: dict[int, list[int]] = {}
    for pk, connection_id in due:
        by_connection.setdefault(connection_id, []).append(pk)
    sent = 0
    size = settings.PARTNER_SEND_BATCH_SIZE
    for ids in by_connection.values():
        for start in range(0, len(ids), size):
            statuses = _send_batch(ids[start : start + size], now)
            sent += sum(1 for status in statuses.values() if status == MessageStatus.SENT)
    return sent


@transaction.atomic(durable=True)
def resend_message(*, message_id: int, actor) -> PartnerMessage:
    """Queue a dead (or failed) outbound message again, now, with a fresh count of tries; sent after commit.

    The partner sees the same message id: one it already has is a duplicate to it.
    """
    message = PartnerMessage.objects.select_for_update().get(pk=message_id)
    if message.direction != Direction.OUT or message.status not in (MessageStatus.DEAD, MessageStatus.FAILED):
        raise PartnerError(
            f"Message {message}: only a dead or failed outbound message can be resent; it is "
            f"{message.get_status_display().lower()}."
        )
    message.status = MessageStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.outcome = f"Resent by {_name(actor)} at {timezone.now():%Y-%m-%d %H:%M}."
    message.save()
    enqueue(SEND_TASK, message.pk)
    return message


@transaction.atomic(durable=True)
def edit_message_payload(*, message_id: int, payload: dict, reason: str, actor) -> PartnerMessage:
    """A manager fixes the payload of a dead message before it is resent (the old payload goes in its outcome)."""
    reason = (reason or "").strip()
    if not reason:
        raise PartnerError("A reason is required to change a message's payload.")
    if not isinstance(payload, dict):
        raise PartnerError("payload: must be a JSON object.")
    message = PartnerMessage.objects.select_for_update().get(pk=message_id)
    if message.direction != Direction.OUT or message.status != MessageStatus.DEAD:
        raise PartnerError(f"Message {message}: only a dead outbound message's payload can be changed.")
    old = message.payload
    message.payload = payload
    message.outcome = f"Payload changed by {_name(actor)}: {reason}. It was: {old}"
    message.save(update_fields=["payload", "outcome", "updated_at"])
    return message


def _name(actor) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else str(actor or "system")
