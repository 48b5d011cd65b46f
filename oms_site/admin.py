"""The operations console: Django's admin, branded, with a dashboard index."""

from django.conf import settings
from django.contrib import admin
from django.db.models.base import ModelBase
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from simple_history.admin import SimpleHistoryAdmin

from notifications import selectors as message_selectors
from orders import selectors as order_selectors
from orders.models import OrderStatus

from . import two_factor

DASHBOARD_LIST_SIZE = 10


class OpsAdminSite(admin.AdminSite):
    site_header = settings.OMS_BRAND_NAME
    site_title = settings.OMS_BRAND_NAME
    index_title = "Operations console"
    index_template = "admin/ops_index.html"
    site_url = None  # the console is the whole site: no "View site" link
    enable_nav_sidebar = False  # lists of orders and stock need the width

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

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), **self.dashboard_context(request)}
        return super().index(request, extra_context)

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
