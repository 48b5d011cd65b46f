"""The daily inventory check: set-based queries that find what is wrong, stored as a report.

Each finder is one SQL statement over the whole table (GROUP BY, joins,
semi-joins), never a Python loop over rows. At most FINDINGS_PER_KIND rows
of each kind are stored; the summary keeps the exact totals. Findings name
what ops know: orders by number, SKUs and warehouses by code (the subject's
name is kept in ``data["subject"]`` for the console), never a database id.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from notifications import services as notifications

from ..models import (
    Allocation,
    CycleCount,
    CycleCountLine,
    InventoryCheckRun,
    InventoryFinding,
    Product,
    StockLevel,
    StockMovement,
    Warehouse,
)

logger = logging.getLogger(__name__)
Kind = InventoryFinding.Kind
Severity = InventoryFinding.Severity
FINDINGS_PER_KIND = 1000
# Orders in these statuses must hold no allocation (they shipped or were cancelled).
CLOSED_ORDER_STATUSES = ("cancelled", "shipped", "delivered")


def run_inventory_check(*, triggered_by: str = "system", now: dt.datetime | None = None, email: bool = True):
    """Run every finder, store the report, and email a summary to ops (OPS_EMAILS and the report's list).

    The summary goes through the notifications outbox, queued with the report.
    """
    now = now or timezone.now()
    started = time.perf_counter()
    run = InventoryCheckRun.objects.create(started_at=now, triggered_by=triggered_by)
    finders = [
        _ledger_mismatches,
        _negative_and_over_allocated,
        _allocation_mismatches,
        _stale_allocations,
        _below_reorder_point,
        _fillable_backorders,
        _count_variances,
    ]
    partners = _partner_snapshots(now)
    finders.append(lambda now: _partner_snapshot_findings(partners, now))
    totals: dict[str, int] = {}
    findings: list[InventoryFinding] = []
    for finder in finders:
        for kind, batch, total in finder(now):
            totals[kind] = totals.get(kind, 0) + total
            findings.extend(batch)
    for finding in findings:
        finding.run = run
    with transaction.atomic():
        InventoryFinding.objects.bulk_create(findings, batch_size=1000)
        run.finished_at = timezone.now()
        run.duration_ms = int((time.perf_counter() - started) * 1000)
        run.finding_count = sum(totals.values())
        run.summary = {"totals": totals, "partners": [_partner_summary(row, now) for row in partners]}
        run.save(update_fields=["finished_at", "duration_ms", "finding_count", "summary"])
        message_ids = _queue_report(run) if email else []
    if message_ids:
        # The check is itself a background job (or a command run by hand, with
        # no worker necessarily): deliver now; if SMTP is down the outbox retries.
        notifications.send_messages(message_ids=message_ids)
    return run


def _ledger_mismatches(now) -> Iterator[tuple[str, list, int]]:
    """Stock levels whose on hand differs from the sum of their ledger."""
    level, movement = StockLevel._meta.db_table, StockMovement._meta.db_table
    sql = f"""
        SELECT l.id, l.warehouse_id, l.product_id, l.on_hand, COALESCE(m.total, 0), p.sku, w.code
        FROM {level} l
        JOIN {Product._meta.db_table} p ON p.id = l.product_id
        JOIN {Warehouse._meta.db_table} w ON w.id = l.warehouse_id
        LEFT JOIN (
            SELECT warehouse_id, product_id, SUM(quantity) AS total FROM {movement} GROUP BY warehouse_id, product_id
        ) m ON m.warehouse_id = l.warehouse_id AND m.product_id = l.product_id
        WHERE l.on_hand <> COALESCE(m.total, 0)
        ORDER BY l.id
    """
    rows = _fetch(sql)
    batch = [
        _finding(
            Kind.LEDGER_MISMATCH,
            Severity.ERROR,
            f"{sku} at {code}: on hand {on_hand}, ledger sums to {ledger} (difference {on_hand - ledger:+d}).",
            warehouse_id=warehouse_id,
            product_id=product_id,
            subject=(StockLevel, pk, f"{sku} at {code}"),
            data={"on_hand": on_hand, "ledger": ledger},
        )
        for pk, warehouse_id, product_id, on_hand, ledger, sku, code in rows[:FINDINGS_PER_KIND]
    ]
    yield Kind.LEDGER_MISMATCH, batch, len(rows)


def _negative_and_over_allocated(now) -> Iterator[tuple[str, list, int]]:
    negative = StockLevel.objects.filter(Q(on_hand__lt=0) | Q(allocated__lt=0))
    yield (
        Kind.NEGATIVE_STOCK,
        [
            _finding(
                Kind.NEGATIVE_STOCK,
                Severity.ERROR,
                f"{_level_name(level)}: on hand {level['on_hand']}, allocated {level['allocated']}.",
                warehouse_id=level["warehouse_id"],
                product_id=level["product_id"],
                subject=(StockLevel, level["pk"], _level_name(level)),
            )
            for level in _values(negative)
        ],
        negative.count(),
    )
    over = StockLevel.objects.filter(allocated__gt=F("on_hand"))
    yield (
        Kind.OVER_ALLOCATED,
        [
            _finding(
                Kind.OVER_ALLOCATED,
                Severity.ERROR,
                f"{_level_name(level)}: {level['allocated']} allocated but only {level['on_hand']} on hand.",
                warehouse_id=level["warehouse_id"],
                product_id=level["product_id"],
                subject=(StockLevel, level["pk"], _level_name(level)),
            )
            for level in _values(over)
        ],
        over.count(),
    )


def _allocation_mismatches(now) -> Iterator[tuple[str, list, int]]:
    """Levels whose allocated count differs from their allocation rows, and lines that disagree too."""
    level, allocation = StockLevel._meta.db_table, Allocation._meta.db_table
    product, warehouse = Product._meta.db_table, Warehouse._meta.db_table
    order_model = apps.get_model("orders", "Order")
    line_table, order_table = apps.get_model("orders", "OrderLine")._meta.db_table, order_model._meta.db_table
    rows = _fetch(f"""
        SELECT l.id, l.warehouse_id, l.product_id, l.allocated, COALESCE(a.total, 0), p.sku, w.code
        FROM {level} l
        JOIN {product} p ON p.id = l.product_id
        JOIN {warehouse} w ON w.id = l.warehouse_id
        LEFT JOIN (
            SELECT warehouse_id, product_id, SUM(quantity) AS total FROM {allocation} GROUP BY warehouse_id, product_id
        ) a ON a.warehouse_id = l.warehouse_id AND a.product_id = l.product_id
        WHERE l.allocated <> COALESCE(a.total, 0)
        ORDER BY l.id
    """)
    line_rows = _fetch(f"""
        SELECT ol.id, ol.order_id, ol.product_id, ol.quantity_allocated, COALESCE(a.total, 0), o.number, ol.sku
        FROM {line_table} ol
        JOIN {order_table} o ON o.id = ol.order_id
        LEFT JOIN (SELECT order_line_id, SUM(quantity) AS total FROM {allocation} GROUP BY order_line_id) a
          ON a.order_line_id = ol.id
        WHERE ol.quantity_allocated <> COALESCE(a.total, 0)
        ORDER BY ol.id
    """)
    batch = [
        _finding(
            Kind.ALLOCATION_MISMATCH,
            Severity.ERROR,
            f"{sku} at {code}: allocated {allocated}, allocation rows sum to {rows_total}.",
            warehouse_id=warehouse_id,
            product_id=product_id,
            subject=(StockLevel, pk, f"{sku} at {code}"),
            data={"allocated": allocated, "rows": rows_total},
        )
        for pk, warehouse_id, product_id, allocated, rows_total, sku, code in rows[:FINDINGS_PER_KIND]
    ] + [
        _finding(
            Kind.ALLOCATION_MISMATCH,
            Severity.ERROR,
            f"Order {_order_name(number, order_id)}, line {sku}: {allocated} allocated on the order, "
            f"allocation rows sum to {rows_total}.",
            product_id=product_id,
            subject=(order_model, order_id, _order_name(number, order_id)),
            data={"order_line": pk, "allocated": allocated, "rows": rows_total},
        )
        for pk, order_id, product_id, allocated, rows_total, number, sku in line_rows[:FINDINGS_PER_KIND]
    ]
    yield Kind.ALLOCATION_MISMATCH, batch, len(rows) + len(line_rows)


def _stale_allocations(now) -> Iterator[tuple[str, list, int]]:
    stale = Allocation.objects.filter(order__status__in=CLOSED_ORDER_STATUSES)
    order_model = apps.get_model("orders", "Order")
    rows = list(
        stale.order_by("pk").values(
            "pk", "order_id", "order__number", "order__status", "warehouse_id", "product_id", "quantity"
        )[:FINDINGS_PER_KIND]
    )
    yield (
        Kind.STALE_ALLOCATION,
        [
            _finding(
                Kind.STALE_ALLOCATION,
                Severity.ERROR,
                f"Order {_order_name(row['order__number'], row['order_id'])} is {row['order__status']} "
                f"but still holds {row['quantity']} unit{'s' if row['quantity'] != 1 else ''}.",
                warehouse_id=row["warehouse_id"],
                product_id=row["product_id"],
                subject=(order_model, row["order_id"], _order_name(row["order__number"], row["order_id"])),
            )
            for row in rows
        ],
        stale.count(),
    )


def _below_reorder_point(now) -> Iterator[tuple[str, list, int]]:
    low = StockLevel.objects.filter(reorder_point__gt=0, on_hand__lte=F("reorder_point"), warehouse__is_active=True)
    yield (
        Kind.BELOW_REORDER_POINT,
        [
            _finding(
                Kind.BELOW_REORDER_POINT,
                Severity.WARNING,
                f"{_level_name(level)}: {level['on_hand']} on hand, reorder point {level['reorder_point']}.",
                warehouse_id=level["warehouse_id"],
                product_id=level["product_id"],
                subject=(StockLevel, level["pk"], _level_name(level)),
            )
            for level in _values(low, "reorder_point")
        ],
        low.count(),
    )


def _fillable_backorders(now) -> Iterator[tuple[str, list, int]]:
    """Backordered lines that some active warehouse could fill right now (the first by priority and code is named)."""
    line_model = apps.get_model("orders", "OrderLine")
    order_model = apps.get_model("orders", "Order")
    enough = (
        StockLevel.objects.filter(product=OuterRef("product"), warehouse__is_active=True)
        .annotate(free=F("on_hand") - F("allocated"))
        .filter(free__gte=OuterRef("waiting"))
    )
    lines = (
        line_model.objects.filter(order__status="backordered")
        .annotate(waiting=F("quantity") - F("quantity_shipped") - F("quantity_allocated"))
        .filter(waiting__gt=0)
        .filter(Exists(enough))
    )
    first = enough.order_by("warehouse__priority", "warehouse__code")
    rows = list(
        lines.annotate(
            fill_from_id=Subquery(first.values("warehouse_id")[:1]),
            fill_from=Subquery(first.values("warehouse__code")[:1]),
        )
        .order_by("order__placed_at", "pk")
        .values("pk", "order_id", "order__number", "sku", "product_id", "waiting", "fill_from_id", "fill_from")[
            :FINDINGS_PER_KIND
        ]
    )
    yield (
        Kind.BACKORDER_FILLABLE,
        [
            _finding(
                Kind.BACKORDER_FILLABLE,
                Severity.WARNING,
                f"Order {_order_name(row['order__number'], row['order_id'])} waits for {row['waiting']} × "
                f"{row['sku']}; {row['fill_from']} has {'it' if row['waiting'] == 1 else 'them'} free now.",
                warehouse_id=row["fill_from_id"],
                product_id=row["product_id"],
                subject=(order_model, row["order_id"], _order_name(row["order__number"], row["order_id"])),
            )
            for row in rows
        ],
        lines.count(),
    )


def _count_variances(now) -> Iterator[tuple[str, list, int]]:
    """Lines of counts approved in the last day whose variance is large."""
    units = settings.INVENTORY_COUNT_VARIANCE_UNITS
    lines = (
        CycleCountLine.objects.filter(
            count__status=CycleCount.Status.APPROVED, count__decided_at__gte=now - dt.timedelta(days=1)
        )
        .annotate(delta=F("counted_quantity") - F("expected_quantity"))
        .filter(Q(delta__gte=units) | Q(delta__lte=-units))
    )
    rows = list(
        lines.order_by("pk").values(
            "pk", "count_id", "count__warehouse_id", "count__warehouse__code", "product_id", "product__sku", "delta"
        )[:FINDINGS_PER_KIND]
    )
    yield (
        Kind.COUNT_VARIANCE,
        [
            _finding(
                Kind.COUNT_VARIANCE,
                Severity.WARNING,
                f"Count #{row['count_id']} at {row['count__warehouse__code']}: "
                f"{row['product__sku']} off by {row['delta']:+d}.",
                warehouse_id=row["count__warehouse_id"],
                product_id=row["product_id"],
                subject=(CycleCount, row["count_id"], f"Count #{row['count_id']} at {row['count__warehouse__code']}"),
            )
            for row in rows
        ],
        lines.count(),
    )


def _partner_snapshots(now) -> list[dict]:
    """Each active 3PL connection with its last applied stock snapshot (or none): one query, whatever their number.

    Read through the app registry (the 3PL connections belong to the order workflow, above inventory).
    """
    if not apps.is_installed("orders.partners"):
        return []
    connection_model = apps.get_model("partners", "PartnerConnection")
    snapshot_model = apps.get_model("partners", "StockSnapshot")
    last = snapshot_model.objects.filter(connection=OuterRef("pk")).order_by("-as_of", "-pk")
    fields = (
        "as_of",
        "skus",
        "skus_differing",
        "units_over",
        "units_short",
        "value_difference",
        "units_adjusted",
        "skus_waiting",
        "units_waiting",
        "cycle_count_id",
        "cycle_count__status",
    )
    rows = list(
        connection_model.objects.filter(is_active=True)
        .annotate(**{f"last_{name}": Subquery(last.values(name)[:1]) for name in fields})
        .order_by("warehouse__code", "pk")
        .values("pk", "name", "code", "created_at", "warehouse_id", "warehouse__code", *(f"last_{n}" for n in fields))
    )
    for row in rows:
        row["model"] = connection_model
        if row["last_value_difference"] is not None:  # SQLite answers the subquery's decimal without its scale
            row["last_value_difference"] = row["last_value_difference"].quantize(Decimal("0.01"))
    return rows


def _snapshot_age_hours(row: dict, now) -> float | None:
    as_of = row["last_as_of"]
    return None if as_of is None else max((now - as_of).total_seconds() / 3600, 0.0)


def _waiting(row: dict) -> bool:
    """Whether the last snapshot's larger differences still wait for a manager (its count is submitted)."""
    return bool(row["last_skus_waiting"]) and row["last_cycle_count__status"] == CycleCount.Status.SUBMITTED


def _partner_snapshot_findings(rows: list[dict], now) -> Iterator[tuple[str, list, int]]:
    """3PLs whose last stock snapshot is too old (or that never sent one), and last snapshots that differ from
    our book.

    Stale: older than PARTNER_SNAPSHOT_MAX_AGE_HOURS a warning, twice that an error; none ever an error once the
    connection is older than the limit (a warning before). Variance: an error when its differences are worth
    PARTNER_SNAPSHOT_VARIANCE_VALUE or more at cost, a warning while some wait for a manager, else info.
    """
    limit = settings.PARTNER_SNAPSHOT_MAX_AGE_HOURS
    stale, variance = [], []
    for row in rows:
        name, code = row["name"], row["warehouse__code"]
        subject = (row["model"], row["pk"], f"{name} ({code})")
        age = _snapshot_age_hours(row, now)
        if age is None:
            connected_hours = (now - row["created_at"]).total_seconds() / 3600
            stale.append(
                _finding(
                    Kind.PARTNER_SNAPSHOT_STALE,
                    Severity.ERROR if connected_hours > limit else Severity.WARNING,
                    f"{name} at {code} has never sent a stock snapshot "
                    f"(connected {timezone.localtime(row['created_at']):%Y-%m-%d %H:%M}).",
                    warehouse_id=row["warehouse_id"],
                    subject=subject,
                    data={"age_hours": None, "limit_hours": limit},
                )
            )
        elif age > limit:
            stale.append(
                _finding(
                    Kind.PARTNER_SNAPSHOT_STALE,
                    Severity.ERROR if age > 2 * limit else Severity.WARNING,
                    f"{name} at {code}: last stock snapshot as of "
                    f"{timezone.localtime(row['last_as_of']):%Y-%m-%d %H:%M}, {age:.0f} hours ago "
                    f"(limit {limit} hours).",
                    warehouse_id=row["warehouse_id"],
                    subject=subject,
                    data={"age_hours": round(age, 1), "limit_hours": limit},
                )
            )
        if age is None or not row["last_skus_differing"]:
            continue
        value = row["last_value_difference"]
        waiting = _waiting(row)
        if value >= settings.PARTNER_SNAPSHOT_VARIANCE_VALUE:
            severity = Severity.ERROR
        elif waiting:
            severity = Severity.WARNING
        else:
            severity = Severity.INFO
        message = (
            f"{name} at {code}, snapshot as of {timezone.localtime(row['last_as_of']):%Y-%m-%d %H:%M}: "
            f"{row['last_skus_differing']} of {_counted(row['last_skus'], 'SKU')} differed from our book, "
            f"{_counted(row['last_units_over'], 'unit')} over and {row['last_units_short']} short, {value} at cost"
        )
        if waiting:
            message += (
                f"; {_counted(row['last_skus_waiting'], 'SKU')} ({_counted(row['last_units_waiting'], 'unit')}) "
                "wait for a manager "
                f"in count #{row['last_cycle_count_id']}."
            )
        else:
            message += "; all adjusted."
        variance.append(
            _finding(
                Kind.PARTNER_SNAPSHOT_VARIANCE,
                severity,
                message,
                warehouse_id=row["warehouse_id"],
                subject=subject,
                data={
                    "skus_differing": row["last_skus_differing"],
                    "units_over": row["last_units_over"],
                    "units_short": row["last_units_short"],
                    "value": str(value),
                    "units_waiting": row["last_units_waiting"] if waiting else 0,
                    "cycle_count": row["last_cycle_count_id"] if waiting else None,
                },
            )
        )
    yield Kind.PARTNER_SNAPSHOT_STALE, stale, len(stale)
    yield Kind.PARTNER_SNAPSHOT_VARIANCE, variance, len(variance)


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _partner_summary(row: dict, now) -> dict:
    """One 3PL's line of the report (kept in the run's summary, for the email and the report page)."""
    age = _snapshot_age_hours(row, now)
    waiting = row["last_as_of"] is not None and _waiting(row)
    return {
        "name": row["name"],
        "warehouse": row["warehouse__code"],
        "as_of": f"{timezone.localtime(row['last_as_of']):%Y-%m-%d %H:%M}" if row["last_as_of"] else "",
        "age_hours": round(age, 1) if age is not None else None,
        "stale": age is None or age > settings.PARTNER_SNAPSHOT_MAX_AGE_HOURS,
        "skus": row["last_skus"] or 0,
        "skus_differing": row["last_skus_differing"] or 0,
        "units_over": row["last_units_over"] or 0,
        "units_short": row["last_units_short"] or 0,
        "value": str(row["last_value_difference"]) if row["last_value_difference"] is not None else "0.00",
        "skus_waiting": row["last_skus_waiting"] if waiting else 0,
        "units_waiting": row["last_units_waiting"] if waiting else 0,
    }


def _values(queryset, *extra):
    fields = ("pk", "warehouse_id", "product_id", "on_hand", "allocated", "product__sku", "warehouse__code")
    return list(queryset.order_by("pk").values(*fields, *extra)[:FINDINGS_PER_KIND])


def _level_name(level: dict) -> str:
    return f"{level['product__sku']} at {level['warehouse__code']}"


def _order_name(number: str, order_id: int) -> str:
    return number or f"#{order_id}"  # every order has a number; an id only if one was lost


def _fetch(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _finding(
    kind, severity, message, *, warehouse_id=None, product_id=None, subject=None, data=None
) -> InventoryFinding:
    """One finding; ``subject`` is (model, id, the name ops know it by)."""
    content_type, object_id, data = None, "", dict(data or {})
    if subject is not None:
        model, object_id, data["subject"] = subject
        content_type = ContentType.objects.get_for_model(model)  # cached by Django
    return InventoryFinding(
        kind=kind,
        severity=severity,
        message=message,
        warehouse_id=warehouse_id,
        product_id=product_id,
        content_type=content_type,
        object_id=str(object_id),
        data=data,
    )


def report_context(run: InventoryCheckRun) -> dict:
    """What the daily report email shows: the run's totals by kind and a link to the stored report."""
    labels = dict(Kind.choices)
    totals = run.summary.get("totals", {})
    url = reverse("admin:inventory_inventorycheckrun_change", args=[run.pk])
    return {
        "run": {
            "id": run.pk,
            "started_at": run.started_at,
            "started_at_local": f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M}",
            "duration_ms": run.duration_ms,
            "took": run.took,
            "finding_count": run.finding_count,
            "totals": [
                {"kind": kind, "label": labels[kind], "count": count} for kind, count in totals.items() if count
            ],
            "url": f"{settings.OMS_BASE_URL.rstrip('/')}{url}",
            "partners": run.summary.get("partners", []),
            "partner_limit_hours": settings.PARTNER_SNAPSHOT_MAX_AGE_HOURS,
        }
    }


def _queue_report(run: InventoryCheckRun) -> list[int]:
    """Queue the report to ops in the outbox (in the run's transaction); returns the message ids."""
    ids = notifications.queue_ops_alert(
        event="inventory_report", context=report_context(run), occurrence=str(run.pk), dispatch=False
    )
    if ids:
        run.summary = {**run.summary, "emailed_to": notifications.ops_recipients("inventory_report")}
        run.save(update_fields=["summary"])
    return ids
