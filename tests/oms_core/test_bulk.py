"""Bulk writes of a routing batch: rows written as Django's own bulk_create and bulk_update write them."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from inventory.db import bulk_set
from notifications.models import Message
from oms_core.bulk import bulk_insert
from orders.models import OrderEvent, OrderLine
from tests.factories import OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db

EVENT_COLUMNS = ["order_id", "kind", "message", "actor_id", "actor_name", "data", "created_at"]


def events_for(order, when):
    return [
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.STATUS_CHANGED,
            message='Routed to "EWR" \\ nearest',
            actor_name="system: routing",
            data={"to": "allocated", "landed_cost": Decimal("4.10"), "aimed_at": dt.date(2026, 12, 9), "n": [1, None]},
            created_at=when,
        ),
        OrderEvent(order=order, kind="note", message=gettext_lazy("Note"), actor_name="ops", data={}, created_at=when),
    ]


def test_inserted_events_read_back_as_bulk_create_writes_them():
    # given the same timeline entries twice: JSON with decimals and dates, a choices member, a lazy string
    order = OrderFactory()
    when = timezone.now()
    theirs, ours = events_for(order, when), events_for(order, when)

    # when Django's bulk_create writes one set and bulk_insert the other
    OrderEvent.objects.bulk_create(theirs)
    bulk_insert(OrderEvent, ours)

    # then each of ours has the key of its own row, and the rows hold what Django's hold
    assert all(event.pk for event in ours) and len({event.pk for event in [*theirs, *ours]}) == 4
    stored = {row["id"]: row for row in OrderEvent.objects.values("id", *EVENT_COLUMNS)}
    for mine, django_s in zip(ours, theirs, strict=True):
        assert {k: v for k, v in stored[mine.pk].items() if k != "id"} == {
            k: v for k, v in stored[django_s.pk].items() if k != "id"
        }
    assert stored[ours[0].pk]["data"]["landed_cost"] == "4.10"
    assert not ours[0]._state.adding


def test_inserted_outbox_rows_keep_their_defaults_and_unique_keys():
    # given outbox rows as the outbox builds them (a UUID, a status member, timestamps), one with a naive datetime
    order = OrderFactory()
    now = timezone.now()
    naive = dt.datetime(2026, 12, 6, 9, 30)
    rows = [
        Message(
            key=f"{order.pk}:order_allocated:{n}:ana@example.com",
            event="order_allocated",
            audience=Message.Audience.CUSTOMER,
            order=order,
            recipient="ana@example.com",
            context={"number": order.number, "total": Decimal("10.00")},
            created_at=now,
            next_attempt_at=now if n else naive,
        )
        for n in range(3)
    ]

    # when they are inserted
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        bulk_insert(Message, rows)

    # then they read back with their own values, and the database refuses a repeat of a key
    stored = {m.pk: m for m in Message.objects.filter(order=order)}
    assert sorted(stored) == sorted(row.pk for row in rows)
    for row in rows:
        back = stored[row.pk]
        assert (back.key, back.uid, back.status, back.context) == (
            row.key,
            row.uid,
            "pending",
            {"number": order.number, "total": "10.00"},
        )
        assert isinstance(back.uid, uuid.UUID)
    assert stored[rows[0].pk].next_attempt_at == timezone.make_aware(naive)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(
            Message,
            [
                Message(
                    key=rows[0].key, event="order_allocated", audience="customer", recipient="x@example.com", context={}
                )
            ],
        )


def test_bulk_set_writes_the_fields_named_and_nothing_else():
    # given an order's lines
    order = OrderFactory()
    lines = [
        OrderLine.objects.create(
            order=order, product=product, sku=product.sku, name=product.name, quantity=3, unit_price=Decimal("5.00")
        )
        for product in (ProductFactory(), ProductFactory())
    ]

    # when their allocated units change in memory, with their name, and only the units are written
    for n, line in enumerate(lines):
        line.quantity_allocated = n + 1
        line.name = "changed in memory only"
    bulk_set(OrderLine, lines, ["quantity_allocated"])

    # then the rows hold the new units and the old names
    stored = {line.pk: line for line in OrderLine.objects.filter(order=order)}
    assert [stored[line.pk].quantity_allocated for line in lines] == [1, 2]
    assert all(stored[line.pk].name != "changed in memory only" for line in lines)
