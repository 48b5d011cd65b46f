"""Reads of the outbox for the console, the dashboard and the template preview."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from .models import Message


def message_list() -> QuerySet[Message]:
    """Messages with their order's number joined in (the list shows it); the snapshot is left out."""
    return Message.objects.select_related("order").defer("context")


def failed_messages() -> QuerySet[Message]:
    """Messages that failed for good, newest first (served by a partial index)."""
    return Message.objects.filter(status=Message.Status.FAILED).order_by("-failed_at", "-id")


def preview_context(*, event: str, order_ref: str = "") -> tuple[dict | None, str]:
    """A real snapshot to preview ``event`` with, and where it came from.

    With ``order_ref`` (an order number or id): that order's latest message
    for the event, else the snapshot the order workflow builds for it (the
    ``NOTIFICATIONS_PREVIEW_CONTEXT`` hook). Without: the latest message of
    the event, else the hook's pick (a recent order).
    """
    order_ref = (order_ref or "").strip()
    messages = Message.objects.filter(event=event).order_by("-created_at", "-id")
    if order_ref:
        matching = messages.filter(order__number__iexact=order_ref)
        if order_ref.isdigit():
            matching = matching | messages.filter(order_id=int(order_ref))
        message = matching.first()
    else:
        message = messages.first()
    if message is not None:
        return (
            message.context,
            f"the snapshot queued for {message.order or 'ops'} on {message.created_at:%Y-%m-%d %H:%M}",
        )
    hook = getattr(settings, "NOTIFICATIONS_PREVIEW_CONTEXT", "")
    if hook:
        context = import_string(hook)(event=event, order_ref=order_ref or None)
        if context is not None:
            number = context.get("order", {}).get("number") or order_ref
            return context, f"order {number} as it is now" if number else "sample data"
    return None, f"no order {order_ref!r}" if order_ref else "no message of this kind yet"
