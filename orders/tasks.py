"""Celery entry points for orders. Thin: they call services."""

from celery import shared_task

from oms_core import wakeups

from . import coverage, services


@shared_task(acks_late=True)
def flag_late_orders() -> int:
    """Periodic: flag open orders whose promised date has passed (idempotent)."""
    return services.flag_late_orders()


@shared_task(acks_late=True)
def sweep_delay_notices() -> int:
    """Periodic: tell the customers whose orders will now miss their promised date (each estimate once)."""
    return services.sweep_delay_notices()


@shared_task(acks_late=True)
def allocate_order(order_id: int) -> str:
    """Route a newly placed (or released) order to warehouses. Safe to repeat.

    An order with a gateway is credit-checked and its payment authorised
    first: held, or asked again later, when it is not.
    """
    if not services.prepare_order(order_id=order_id):
        return "waiting for payment or review"
    order = services.route_new_order(order_id=order_id, actor="system: routing")
    if order is None:
        return "nothing to do: routed by an earlier batch, held, cancelled or waiting for its payment"
    return order.status


@shared_task(acks_late=True)
def route_received_orders() -> int:
    """Woken when orders without a payment gateway are placed (oms_core.wakeups): route all received ones."""
    wakeups.woken(services.fulfilment.ROUTING)
    return services.route_received_orders(actor="system: routing")


@shared_task(acks_late=True)
def fill_backorders(product_ids: list[int]) -> int:
    """Stock arrived or was freed for these SKUs: allocate waiting orders, oldest first."""
    return services.fill_backorders(product_ids=product_ids)


@shared_task(acks_late=True)
def route_waiting_orders() -> int:
    """Periodic: route received orders whose allocation task never ran."""
    return services.route_waiting_orders()


@shared_task(acks_late=True)
def run_coverage(run_id: int) -> str:
    """Work out a network coverage run's figures (current, what-if, suggested site); a finished run is left as is."""
    run = coverage.run_coverage(run_id=run_id)
    return run.status if run else "already finished"
