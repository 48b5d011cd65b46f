"""The warehouse's work on the console's home, for warehouse staff: per active warehouse, what waits to be picked,
labelled, packed and shipped, counted and approved, and the label batches queued, rendering or failed.

``templates/admin/cockpit/warehouse.html`` draws it; those who see the cockpit get the cockpit instead.
"""

from django.db.models import Count
from django.urls import reverse
from django.utils.http import urlencode


def warehouse_work(user) -> dict | None:
    """Per active warehouse: orders to pick (the order list's rule: reserved, no shipment made yet), labels to
    buy, shipments to pack and mark shipped, exceptions, counts open and submitted; and the label batches
    rendering or failed. Each a count that links to its list. Five queries whatever the data."""
    from inventory.models import Allocation, CycleCount, Warehouse
    from orders.models import Order
    from orders.selectors import filter_to_pick
    from shipping.models import LabelBatch, Shipment, ShipmentStatus

    may = {
        "pick": user.has_perm("orders.view_order"),
        "ship": user.has_perm("shipping.print_labels") or user.has_perm("shipping.ship_shipment"),
        "count": user.has_perm("inventory.change_cyclecount"),
        "batches": user.has_perm("shipping.view_labelbatch") and user.has_perm("shipping.print_labels"),
    }
    if not (may["ship"] or may["count"]):
        return None
    warehouses = list(Warehouse.objects.filter(is_active=True).order_by("code").values_list("pk", "code", "name"))
    columns = []  # (key, title, hint, {warehouse: count}, url for a warehouse)
    if may["pick"]:
        # The order list's "To pick" queue, by the warehouses holding each order's stock: an order whose
        # shipments are made is counted under labels or packing instead, not here too.
        to_pick = filter_to_pick(Order.objects.all()).values("pk")
        orders = dict(
            Allocation.objects.filter(order_id__in=to_pick)
            .order_by()
            .values("warehouse_id")
            .annotate(n=Count("order_id", distinct=True))
            .values_list("warehouse_id", "n")
        )
        order_list = reverse("admin:orders_order_changelist")
        columns.append(
            (
                "pick",
                "To pick",
                "orders with stock reserved here, no shipment made yet",
                orders,
                lambda pk: f"{order_list}?{urlencode({'queue': 'to_pick', 'warehouse': pk})}",
            )
        )
    if may["ship"] and user.has_perm("shipping.view_shipment"):
        shipments = reverse("admin:shipping_shipment_changelist")
        by_status: dict[str, dict[int, int]] = {}
        for row in (
            Shipment.objects.filter(
                status__in=[ShipmentStatus.AWAITING_LABEL, ShipmentStatus.LABEL_CREATED, ShipmentStatus.EXCEPTION]
            )
            .order_by()
            .values("status", "warehouse_id")
            .annotate(n=Count("pk"))
        ):
            by_status.setdefault(row["status"], {})[row["warehouse_id"]] = row["n"]

        def shipment_list(status):
            return lambda pk: f"{shipments}?{urlencode({'status__exact': status, 'warehouse__id__exact': pk})}"

        columns += [
            (
                "labels",
                "Labels to buy",
                "shipments awaiting their label",
                by_status.get(ShipmentStatus.AWAITING_LABEL, {}),
                shipment_list(ShipmentStatus.AWAITING_LABEL),
            ),
            (
                "ship",
                "To pack and ship",
                "labelled, to print, pack and mark shipped",
                by_status.get(ShipmentStatus.LABEL_CREATED, {}),
                shipment_list(ShipmentStatus.LABEL_CREATED),
            ),
            (
                "exceptions",
                "Exceptions",
                "the carrier reported a problem",
                by_status.get(ShipmentStatus.EXCEPTION, {}),
                shipment_list(ShipmentStatus.EXCEPTION),
            ),
        ]
    if may["count"]:
        counts = reverse("admin:inventory_cyclecount_changelist")
        by_status = {}
        for row in (
            CycleCount.objects.filter(status__in=[CycleCount.Status.OPEN, CycleCount.Status.SUBMITTED])
            .order_by()
            .values("status", "warehouse_id")
            .annotate(n=Count("pk"))
        ):
            by_status.setdefault(row["status"], {})[row["warehouse_id"]] = row["n"]

        def count_list(status):
            return lambda pk: f"{counts}?{urlencode({'status__exact': status, 'warehouse__id__exact': pk})}"

        columns += [
            (
                "counts",
                "Counts to do",
                "cycle counts open",
                by_status.get(CycleCount.Status.OPEN, {}),
                count_list(CycleCount.Status.OPEN),
            ),
            (
                "submitted",
                "Counts to approve",
                "submitted, waiting for a manager",
                by_status.get(CycleCount.Status.SUBMITTED, {}),
                count_list(CycleCount.Status.SUBMITTED),
            ),
        ]
    rows = [
        {
            "code": code,
            "name": name,
            "cells": [
                {"key": key, "title": title, "count": counts.get(pk, 0), "url": url(pk)}
                for key, title, _, counts, url in columns
            ],
        }
        for pk, code, name in warehouses
    ]
    batches = []
    if may["batches"]:
        found = dict(
            LabelBatch.objects.filter(
                status__in=[LabelBatch.Status.QUEUED, LabelBatch.Status.RENDERING, LabelBatch.Status.FAILED]
            )
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        batch_list = reverse("admin:shipping_labelbatch_changelist")
        batches = [
            {
                "key": status,
                "label": label,
                "count": found.get(status, 0),
                "url": f"{batch_list}?{urlencode({'status__exact': status})}",
            }
            for status, label in (
                (LabelBatch.Status.QUEUED, "Label batches queued"),
                (LabelBatch.Status.RENDERING, "Label batches rendering"),
                (LabelBatch.Status.FAILED, "Label batches failed"),
            )
        ]
    return {
        "columns": [{"key": key, "title": title, "hint": hint} for key, title, hint, _, _ in columns],
        "rows": rows,
        "batches": batches,
    }
