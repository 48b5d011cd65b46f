"""Every write to the outbox: queueing, sending, the sweep, resends.

Apps above call these with a snapshot of what the message shows; this app
never imports them. Split by domain (`outbox`, `sending`, `resending`);
import the functions from here.
"""

from .outbox import (
    Outgoing,
    build_messages,
    dispatch_messages,
    message_key,
    ops_recipients,
    queue_messages,
    queue_ops_alert,
)
from .resending import ResendReport, resend_messages
from .sending import (
    SendReport,
    backoff,
    claim_messages,
    due_message_ids,
    recover_interrupted,
    send_due_messages,
    send_messages,
    sweep_outbox,
)

__all__ = [
    "Outgoing",
    "ResendReport",
    "SendReport",
    "backoff",
    "build_messages",
    "claim_messages",
    "dispatch_messages",
    "due_message_ids",
    "message_key",
    "ops_recipients",
    "queue_messages",
    "queue_ops_alert",
    "recover_interrupted",
    "resend_messages",
    "send_due_messages",
    "send_messages",
    "sweep_outbox",
]
