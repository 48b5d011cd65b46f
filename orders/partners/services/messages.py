"""Sending outbound messages: claim, commit, call the partner with no lock held, record the answer.

A message is tried until the partner has it. A failure that may pass (peer down, timeout, 5xx) is tried
again after PARTNER_RETRY_BACKOFF_SECONDS × 2^(attempts-1); after PARTNER_MAX_ATTEMPTS tries, or at once
when the partner refuses the message as it is (4xx), it is dead: the console lists it, a manager may fix
its payload, and an associate resends it. The partner sees our key as the message id, so a message it
already got (the answer was lost) is a duplicate to it, never a second order.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..exceptions import PartnerError
from ..models import DUE_STATUSES, Direction, MessageStatus, PartnerConnection, PartnerMessage
from ..outbox import SEND_TASK, enqueue
from ..transports import Envelope, PermanentFailure, TemporaryFailure, transport_for

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed try."""
    return dt.timedelta(seconds=settings.PARTNER_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))


def _claim(message_id: int, now: dt.datetime) -> PartnerMessage | None:
    with transaction.atomic(durable=True):
        message = (
            PartnerMessage.objects.select_for_update(skip_locked=True)
            .select_related("connection")
            .filter(pk=message_id, direction=Direction.OUT)
            .first()
        )
        if message is None or not message.connection.is_active:
            return None
        expired_claim = message.status == MessageStatus.SENDING and (
            message.claimed_until is None or message.claimed_until <= now
        )
        due = message.status in DUE_STATUSES and (message.next_attempt_at is None or message.next_attempt_at <= now)
        if not (due or expired_claim):
            return None
        if expired_claim and message.attempts >= settings.PARTNER_MAX_ATTEMPTS:
            # every try was cut off before its answer was recorded (a worker killed each time): ops look at it
            message.status = MessageStatus.DEAD
            message.claimed_until = message.next_attempt_at = None
            message.last_error = f"Interrupted {message.attempts} times before the partner's answer was recorded."
            message.save(update_fields=["status", "claimed_until", "next_attempt_at", "last_error", "updated_at"])
            return None
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.claimed_until = now + dt.timedelta(seconds=settings.PARTNER_SEND_LEASE_SECONDS)
        message.save(update_fields=["status", "attempts", "claimed_until", "updated_at"])
        return message


def send_message(*, message_id: int, now: dt.datetime | None = None) -> str:
    """Send one due outbound message; returns its status afterwards ("" when it was not due or not ours to send).

    Three steps: claim it (a short transaction), call the partner (no lock held), record the answer (a new
    short transaction that re-checks the claim).
    """
    now = now or timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return ""
    envelope = Envelope(
        message_id=message.key, kind=message.kind, payload=message.payload, sent_at=now.isoformat(timespec="seconds")
    )
    error, permanent, detail = "", False, ""
    try:
        delivered = transport_for(message.connection).send(envelope)
        detail = delivered.detail
    except TemporaryFailure as failure:
        error = str(failure)
    except (PermanentFailure, PartnerError) as failure:
        error, permanent = str(failure), True
    return _record(message, error=error, permanent=permanent, detail=detail)


def _record(claimed: PartnerMessage, *, error: str, permanent: bool, detail: str) -> str:
    now = timezone.now()
    with transaction.atomic(durable=True):
        message = PartnerMessage.objects.select_for_update().get(pk=claimed.pk)
        if message.status != MessageStatus.SENDING or message.attempts != claimed.attempts:
            return message.status  # the claim ran out and another worker took it over: its answer counts
        message.claimed_until = None
        connection = PartnerConnection.objects.select_for_update().get(pk=message.connection_id)
        if not error:
            message.status = MessageStatus.SENT
            message.sent_at = now
            message.last_error = ""
            message.outcome = detail
            message.next_attempt_at = None
            connection.last_outbound_at = now
            connection.save(update_fields=["last_outbound_at"])
        else:
            message.last_error = error
            if permanent or message.attempts >= settings.PARTNER_MAX_ATTEMPTS:
                message.status = MessageStatus.DEAD
                message.next_attempt_at = None
            else:
                message.status = MessageStatus.FAILED
                message.next_attempt_at = now + backoff(message.attempts)
            connection.last_error = f"{message}: {error}"
            connection.last_error_at = now
            connection.save(update_fields=["last_error", "last_error_at"])
            logger.warning("3PL %s: %s not delivered (try %s): %s", connection.code, message, message.attempts, error)
        message.save()
        return message.status


def send_due_messages(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Send every outbound message due now (retries whose wait is over, sends a dead worker left); returns how many
    got through."""
    now = now or timezone.now()
    due = list(
        PartnerMessage.objects.filter(direction=Direction.OUT, connection__is_active=True)
        .filter(
            Q(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            | Q(status=MessageStatus.SENDING, claimed_until__lte=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if send_message(message_id=pk, now=now) == MessageStatus.SENT)


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
