"""Queueing messages to 3PLs, and the hooks the order workflow calls inside its own transactions.

Nothing here imports the order services: the workflow (routing, labels, cancelling) calls these, and they
start the partners' tasks by name after commit. Every outbound message is a ``PartnerMessage`` row written
in the caller's transaction, keyed by our idempotency key: queueing the same key twice queues it once.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from shipping.models import Shipment

from .exceptions import PartnerError
from .models import (
    OPEN_RELEASE_STATES,
    Direction,
    MessageKind,
    MessageStatus,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
    ReleaseState,
)

SEND_TASK = "orders.partners.tasks.send_partner_message"
PROCESS_TASK = "orders.partners.tasks.process_partner_message"
RELEASE_TASK = "orders.partners.tasks.release_orders"


def enqueue(path: str, *args) -> None:
    """Start the task at ``path`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: import_string(path).delay(*args))


def partner_warehouse_ids() -> set[int]:
    """The warehouses a 3PL runs (active connections or not: our staff never label for them)."""
    return set(PartnerConnection.objects.values_list("warehouse_id", flat=True))


def connection_of_warehouse(warehouse_id: int) -> PartnerConnection | None:
    return PartnerConnection.objects.filter(warehouse_id=warehouse_id).first()


def refuse_our_label(shipment: Shipment) -> str | None:
    """Why our staff may not buy or print this shipment's label (a 3PL ships it), or None."""
    connection = connection_of_warehouse(shipment.warehouse_id)
    if connection is None:
        return None
    return (
        f"Shipment {shipment} ships from {connection.warehouse.code}, which {connection.name} runs: "
        "the 3PL buys its label and ships it, and its ship confirmation marks it shipped here."
    )


def refuse_changing_released(shipment: Shipment) -> str | None:
    """Why a shipment may not be split, merged or moved here (a 3PL holds its release), or None."""
    release = (
        PartnerRelease.objects.filter(
            shipment_id=shipment.pk, state__in=[*OPEN_RELEASE_STATES, ReleaseState.CANCEL_REQUESTED]
        )
        .select_related("connection")
        .first()
    )
    if release is None:
        return None
    return (
        f"Shipment {shipment} was released to {release.connection.name}, which may be picking it: ask the 3PL to "
        "cancel the release first (Partner releases), then change the shipment."
    )


def queue_message(
    connection: PartnerConnection, *, kind: str, key: str, payload: dict, release: PartnerRelease | None = None
) -> tuple[PartnerMessage, bool]:
    """Queue an outbound message under our idempotency key, sent after commit; the same key again queues nothing.

    Returns the message and whether it is new.
    """
    existing = PartnerMessage.objects.filter(connection=connection, direction=Direction.OUT, key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = PartnerMessage.objects.create(
                connection=connection,
                direction=Direction.OUT,
                kind=kind,
                key=key,
                payload=payload,
                release=release,
                status=MessageStatus.QUEUED,
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:  # queued by another transaction meanwhile
        return PartnerMessage.objects.get(connection=connection, direction=Direction.OUT, key=key), False
    if connection.is_active:
        enqueue(SEND_TASK, message.pk)
    return message, True


def release_payload(release: PartnerRelease, shipment: Shipment) -> dict:
    """What the 3PL gets for a shipment: ship-to, service level, lines in its item codes, our keys."""
    connection = release.connection
    service = shipment.service
    service_key = f"{service.vendor.code}/{service.code}" if service is not None else ""
    return {
        "release": shipment.number,
        "order": shipment.order_number,
        "version": release.version,
        "ship_to": shipment.ship_to,
        "service_level": connection.service_levels.get(service_key, service.code if service else ""),
        "carrier": service.vendor.code if service is not None else "",
        "promised_date": shipment.promised_date.isoformat() if shipment.promised_date else None,
        "lines": [
            {
                "line": line.pk,
                "sku": connection.partner_sku(line.sku),
                "name": line.name,
                "quantity": line.quantity,
            }
            for line in shipment.lines.order_by("pk")
        ],
    }


def release_routed_orders(order_ids: list[int]) -> None:
    """After routing commits: release what it reserved at 3PL warehouses (a task per batch, none without 3PLs).

    Call inside the routing transaction: it adds no query to it (the routing's locks last to COMMIT); after
    commit, one query asks whether any 3PL is connected at all.
    """
    if not order_ids:
        return
    batch = sorted(set(order_ids))

    def release() -> None:
        if PartnerConnection.objects.filter(is_active=True).exists():
            import_string(RELEASE_TASK).delay(batch)

    transaction.on_commit(release)


HOLD_CANCEL_KEY = ":hold:"  # in the key of a cancel asked because the shipment or its order went on hold


def request_cancel_of_shipment(
    shipment: Shipment, *, reason: str, actor, for_hold: bool = False
) -> PartnerMessage | None:
    """The workflow cancels a shipment a 3PL holds: ask the 3PL to cancel it too (the caller holds the order lock).

    The release goes to "cancel requested"; the partner accepts or rejects. A shipment never released, or
    already cancelled, needs nothing. Returns the cancel message, or None. ``for_hold``: the shipment (or its
    order) went on hold and stays ours; once the hold is released, a release the 3PL cancelled is sent again
    (``release_waiting_shipments``).
    """
    release = PartnerRelease.objects.select_for_update().filter(shipment_id=shipment.pk).first()
    if release is None or release.state not in OPEN_RELEASE_STATES:
        return None
    release.state = ReleaseState.CANCEL_REQUESTED
    release.note = reason
    release.save(update_fields=["state", "note", "updated_at"])
    connection = release.connection
    # a cancelled shipment is never released again (one cancel each); a held one may be, as its next version
    key = f"cancel:{shipment.number}" + (f"{HOLD_CANCEL_KEY}v{release.version}" if for_hold else "")
    message, _ = queue_message(
        connection,
        kind=MessageKind.CANCEL,
        key=key,
        payload={"release": shipment.number, "order": shipment.order_number, "reason": reason},
        release=release,
    )
    return message


def request_change_of_shipment(shipment: Shipment, *, reason: str, actor) -> PartnerMessage | None:
    """The shipment a 3PL holds changed (its service, its lines): send it as it now stands, as the next version.

    The caller holds the order's lock. A shipment never released, or no longer open at the 3PL, needs
    nothing. Returns the change message, or None.
    """
    release = (
        PartnerRelease.objects.select_for_update(of=("self",))
        .select_related("connection")
        .filter(shipment_id=shipment.pk)
        .first()
    )
    if release is None or release.state not in OPEN_RELEASE_STATES:
        return None
    release.version += 1
    release.note = reason
    release.save(update_fields=["version", "note", "updated_at"])
    shipment = Shipment.objects.select_related("service__vendor").get(pk=shipment.pk)
    message, _ = queue_message(
        release.connection,
        kind=MessageKind.CHANGE,
        key=f"change:{shipment.number}:v{release.version}",
        payload={**release_payload(release, shipment), "reason": reason},
        release=release,
    )
    return message


def require_connection(code: str) -> PartnerConnection:
    connection = PartnerConnection.objects.select_related("warehouse").filter(code=code).first()
    if connection is None:
        raise PartnerError(f"No 3PL connection with code {code!r}.")
    return connection
