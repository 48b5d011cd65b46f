"""Sending the outbox exactly once: claim, send, mark, one row at a time over one connection.

1. Claim: in its own committed transaction, due ``pending`` rows become
   ``sending`` with a claim token and a lease (rows locked by another claimer
   are skipped). A second task, a duplicate delivery or the sweep finds them
   no longer pending and does nothing.
2. Send: each claim over one SMTP connection, rows in key order, each with a
   Message-ID that is stable for the row.
3. Mark: each row is marked ``sent`` the moment the server accepts it,
   before the next one is sent.

The lease is short (``NOTIFICATIONS_LEASE_SECONDS``, 20 s) and the lane
renews it for the rows it still holds every quarter of it while it sends (a
heartbeat); a lane that finds its rows taken over stops. So a live worker
keeps its rows however long the batch, and a dead one's are free within the
lease. A worker killed mid-batch leaves its rows ``sending``. When their lease has
expired, ``recover_interrupted`` (the sweep, beat every 30 s) puts back the rows never tried and decides,
per claim, the one being sent when the worker died (the lowest key of the
claim still ``sending``: SMTP cannot tell whether that one was accepted; a
worker has at most one such message per SMTP connection). By default
that one is sent again, with the same Message-ID, so receivers that
de-duplicate show it once (at-least-once for that single message, never a
lost message); with ``NOTIFICATIONS_RESEND_INTERRUPTED = False`` it is
marked failed ("delivery unknown") and ops decide (at-most-once).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import close_old_connections, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone

from oms_core.emails import smtp_address

from .. import mime, rendering
from ..models import Message
from .outbox import dispatch_messages, queue_ops_alert

logger = logging.getLogger(__name__)
Status = Message.Status


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def send_messages(*, message_ids: list[int] | None = None, limit: int | None = None) -> SendReport:
    """Claim these messages (those still pending and due), send them, mark each as the server accepts it.

    A task of fewer than ``CLAIM_CHUNK`` rows (or none) then claims other due
    messages too, oldest first, up to ``limit`` (default: the batch size):
    when orders arrive one per transaction, the first task sends the rows of
    the tasks queued behind it, which then find nothing left to do.

    Safe to run twice at once for the same rows: only one claim wins. SMTP
    failures are retried later with backoff (the sweep picks them up); after
    ``NOTIFICATIONS_MAX_ATTEMPTS`` tries, or on a permanent refusal (5xx),
    the message is marked failed and ops are alerted.

    A big enough batch is sent over ``NOTIFICATIONS_SMTP_CONNECTIONS`` lanes,
    each a thread with its own SMTP and database connection, so that one lane
    renders while another waits for the server. Lanes claim the batch
    ``CLAIM_CHUNK`` rows at a time, in key order, until it is done.
    """
    limit = limit or settings.NOTIFICATIONS_BATCH_SIZE
    work = _Work(message_ids, limit)
    lanes = _lanes(work.size)
    if lanes == 1:
        return _lane(work)
    reports = list(_lane_pool().map(lambda _: _with_own_connection(_lane, work), range(lanes)))
    total = SendReport()
    for report in reports:
        for name in ("claimed", "sent", "retrying", "failed"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.errors += report.errors
    return total


# Batches one woken drain sends before it hands the queue to other tasks (and wakes itself again).
DRAIN_BATCHES = 20


def send_due_messages() -> SendReport:
    """The woken drain: send every due pending row, a batch at a time, until none is left.

    After ``DRAIN_BATCHES`` full batches it stops and wakes another drain,
    so that other tasks on the queue get their turn.
    """
    from oms_core import wakeups

    from .. import tasks
    from .outbox import SENDING

    total = SendReport()
    size = settings.NOTIFICATIONS_BATCH_SIZE
    for _ in range(DRAIN_BATCHES):
        report = send_messages(message_ids=None, limit=size)
        for name in ("claimed", "sent", "retrying", "failed"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.errors += report.errors
        if report.claimed < size:
            return total
    wakeups.wake(tasks.send_due_messages, SENDING)
    return total


# Rows a lane claims at once; a lane is worth its thread from this many rows on.
CLAIM_CHUNK = 25


class _Work:
    """The batch, handed out to lanes a claim at a time: the given ids first, then any due rows up to the limit."""

    def __init__(self, message_ids: list[int] | None, limit: int):
        self.ids = sorted(set(message_ids or []))
        # A full batch is sent as given; a task of a few rows (a trickle of single
        # orders) tops itself up with other due rows, up to the batch size.
        self.remaining = len(self.ids) if len(self.ids) >= CLAIM_CHUNK else max(limit, len(self.ids))
        self.size = self.remaining
        self.stopped = False
        self.lock = threading.Lock()

    def next(self) -> tuple[list[int] | None, int] | None:
        with self.lock:
            if self.stopped or self.remaining <= 0:
                return None
            if self.ids:
                part, self.ids = self.ids[:CLAIM_CHUNK], self.ids[CLAIM_CHUNK:]
                self.remaining -= len(part)
                return part, len(part)
            count = min(CLAIM_CHUNK, self.remaining)
            self.remaining -= count
            return None, count

    def stop(self) -> None:
        with self.lock:
            self.stopped = True


def _lanes(count: int) -> int:
    lanes = settings.NOTIFICATIONS_SMTP_CONNECTIONS
    # SQLite has one writer at a time; inside a transaction, other connections could not see its rows.
    if lanes <= 1 or db_connection.vendor == "sqlite" or db_connection.in_atomic_block:
        return 1
    return max(1, min(lanes, count // CLAIM_CHUNK))


# The lanes' threads live as long as the worker process, and so do their
# database connections (within CONN_MAX_AGE): a task does not reconnect.
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _lane_pool() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked pool process starts its own threads
            _pool = ThreadPoolExecutor(
                max_workers=settings.NOTIFICATIONS_SMTP_CONNECTIONS, thread_name_prefix="notifications-lane"
            )
            _pool_pid = os.getpid()
        return _pool


def _with_own_connection(function, *args):
    # What Celery's Django fixup does around a task, for this thread's connection.
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


def _lane(work: _Work) -> SendReport:
    """Claim and send until the batch is done, over one SMTP connection."""
    report = SendReport()
    mail, healthy = None, True
    try:
        while (job := work.next()) is not None:
            message_ids, limit = job
            token, rows = claim_messages(message_ids=message_ids, limit=limit)
            if not rows:
                if message_ids is None:
                    work.stop()  # nothing more is due
                continue
            report.claimed += len(rows)
            if mail is None:
                mail = _checkout()
            healthy = _deliver(rows, token, report, mail)
            if not healthy:
                # SMTP is unreachable: leave the rest of the batch pending for the sweep.
                work.stop()
    finally:
        if mail is not None:
            _checkin(mail, healthy=healthy)
    return report


def claim_messages(*, message_ids: list[int] | None, limit: int) -> tuple[uuid.UUID, list[Message]]:
    """Mark due pending rows ``sending`` under a new claim token and lease; commit; return them in key order."""
    now = timezone.now()
    token = uuid.uuid4()
    lease = now + dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS)
    with transaction.atomic():
        due = Message.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        if message_ids is not None:
            due = due.filter(pk__in=message_ids).order_by("pk")
        else:  # the oldest due first, straight from the partial index (no sort of every pending row)
            due = due.order_by("next_attempt_at", "pk")
        rows = sorted(due.select_for_update(skip_locked=True)[:limit], key=lambda row: row.pk)
        if not rows:
            return token, []
        claimed = Message.objects.filter(pk__in=[row.pk for row in rows], status=Status.PENDING).update(
            status=Status.SENDING, claim_token=token, lease_expires_at=lease
        )
        if claimed != len(rows):  # pragma: no cover - only without row locks, and SQLite serialises writers
            rows = list(Message.objects.filter(claim_token=token, status=Status.SENDING).order_by("pk"))
    for row in rows:
        row.status, row.claim_token, row.lease_expires_at = Status.SENDING, token, lease
    return token, rows


# Errors that concern one message (the server said no to it); others concern the connection.
PER_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def _deliver(rows: list[Message], token: uuid.UUID, report: SendReport, mail) -> bool:
    """Send claimed rows in key order over ``mail``, marking each; False when the connection failed."""
    overrides = rendering.active_overrides({row.event for row in rows})
    made_now = rendering.send_time_context(rows)  # e.g. the status page's link: not kept on the rows
    healthy = True
    # The heartbeat: the lease of the rows still to send is renewed every quarter of it, so a slow server
    # never lets the sweep take live rows; a dead worker stops renewing, and its rows are free a lease later.
    every = settings.NOTIFICATIONS_LEASE_SECONDS / 4
    renew_at = time.monotonic() + every
    # An unexpected error leaves the rest claimed: the sweep recovers them when the lease expires.
    for index, message in enumerate(rows):
        if time.monotonic() >= renew_at:
            if not _renew_lease(rows[index:], token):
                logger.warning("Messages %s were taken over after their lease ran out; not sent here", rows[index:])
                break
            renew_at = time.monotonic() + every
        try:
            rendered = rendering.render(
                message.event, message.context, override=overrides.get(message.event), extra=made_now.get(message.pk)
            )
        except Exception as error:  # a broken template: recorded on the row and alerted, never retried
            logger.exception("Message %s (%s) could not be rendered", message.pk, message.event)
            _after_failure(message, token, f"Template error: {error}", permanent=True, report=report)
            continue
        try:
            if isinstance(mail, SmtpBackend):
                mail.open()  # no-op while the connection is open
                recipient, options = _envelope_recipient(mail, message.recipient)
                mail.connection.sendmail(
                    mime.envelope_sender(message), [recipient], mime.build_mime(message, rendered), options
                )
            else:  # the embedded shape's files, the tests' memory outbox
                mail.send_messages([mime.build_email(message, rendered, mail)])
        except (mime.HeaderInjection, AddressNotSendable) as error:
            _after_failure(message, token, str(error), permanent=True, report=report)
        except PER_MESSAGE_ERRORS as error:
            _after_failure(message, token, _describe(error), permanent=_is_permanent(error), report=report)
        except (smtplib.SMTPException, OSError) as error:
            # The connection is gone (refused, dropped, timed out): this and the rest wait for a retry.
            healthy = False
            for waiting in rows[index:]:
                _after_failure(waiting, token, _describe(error), permanent=False, report=report)
            break
        else:
            _mark_sent(message, token, rendered.subject)
            report.sent += 1
    return healthy


class AddressNotSendable(ValueError):
    """The recipient's address cannot go through this mail server: refused, never sent in a mangled form."""


def _envelope_recipient(mail: SmtpBackend, address: str) -> tuple[str, list[str]]:
    """RCPT TO's address (an IDN domain in its ASCII form) and the MAIL options it needs.

    A UTF-8 local part (RFC 6531) needs SMTPUTF8: without it on the server the
    message cannot be delivered to that mailbox, and AddressNotSendable says so.
    """
    try:
        recipient, needs_smtputf8 = smtp_address(address)
    except UnicodeError:
        raise AddressNotSendable(f"{address}: its domain cannot be written in ASCII (IDNA).") from None
    if not needs_smtputf8:
        return recipient, []
    mail.connection.ehlo_or_helo_if_needed()
    if not mail.connection.has_extn("smtputf8"):
        raise AddressNotSendable(
            f"{address} has a non-ASCII local part (RFC 6531): it can only be sent through a mail server that "
            f"offers SMTPUTF8, and {mail.host}:{mail.port} does not."
        )
    return recipient, ["SMTPUTF8"]


# Open SMTP connections kept between tasks by this process, so that a worker
# does not reconnect (TCP, EHLO, STARTTLS, AUTH) for every batch.
_idle: list[tuple[float, tuple, SmtpBackend]] = []
_idle_lock = threading.Lock()
MAX_IDLE_CONNECTIONS = 16


def _checkout():
    """An open SMTP connection from the pool (checked with NOOP), or a new connection of the mail backend."""
    mail = get_connection(fail_silently=False)
    keepalive = settings.NOTIFICATIONS_SMTP_KEEPALIVE_SECONDS
    if not isinstance(mail, SmtpBackend) or keepalive <= 0:
        return mail
    key, now, found, stale = _pool_key(mail), time.monotonic(), None, []
    with _idle_lock:
        while _idle and found is None:
            since, pooled_key, pooled = _idle.pop()
            if pooled_key == key and now - since < keepalive:
                found = pooled
            else:
                stale.append(pooled)
    for pooled in stale:
        _close_quietly(pooled)
    if found is not None:
        try:
            if found.connection.noop()[0] == 250:
                return found
        except (smtplib.SMTPException, OSError):
            pass
        _close_quietly(found)
    return mail


def _checkin(mail, *, healthy: bool) -> None:
    keep = settings.NOTIFICATIONS_SMTP_KEEPALIVE_SECONDS > 0
    if keep and healthy and isinstance(mail, SmtpBackend) and mail.connection is not None:
        with _idle_lock:
            if len(_idle) < MAX_IDLE_CONNECTIONS:
                _idle.append((time.monotonic(), _pool_key(mail), mail))
                return
    _close_quietly(mail)


def _pool_key(mail: SmtpBackend) -> tuple:
    return (mail.host, mail.port, mail.username, mail.use_tls, mail.use_ssl)


def _mark_sent(message: Message, token: uuid.UUID, subject: str) -> None:
    now = timezone.now()
    if db_connection.vendor == "postgresql":
        # One round trip, committed without waiting for the WAL flush: the row is
        # visible to every other worker at once; only a crash of PostgreSQL itself
        # could forget it (then the message is sent again, same Message-ID).
        with db_connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Message._meta.db_table} SET status = %s, sent_at = %s, subject = %s, "
                "attempts = attempts + 1, claim_token = NULL, lease_expires_at = NULL, last_error = '' "
                "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "
                "WHERE id = %s AND claim_token = %s",
                [Status.SENT, now, subject[:255], message.pk, token],
            )
    else:
        Message.objects.filter(pk=message.pk, claim_token=token).update(
            status=Status.SENT,
            sent_at=now,
            subject=subject[:255],
            attempts=F("attempts") + 1,
            claim_token=None,
            lease_expires_at=None,
            last_error="",
        )
    message.status = Status.SENT


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed try: doubling from the base, capped."""
    seconds = settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS))


def _after_failure(message: Message, token: uuid.UUID, error: str, *, permanent: bool, report: SendReport) -> None:
    """Schedule a retry with backoff, or mark the message failed and alert ops (same transaction)."""
    now = timezone.now()
    attempts = message.attempts + 1
    report.errors.append(error)
    with transaction.atomic():
        if permanent or attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
            updated = Message.objects.filter(pk=message.pk, claim_token=token).update(
                status=Status.FAILED,
                attempts=attempts,
                failed_at=now,
                last_error=error[:2000],
                claim_token=None,
                lease_expires_at=None,
            )
            if updated:
                report.failed += 1
                alert_failed(message, error=error, attempts=attempts)
        else:
            updated = Message.objects.filter(pk=message.pk, claim_token=token).update(
                status=Status.PENDING,
                attempts=attempts,
                next_attempt_at=now + backoff(attempts),
                last_error=error[:2000],
                claim_token=None,
                lease_expires_at=None,
            )
            report.retrying += updated


def alert_failed(message: Message, *, error: str, attempts: int) -> list[int]:
    """Queue the 'message failed' alert to ops (not for a failed alert: no loops)."""
    if message.event == "message_failed":
        logger.error("Ops alert %s to %s failed for good: %s", message.pk, message.recipient, error)
        return []
    from django.urls import reverse

    url = reverse("admin:notifications_message_change", args=[message.pk])
    context = {
        "failed": {
            "id": message.pk,
            "event": message.event,
            "event_label": message.event_label,
            "recipient": message.recipient,
            "attempts": attempts,
            "error": error,
            "queued_at": message.created_at,
            "admin_url": f"{settings.OMS_BASE_URL.rstrip('/')}{url}",
        },
        "order": message.context.get("order", {}),
    }
    return queue_ops_alert(
        event="message_failed",
        context=context,
        order_id=message.order_id,
        occurrence=f"{message.pk}.{message.generation}",
    )


def _renew_lease(rows: list[Message], token: uuid.UUID) -> bool:
    """Hold these claimed rows for another lease; False when they are no longer this claim's (taken over)."""
    lease = timezone.now() + dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS)
    renewed = Message.objects.filter(pk__in=[row.pk for row in rows], claim_token=token, status=Status.SENDING).update(
        lease_expires_at=lease
    )
    return renewed == len(rows)


def recover_interrupted(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Deal with rows whose worker died while sending them (lease expired).

    Per claim: rows after the first were never tried and go back to pending;
    the first may have reached the server, and is sent again with the same
    Message-ID (``NOTIFICATIONS_RESEND_INTERRUPTED``, the default) or marked
    failed for ops to decide.
    """
    return _recover(now or timezone.now())[0]


def _recover(now: dt.datetime) -> tuple[dict[str, int], list[int]]:
    """``recover_interrupted``'s work; also returns the rows it made pending, to be sent at once."""
    due_at = min(now, timezone.now())  # due at once (``now`` may be a test's future)
    outcome = {"requeued": 0, "resent": 0, "failed": 0}
    pending: list[int] = []
    with transaction.atomic():
        stale = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SENDING, lease_expires_at__lt=now)
            .order_by("claim_token", "pk")
        )
        seen_tokens: set[uuid.UUID] = set()
        untried: list[int] = []
        for message in stale:
            if message.claim_token in seen_tokens:
                untried.append(message.pk)
                continue
            seen_tokens.add(message.claim_token)
            note = "The worker stopped while sending this message; the server may or may not have accepted it."
            attempts = message.attempts + 1
            if settings.NOTIFICATIONS_RESEND_INTERRUPTED and attempts < settings.NOTIFICATIONS_MAX_ATTEMPTS:
                Message.objects.filter(pk=message.pk).update(
                    status=Status.PENDING,
                    attempts=attempts,
                    next_attempt_at=due_at,
                    claim_token=None,
                    lease_expires_at=None,
                    last_error=f"{note} Sent again with the same Message-ID.",
                )
                outcome["resent"] += 1
                pending.append(message.pk)
            else:
                error = f"Delivery unknown. {note}"
                Message.objects.filter(pk=message.pk).update(
                    status=Status.FAILED,
                    attempts=attempts,
                    failed_at=now,
                    claim_token=None,
                    lease_expires_at=None,
                    last_error=error,
                )
                alert_failed(message, error=error, attempts=attempts)
                outcome["failed"] += 1
        if untried:
            Message.objects.filter(pk__in=untried).update(
                status=Status.PENDING, claim_token=None, lease_expires_at=None, next_attempt_at=due_at
            )
            outcome["requeued"] = len(untried)
    return outcome, pending + untried


def due_message_ids(*, now: dt.datetime | None = None, limit: int = 10_000) -> list[int]:
    """Pending rows that should have been sent by now.

    A fresh row gets ``NOTIFICATIONS_SWEEP_GRACE_SECONDS`` for its own task
    to run first; a retry is due at its backoff time.
    """
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.NOTIFICATIONS_SWEEP_GRACE_SECONDS)
    return list(
        Message.objects.filter(status=Status.PENDING)
        .filter(Q(attempts=0, next_attempt_at__lte=now - grace) | Q(attempts__gt=0, next_attempt_at__lte=now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def sweep_outbox(*, now: dt.datetime | None = None, limit: int = 10_000) -> dict[str, int]:
    """Periodic: recover interrupted sends, then hand them and due rows (lost tasks, retries) to send tasks.

    Recovered rows are sent at once: their task ran, and died (no grace to wait for).
    """
    outcome, recovered = _recover(now or timezone.now())
    due = sorted({*recovered, *due_message_ids(now=now, limit=limit)})
    if due:
        transaction.on_commit(partial(dispatch_messages, message_ids=due))
    outcome["dispatched"] = len(due)
    return outcome


def _is_permanent(error: smtplib.SMTPException) -> bool:
    """A 5xx reply is the server's final no for this message; 4xx means try again later."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    code = getattr(error, "smtp_code", 0) or 0
    return code >= 500


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        details = "; ".join(
            f"{rcpt}: {code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for rcpt, (code, reply) in error.recipients.items()
        )
        return f"Recipient refused: {details}"
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"SMTP {error.smtp_code}: {reply}"
    return f"{type(error).__name__}: {error}"


def _close_quietly(mail) -> None:
    try:
        mail.close()
    except (smtplib.SMTPException, OSError):
        logger.warning("Closing the SMTP connection failed", exc_info=True)
