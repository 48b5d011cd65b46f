"""The operations console: Django's admin, branded, with a home page for each role and a sidebar grouped by work.

The home shows what the signed-in person's permissions say is theirs: the operations cockpit (key figures and
charts of a period, ``orders.cockpit``) for those who run the order flow, the warehouse's work (picking, labels,
shipping, counts) and the returns queue for those who do that work, and the order queue with its late, at-risk
and on-hold orders for everyone who may see orders.
"""

import csv
from decimal import Decimal

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.base import ModelBase
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from simple_history.admin import SimpleHistoryAdmin

from notifications import selectors as message_selectors
from orders import selectors as order_selectors
from orders.cockpit import Kpis, ListLink, Period, Rate, charts_for, kpis_for
from orders.models import OrderStatus

from . import two_factor

DASHBOARD_LIST_SIZE = 10


class OpsAdminSite(admin.AdminSite):
    site_header = settings.OMS_BRAND_NAME
    site_title = settings.OMS_BRAND_NAME
    index_title = "Operations console"
    index_template = "admin/ops_index.html"
    site_url = None  # the console is the whole site: no "View site" link
    enable_nav_sidebar = True  # our own sidebar, grouped by work (templates/admin/nav_sidebar.html, oms/console.js)

    def each_context(self, request):
        """Every console page's context, plus the sidebar's groups and where ``/`` searches."""
        context = super().each_context(request)
        context["oms_nav"] = nav_groups(context.get("available_apps") or [], request.path)
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.has_perm("orders.view_order"):
            context["oms_search_url"] = reverse("admin:orders_order_changelist", current_app=self.name)
        return context

    # --- change history (django-simple-history) --------------------------------
    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model that keeps a history (``history = HistoricalRecords()``) gets its History page.

        The page lists each change: who, when, and each field from what to what. The model's own console
        (its templates included) is otherwise as its app wrote it.
        """
        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        for model in models:
            console = admin_class or admin.ModelAdmin
            if hasattr(model, "history") and not issubclass(console, SimpleHistoryAdmin):
                keep = {"change_form_template": console.change_form_template, "__module__": console.__module__}
                console = type(console.__name__, (SimpleHistoryAdmin, console), keep)
            super().register(model, console, **options)

    # --- two-factor sign-in (oms_site/two_factor.py) ---------------------------
    def has_permission(self, request):
        """Staff who must still give a second-factor code see nothing of the console until they do."""
        return super().has_permission(request) and not two_factor.needs_code(request.user)

    def login(self, request, extra_context=None):
        """A user signed in with the password who still owes a code goes to the code page."""
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and two_factor.needs_code(user):
            target = request.GET.get("next") or reverse("admin:index", current_app=self.name)
            return HttpResponseRedirect(f"{reverse('admin:two_factor_verify')}?{urlencode({'next': target})}")
        return super().login(request, extra_context)

    def get_urls(self):
        def page(view):
            def wrapped(request):
                return view(request, site_context=self.each_context(request))

            return never_cache(wrapped)

        return [
            path("cockpit/<slug:name>.csv", self.admin_view(self.cockpit_csv), name="cockpit_csv"),
            path("two-factor/", page(two_factor.verify), name="two_factor_verify"),
            path("two-factor/setup/", page(two_factor.setup), name="two_factor_setup"),
            path("two-factor/recovery-codes/", page(two_factor.recovery_codes), name="two_factor_codes"),
            *super().get_urls(),
        ]

    # --- console tools (shipping) ---------------------------------------------
    def get_app_list(self, request, app_label=None):
        """The apps and their models, plus each model admin's ``console_tools`` (pages that are not lists).

        A tool shows as a row of its app (on the index and the app's page), e.g.
        shipping's delivery promise; no app has to be imported here.
        """
        app_list = super().get_app_list(request, app_label)
        apps = {app["app_label"]: app for app in app_list}
        for model, model_admin in self._registry.items():
            app = apps.get(model._meta.app_label)
            tools = getattr(model_admin, "console_tools", None)
            if app is None or tools is None:
                continue
            for tool in tools(request):
                app["models"].append(
                    {
                        "name": tool["name"],
                        "object_name": tool.get("key", "tool"),
                        "perms": {"view": True},
                        "admin_url": tool["url"],
                        "add_url": None,
                        "view_only": True,
                    }
                )
        return app_list

    # --- end console tools ---------------------------------------------------

    # --- the home: one section per kind of work the user may do ----------------------
    def index(self, request, extra_context=None):
        """The home: the cockpit, the warehouse's work, the returns queue, the order queue, as the user may see."""
        user = request.user
        extra_context = {
            **(extra_context or {}),
            "cockpit": self.cockpit_context(request) if may_see_cockpit(user) else None,
            "warehouse_work": None if may_see_cockpit(user) else warehouse_work(user),
            "returns_work": None if may_see_cockpit(user) else returns_work(user),
            **self.dashboard_context(request),
        }
        return super().index(request, extra_context)

    def cockpit_context(self, request) -> dict:
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
        }

    def cockpit_csv(self, request, name: str) -> HttpResponse:
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

    def dashboard_context(self, request) -> dict:
        """The order queue, at-risk, late and on-hold orders, for users who may see orders."""
        if not request.user.has_perm("orders.view_order"):
            return {"dashboard": None}
        changelist = reverse("admin:orders_order_changelist")
        counts = order_selectors.status_counts()
        queue = [
            {
                "status": status,
                "label": label,
                "count": counts[status],
                "url": f"{changelist}?status__exact={status}",
            }
            for status, label in OrderStatus.choices
        ]
        now = timezone.now()
        late = order_selectors.late_orders(now)
        at_risk = order_selectors.at_risk_orders(now)
        on_hold = order_selectors.on_hold_orders()
        # notifications: messages that failed for good wait for an operator's resend
        failed_messages = None
        if request.user.has_perm("notifications.view_message"):
            failed_messages = {
                "count": message_selectors.failed_messages().count(),
                "url": f"{reverse('admin:notifications_message_changelist')}?status__exact=failed",
            }
        return {
            "dashboard": {
                "failed_messages": failed_messages,
                "attention": self._attention(request),
                "queue": queue,
                "total": sum(counts.values()),
                "panels": [
                    {
                        "key": "late",
                        "title": "Late",
                        "hint": "Promised date passed, not shipped",
                        "count": late.count(),
                        "orders": list(late.order_by("promised_date", "id")[:DASHBOARD_LIST_SIZE]),
                        "url": f"{changelist}?promise=late",
                    },
                    {
                        "key": "at_risk",
                        "title": "At risk",
                        "hint": f"Promised within {settings.ORDER_AT_RISK_HOURS} h, not shipped",
                        "count": at_risk.count(),
                        "orders": list(at_risk.order_by("promised_date", "id")[:DASHBOARD_LIST_SIZE]),
                        "url": f"{changelist}?promise=at_risk",
                    },
                    {
                        "key": "on_hold",
                        "title": "On hold",
                        "hint": "Waiting for an operator",
                        "count": counts[OrderStatus.ON_HOLD],
                        "orders": list(on_hold.order_by("placed_at", "id")[:DASHBOARD_LIST_SIZE]),
                        "url": f"{changelist}?status__exact={OrderStatus.ON_HOLD}",
                    },
                ],
            }
        }

    def _attention(self, request) -> list[dict]:
        """Work waiting outside the order queue: open returns, refunds and payments to look at, failed exports."""
        from orders.payments.models import ExportBatch, PaymentTransaction
        from orders.returns.models import OPEN_RETURN_STATUSES, Refund, ReturnRequest

        user = request.user
        items = []
        if user.has_perm("returns.view_returnrequest"):
            items.append(
                {
                    "key": "open-returns",
                    "label": "Open returns",
                    "count": ReturnRequest.objects.filter(status__in=OPEN_RETURN_STATUSES).count(),
                    "url": f"{reverse('admin:returns_returnrequest_changelist')}?queue=open",
                    "hint": "not closed or rejected yet",
                }
            )
        if user.has_perm("returns.view_refund"):
            items.append(
                {
                    "key": "refunds-to-settle",
                    "label": "Refunds to settle",
                    "count": Refund.objects.filter(status=Refund.Status.PENDING).count(),
                    "url": f"{reverse('admin:returns_refund_changelist')}?status__exact={Refund.Status.PENDING}",
                    "hint": "recorded, not yet paid back",
                }
            )
        if user.has_perm("payments.view_paymenttransaction"):
            T = PaymentTransaction
            items.append(
                {
                    "key": "payment-problems",
                    "label": "Payment problems",
                    "count": T.objects.filter(
                        kind=T.Kind.CAPTURE, status__in=[T.Status.ERROR, T.Status.DECLINED]
                    ).count(),
                    "url": f"{reverse('admin:payments_paymenttransaction_changelist')}?kind__exact=capture",
                    "hint": "captures declined or failing",
                }
            )
        if user.has_perm("payments.view_exportbatch"):
            items.append(
                {
                    "key": "failed-exports",
                    "label": "Failed accounting exports",
                    "count": ExportBatch.objects.filter(status=ExportBatch.Status.FAILED).count(),
                    "url": f"{reverse('admin:payments_exportbatch_changelist')}?status__exact=failed",
                    "hint": "re-send them from the list",
                }
            )
        return items


# --- who sees the cockpit ------------------------------------------------------------
# The cockpit is for the people who run the order flow: operations managers (the VP of Operations among them)
# and associates hold ``orders.view_cockpit`` (oms_site/roles.py); returns associates and warehouse staff get
# their own queue as their home. Superusers hold every permission.
COCKPIT_PERMISSIONS = ("orders.view_cockpit",)


def may_see_cockpit(user) -> bool:
    return user.is_active and user.has_perms(COCKPIT_PERMISSIONS)


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
            "note": f"{placed.previous:,} the previous period · {_change(placed.value, placed.previous)}",
            "rows": [],
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
                f"{amount.previous:,.2f} {amount.currency} the previous period "
                f"({_change(amount.value, amount.previous)})"
                for amount in kpis.revenue
            )
            or "no orders placed in this period or the one before",
            "rows": [],
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


# --- the warehouse's and the returns desk's work ---------------------------------------------
def warehouse_work(user) -> dict | None:
    """Per active warehouse: units reserved to pick, labels to buy, shipments to pack and mark shipped,
    exceptions, counts open and submitted; and the label batches rendering or failed. Each a count that
    links to its list. Five queries whatever the data."""
    from inventory.models import Allocation, CycleCount, Warehouse
    from shipping.models import LabelBatch, Shipment, ShipmentStatus

    may = {
        "pick": user.has_perm("inventory.view_allocation"),
        "ship": user.has_perm("shipping.print_labels") or user.has_perm("shipping.ship_shipment"),
        "count": user.has_perm("inventory.change_cyclecount"),
        "batches": user.has_perm("shipping.view_labelbatch") and user.has_perm("shipping.print_labels"),
    }
    if not (may["ship"] or may["count"]):
        return None
    warehouses = list(Warehouse.objects.filter(is_active=True).order_by("code").values_list("pk", "code", "name"))
    columns = []  # (key, title, hint, {warehouse: count}, url for a warehouse)
    if may["pick"]:
        lines = dict(
            Allocation.objects.order_by()
            .values("warehouse_id")
            .annotate(n=Count("pk"))
            .values_list("warehouse_id", "n")
        )
        allocations = reverse("admin:inventory_allocation_changelist")
        columns.append(
            (
                "pick",
                "To pick",
                "order lines reserved, not shipped",
                lines,
                lambda pk: f"{allocations}?{urlencode({'warehouse__id__exact': pk})}",
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


def returns_work(user) -> dict | None:
    """The returns desk's queue: open returns by status, refunds to settle or failed, order errors open by
    cause. Each a count linking to its list; three queries whatever the data."""
    from orders.returns.models import OPEN_RETURN_STATUSES, OrderErrorCase, Refund, ReturnRequest, ReturnStatus

    if not (user.has_perm("returns.process_returnrequest") or user.has_perm("returns.settle_refund")):
        return None
    groups = []
    if user.has_perm("returns.view_returnrequest"):
        found = dict(
            ReturnRequest.objects.filter(status__in=OPEN_RETURN_STATUSES)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        returns = reverse("admin:returns_returnrequest_changelist")
        groups.append(
            {
                "key": "returns",
                "title": "Open returns",
                "total": {"count": sum(found.values()), "url": f"{returns}?queue=open"},
                "items": [
                    {
                        "key": status,
                        "label": label,
                        "count": found.get(status, 0),
                        "url": f"{returns}?{urlencode({'status__exact': status})}",
                    }
                    for status, label in ReturnStatus.choices
                    if status in OPEN_RETURN_STATUSES
                ],
            }
        )
    if user.has_perm("returns.view_refund"):
        found = dict(
            Refund.objects.filter(status__in=[Refund.Status.PENDING, Refund.Status.FAILED])
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        refunds = reverse("admin:returns_refund_changelist")
        groups.append(
            {
                "key": "refunds",
                "title": "Refunds",
                "total": None,
                "items": [
                    {
                        "key": status,
                        "label": label,
                        "count": found.get(status, 0),
                        "url": f"{refunds}?{urlencode({'status__exact': status})}",
                    }
                    for status, label in ((Refund.Status.PENDING, "To settle"), (Refund.Status.FAILED, "Failed"))
                ],
            }
        )
    if user.has_perm("returns.view_ordererrorcase"):
        found = dict(
            OrderErrorCase.objects.filter(status=OrderErrorCase.Status.OPEN)
            .order_by()
            .values("root_cause")
            .annotate(n=Count("pk"))
            .values_list("root_cause", "n")
        )
        errors = reverse("admin:returns_ordererrorcase_changelist")
        open_errors = {"status__exact": OrderErrorCase.Status.OPEN}
        groups.append(
            {
                "key": "order_errors",
                "title": "Order errors open",
                "total": {"count": sum(found.values()), "url": f"{errors}?{urlencode(open_errors)}"},
                "items": [
                    {
                        "key": cause,
                        "label": label,
                        "count": found.get(cause, 0),
                        "url": f"{errors}?{urlencode({**open_errors, 'root_cause__exact': cause})}",
                    }
                    for cause, label in OrderErrorCase.RootCause.choices
                ],
            }
        )
    return {"groups": groups}


# --- the sidebar: the console's lists grouped by the work they serve ----------------------
NAV_GROUPS = (
    ("orders", "Orders"),
    ("stock", "Stock"),
    ("shipping", "Shipping"),
    ("money", "Money"),
    ("messages", "Messages"),
    ("setup", "Setup"),
    ("other", "Other"),
)
# (app label, model's object name or a console tool's key) -> group; in the order the group lists them.
NAV_PLACES = {
    key: group
    for group, keys in {
        "orders": [
            ("orders", "Order"),
            ("shipping", "Shipment"),
            ("returns", "ReturnRequest"),
            ("returns", "OrderErrorCase"),
            ("returns", "report"),
            ("orders", "Customer"),
            ("inventory", "ImportJob"),
        ],
        "stock": [
            ("inventory", "StockLevel"),
            ("inventory", "StockMovement"),
            ("inventory", "Allocation"),
            ("inventory", "CycleCount"),
            ("inventory", "InventoryCheckRun"),
            ("inventory", "InventoryFinding"),
            ("inventory", "Warehouse"),
            ("inventory", "Product"),
            ("inventory", "SafetyStockRule"),
            ("inventory", "RoutingExclusion"),
        ],
        "shipping": [
            ("shipping", "LabelBatch"),
            ("shipping", "TrackingEvent"),
            ("shipping", "promise"),
            ("shipping", "Vendor"),
            ("shipping", "CarrierService"),
        ],
        "money": [
            ("payments", "PaymentTransaction"),
            ("returns", "Refund"),
            ("payments", "ExportBatch"),
            ("payments", "JournalEntry"),
            ("payments", "Account"),
            ("payments", "AccountMapping"),
            ("payments", "CreditRule"),
            ("payments", "BlockedValue"),
        ],
        "messages": [
            ("notifications", "Message"),
            ("notifications", "MessageTemplate"),
            ("notifications", "RecipientList"),
        ],
        "setup": [
            ("orders", "Channel"),
            ("orders", "ChannelVariant"),
            ("returns", "ReturnPolicy"),
            ("auth", "User"),
            ("auth", "Group"),
            ("django_celery_beat", "PeriodicTask"),
            ("django_celery_beat", "CrontabSchedule"),
            ("django_celery_beat", "IntervalSchedule"),
            ("django_celery_beat", "ClockedSchedule"),
            ("django_celery_beat", "SolarSchedule"),
            ("otp_totp", "TOTPDevice"),
            ("otp_static", "StaticDevice"),
            ("axes", "AccessAttempt"),
            ("axes", "AccessFailureLog"),
            ("axes", "AccessLog"),
        ],
    }.items()
    for key in keys
}
NAV_ORDER = {key: index for index, key in enumerate(NAV_PLACES)}


def nav_groups(app_list: list[dict], current_path: str) -> list[dict]:
    """The admin's app list (what this user may see), regrouped by work; a model no group names goes to
    "Other", so nothing the user may open disappears. The entry whose address the page is under is current."""
    entries: dict[str, list[dict]] = {group: [] for group, _ in NAV_GROUPS}
    for app in app_list:
        for model in app["models"]:
            url = model.get("admin_url")
            if not url:
                continue
            key = (app["app_label"], model["object_name"])
            entries[NAV_PLACES.get(key, "other")].append(
                {
                    "name": model["name"],
                    "url": url,
                    "key": f"{key[0]}.{key[1].lower()}",
                    "order": NAV_ORDER.get(key, len(NAV_ORDER)),
                    "current": False,
                }
            )
    under = [entry for group in entries.values() for entry in group if current_path.startswith(entry["url"])]
    if under:
        max(under, key=lambda entry: len(entry["url"]))["current"] = True
    return [
        {"key": group, "title": title, "entries": sorted(entries[group], key=lambda e: (e["order"], str(e["name"])))}
        for group, title in NAV_GROUPS
        if entries[group]
    ]
