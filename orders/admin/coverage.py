"""The network coverage page: the figures of the network as it is, a what-if beside them, a suggested site.

For operations managers (``orders.add_coveragerun`` to run one, ``orders.view_coveragerun`` to read them).
The form starts a run (``orders.coverage.start_coverage_run``); the run's page shows its progress while the
background task works, then the figures side by side and the maps (drawn on the server, no tiles).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from inventory.models import Warehouse
from oms_core.console.actions import form_page
from oms_core.console.requests import int_or_404
from shipping.coverage import svgmap
from shipping.coverage.demand import DemandFileError, area_key_prefix, read_demand_file

from .. import coverage
from ..models import CoverageRun

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class CoverageForm(forms.Form):
    demand = forms.ChoiceField(
        label="Demand",
        choices=[
            (coverage.DEMAND_ORDERS, "Orders of the last days"),
            (coverage.DEMAND_FILE, "A demand file (CSV: postal_code,weight)"),
            (coverage.DEMAND_POPULATION, "The US population (lower 48, offline GeoNames data)"),
        ],
        initial=coverage.DEMAND_ORDERS,
        widget=forms.RadioSelect,
    )
    days = forms.IntegerField(label="Days of orders", min_value=1, max_value=366, initial=30, required=False)
    demand_file = forms.FileField(
        label="Demand file", required=False, help_text="CSV with a header: postal_code,weight (weight 1 when empty)."
    )
    timing = forms.ChoiceField(
        label="Orders placed",
        choices=[
            (coverage.TIMING_WEEKDAY, "On a business morning (Tuesday 10:00, before the cut-offs)"),
            (coverage.TIMING_WEEK, "Spread over a whole week (every hour)"),
        ],
        initial=coverage.TIMING_WEEKDAY,
    )
    parcel_kg = forms.DecimalField(
        label="Parcel weight (kg)", min_value=Decimal("0.001"), max_digits=7, decimal_places=3, initial=Decimal("1")
    )
    handling_cost = forms.DecimalField(
        label="Handling cost per order",
        min_value=Decimal("0"),
        max_digits=8,
        decimal_places=2,
        initial=Decimal("0.00"),
        help_text="Added to the label price in the landed cost, at every site.",
    )
    add_postal_code = forms.CharField(label="Add a site at ZIP", max_length=10, required=False)
    add_cutoff = forms.TimeField(label="Its cut-off (local)", initial=dt.time(15, 0), required=False)
    add_processing_days = forms.IntegerField(
        label="Its processing days", min_value=0, max_value=10, initial=0, required=False
    )
    remove = forms.MultipleChoiceField(label="Remove warehouses", required=False, widget=forms.CheckboxSelectMultiple)
    change_warehouse = forms.ChoiceField(label="Change a warehouse", required=False)
    change_cutoff = forms.TimeField(label="New cut-off (local)", required=False)
    change_processing_days = forms.IntegerField(label="New processing days", min_value=0, max_value=10, required=False)
    suggest = forms.BooleanField(label="Suggest one more site", required=False)
    target_days = forms.TypedChoiceField(
        label="Best for delivery within",
        choices=[(1, "1 business day"), (2, "2 business days"), (3, "3 business days")],
        coerce=int,
        initial=2,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        codes = [
            (code, f"{code} · {name}")
            for code, name in Warehouse.objects.filter(is_active=True).values_list("code", "name")
        ]
        self.fields["remove"].choices = codes
        self.fields["change_warehouse"].choices = [("", "—"), *codes]

    def clean(self):
        data = super().clean()
        if data.get("demand") == coverage.DEMAND_FILE:
            upload = data.get("demand_file")
            if upload is None:
                self.add_error("demand_file", "Upload the demand file.")
            elif upload.size > MAX_UPLOAD_BYTES:
                self.add_error("demand_file", "The file is over 10 MB; group the demand by ZIP code.")
            else:
                try:
                    text = upload.read().decode("utf-8-sig")
                except UnicodeDecodeError:
                    self.add_error("demand_file", "The file is not UTF-8 text.")
                else:
                    try:
                        data["file_rows"] = read_demand_file(text)
                    except DemandFileError as refusal:
                        self.row_errors = refusal.errors
                        self.add_error("demand_file", str(refusal))
        if data.get("demand") == coverage.DEMAND_ORDERS and not data.get("days"):
            self.add_error("days", "Say how many days of orders.")
        if data.get("change_warehouse"):
            if data.get("change_cutoff") is None:
                self.add_error("change_cutoff", "Give the new cut-off (or leave the warehouse empty).")
            if data.get("change_processing_days") is None:
                self.add_error("change_processing_days", "Give the new processing days.")
        return data

    def parameters(self) -> dict:
        data = self.cleaned_data
        parameters = {
            "demand": data["demand"],
            "days": data.get("days"),
            "timing": data["timing"],
            "parcel_kg": str(data["parcel_kg"]),
            "handling_cost": str(data["handling_cost"]),
            "add_postal_code": data.get("add_postal_code", "").strip(),
            "add_cutoff": (data.get("add_cutoff") or dt.time(15, 0)).strftime("%H:%M"),
            "add_processing_days": data.get("add_processing_days") or 0,
            "remove": list(data.get("remove") or []),
            "changes": {},
            "suggest": bool(data.get("suggest")),
            "target_days": data["target_days"],
        }
        if data.get("change_warehouse"):
            parameters["changes"][data["change_warehouse"]] = {
                "cutoff": data["change_cutoff"].strftime("%H:%M"),
                "processing_days": data["change_processing_days"],
            }
        if data["demand"] == coverage.DEMAND_FILE:
            # One row per ZIP code: a file of 200,000 order lines is kept as the few thousand codes it names.
            weights: dict[str, float] = {}
            for code, weight in data["file_rows"]:
                weights[code] = weights.get(code, 0.0) + weight
            parameters["file_rows"] = [[code, weight] for code, weight in sorted(weights.items())]
            parameters["file_row_count"] = len(data["file_rows"])
            parameters["file_name"] = data["demand_file"].name[:100]
        return parameters


FORM_SECTIONS = (
    ("Demand and assumptions", ("demand", "days", "demand_file", "timing", "parcel_kg", "handling_cost")),
    (
        "What if…",
        (
            "add_postal_code",
            "add_cutoff",
            "add_processing_days",
            "remove",
            "change_warehouse",
            "change_cutoff",
            "change_processing_days",
        ),
    ),
    ("Where would one more site do most?", ("suggest", "target_days")),
)


@admin.register(CoverageRun)
class CoverageRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "created_by", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("created_by",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/status/", view(self.status_view), name="orders_coveragerun_status"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """The what-if form: the demand, the assumptions and the changes to try; starts a run."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        row_errors = []
        if request.method == "POST":
            form = CoverageForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    run = coverage.start_coverage_run(parameters=form.parameters(), actor=request.user)
                except coverage.CoverageRunError as refusal:
                    field = refusal.field if refusal.field in form.fields else None
                    form.add_error(field, refusal.message)
                else:
                    self.message_user(request, f"{run}: working it out.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:orders_coveragerun_change", args=[run.pk]))
            row_errors = getattr(form, "row_errors", [])
        else:
            form = CoverageForm()
        return form_page(
            self,
            request,
            "admin/orders/coveragerun/new.html",
            title="Network coverage: what if…",
            form=form,
            row_errors=row_errors,
            sections=[{"title": title, "fields": [form[name] for name in names]} for title, names in FORM_SECTIONS],
            submit_label="Work it out",
            submit_id="coverage-submit",
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A run: its progress while it works, then the figures side by side and the maps."""
        run = get_object_or_404(CoverageRun, pk=int_or_404(object_id))
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Network coverage",
            "run": run,
            "original": run,
            "status": self.status_data(run),
            "can_run": self.has_add_permission(request),
        }
        if run.status == CoverageRun.Status.DONE and run.result:
            context.update(result_context(run.result))
        return TemplateResponse(request, "admin/orders/coveragerun/run.html", context)

    @staticmethod
    def status_data(run: CoverageRun) -> dict:
        return {
            "id": run.pk,
            "status": run.status,
            "status_label": run.get_status_display(),
            "running": run.is_running,
            "done": run.progress_done,
            "total": run.progress_total,
            "percent": run.progress_percent,
            "error": run.error,
        }

    def status_view(self, request, object_id):
        """The run's progress as JSON; its page polls it while the run works."""
        run = get_object_or_404(CoverageRun.objects.defer("result", "parameters"), pk=int_or_404(object_id))
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        response = JsonResponse(self.status_data(run))
        response["Cache-Control"] = "no-store"
        return response


# --- the page's figures ----------------------------------------------------------------------------------------
def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f} %"


def _days(days: float | None) -> str:
    return "—" if days is None else f"{days:.2f}"


def _map_points(areas: list[dict], area_days: dict) -> list[svgmap.MapPoint]:
    """One dot per 3-digit ZIP area: the parts of its orders only some warehouses can fill drawn together, their
    days the weighted mean of the parts served (none served: not served)."""
    merged: dict[str, list] = {}
    for area in areas:
        prefix = area_key_prefix(area["key"])
        row = merged.setdefault(prefix, [area["lat"], area["lon"], 0.0, 0.0, 0.0])  # lat, lon, weight, served, days
        row[2] += area["weight"]
        days = area_days.get(area["key"])
        if days is not None:
            row[3] += area["weight"]
            row[4] += area["weight"] * days
    return [
        svgmap.MapPoint(prefix, lat, lon, weight, round(days / served, 2) if served else None)
        for prefix, (lat, lon, weight, served, days) in merged.items()
    ]


def result_context(result: dict) -> dict:
    """The columns (current, what-if, suggestion), the figure rows, the per-site tables and the maps."""
    columns = [("current", "The network as it is", result["current"])]
    if result.get("whatif"):
        columns.append(("whatif", "What-if", result["whatif"]))
    if result.get("suggestion"):
        suggestion = result["suggestion"]
        columns.append(
            (
                "suggestion",
                f"{'What-if and one' if result.get('whatif') else 'One'} more site near "
                f"{suggestion['postal_code']} ({suggestion['state']})",
                {"sites": suggestion["sites"], "figures": suggestion["figures"]},
            )
        )
    rows = []
    for days in ("1", "2", "3"):
        rows.append(
            {
                "key": f"within-{days}",
                "label": f"Within {days} business day{'s' if days != '1' else ''}",
                "values": [_percent(column[2]["figures"]["within"][days]) for column in columns],
            }
        )
    rows.append(
        {
            "key": "mean-days",
            "label": "Mean promised days",
            "values": [_days(column[2]["figures"]["mean_days"]) for column in columns],
        }
    )
    rows.append(
        {
            "key": "mean-cost",
            "label": "Mean landed cost",
            "values": [column[2]["figures"]["mean_cost"] or "—" for column in columns],
        }
    )
    rows.append(
        {
            "key": "unserved",
            "label": "Not served (no stock, no ground service)",
            "values": [_percent(column[2]["figures"]["unserved"]) for column in columns],
        }
    )
    areas = result["areas"]
    maps = []
    for key, title, column in columns:
        points = _map_points(areas, column["figures"]["area_days"])
        sites = [
            svgmap.MapSite(site["code"], site["name"], site["lat"], site["lon"], site["candidate"])
            for site in column["sites"]
        ]
        svg, outside = svgmap.render_map(
            points, sites, title=f"{title}: demand coloured by days", element_id=f"map-{key}"
        )
        maps.append({"key": key, "title": title, "svg": mark_safe(svg), "outside": outside})  # noqa: S308 (built and escaped by render_map)
    return {
        "columns": [{"key": key, "title": title} for key, title, _ in columns],
        "rows": rows,
        "site_tables": [
            {
                "key": key,
                "title": title,
                "sites": [
                    {**site, "share": _percent(site["share"]), "mean_days": _days(site["mean_days"])}
                    for site in column["figures"]["sites"]
                ],
            }
            for key, title, column in columns
        ],
        "maps": maps,
        "assumptions": result["assumptions"],
        "suggestion": result.get("suggestion"),
    }
