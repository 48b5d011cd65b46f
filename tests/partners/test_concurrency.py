"""Two workers given the same inbound ship confirmation at the same moment (PostgreSQL, real parallel
transactions): it is applied once: one shipment movement, one "shipped" email, one release shipped."""

import pytest
from django.utils import timezone

from inventory.models import StockMovement
from notifications.models import Message
from orders.partners import services
from orders.partners.models import Direction, MessageKind, MessageStatus, PartnerMessage, PartnerRelease, ReleaseState
from tests.notifications.test_concurrency import run_in_parallel

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_workers_apply_the_same_confirmation_once(connection, stock, products, routed, sites):
    a = products[0]
    stock(sites["DAL"], a, 5)
    order = routed([(a, 2)])
    release = PartnerRelease.objects.get(shipment__order=order)
    message = PartnerMessage.objects.create(
        connection=connection,
        direction=Direction.IN,
        kind=MessageKind.SHIP_CONFIRMATION,
        key="conf-1",
        payload={
            "release": release.shipment.number,
            "shipped_at": timezone.now().isoformat(),
            "packages": [{"tracking_number": "TRK-ONCE", "lines": [{"sku": "ACME-A", "quantity": 2}]}],
        },
    )

    def work():
        return services.process_message(message_id=message.pk)

    first, second = run_in_parallel(work, work)

    assert sorted([first, second]) == [MessageStatus.APPLIED, MessageStatus.APPLIED]  # the second found it done
    message.refresh_from_db()
    assert message.status == MessageStatus.APPLIED
    assert StockMovement.objects.filter(kind="shipment", warehouse=sites["DAL"]).count() == 1
    assert Message.objects.filter(order=order, event="order_shipped").count() == 1
    release.refresh_from_db()
    assert release.state == ReleaseState.SHIPPED


def test_the_same_message_id_arriving_twice_at_once_is_recorded_once(connection):
    def work():
        return services.receive_message(
            connection=connection, message_id="snap-1", kind=MessageKind.STOCK_SNAPSHOT, payload={"oops": True}
        )[1]

    created = run_in_parallel(work, work)

    assert sorted(created) == [False, True]
    assert PartnerMessage.objects.filter(direction=Direction.IN, key="snap-1").count() == 1


def test_the_same_receipt_under_two_message_ids_at_once_is_received_once(connection, products, sites):
    payload = {"receipt": "ASN-7", "lines": [{"sku": "ACME-A", "quantity": 4}]}
    messages = [
        PartnerMessage.objects.create(
            connection=connection, direction=Direction.IN, kind=MessageKind.RECEIPT, key=key, payload=payload
        )
        for key in ("asn-7", "asn-7-resent")
    ]

    statuses = run_in_parallel(*(lambda pk=m.pk: services.process_message(message_id=pk) for m in messages))

    assert statuses == [MessageStatus.APPLIED, MessageStatus.APPLIED]
    outcomes = sorted(PartnerMessage.objects.filter(direction=Direction.IN).values_list("outcome", flat=True))
    assert sum("Duplicate of receipt ASN-7" in outcome for outcome in outcomes) == 1
    assert StockMovement.objects.filter(warehouse=sites["DAL"], product=products[0]).count() == 1
    assert sites["DAL"].stock_levels.get(product=products[0]).on_hand == 4
