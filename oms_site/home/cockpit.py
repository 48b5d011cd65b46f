"""The operations cockpit on the console's home: a period's key figures as cards, its charts, and their CSVs.

The figures and charts are computed in ``orders.cockpit``; this module turns them into what the page shows
(``templates/admin/cockpit/cockpit.html``) and into the CSV downloads (``cockpit_csv``, wired as
``admin:cockpit_csv`` in ``oms_site/admin.py``). Who sees it: ``may_see_cockpit``.
"""

import csv
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils.http import urlencode

from orders.cockpit import Kpis, ListLink, Period, Rate, charts_for, kpis_for

# --- who sees the cockpit ------------------------------------------------------------
# The cockpit is for the people who run the order flow: operations managers (the VP of Operations among them)
# and associates hold ``orders.view_cockpit`` (oms_site/roles.py); returns associates and warehouse staff get
# their own queue as their home. Superusers hold every permission.
COCKPIT_PERMISSIONS = ("orders.view_cockpit",)


def may_see_cockpit(user) -> bool:
    return user.is_active and user.has_perms(COCKPIT_PERMISSIONS)


def cockpit_context(request) -> dict:
    """The period picker's choices, the key figures as cards and the charts, for the period the query asks."""
    from inventory.models import Warehouse
    from orders.models import Channel

    problem = None
    try:
        period = Period.from_query(request.GET)
    except ValueError as refusal:
        problem = f"{refusal} Showing the last 7 days instead."
        messages.warning(request, problem)
        period = Period.last_7_days()
    kpis = kpis_for(period)
    query = period_query(period)
    charts = [
        chart_context(chart, reverse("admin:cockpit_csv", args=[key]) + f"?{query}")
        for key, chart in charts_for(period).items()
    ]
    return {
        "period": period,
        "problem": problem,
        "kinds": [
            ("today", "Today"),
            ("last_7_days", "Last 7 days"),
            ("last_30_days", "Last 30 days"),
            ("custom", "Custom dates"),
        ],
        "channels": list(Channel.objects.order_by("name").values_list("pk", "name")),
        "warehouses": list(Warehouse.objects.filter(is_active=True).order_by("code").values_list("pk", "code")),
        "cards": kpi_cards(kpis),
        "charts": charts,
        "computed_at": kpis.computed_at,
        "kpis_csv_url": reverse("admin:cockpit_csv", args=["kpis"]) + f"?{query}",
        "coverage_url": reverse("admin:orders_coveragerun_add")
        if request.user.has_perm("orders.add_coveragerun")
        else "",
    }


def cockpit_csv(request, name: str) -> HttpResponse:
    """One chart's numbers, or the key figures, for the period in the query, as a CSV download."""
    if not may_see_cockpit(request.user):
        raise PermissionDenied
    try:
        period = Period.from_query(request.GET)
    except ValueError as refusal:
        return HttpResponseBadRequest(str(refusal), content_type="text/plain; charset=utf-8")
    if name == "kpis":
        rows = kpi_rows(kpi_cards(kpis_for(period)))
    else:
        chart = charts_for(period).get(name.replace("-", "_"))
        if chart is None:
            raise Http404(f"There is no cockpit chart called {name!r}.")
        rows = chart.csv_rows()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cockpit-{name}-{period.start}-{period.end}.csv"'
    csv.writer(response).writerows(rows)
    return response


def period_query(period: Period) -> str:
    """The query string that gives ``Period.from_query`` this period back (for links and downloads)."""
    query = {"period": period.kind}
    if period.kind == "custom":
        query.update(start=period.start.isoformat(), end=period.end.isoformat())
    if period.channel_id is not None:
        query["channel"] = period.channel_id
    if period.warehouse_id is not None:
        query["warehouse"] = period.warehouse_id
    return urlencode(query)


# --- the key figures as cards -----------------------------------------------------------
def _value(label: str, raw, text: str, link: ListLink | None) -> dict:
    """One number of a card: what it is, its plain value (for the CSV), how it reads, the list it counts."""
    return {"label": label, "raw": "" if raw is None else raw, "text": text, "url": link.url if link else None}


def _count(label: str, value: int, link: ListLink | None) -> dict:
    return _value(label, value, f"{value:,}", link)


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def _hours(value: float | None) -> str:
    """Hours as ops read them: hours under two days, days above."""
    if value is None:
        return "—"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def _change(value, previous) -> str:
    """How the period compares with the previous one, in words."""
    if not previous:
        return "none the previous period" if not value else "up from none the previous period"
    change = (Decimal(value) - Decimal(previous)) * 100 / Decimal(previous)
    if change == 0:
        return "same as the previous period"
    arrow = "▲" if change > 0 else "▼"
    return f"{arrow} {abs(change):.1f}% on the previous period"


def _rate_values(rate: Rate, *, counted: str, over: str, missed: str | None = None) -> tuple[list, list]:
    """A rate's percent (linked to what it counts) and its counts: ``counted`` of ``over``, ``missed``."""
    main = [_value("rate", rate.percent, _percent(rate.percent), rate.numerator_link)]
    rows = [
        {"label": counted, "values": [_count(counted, rate.numerator, rate.numerator_link)]},
        {"label": over, "values": [_count(over, rate.denominator, rate.denominator_link)]},
    ]
    if missed and rate.misses is not None:
        rows.append({"label": missed, "values": [_count(missed, rate.misses.value, rate.misses.link)]})
    return main, rows


def kpi_cards(kpis: Kpis) -> list[dict]:
    """The key figures as the home's cards: each a title, its main numbers and its breakdown, every number
    with the console list it counts (``ListLink``); definitions are in ``orders.cockpit.kpis``."""
    placed = kpis.orders_placed
    cards = [
        {
            "key": "orders_placed",
            "title": "Orders placed",
            "values": [_count("orders placed", placed.value, placed.link)],
            "note": _change(placed.value, placed.previous),
            "rows": [
                {
                    "label": "the previous period",
                    "values": [_count("the previous period", placed.previous or 0, placed.previous_link)],
                }
            ],
        },
        {
            "key": "revenue",
            "title": "Revenue",
            "hint": "orders placed, not cancelled",
            "values": [
                _value(amount.currency, amount.value, f"{amount.value:,.2f} {amount.currency}", amount.link)
                for amount in kpis.revenue
            ],
            "note": " · ".join(
                f"{amount.currency}: {_change(amount.value, amount.previous)}" for amount in kpis.revenue
            )
            or "no orders placed in this period or the one before",
            "rows": [
                {
                    "label": f"the previous period ({amount.currency})",
                    "values": [
                        _value(
                            f"the previous period ({amount.currency})",
                            amount.previous,
                            f"{amount.previous:,.2f} {amount.currency}",
                            amount.previous_link,
                        )
                    ],
                }
                for amount in kpis.revenue
            ],
        },
        {
            "key": "awaiting_fulfilment",
            "title": "Awaiting fulfilment",
            "hint": "open orders now, by age",
            "values": [_count("awaiting fulfilment", kpis.awaiting_fulfilment.value, kpis.awaiting_fulfilment.link)],
            "rows": [
                {"label": part.label, "values": [_count(part.label, part.value.value, part.value.link)]}
                for part in kpis.awaiting_by_age
            ],
        },
        {
            "key": "late_at_risk",
            "title": "Late and at risk",
            "hint": "open orders now, by their promised date",
            "values": [
                {**_count("late", kpis.late.value, kpis.late.link), "tone": "late" if kpis.late.value else ""},
                {
                    **_count("at risk", kpis.at_risk.value, kpis.at_risk.link),
                    "tone": "risk" if kpis.at_risk.value else "",
                },
            ],
            "rows": [],
        },
    ]
    main, rows = _rate_values(kpis.on_time_ship, counted="on time", over="shipped", missed="late")
    cards.append(
        {
            "key": "on_time_ship",
            "title": "On-time ship rate",
            "hint": "left by the planned pickup day",
            "values": main,
            "rows": rows,
        }
    )
    main, rows = _rate_values(kpis.on_time_delivery, counted="on time", over="delivered", missed="late")
    cards.append(
        {
            "key": "on_time_delivery",
            "title": "On-time delivery rate",
            "hint": "arrived by the promised date",
            "values": main,
            "rows": rows,
        }
    )
    for key, title, spread, over in (
        ("time_to_ship", "Order to ship", kpis.time_to_ship, "shipped orders"),
        ("time_to_delivery", "Order to delivery", kpis.time_to_delivery, "delivered orders"),
    ):
        cards.append(
            {
                "key": key,
                "title": title,
                "values": [
                    _value("median", spread.median_hours, _hours(spread.median_hours), spread.link),
                    _value("90th percentile", spread.p90_hours, _hours(spread.p90_hours), spread.link),
                ],
                "rows": [{"label": over, "values": [_count(over, spread.orders, spread.link)]}],
            }
        )
    main, rows = _rate_values(kpis.split_shipments, counted="split", over="shipped")
    cards.append(
        {
            "key": "split_shipments",
            "title": "Split shipments",
            "hint": "shipped in more than one shipment",
            "values": main,
            "rows": rows,
        }
    )
    cards.append(
        {
            "key": "backorders",
            "title": "Backorders",
            "hint": "waiting for stock now",
            "values": [_count("backordered", kpis.backorders.value, kpis.backorders.link)],
            "rows": [],
        }
    )
    cards.append(
        {
            "key": "holds",
            "title": "On hold",
            "hint": "now, by why the hold was put on",
            "values": [_count("on hold", kpis.on_hold.value, kpis.on_hold.link)],
            "rows": [
                {"label": part.label, "values": [_count(part.label, part.value.value, part.value.link)]}
                for part in kpis.holds_by_reason
            ],
        }
    )
    main, rows = _rate_values(kpis.returns_rate, counted="returns opened", over="orders delivered")
    rows += [
        {"label": f"reason: {part.label}", "values": [_count(part.label, part.value.value, part.value.link)]}
        for part in kpis.return_reasons[:3]
    ]
    cards.append(
        {
            "key": "returns",
            "title": "Returns rate",
            "hint": "returns opened per order delivered; top reasons",
            "values": main,
            "rows": rows,
        }
    )
    errors = kpis.order_errors
    cards.append(
        {
            "key": "order_errors",
            "title": "Order-error rate",
            "hint": "errors opened per shipment shipped, by cause",
            "values": [_value("rate", errors.percent, _percent(errors.percent), errors.numerator_link)],
            "rows": [
                {
                    "label": "errors opened",
                    "values": [_count("errors opened", errors.numerator, errors.numerator_link)],
                },
                {
                    "label": "shipments shipped",
                    "values": [_count("shipments shipped", errors.denominator, errors.denominator_link)],
                },
            ]
            + [
                {
                    "label": part.label,
                    "values": [
                        _count(part.label, part.value.numerator, part.value.numerator_link),
                        _value(
                            f"{part.label} rate",
                            part.value.percent,
                            _percent(part.value.percent),
                            part.value.numerator_link,
                        ),
                    ],
                }
                for part in kpis.order_errors_by_cause
            ],
        }
    )
    cards.append(
        {
            "key": "low_stock",
            "title": "Low-stock SKUs",
            "hint": "at or below the reorder point now",
            "values": [_count("low stock", kpis.low_stock.value, kpis.low_stock.link)],
            "rows": [],
        }
    )
    cards.append(
        {
            "key": "shipping_cost",
            "title": "Shipping cost",
            "hint": "per shipped order, and as a share of its revenue",
            "values": [
                _value(
                    f"per order ({cost.currency})",
                    cost.per_order,
                    "—" if cost.per_order is None else f"{cost.per_order:,.2f} {cost.currency}",
                    cost.link,
                )
                for cost in kpis.shipping_cost
            ],
            "rows": [
                row
                for cost in kpis.shipping_cost
                for row in (
                    {
                        "label": f"share of revenue ({cost.currency})",
                        "values": [
                            _value(
                                f"share of revenue ({cost.currency})",
                                cost.share_of_revenue_percent,
                                _percent(cost.share_of_revenue_percent),
                                cost.link,
                            )
                        ],
                    },
                    {
                        "label": f"shipped orders ({cost.currency})",
                        "values": [_count(f"shipped orders ({cost.currency})", cost.orders, cost.link)],
                    },
                )
            ],
            "note": "" if kpis.shipping_cost else "no orders shipped in this period",
        }
    )
    return cards


def kpi_rows(cards: list[dict]) -> list[list]:
    """The cards as CSV rows: figure, what, value, the console list it counts."""
    rows = [["Figure", "What", "Value", "List"]]
    for card in cards:
        values = [*card["values"], *(value for row in card["rows"] for value in row["values"])]
        rows += [[card["title"], value["label"], value["raw"], value["url"] or ""] for value in values]
    return rows


# --- the charts -------------------------------------------------------------------------
STACKED_CHARTS = frozenset({"orders_per_day", "backlog_age"})


def chart_context(chart, csv_url: str) -> dict:
    """A chart for the page: Chart.js's data (with the axes' units), its table's rows and its CSV download."""
    config = chart.chartjs()
    units = list(dict.fromkeys(dataset.unit for dataset in chart.datasets))
    config["oms"] = {"stacked": chart.key in STACKED_CHARTS, "units": units}
    rows = chart.csv_rows()
    return {
        "key": chart.key,
        "title": chart.title,
        "config": config,
        "script_id": f"chart-data-{chart.key}",
        "header": rows[0],
        "rows": rows[1:],
        "csv_url": csv_url,
        "empty": not chart.labels or not chart.datasets,
    }
