"""The business customers' console: each one's setup (warehouses, carrier, packing, documents, contacts, credit),
edited by operations managers, and its checklist of setup steps, confirmed one by one with who and when.

The customer's own page shows the setup and its checklist (``customer_context``); this console holds the form
and the step confirmations. Routing, carrier choice, the documents and the credit check read the setup as it
is when they run (``orders.services.business``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from oms_core.console import int_or_none

from ..business_models import MAX_LOGO_BYTES, BusinessContact, BusinessProfile, SetupStep
from ..exceptions import OrderError
from ..models import Customer
from ..services import business as services

CONFIRM_PERMISSION = "orders.confirm_business_setup"


class BusinessContactInline(admin.TabularInline):
    model = BusinessContact
    extra = 1
    fields = ("name", "email", "role")


class BusinessProfileForm(forms.ModelForm):
    class Meta:
        model = BusinessProfile
        fields = [
            "customer",
            "kind",
            "account_number",
            "default_warehouses",
            "excluded_warehouses",
            "preferred_vendor",
            "preferred_service",
            "packing_instructions",
            "slip_shows_po_number",
            "slip_brand_name",
            "slip_brand_colour",
            "slip_logo",
            "credit_limit",
            "credit_currency",
            "payment_terms_days",
        ]
        widgets = {
            "default_warehouses": forms.CheckboxSelectMultiple,
            "excluded_warehouses": forms.CheckboxSelectMultiple,
            "packing_instructions": forms.Textarea(attrs={"rows": 4, "cols": 70}),
            "slip_brand_colour": forms.TextInput(attrs={"placeholder": "#1f6f43", "size": 8}),
        }

    def clean(self):
        data = super().clean()
        both = set(data.get("default_warehouses") or []) & set(data.get("excluded_warehouses") or [])
        if both:
            codes = ", ".join(sorted(w.code for w in both))
            self.add_error("excluded_warehouses", f"{codes}: a warehouse cannot be both a default and excluded.")
        service, vendor = data.get("preferred_service"), data.get("preferred_vendor")
        if service is not None and vendor is not None and service.vendor_id != vendor.pk:
            self.add_error("preferred_service", f"{service} is not a service of {vendor}; pick one of its services.")
        logo = data.get("slip_logo")
        if logo and getattr(logo, "size", 0) > MAX_LOGO_BYTES:
            self.add_error("slip_logo", f"The logo is {logo.size // 1000} kB; at most {MAX_LOGO_BYTES // 1000} kB.")
        return data


@admin.register(BusinessProfile)
class BusinessProfileAdmin(admin.ModelAdmin):
    form = BusinessProfileForm
    list_display = ("customer", "kind", "terms_column", "credit_limit", "setup_column")
    list_select_related = ("customer",)
    list_filter = ("kind",)
    search_fields = ("customer__name", "customer__email", "account_number")
    autocomplete_fields = ("customer",)
    inlines = (BusinessContactInline,)
    fieldsets = (
        (None, {"fields": ("customer", "kind", "account_number")}),
        ("Warehouses", {"fields": ("default_warehouses", "excluded_warehouses")}),
        ("Carrier", {"fields": ("preferred_vendor", "preferred_service")}),
        ("Packing", {"fields": ("packing_instructions",)}),
        (
            "Documents",
            {"fields": ("slip_shows_po_number", "slip_brand_name", "slip_brand_colour", "slip_logo")},
        ),
        ("Credit", {"fields": ("credit_limit", "credit_currency", "payment_terms_days")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("checks")

    def get_readonly_fields(self, request, obj=None):
        return ("customer",) if obj is not None else ()

    @admin.display(description="terms")
    def terms_column(self, profile: BusinessProfile) -> str:
        return profile.payment_terms

    @admin.display(description="setup")
    def setup_column(self, profile: BusinessProfile) -> str:
        done = sum(1 for check in profile.checks.all() if check.done)
        return f"{done} of {len(SetupStep.values)} steps done"

    # --- back to the customer's page after a save
    def _customer_page(self, profile: BusinessProfile) -> str:
        return reverse("admin:orders_customer_change", args=[profile.customer_id]) + "#business-setup"

    def response_add(self, request, obj, post_url_continue=None):
        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"{obj.customer.name} is set up as a business customer.", messages.SUCCESS)
        return HttpResponseRedirect(self._customer_page(obj))

    def response_change(self, request, obj):
        if "_continue" in request.POST or "_addanother" in request.POST or "_saveasnew" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, f"The setup of {obj.customer.name} was saved.", messages.SUCCESS)
        return HttpResponseRedirect(self._customer_page(obj))

    # --- the checklist
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/steps/<slug:step>/",
                view(self.step_view),
                name="orders_businessprofile_step",
            ),
            *super().get_urls(),
        ]

    def step_view(self, request: HttpRequest, object_id: str, step: str):
        """Mark one step of the setup done, or not done any more (POST ``done`` = 1 or 0)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(CONFIRM_PERMISSION):
            raise PermissionDenied
        profile = BusinessProfile.objects.filter(pk=int_or_none(unquote(object_id))).first()
        if profile is None:
            raise Http404("No such business customer setup.")
        done = request.POST.get("done") == "1"
        try:
            check = services.mark_setup_step(profile_id=profile.pk, step=step, done=done, actor=request.user)
        except OrderError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
        else:
            state = "done" if check.done else "not done"
            self.message_user(request, f"{check.get_step_display()}: {state}.", messages.SUCCESS)
        return HttpResponseRedirect(self._customer_page(profile))


def customer_context(request: HttpRequest, customer: Customer) -> dict:
    """What the customer's page shows of its business setup: the setup, its checklist, and what the reader may do."""
    user = request.user
    if not user.has_perm("orders.view_businessprofile"):
        return {"may_see_business": False}  # the setup (credit, terms, contacts) is not every role's to read
    profile = (
        BusinessProfile.objects.filter(customer=customer)
        .select_related("preferred_vendor", "preferred_service__vendor")
        .prefetch_related("default_warehouses", "excluded_warehouses", "contacts", "checks")
        .first()
    )
    if profile is None:
        return {
            "may_see_business": True,
            "business": None,
            "may_set_up_business": user.has_perm("orders.add_businessprofile"),
            "business_add_url": reverse("admin:orders_businessprofile_add") + f"?customer={customer.pk}",
        }
    rows = services.checklist(profile)
    return {
        "may_see_business": True,
        "business": profile,
        "business_checklist": rows,
        "business_done": sum(1 for row in rows if row.done),
        "may_edit_business": user.has_perm("orders.change_businessprofile"),
        "may_confirm_business": user.has_perm(CONFIRM_PERMISSION),
        "business_edit_url": reverse("admin:orders_businessprofile_change", args=[profile.pk]),
        "business_manual_url": reverse("admin:manual_section", args=["business-customers"])
        + f"#customer-{customer.pk}",
    }
