"""Celery entry points for 3PL connections. Thin: they call services, and are safe to repeat."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def send_partner_message(message_id: int) -> str:
    """Send one outbound message when it is due (a message sent or not due is left), with the other messages of its
    connection that are due, over one sitting with the partner."""
    return services.send_message(message_id=message_id, with_due=True)


@shared_task(acks_late=True)
def process_partner_message(message_id: int) -> str:
    """Apply one inbound message (applied once, however often this runs)."""
    return services.process_message(message_id=message_id)


@shared_task(acks_late=True)
def release_orders(order_ids: list[int]) -> int:
    """After routing: make and release the shipments of what it reserved at 3PL warehouses."""
    return len(services.release_orders(order_ids=order_ids, actor="system: 3PL release"))


@shared_task(acks_late=True)
def sync_partner_items(product_ids: list[int]) -> int:
    """Send changed products to every active 3PL (an unchanged product is not sent again)."""
    return len(services.sync_items(product_ids=product_ids, actor="system: 3PL item sync"))


@shared_task(acks_late=True)
def sweep_partner_messages() -> dict:
    """Periodic: messages due (retries), inbound left unapplied, shipments never released, overdue releases."""
    return {
        "sent": services.send_due_messages(),
        "applied": services.process_waiting_messages(),
        "released": len(services.release_waiting_orders(actor="system: 3PL sweep"))
        + len(services.release_waiting_shipments(actor="system: 3PL sweep")),
        "overdue": services.flag_overdue_releases(),
    }


@shared_task(acks_late=True)
def poll_partner_file_drops() -> int:
    """Periodic: take in the files that file-drop 3PLs left (ship confirmations, snapshots, receipts, answers)."""
    return services.poll_file_drops()
