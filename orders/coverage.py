"""Network coverage and the siting what-if: gather the network and the demand, run the model, keep the figures.

The model itself is pure and lives low (``shipping.coverage``); this module
reads what it needs — the active warehouses and where their stock is, the
ground services' rate cards and transit days, the last days' orders and
their destinations — and hands it over as plain values. A run is a row
(``CoverageRun``) written by ``start_coverage_run`` and worked out in the
background by ``orders.tasks.run_coverage``, which counts its progress on the
row for the page's bar.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory import geo
from inventory.models import StockLevel, Warehouse
from shipping import selectors as shipping_selectors
from shipping.coverage import demand as coverage_demand
from shipping.coverage import model
from shipping.coverage.geography import zip3_areas, zip3_of

from .models import CoverageRun, Order, OrderLine, OrderStatus

log = logging.getLogger(__name__)

DEMAND_ORDERS, DEMAND_FILE, DEMAND_POPULATION = "orders", "file", "population"
TIMING_WEEKDAY, TIMING_WEEK = "weekday", "week"
DEMAND_LABELS = {
    DEMAND_ORDERS: "orders of the last {days} days",
    DEMAND_FILE: "the demand file {name}",
    DEMAND_POPULATION: "the US population (lower 48)",
}


class CoverageRunError(ValueError):
    """The run cannot start or finish as asked; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# --- what the model is given ------------------------------------------------------------------------------
def ground_services():
    """The active ground services: those whose code or name says "ground" (the demo's GROUND services)."""
    return tuple(
        terms
        for terms in shipping_selectors.active_service_terms(fresh=True)
        if "ground" in terms.code.lower() or "ground" in terms.name.lower()
    )


def warehouse_sites(*, handling_cost: Decimal = Decimal("0")) -> list[model.Site]:
    """The active, located warehouses that hold any stock, as the model's sites."""
    stocked = set(StockLevel.objects.filter(on_hand__gt=0).values_list("warehouse_id", flat=True).distinct())
    return [
        model.Site(
            code=warehouse.code,
            name=warehouse.name,
            latitude=warehouse.latitude,
            longitude=warehouse.longitude,
            time_zone=warehouse.time_zone,
            cutoff=warehouse.daily_cutoff,
            processing_days=warehouse.processing_days,
            handling_cost=handling_cost,
        )
        for warehouse in Warehouse.objects.filter(is_active=True, pk__in=stocked).order_by("code")
        if warehouse.coordinates is not None
    ]


def order_instants(timing: str, *, today: dt.date | None = None) -> tuple[model.Instant, ...]:
    """The order instants the figures average over, in the console's time zone.

    ``weekday``: one order on the coming Tuesday at 10:00 (a business morning, before any cut-off);
    ``week``: one order every hour of the coming week, Monday to Sunday.
    """
    local_zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    today = today or timezone.localdate()
    monday = today + dt.timedelta(days=7 - today.weekday())
    if timing == TIMING_WEEKDAY:
        return (model.Instant(dt.datetime.combine(monday + dt.timedelta(days=1), dt.time(10), tzinfo=local_zone)),)
    if timing == TIMING_WEEK:
        start = dt.datetime.combine(monday, dt.time(0), tzinfo=local_zone)
        return tuple(model.Instant(start + dt.timedelta(hours=hour)) for hour in range(7 * 24))
    raise CoverageRunError("timing", f"Unknown order timing {timing!r}.")


def order_demand(*, days: int, now: dt.datetime | None = None) -> tuple[list[model.DemandArea], int, float]:
    """The last ``days`` days' orders (cancelled ones left out) by 3-digit ZIP and by the warehouses that can fill
    each: those holding every SKU on the order now. Returns the areas, the orders counted and those left out
    (a destination outside the US or an unknown ZIP code)."""
    since = (now or timezone.now()) - dt.timedelta(days=days)
    orders = list(
        Order.objects.filter(placed_at__gte=since)
        .exclude(status=OrderStatus.CANCELLED)
        .values_list("pk", "shipping_address__postal_code", "shipping_address__country")
    )
    products: dict[int, set[int]] = defaultdict(set)
    # The same window joined, not a list of ids: a month of orders is more ids than a query should carry.
    lines = OrderLine.objects.filter(order__placed_at__gte=since).exclude(order__status=OrderStatus.CANCELLED)
    for order_id, product_id in lines.values_list("order_id", "product_id"):
        products[order_id].add(product_id)
    holders: dict[int, set[str]] = defaultdict(set)
    for product_id, code in StockLevel.objects.filter(on_hand__gt=0, warehouse__is_active=True).values_list(
        "product_id", "warehouse__code"
    ):
        holders[product_id].add(code)
    rows = []
    left_out = 0.0
    for order_id, postal_code, country in orders:
        if (country or "US").upper() != "US":
            left_out += 1
            continue
        wanted = products.get(order_id, set())
        eligible = frozenset(set.intersection(*(holders[p] for p in wanted))) if wanted else None
        rows.append((postal_code, 1.0, eligible))
    areas, unknown = coverage_demand.areas_from_postal_codes(rows)
    return areas, len(orders), left_out + unknown


# --- starting and running a run ---------------------------------------------------------------------------
def describe(parameters: dict) -> str:
    demand = parameters["demand"]
    said = DEMAND_LABELS[demand].format(days=parameters.get("days"), name=parameters.get("file_name", ""))
    changes = []
    if parameters.get("add_postal_code"):
        changes.append(f"add a site at {parameters['add_postal_code']}")
    for code in parameters.get("remove", []):
        changes.append(f"remove {code}")
    for code, change in parameters.get("changes", {}).items():
        changes.append(
            f"{code}: cut-off {change['cutoff']}, {change['processing_days']} processing day"
            f"{'s' if change['processing_days'] != 1 else ''}"
        )
    if parameters.get("suggest"):
        changes.append("suggest one more site")
    text = f"{said[:1].upper()}{said[1:]}; " + ("; ".join(changes) if changes else "the network as it is")
    return text[:300]


def start_coverage_run(*, parameters: dict, actor) -> CoverageRun:
    """Record a coverage run and queue its computation after commit.

    ``parameters``: ``demand`` (orders, file or population), ``days`` for orders, ``file_rows`` ([[zip, weight],
    …]) and ``file_name`` for a file, ``timing`` (weekday or week), ``parcel_kg``, ``handling_cost``, and the
    what-if: ``add_postal_code`` with ``add_cutoff`` and ``add_processing_days``, ``remove`` (warehouse codes),
    ``changes`` ({code: {cutoff, processing_days}}), ``suggest`` with ``target_days``. Raises
    CoverageRunError naming the field for an unknown ZIP code or warehouse.
    """
    _check(parameters)
    with transaction.atomic(durable=True):
        run = CoverageRun.objects.create(
            created_by=actor if getattr(actor, "pk", None) else None,
            description=describe(parameters),
            parameters=parameters,
        )
        from .tasks import run_coverage as task

        task.delay_on_commit(run.pk)
    return run


def _check(parameters: dict) -> None:
    if parameters.get("demand") not in DEMAND_LABELS:
        raise CoverageRunError("demand", "Choose the demand: orders, a demand file or the population.")
    if parameters["demand"] == DEMAND_FILE and not parameters.get("file_rows"):
        raise CoverageRunError("demand_file", "Upload a demand file (postal_code,weight).")
    if parameters.get("add_postal_code") and geo.coordinates_or_none(parameters["add_postal_code"]) is None:
        raise CoverageRunError("add_postal_code", f"Unknown US ZIP code {parameters['add_postal_code']!r}.")
    known = set(Warehouse.objects.values_list("code", flat=True))
    for code in [*parameters.get("remove", []), *parameters.get("changes", {})]:
        if code not in known:
            raise CoverageRunError("remove", f"There is no warehouse {code!r}.")
    order_instants(parameters.get("timing", TIMING_WEEKDAY))


def run_coverage(*, run_id: int) -> CoverageRun | None:
    """Work out a queued run's figures, counting its progress on the row. Safe to repeat: a finished run is left.

    A run that cannot be evaluated (no ground service, empty demand) ends ``failed`` with the reason.
    """
    claimed = CoverageRun.objects.filter(
        pk=run_id, status__in=[CoverageRun.Status.QUEUED, CoverageRun.Status.RUNNING]
    ).update(status=CoverageRun.Status.RUNNING, started_at=timezone.now(), progress_done=0, progress_total=1)
    if not claimed:
        return None
    run = CoverageRun.objects.get(pk=run_id)
    try:
        result = compute(run.parameters, progress=lambda done, total: _progress(run_id, done, total))
    except (CoverageRunError, model.CoverageError) as refusal:
        CoverageRun.objects.filter(pk=run_id).update(
            status=CoverageRun.Status.FAILED, error=refusal.message[:1000], finished_at=timezone.now()
        )
    except Exception as failure:
        # Recorded for the page (which would otherwise wait for ever), then raised for the worker's log.
        CoverageRun.objects.filter(pk=run_id).update(
            status=CoverageRun.Status.FAILED,
            error=f"The computation failed: {failure}"[:1000],
            finished_at=timezone.now(),
        )
        raise
    else:
        CoverageRun.objects.filter(pk=run_id).update(
            status=CoverageRun.Status.DONE, result=result, finished_at=timezone.now()
        )
    return CoverageRun.objects.get(pk=run_id)


def _progress(run_id: int, done: int, total: int) -> None:
    CoverageRun.objects.filter(pk=run_id).update(progress_done=min(done, total), progress_total=max(1, total))


def compute(parameters: dict, *, progress=None) -> dict:
    """The figures of a run's parameters, as the page shows them (JSON-ready). Raises CoverageRunError."""
    progress = progress or (lambda done, total: None)
    suggest = bool(parameters.get("suggest"))
    steps = 3 + (100 if suggest else 0)
    progress(0, steps)
    handling = Decimal(str(parameters.get("handling_cost") or "0"))
    services = ground_services()
    if not services:
        raise CoverageRunError(
            "demand", "There is no active ground service (a service whose code or name says ground)."
        )
    sites = warehouse_sites(handling_cost=handling)
    demand = parameters["demand"]
    counted: float
    left_out = 0.0
    if demand == DEMAND_ORDERS:
        areas, counted, left_out = order_demand(days=int(parameters.get("days") or 30))
    elif demand == DEMAND_FILE:
        areas, left_out = coverage_demand.areas_from_postal_codes(
            (code, float(weight), None) for code, weight in parameters["file_rows"]
        )
        counted = parameters.get("file_row_count") or len(parameters["file_rows"])
    else:
        areas = coverage_demand.population_areas()
        counted = len(areas)
    if not areas:
        raise CoverageRunError("demand", "The demand is empty: there is nothing to measure the network against.")
    progress(1, steps)
    network = model.Network(
        sites=tuple(sites),
        services=services,
        instants=order_instants(parameters.get("timing", TIMING_WEEKDAY)),
        parcel_kg=Decimal(str(parameters.get("parcel_kg") or "1")),
        holidays=settings.SHIPPING_HOLIDAYS,
    )
    current = model.evaluate(network, areas)
    progress(2, steps)
    whatif_network = _what_if(network, parameters, handling)
    changed = whatif_network.sites != network.sites
    whatif = model.evaluate(whatif_network, areas) if changed else None
    progress(3, steps)
    suggestion = None
    if suggest:
        base = whatif_network if changed else network
        found = model.suggest_site(
            base,
            areas,
            coverage_demand.candidate_places(),
            cutoff=_time(parameters.get("add_cutoff") or "15:00"),
            processing_days=int(parameters.get("add_processing_days") or 0),
            handling_cost=handling,
            target_days=int(parameters.get("target_days") or 2),
            progress=lambda done, total: progress(3 + int(100 * done / total), steps),
        )
        area = zip3_areas()[found.place.key]
        suggestion = {
            "postal_code": found.place.postal_code,
            "zip3": found.place.key,
            "state": area.state,
            "time_zone": found.place.time_zone,
            "site": _site_dict(found.site),
            "sites": [_site_dict(site) for site in (*base.sites, found.site)],
            "figures": found.figures.as_dict(),
            "ranked": [{"zip3": key, "share": share} for key, share in found.ranked],
            "target_days": int(parameters.get("target_days") or 2),
        }
    progress(steps, steps)
    return {
        "assumptions": {
            "timing": parameters.get("timing", TIMING_WEEKDAY),
            "instants": len(network.instants),
            "parcel_kg": str(network.parcel_kg),
            "handling_cost": str(handling),
            "ground_services": [f"{terms.vendor_name} {terms.name}" for terms in services],
            "counted": counted,
            "left_out": left_out,
        },
        "areas": [
            {"key": area.key, "lat": area.latitude, "lon": area.longitude, "weight": area.weight} for area in areas
        ],
        "current": {"sites": [_site_dict(site) for site in network.sites], "figures": current.as_dict()},
        "whatif": (
            {"sites": [_site_dict(site) for site in whatif_network.sites], "figures": whatif.as_dict()}
            if whatif
            else None
        ),
        "suggestion": suggestion,
    }


def _what_if(network: model.Network, parameters: dict, handling: Decimal) -> model.Network:
    removed = set(parameters.get("remove", []))
    changes = parameters.get("changes", {})
    sites = []
    for site in network.sites:
        if site.code in removed:
            continue
        change = changes.get(site.code)
        if change:
            site = replace(site, cutoff=_time(change["cutoff"]), processing_days=int(change["processing_days"]))
        sites.append(site)
    postal_code = parameters.get("add_postal_code")
    if postal_code:
        latitude, longitude = geo.coordinates(postal_code)
        prefix = zip3_of(postal_code)
        sites.append(
            model.Site(
                code=f"NEW-{geo.normalize_postal_code(postal_code)}",
                name=f"New site at {geo.normalize_postal_code(postal_code)}",
                latitude=latitude,
                longitude=longitude,
                time_zone=zip3_areas()[prefix].time_zone if prefix else "America/New_York",
                cutoff=_time(parameters.get("add_cutoff") or "15:00"),
                processing_days=int(parameters.get("add_processing_days") or 0),
                handling_cost=handling,
                candidate=True,
            )
        )
    return network.changed(sites=tuple(sites))


def _time(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


def _site_dict(site: model.Site) -> dict:
    return {
        "code": site.code,
        "name": site.name,
        "lat": site.latitude,
        "lon": site.longitude,
        "time_zone": site.time_zone,
        "cutoff": site.cutoff.strftime("%H:%M"),
        "processing_days": site.processing_days,
        "candidate": site.candidate,
    }
