"""The customers' console: the list with each customer's figures, one page per customer, and the record's tools.

The list's columns come from one annotated query (``customer_selectors.customer_list``) plus one query for the
page's values per currency. A customer's page shows the record (orders, figures per currency, returns, order
errors, messages, notes, tags, the addresses used); associates add notes and tags there, managers merge
duplicates, export the personal data as JSON and erase it on request.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from oms_core.console import form_page, int_or_none

from .. import customer_selectors as selectors
from ..customer_models import CustomerErasure, CustomerTag
from ..exceptions import CustomerRecordError
from ..models import Address, Customer
from ..services import customers as services
from .business import customer_context as business_context
from .order_list import EstimatedCountPaginator, status_badge

NOTE_PERMISSION = "orders.add_customernote"
TAG_PERMISSION = "orders.tag_customer"
MERGE_PERMISSION = "orders.merge_customer"
EXPORT_PERMISSION = "orders.export_customer_data"
ERASE_PERMISSION = "orders.erase_customer"


class AddressInline(admin.StackedInline):
    """The customer's address book. Orders keep their own copies: editing these never changes an order."""

    model = Address
    extra = 0
    verbose_name = "address book entry"
    verbose_name_plural = "address book (orders keep their own copy of the address they were placed with)"
    fields = (("name", "company"), ("line1", "line2"), ("city", "state", "postal_code", "country"), "phone")


# --- the list's filters ------------------------------------------------------------------------------------


class OrderCountFilter(admin.SimpleListFilter):
    title = "orders"
    parameter_name = "orders"
    RANGES = {"0": (0, 0), "1": (1, 1), "2-4": (2, 4), "5-9": (5, 9), "10+": (10, None)}

    def lookups(self, request, model_admin):
        return [(key, "none" if key == "0" else key) for key in self.RANGES]

    def queryset(self, request, queryset):
        if self.value() not in self.RANGES:
            return queryset
        low, high = self.RANGES[self.value()]
        queryset = queryset.filter(order_count__gte=low)
        return queryset if high is None else queryset.filter(order_count__lte=high)


class LifetimeValueFilter(admin.SimpleListFilter):
    """Lifetime value in any one currency (currencies are never added together)."""

    title = "lifetime value (in one currency)"
    parameter_name = "value"
    RANGES = {"0-100": ("0", "100"), "100-500": ("100", "500"), "500-2000": ("500", "2000"), "2000+": ("2000", None)}

    def lookups(self, request, model_admin):
        return [(key, f"{key.replace('-', ' to under ')}") for key in self.RANGES]

    def queryset(self, request, queryset):
        if self.value() not in self.RANGES:
            return queryset
        low, high = self.RANGES[self.value()]
        return selectors.filter_lifetime_value(
            queryset, low=Decimal(low), high=Decimal(high) if high is not None else None
        )


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return [(tag.name, tag.name) for tag in CustomerTag.objects.order_by("name")[:50]]

    def queryset(self, request, queryset):
        return queryset.filter(tags__name=self.value()) if self.value() else queryset


class HasReturnsFilter(admin.SimpleListFilter):
    title = "returns"
    parameter_name = "returns"

    def lookups(self, request, model_admin):
        return [("yes", "has returned"), ("no", "never returned")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(has_returns=True)
        if self.value() == "no":
            return queryset.filter(has_returns=False)
        return queryset


class CustomerChangeList(ChangeList):
    """The page's rows learn their lifetime value per currency (one query for the page)."""

    def get_results(self, request):
        super().get_results(request)
        values = selectors.values_by_currency([customer.pk for customer in self.result_list])
        for customer in self.result_list:
            customer.values = values.get(customer.pk, {})


# --- the record's forms ------------------------------------------------------------------------------------


class CustomerNoteForm(forms.Form):
    body = forms.CharField(
        label="Note",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Add a note about this customer…"}),
        error_messages={"required": "Write the note first: an empty note is not added."},
    )


class CustomerTagsForm(forms.Form):
    tags = forms.CharField(label="Tags", required=False, max_length=500, help_text="Separated by commas.")


class MergeForm(forms.Form):
    duplicate = forms.IntegerField(
        label="Duplicate customer (id)", min_value=1, help_text="Its orders, returns, messages and notes move here."
    )


class EraseForm(forms.Form):
    confirm_email = forms.CharField(label="Type the customer's email to confirm", max_length=254)
    reference = forms.CharField(label="Request reference", max_length=100, required=False, help_text="The ticket.")

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer

    def clean_confirm_email(self):
        value = self.cleaned_data["confirm_email"].strip()
        if value.lower() != self.customer.email.lower():
            raise forms.ValidationError("This is not the customer's email; nothing was erased.")
        return value


# --- the console ------------------------------------------------------------------------------------------


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "email",
        "order_count_column",
        "value_column",
        "first_order_column",
        "last_order_column",
        "returns_column",
        "tags_column",
    )
    search_fields = ("name", "email", "phone", "=tags__name")
    list_filter = (OrderCountFilter, LifetimeValueFilter, TagFilter, HasReturnsFilter, "accepts_marketing")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    inlines = (AddressInline,)
    fields = ("name", "email", "phone", "accepts_marketing", "created_at")
    readonly_fields = ("created_at",)
    change_form_template = "admin/orders/customer/change_form.html"
    actions = ("merge_selected",)

    def get_queryset(self, request):
        return selectors.customer_list().prefetch_related("tags")

    def get_changelist(self, request, **kwargs):
        return CustomerChangeList

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and CustomerErasure.objects.filter(customer=obj).exists():
            return self.fields  # an erased customer stays erased
        return self.readonly_fields

    def get_inlines(self, request, obj):
        if obj is not None and CustomerErasure.objects.filter(customer=obj).exists():
            return ()
        return self.inlines

    # --- the list's columns (annotations, never a query per row) --------------------------------------
    @admin.display(description="orders", ordering="order_count")
    def order_count_column(self, customer):
        return customer.order_count

    @admin.display(description="lifetime value")
    def value_column(self, customer):
        return selectors.money(getattr(customer, "values", {}))

    @admin.display(description="first order", ordering="first_order_at")
    def first_order_column(self, customer):
        return f"{customer.first_order_at:%Y-%m-%d}" if customer.first_order_at else "—"

    @admin.display(description="last order", ordering="last_order_at")
    def last_order_column(self, customer):
        return f"{customer.last_order_at:%Y-%m-%d}" if customer.last_order_at else "—"

    @admin.display(description="returns", boolean=True, ordering="has_returns")
    def returns_column(self, customer):
        return customer.has_returns

    @admin.display(description="tags")
    def tags_column(self, customer):
        return ", ".join(tag.name for tag in customer.tags.all()) or "—"

    # --- permissions --------------------------------------------------------------------------------
    def has_merge_permission(self, request):
        return request.user.has_perm(MERGE_PERMISSION)

    @admin.action(description="Merge the two selected customers…", permissions=["merge"])
    def merge_selected(self, request, queryset):
        ids = sorted(queryset.values_list("pk", flat=True))
        if len(ids) != 2:
            self.message_user(
                request, "Select exactly two customers to merge: the one to keep is chosen next.", messages.WARNING
            )
            return None
        keep, duplicate = ids
        return HttpResponseRedirect(reverse("admin:orders_customer_merge", args=[keep]) + f"?duplicate={duplicate}")

    # --- the page -----------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/note/", view(self.add_note_view), name="orders_customer_note"),
            path("<path:object_id>/tags/", view(self.tags_view), name="orders_customer_tags"),
            path("<path:object_id>/merge/", view(self.merge_view), name="orders_customer_merge"),
            path("<path:object_id>/export/", view(self.export_view), name="orders_customer_export"),
            path("<path:object_id>/erase/", view(self.erase_view), name="orders_customer_erase"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        customer = self._customer(request, object_id)
        user = request.user
        context = {
            "record": selectors.customer_record(customer),
            "erasure": CustomerErasure.objects.filter(customer=customer).first(),
            "duplicates": list(selectors.possible_duplicates(customer)[:10]),
            "may_note": user.has_perm(NOTE_PERMISSION),
            "may_tag": user.has_perm(TAG_PERMISSION),
            "may_merge": user.has_perm(MERGE_PERMISSION),
            "may_export": user.has_perm(EXPORT_PERMISSION),
            "may_erase": user.has_perm(ERASE_PERMISSION),
            "note_form": CustomerNoteForm(),
            **(extra_context or {}),
        }
        record = context["record"]
        context["order_rows"] = [
            {
                "order": order,
                "url": reverse("admin:orders_order_change", args=[order.pk]),
                "badge": status_badge(order.status),
            }
            for order in record.orders
        ]
        context["tags_text"] = ", ".join(tag.name for tag in record.tags)
        context.update(business_context(request, customer))  # the business setup and its checklist
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _customer(self, request, object_id) -> Customer:
        customer = Customer.objects.filter(pk=int_or_none(unquote(object_id))).first()
        if customer is None:
            raise Http404("No such customer.")
        if not self.has_view_or_change_permission(request, customer):
            raise PermissionDenied
        return customer

    def _page(self, customer: Customer) -> str:
        return reverse("admin:orders_customer_change", args=[customer.pk])

    def add_note_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        customer = self._customer(request, object_id)
        if not request.user.has_perm(NOTE_PERMISSION):
            raise PermissionDenied
        form = CustomerNoteForm(request.POST)
        if not form.is_valid():
            self.message_user(request, " ".join(form.errors["body"]), messages.ERROR)
        else:
            services.add_customer_note(customer_id=customer.pk, body=form.cleaned_data["body"], actor=request.user)
            self.message_user(request, "Note added.", messages.SUCCESS)
        return HttpResponseRedirect(self._page(customer))

    def tags_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        customer = self._customer(request, object_id)
        if not request.user.has_perm(TAG_PERMISSION):
            raise PermissionDenied
        form = CustomerTagsForm(request.POST)
        if form.is_valid():
            try:
                added, removed = services.set_customer_tags(
                    customer_id=customer.pk, names=services.parse_tags(form.cleaned_data["tags"]), actor=request.user
                )
            except CustomerRecordError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                changed = [*(f"+{n}" for n in added), *(f"−{n}" for n in removed)]
                self.message_user(request, f"Tags: {' '.join(changed) or 'unchanged'}.", messages.SUCCESS)
        else:
            self.message_user(request, " ".join(form.errors["tags"]), messages.ERROR)
        return HttpResponseRedirect(self._page(customer))

    def merge_view(self, request: HttpRequest, object_id: str):
        keep = self._customer(request, object_id)
        if not request.user.has_perm(MERGE_PERMISSION):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else (request.GET if "duplicate" in request.GET else None)
        form = MergeForm(data)
        preview = None
        if form.is_valid():
            duplicate = Customer.objects.filter(pk=form.cleaned_data["duplicate"]).first()
            if duplicate is None or duplicate.pk == keep.pk:
                form.add_error("duplicate", "Name another customer's id: the duplicate to merge into this one.")
            elif request.method == "POST" and request.POST.get("previewed") == str(duplicate.pk):
                try:
                    result = services.merge_customers(keep_id=keep.pk, duplicate_id=duplicate.pk, actor=request.user)
                except CustomerRecordError as error:
                    form.add_error(None, str(error))
                else:
                    self.message_user(
                        request,
                        f"Merged: {len(result.orders)} orders, {result.returns} returns, {result.messages} messages, "
                        f"{result.addresses} addresses and {result.notes} notes moved to {keep}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(self._page(keep))
            if not form.errors or form.non_field_errors():
                preview = selectors.merge_preview(keep=keep, duplicate=duplicate)
        return form_page(
            self,
            request,
            "admin/orders/customer/merge.html",
            title=f"Merge a duplicate into {keep}",
            crumb="Merge",
            form=form,
            original=keep,
            preview=preview,
            back_url=self._page(keep),
            submit_label="Merge" if preview else "Preview the merge",
        )

    def export_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        customer = self._customer(request, object_id)
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        document = services.export_customer_data(customer_id=customer.pk, actor=request.user)
        response = HttpResponse(
            json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}-personal-data.json"'
        return response

    def erase_view(self, request: HttpRequest, object_id: str):
        customer = self._customer(request, object_id)
        if not request.user.has_perm(ERASE_PERMISSION):
            raise PermissionDenied
        done = CustomerErasure.objects.filter(customer=customer).first()
        form = EraseForm(request.POST if request.method == "POST" else None, customer=customer)
        if done is None and request.method == "POST" and form.is_valid():
            try:
                services.erase_customer(
                    customer_id=customer.pk, actor=request.user, reference=form.cleaned_data["reference"]
                )
            except CustomerRecordError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, "The customer's personal data was erased.", messages.SUCCESS)
                return HttpResponseRedirect(self._page(customer))
        return form_page(
            self,
            request,
            "admin/orders/customer/erase.html",
            title=f"Erase the personal data of {customer}",
            crumb="Erase personal data",
            form=None if done else form,
            original=customer,
            erasure=done,
            record=selectors.customer_record(customer),
            back_url=self._page(customer),
            submit_label="Erase for good",
        )
