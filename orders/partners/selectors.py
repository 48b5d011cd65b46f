"""Reads for the 3PL console: each connection's health, one subquery per figure (no join fans out)."""

from __future__ import annotations

from django.db.models import Count, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from .models import Direction, MessageStatus, PartnerConnection, PartnerMessage, PartnerRelease, ReleaseState

WAITING = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED)


def _count(queryset) -> Coalesce:
    counted = queryset.order_by().values("connection_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def connections_with_health() -> QuerySet[PartnerConnection]:
    """Connections with their queued, dead and exception counts and their oldest unacknowledged release."""
    mine = {"connection_id": OuterRef("pk")}
    unacknowledged = PartnerRelease.objects.filter(state=ReleaseState.RELEASED, **mine)
    return PartnerConnection.objects.select_related("warehouse").annotate(
        queued_count=_count(PartnerMessage.objects.filter(direction=Direction.OUT, status__in=WAITING, **mine)),
        dead_count=_count(
            PartnerMessage.objects.filter(
                Q(direction=Direction.OUT, status=MessageStatus.DEAD)
                | Q(direction=Direction.IN, status=MessageStatus.EXCEPTION),
                **mine,
            )
        ),
        oldest_unacknowledged=Subquery(
            unacknowledged.order_by().values("connection_id").annotate(first=Min("released_at")).values("first")
        ),
        overdue_count=_count(unacknowledged.filter(overdue=True)),
    )
