"""Operators' resends of failed (or sent) messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import Message
from .outbox import dispatch_messages

Status = Message.Status
RESENDABLE = (Status.FAILED, Status.SENT)


@dataclass
class ResendReport:
    resent: list[Message] = field(default_factory=list)
    refused: list[tuple[Message, str]] = field(default_factory=list)


def actor_name(actor) -> str:
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return actor if isinstance(actor, str) and actor else "system"


@transaction.atomic
def resend_messages(*, message_ids: list[int], actor) -> ResendReport:
    """Queue failed or sent messages again, with attempts reset; sent after commit.

    Each resend gets a new Message-ID (the resend generation), so a copy the
    customer asked for is not de-duplicated away. Pending and sending
    messages are refused: they are already on their way.
    """
    report = ResendReport()
    rows = list(Message.objects.select_for_update().filter(pk__in=message_ids).order_by("pk"))
    now = timezone.now()
    for message in rows:
        if message.status not in RESENDABLE:
            report.refused.append((message, f"{message} is {message.get_status_display().lower()}, not resent."))
            continue
        report.resent.append(message)
    ids = [message.pk for message in report.resent]
    if ids:
        Message.objects.filter(pk__in=ids).update(
            status=Status.PENDING,
            attempts=0,
            generation=F("generation") + 1,
            next_attempt_at=now,
            failed_at=None,
            last_error="",
            resent_at=now,
            resent_by=actor_name(actor)[:150],
        )
        transaction.on_commit(partial(dispatch_messages, message_ids=ids))
    return report
