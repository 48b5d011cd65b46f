"""Reads for the 3PL console: each connection's health in one query."""

from __future__ import annotations

from django.db.models import Count, Max, Min, Q, QuerySet

from .models import Direction, MessageStatus, PartnerConnection, ReleaseState


def connections_with_health() -> QuerySet[PartnerConnection]:
    """Connections with their queued, dead and exception counts and their oldest unacknowledged release."""
    return PartnerConnection.objects.select_related("warehouse").annotate(
        queued_count=Count(
            "messages",
            filter=Q(
                messages__direction=Direction.OUT,
                messages__status__in=(MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED),
            ),
            distinct=True,
        ),
        dead_count=Count(
            "messages",
            filter=Q(messages__direction=Direction.OUT, messages__status=MessageStatus.DEAD)
            | Q(messages__direction=Direction.IN, messages__status=MessageStatus.EXCEPTION),
            distinct=True,
        ),
        oldest_unacknowledged=Min("releases__released_at", filter=Q(releases__state=ReleaseState.RELEASED)),
        overdue_count=Count("releases", filter=Q(releases__overdue=True, releases__state=ReleaseState.RELEASED)),
        last_release_at=Max("releases__released_at"),
    )
