"""The manual's sections, each written on request from where its rules are defined.

A section is a key, a title, a template (``templates/admin/manual/sections/<key>.html``, the same markup in
the console and in the PDF) and a function that reads the configuration as it is now: the order state table
beside the order model, the warehouses', carriers', credit and return rows through their models' fields,
the notification events and their templates, the beat schedule (the database's, as operators changed it,
else the settings'), the roles table in code. Nothing is copied or cached, so a change of a rule shows the
next time the page is opened. Another part of the product adds a section with ``register_section``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db.models import Count
from django.template import TemplateDoesNotExist

from .changes import Change, last_change, person
from .diagram import state_diagram
from .tables import model_table


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    summary: str
    build: Callable[[], dict]
    template: str = ""
    # Where its rules are set in the console: model labels ("inventory.Warehouse"); each reader sees the lists
    # they may open.
    set_in: tuple[str, ...] = ()
    # A section that shows what not every reader may see (a customer's credit, its people): the permission it
    # takes; blank for every reader of the manual.
    permission: str = ""

    @property
    def template_name(self) -> str:
        return self.template or f"admin/manual/sections/{self.key}.html"


SECTIONS: dict[str, Section] = {}


def sections_for(user) -> dict[str, Section]:
    """The sections this reader may read (all of them without a reader: the manual as a whole)."""
    return {
        key: section
        for key, section in SECTIONS.items()
        if user is None or not section.permission or user.has_perm(section.permission)
    }


def register_section(section: Section) -> Section:
    """Add a section to the manual (or replace the one of the same key), after those already there."""
    SECTIONS[section.key] = section
    return section


def defined_in(obj, name: str) -> str:
    """Where a table in code lives, as the manual names it: ``orders/models.py (ORDER_TRANSITIONS)``."""
    path = Path(inspect.getsourcefile(obj) or "")
    if path.is_relative_to(Path(settings.BASE_DIR)):
        path = path.relative_to(Path(settings.BASE_DIR))
    return f"{path.as_posix()} ({name})"


def console_lists(section: Section, user) -> list[dict]:
    """The console lists where the section's rules are set, those ``user`` may open, as name and address."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    lists = []
    for label in section.set_in:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        opts = model._meta
        if not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            continue
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except NoReverseMatch:
            continue
        lists.append({"name": str(opts.verbose_name_plural).capitalize(), "url": url})
    return lists


def build_section(section: Section) -> dict:
    """The section's context: its own entries, plus ``changed`` (the last change) and ``code`` (tables in code)."""
    context = {"changed": None, "code": [], **section.build()}
    return {"section": section, **context}


# --- order states and transitions ---------------------------------------------------------------------


def _machine(key: str, title: str, status_choices, transitions, where: str, note: str = "") -> dict:
    labels = dict(status_choices.choices)
    return {
        "key": key,
        "title": title,
        "note": note,
        "diagram": state_diagram(key=key, title=title, labels=labels, transitions=transitions),
        "rows": [
            {
                "status": status,
                "label": label,
                "next": [labels[target] for target in labels if target in transitions.get(status, ())],
            }
            for status, label in labels.items()
        ],
        "defined_in": where,
    }


def order_states() -> dict:
    from orders import models as orders_models
    from orders.returns import models as returns_models
    from shipping import models as shipping_models

    machines = [
        _machine(
            "order",
            "Order",
            orders_models.OrderStatus,
            orders_models.ORDER_TRANSITIONS,
            defined_in(orders_models, "ORDER_TRANSITIONS"),
            "An order taken off hold goes back to the status it was held from.",
        ),
        _machine(
            "shipment",
            "Shipment",
            shipping_models.ShipmentStatus,
            shipping_models.SHIPMENT_TRANSITIONS,
            defined_in(shipping_models, "SHIPMENT_TRANSITIONS"),
        ),
        _machine(
            "return",
            "Return",
            returns_models.ReturnStatus,
            returns_models.RETURN_TRANSITIONS,
            defined_in(returns_models, "RETURN_TRANSITIONS"),
        ),
    ]
    return {"machines": machines, "code": [machine["defined_in"] for machine in machines]}


# --- routing ---------------------------------------------------------------------------------------------


def routing_rules() -> dict:
    from inventory.models import RoutingExclusion, SafetyStockRule, Warehouse

    return {
        "tables": [
            model_table(Warehouse.objects.order_by("priority", "code"), title="Warehouses", exclude=["address_line1"]),
            model_table(SafetyStockRule.objects.order_by("pk"), title="Safety stock", empty="No units held back."),
            model_table(RoutingExclusion.objects.order_by("pk"), title="Exclusions", empty="No warehouse excluded."),
        ],
        "changed": last_change([Warehouse, SafetyStockRule, RoutingExclusion]),
    }


# --- vendors and services --------------------------------------------------------------------------------


def carriers() -> dict:
    from shipping.models import ZONES, CarrierService, Rate, TransitTime, Vendor

    vendors = []
    for vendor in Vendor.objects.prefetch_related("services__transit_times").order_by("name"):
        services = []
        for service in vendor.services.all():
            days = {transit.zone: transit.business_days for transit in service.transit_times.all()}
            services.append({"service": service, "transit": [days.get(zone) for zone in ZONES]})
        vendors.append(
            {
                "vendor": vendor,
                "table": model_table(
                    Vendor.objects.filter(pk=vendor.pk),
                    title=vendor.name,
                    exclude=["contact_name", "contact_email", "contact_phone", "tracking_url_template"],
                    with_change=False,  # one vendor's row: the section's last change covers them all
                ),
                "services": model_table(vendor.services.order_by("code"), title="Services", with_change=False),
                "transit": services,
            }
        )
    return {
        "vendors": vendors,
        "zones": list(ZONES),
        "changed": last_change([Vendor, CarrierService, TransitTime, Rate]),
    }


# --- credit rules and holds ------------------------------------------------------------------------------


def credit_and_holds() -> dict:
    from orders import events as order_events
    from orders import models as order_models
    from orders.payments.models import BlockedValue, CreditRule

    from .. import roles as roles_module

    blocked = dict(BlockedValue.objects.values_list("kind").annotate(rows=Count("pk")).order_by())
    # who may release each hold type: the roles whose group holds the type's permission now (a change to a
    # role shows at once)
    releasers: dict[str, list[str]] = {}
    for role, codename in Group.objects.filter(
        name__in=list(roles_module.ROLES), permissions__content_type__app_label="orders"
    ).values_list("name", "permissions__codename"):
        releasers.setdefault(f"orders.{codename}", []).append(role)
    hold_types = [
        (label, key, sorted(releasers.get(order_models.release_permission(key), [])))
        for key, label in order_models.HoldType.choices
    ]
    return {
        "rules": model_table(CreditRule.objects.order_by("name"), title="Credit rules", empty="No credit rule."),
        "kinds": CreditRule.Kind.choices,
        "blocked": [(label, blocked.get(kind, 0)) for kind, label in BlockedValue.Kind.choices],
        "hold_types": hold_types,
        "hold_causes": list(order_events.HOLD_CAUSES.items()),
        "changed": last_change([CreditRule, BlockedValue, Group]),
        "code": [
            defined_in(order_models, "HoldType"),
            defined_in(order_events, "HOLD_CAUSES"),
            defined_in(roles_module, "ROLES"),
        ],
    }


# --- the return policy ----------------------------------------------------------------------------------


def return_policy() -> dict:
    from orders.returns.models import ReasonRule, ReturnPolicy

    policy = ReturnPolicy.objects.order_by("pk").first()
    if policy is None:
        policy_table = None
        reasons = None
    else:
        policy_table = model_table(ReturnPolicy.objects.filter(pk=policy.pk), title="The policy")
        reasons = model_table(policy.reasons.order_by("reason"), title="Per reason", exclude=["policy"])
    return {
        "policy": policy_table,
        "reasons": reasons,
        "default_window": settings.RETURNS_WINDOW_DAYS,
        "default_reasons": settings.RETURNS_REASONS,
        "changed": last_change([ReturnPolicy, ReasonRule]),
    }


# --- notification events and their templates ------------------------------------------------------------


def _source(event: str, part: str) -> str:
    from notifications.rendering import default_source

    try:
        return default_source(event, part)
    except TemplateDoesNotExist:
        return ""


def notification_events() -> dict:
    from notifications import events as notification_events_module
    from notifications.models import MessageTemplate, RecipientList

    overrides = {template.event: template for template in MessageTemplate.objects.filter(is_active=True)}
    recipients = {row.event: row for row in RecipientList.objects.all()}
    events = []
    for code, event in notification_events_module.EVENTS.items():
        override = overrides.get(code)
        parts = []
        for part, label in (("subject", "Subject"), ("text_body", "Text")):
            own = getattr(override, part, "") if override else ""
            parts.append({"label": label, "source": own or _source(code, part), "overridden": bool(own)})
        recipient_list = recipients.get(code)
        events.append(
            {
                "event": event,
                "audience": "Customer" if event.audience == notification_events_module.CUSTOMER else "Operations",
                "override": override,
                "parts": parts,
                "recipients": recipient_list.addresses if recipient_list else [],
                "ops_emails": (recipient_list.include_ops_emails if recipient_list else True)
                and event.audience == notification_events_module.OPS,
            }
        )
    return {
        "events": events,
        "changed": last_change([MessageTemplate, RecipientList]),
        "code": [defined_in(notification_events_module, "EVENTS")],
    }


# --- schedules -------------------------------------------------------------------------------------------


def describe_seconds(seconds: float) -> str:
    seconds = int(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"every {count} {unit}{'s' if count != 1 else ''}" if count != 1 else f"every {unit}"
    return f"every {seconds} seconds"


def describe_schedule(schedule) -> str:
    """A settings entry's schedule (seconds, a timedelta or a crontab) in words, as the console shows the rows."""
    from celery.schedules import crontab
    from django_celery_beat.models import CrontabSchedule

    if isinstance(schedule, crontab):
        # As strings: django-celery-beat reads a field of 0 (an int) as "*".
        return CrontabSchedule(
            minute=str(schedule._orig_minute),
            hour=str(schedule._orig_hour),
            day_of_week=str(schedule._orig_day_of_week),
            day_of_month=str(schedule._orig_day_of_month),
            month_of_year=str(schedule._orig_month_of_year),
            timezone=settings.CELERY_TIMEZONE,
        ).human_readable
    if hasattr(schedule, "total_seconds"):
        return describe_seconds(schedule.total_seconds())
    if isinstance(schedule, int | float):
        return describe_seconds(schedule)
    return str(schedule)


def describe_row(task) -> str:
    if task.interval_id:
        return describe_seconds(task.interval.every * _PERIOD_SECONDS.get(task.interval.period, 1))
    if task.crontab_id:
        return task.crontab.human_readable
    for kind in ("solar", "clocked"):
        if getattr(task, f"{kind}_id"):
            return str(getattr(task, kind))
    return "no schedule"


_PERIOD_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}


def _purpose(task_name: str) -> str:
    """The first line of the task's docstring: what the scheduled run does."""
    from ..celery import app

    task = app.tasks.get(task_name)
    doc = (inspect.getdoc(task) or "") if task is not None else ""
    return doc.splitlines()[0] if doc else ""


def schedules() -> dict:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    rows = {
        task.name: task
        for task in PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked").order_by("name")
    }
    entries = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        row = rows.pop(name, None)
        options = entry.get("options", {})
        if row is not None:
            entries.append(_row_entry(row, source="database"))
        else:
            entries.append(
                {
                    "name": name,
                    "task": entry["task"],
                    "purpose": _purpose(entry["task"]),
                    "when": describe_schedule(entry["schedule"]),
                    "enabled": True,
                    "expires": options.get("expire_seconds") or options.get("expires"),
                    "last_run": None,
                    "source": "settings",
                }
            )
    entries.extend(_row_entry(row, source="database") for row in rows.values())
    changed = last_change([PeriodicTask, CrontabSchedule, IntervalSchedule])
    newest = PeriodicTask.objects.order_by("-date_changed").first()
    if newest is not None and (changed is None or newest.date_changed > changed.at):
        # Saved outside the console (beat copying the settings in, or a command): when, but not who.
        changed = Change(at=newest.date_changed, by="", what=f"Schedule “{newest.name}”", verb="changed")
    return {
        "entries": entries,
        "changed": changed,
        "time_zone": settings.CELERY_TIMEZONE,
        "code": [defined_in(_settings_module(), "CELERY_BEAT_SCHEDULE")],
    }


def _settings_module():
    """The settings' module (a test's overridden settings do not name it; the environment does)."""
    import importlib
    import os

    return importlib.import_module(settings.SETTINGS_MODULE or os.environ["DJANGO_SETTINGS_MODULE"])


def _row_entry(row, *, source: str) -> dict:
    return {
        "name": row.name,
        "task": row.task,
        "purpose": row.description or _purpose(row.task),
        "when": describe_row(row),
        "enabled": row.enabled,
        "expires": row.expire_seconds,
        "last_run": row.last_run_at,
        "source": source,
    }


# --- roles -----------------------------------------------------------------------------------------------


def roles() -> dict:
    from django.apps import apps

    from .. import roles as roles_module

    names = {
        f"{app_label}.{codename}": name
        for app_label, codename, name in Permission.objects.values_list("content_type__app_label", "codename", "name")
    }
    held = {}
    for group in Group.objects.filter(name__in=list(roles_module.ROLES)).prefetch_related("permissions__content_type"):
        held[group.name] = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    users = dict(
        Group.objects.filter(name__in=list(roles_module.ROLES))
        .annotate(users=Count("user"))
        .values_list("name", "users")
    )
    described = []
    for role, permissions in roles_module.ROLES.items():
        areas: dict[str, list[str]] = {}
        for permission in permissions:
            app_label = permission.split(".", 1)[0]
            try:
                area = str(apps.get_app_config(app_label).verbose_name)
            except LookupError:
                area = app_label
            areas.setdefault(area, []).append(names.get(permission, permission))
        group = held.get(role)
        table = set(permissions)
        described.append(
            {
                "role": role,
                "areas": sorted(areas.items()),
                "count": len(table),
                "users": users.get(role, 0),
                "extra": sorted(names.get(p, p) for p in (group or set()) - table),
                "missing": sorted(names.get(p, p) for p in table - (group or set())) if group is not None else [],
            }
        )
    return {
        "roles": described,
        "changed": last_change([Group]),
        "code": [defined_in(roles_module, "ROLES")],
    }


# --- the procedures -------------------------------------------------------------------------------------


def procedures() -> dict:
    from .markdown import render_markdown
    from .models import Procedure, ProcedureVersion

    pages = [
        {"procedure": procedure, "html": render_markdown(procedure.body)}
        for procedure in Procedure.objects.select_related("updated_by").order_by("title")
    ]
    newest = ProcedureVersion.objects.select_related("created_by").order_by("-created_at", "-pk").first()
    changed = None
    if newest is not None:
        changed = Change(
            at=newest.created_at,
            by=person(newest.created_by) or newest.created_by_name,
            what=f"Procedure “{newest.title}”",
            verb=f"saved as version {newest.number}",
        )
    return {"procedures": pages, "changed": changed}


for _section in (
    Section(
        "states", "Order states and transitions", "What an order, a shipment and a return may move to.", order_states
    ),
    Section(
        "routing",
        "Routing rules",
        "Warehouses' priorities, capacities, cut-offs, processing days and time zones; safety stock; exclusions.",
        routing_rules,
        set_in=("inventory.Warehouse", "inventory.SafetyStockRule", "inventory.RoutingExclusion"),
    ),
    Section(
        "carriers",
        "Vendors and services",
        "Each carrier's services, zones and transit days.",
        carriers,
        set_in=("shipping.Vendor", "shipping.CarrierService"),
    ),
    Section(
        "credit",
        "Credit rules and holds",
        "What puts an order on hold, and the causes a hold records.",
        credit_and_holds,
        set_in=("payments.CreditRule", "payments.BlockedValue"),
    ),
    Section(
        "returns",
        "Return policy",
        "The return window and what each return reason does.",
        return_policy,
        set_in=("returns.ReturnPolicy",),
    ),
    Section(
        "notifications",
        "Notification events and templates",
        "Every message the system sends, to whom, and the template it uses.",
        notification_events,
        set_in=("notifications.MessageTemplate", "notifications.RecipientList"),
    ),
    Section(
        "schedules",
        "Schedules",
        "The daily inventory check, the sweeps and the exports, and when each runs.",
        schedules,
        set_in=("django_celery_beat.PeriodicTask",),
    ),
    Section("roles", "Roles and what each may do", "The staff roles and their permissions.", roles),
    Section(
        "procedures",
        "Standard operating procedures",
        "How we work: the procedures managers write.",
        procedures,
    ),
):
    register_section(_section)

# The business customers' pages (a part of the product that registers its own section).
from . import business  # noqa: E402, F401
