"""The operations console's site: Django's admin, branded, with change history, two-factor sign-in and console tools.

What the pages hold lives by subject beside it: the home for each role in ``oms_site/home/`` (the cockpit, the
order queue, the warehouse's and the returns desk's work), the sidebar's groups in ``oms_site/nav.py``.
"""

from django.conf import settings
from django.contrib import admin
from django.db.models.base import ModelBase
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from simple_history.admin import SimpleHistoryAdmin

from . import two_factor
from .home import home_context
from .home.cockpit import cockpit_csv
from .manual.urls import manual_urls
from .nav import nav_groups


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
            path("cockpit/<slug:name>.csv", self.admin_view(cockpit_csv), name="cockpit_csv"),
            path("two-factor/", page(two_factor.verify), name="two_factor_verify"),
            path("two-factor/setup/", page(two_factor.setup), name="two_factor_setup"),
            path("two-factor/recovery-codes/", page(two_factor.recovery_codes), name="two_factor_codes"),
            *manual_urls(self),  # the operations manual (oms_site/manual/)
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

    # --- the home: one section per kind of work the user may do (oms_site/home/) ----------------------
    def index(self, request, extra_context=None):
        """The home: the cockpit, the warehouse's work, the returns queue, the order queue, as the user may see."""
        return super().index(request, {**(extra_context or {}), **home_context(request)})
