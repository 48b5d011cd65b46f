"""The console's one way to run an action that needs input: a table of actions, one form page, one dispatcher.

A console lists its actions in ``form_actions``, each a ``FormAction``: what the page says, the permission
that gates it, the form that asks for the input (or none: the page only confirms), and the function that
calls the service for one row and says what it did. ``form_action_view`` is the page: it checks the
permission, loads the rows (the one its URL names, or the selection's ``ids``), shows the form on
``admin/oms/action_form.html`` and, once the form is valid, hands the rows to ``apply_form_action``, the
dispatcher, which calls the action for each row and reports each success or refusal. A changelist action
that needs no input calls the dispatcher directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .requests import int_or_404, safe_next, selected_ids

ACTION_FORM_TEMPLATE = "admin/oms/action_form.html"


def form_page(
    model_admin, request: HttpRequest, template: str, *, title: str, form=None, **context
) -> TemplateResponse:
    """A console page built on the one form page (``template`` is it, or a page that extends it): the site's
    context, the model's options for the breadcrumbs, the form's media (a date picker, an autocomplete)."""
    media = model_admin.media + form.media if form is not None else model_admin.media
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": title,
            "form": form,
            "media": media,
            **context,
        },
    )


@dataclass(frozen=True)
class Done:
    """A success whose next page is not the one the operator came from (the return just opened)."""

    message: str
    url: str


@dataclass(frozen=True)
class FormAction:
    """One action of a console's table.

    ``apply(row, data, actor)`` calls the service for one row (None for an action that takes no rows) with
    the form's cleaned data and the operator as actor, and returns the success message (or a ``Done``); it
    raises the console's refusal errors (``refusals``), or a ValidationError for input the service found
    wrong. ``run(request, rows, back_url)`` instead handles the whole selection and answers the request
    itself (a PDF, a batch page).

    ``title``, ``button`` and ``crumb`` may name ``{rows}`` (the rows as the console counts them: "2 orders")
    and ``{row}`` (the row of a one-row page).
    """

    title: str
    permission: str
    form: type[forms.BaseForm] | None = None
    apply: Callable[[Any, dict, Any], str | Done] | None = None
    run: Callable[[HttpRequest, list, str], HttpResponse] | None = None
    button: str = ""  # the submit button; blank: the page's title
    crumb: str = ""  # the breadcrumbs' last step; blank: the page's title
    note: str = ""  # a quiet paragraph above the form
    form_kwargs: Callable[[list], dict] | None = None  # what the form is built with besides the POST (choices)
    on_rows: bool = True  # False: the form holds all the action needs (a stock receipt)
    single: bool = False  # one row at a time
    refusal_on_form: bool = False  # a refusal stays on the page, above the fields; else it is a message
    summary: str = "{done} of {count} {plural} done."  # after more than one row
    queryset: Callable[[], QuerySet] | None = None  # where the rows come from, when not the console's model
    url_name: str = ""  # the action's own URL name, where alone it is served; blank: act/<action>/ or the console's
    template: str = ACTION_FORM_TEMPLATE  # the one form page, or a page that extends it

    def __post_init__(self):
        if (self.apply is None) == (self.run is None):
            raise TypeError(f"{self.title!r}: give an action either apply (per row) or run (the selection)")


class FormActionsMixin:
    """The form page and the dispatcher for a ModelAdmin's ``form_actions``."""

    form_actions: Mapping[str, FormAction] = {}
    refusals: tuple[type[Exception], ...] = ()  # the domain errors a service refuses with
    max_selected = 500  # rows per action: actions work one row at a time
    row_noun: tuple[str, str] | None = None  # ("order", "orders"); None: the model's verbose names
    too_many_message = "Select at most {limit} {plural} at a time; narrow the list with filters first."

    # --- what a console may say differently -----------------------------------------------------------
    def selection_limit(self) -> int:
        """The most rows one action takes (read at each request)."""
        return self.max_selected

    def nouns(self) -> tuple[str, str]:
        return self.row_noun or (str(self.opts.verbose_name), str(self.opts.verbose_name_plural))

    def describe_rows(self, rows: list) -> str:
        """The rows in a page's title: "1 order", "2 orders"."""
        singular, plural = self.nouns()
        return f"{len(rows)} {singular if len(rows) == 1 else plural}"

    def form_action_queryset(self, request: HttpRequest, spec: FormAction) -> QuerySet:
        return spec.queryset() if spec.queryset is not None else self.get_queryset(request)

    def form_action_back_url(self, request: HttpRequest, spec: FormAction, rows: list, object_id) -> str:
        """Where the page goes back to: its ``next``, else the row's page (a one-row URL), else the list."""
        if object_id is not None and rows:
            meta = rows[0]._meta
            default = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[rows[0].pk])
        else:
            default = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return safe_next(request, default)

    def form_action_form_kwargs(self, request: HttpRequest, spec: FormAction, rows: list) -> dict:
        return spec.form_kwargs(rows) if spec.form_kwargs is not None else {}

    def form_action_table(self, spec: FormAction, rows: list) -> dict | None:
        """The rows as the page lists them: {"headers": [...], "rows": [[cell, ...], ...]}; None: no table."""
        return None

    def form_action_context(self, request: HttpRequest, spec: FormAction, rows: list, form) -> dict:
        """Anything more the action's page shows."""
        return {}

    def refusal_message(self, row, refusal: Exception) -> str:
        return str(refusal)

    # --- links to the page, and the changelist's way in ----------------------------------------------
    def form_action_url(self, action: str, rows: Iterable = (), next_url: str = "") -> str:
        """The action's page for these rows (objects or ids), coming back to ``next_url``."""
        spec = self.form_actions[action]
        if spec.url_name:
            url = reverse(f"admin:{spec.url_name}")
        else:
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_act", args=[action])
        ids = ",".join(str(getattr(row, "pk", row)) for row in rows)
        url = f"{url}?ids={ids}" if ids else url
        return f"{url}{'&' if ids else '?'}next={next_url}" if next_url else url

    def form_action_urls(self) -> list:
        """``act/<action>/``: the page of every action without a URL of its own."""
        name = f"{self.opts.app_label}_{self.opts.model_name}_act"
        return [path("act/<str:action>/", self.admin_site.admin_view(self.form_action_view), name=name)]

    def too_many(self, request: HttpRequest, queryset: QuerySet) -> bool:
        """True, with a message, when the selection is larger than one action takes ("select all" on millions)."""
        limit = self.selection_limit()
        if queryset.order_by()[: limit + 1].count() > limit:
            self.message_user(
                request, self.too_many_message.format(limit=limit, plural=self.nouns()[1]), messages.ERROR
            )
            return True
        return False

    def redirect_to_form_action(self, request: HttpRequest, action: str, queryset: QuerySet):
        """From a changelist action: to the action's page for the selected rows (None when too many)."""
        if self.too_many(request, queryset):
            return None
        return HttpResponseRedirect(self.form_action_url(action, queryset.order_by("pk").values_list("pk", flat=True)))

    # --- the page -----------------------------------------------------------------------------------------
    def form_action_view(self, request: HttpRequest, action: str, object_id=None) -> HttpResponse:
        """Ask for what the action needs (or a confirmation), then apply it to the rows and go back."""
        spec = self.form_actions.get(action)
        match = request.resolver_match
        if spec is None or (spec.url_name and match is not None and match.url_name != spec.url_name):
            raise Http404(f"There is no action {action!r} here.")  # an action with its own URL is served there only
        if not request.user.has_perm(spec.permission):
            raise PermissionDenied
        rows = self._form_action_rows(request, spec, object_id)
        back = self.form_action_back_url(request, spec, rows, object_id)
        singular, plural = self.nouns()
        if spec.on_rows and not rows:
            self.message_user(request, f"No {plural} were selected.", messages.WARNING)
            return HttpResponseRedirect(back)
        if spec.single and len(rows) != 1:
            self.message_user(request, f"Choose one {singular} at a time for this.", messages.ERROR)
            return HttpResponseRedirect(back)
        form = None
        if spec.form is not None:
            posted = request.method == "POST"
            form = spec.form(
                request.POST if posted else None,
                request.FILES if posted else None,
                **self.form_action_form_kwargs(request, spec, rows),
            )
        if request.method == "POST" and (form is None or form.is_valid()):
            if spec.run is not None:
                return spec.run(request, rows, back)
            goto = self.apply_form_action(request, action, rows, form.cleaned_data if form else {}, form=form)
            if form is None or not form.errors:
                return HttpResponseRedirect(goto or back)
        words = {"rows": self.describe_rows(rows), "row": rows[0] if rows else None}
        title = spec.title.format(**words)
        return form_page(
            self,
            request,
            spec.template,
            title=title,
            form=form,
            crumb=spec.crumb.format(**words),
            action=action,
            note=spec.note,
            original=rows[0] if object_id is not None and rows and isinstance(rows[0], self.model) else None,
            table=self.form_action_table(spec, rows) if rows else None,
            ids=",".join(str(row.pk) for row in rows) if object_id is None else "",
            next_url=back,
            back_url=back,
            submit_label=spec.button.format(**words) or title,
            **self.form_action_context(request, spec, rows, form),
        )

    def _form_action_rows(self, request: HttpRequest, spec: FormAction, object_id) -> list:
        if not spec.on_rows:
            return []
        queryset = self.form_action_queryset(request, spec)
        if object_id is not None:
            row = queryset.filter(pk=int_or_404(object_id)).first()
            if row is None:
                raise Http404(f"There is no {queryset.model._meta.verbose_name} with id {object_id}.")
            return [row]
        return list(queryset.filter(pk__in=selected_ids(request)[: self.selection_limit()]).order_by("pk"))

    # --- the dispatcher -----------------------------------------------------------------------------------
    def apply_form_action(
        self, request: HttpRequest, action: str, rows: list, data: dict, *, form=None, summary: bool = True
    ) -> str | None:
        """Call the action for each row (once when it takes none) and report each success or refusal.

        With ``summary``, more than one row ends with "n of m done". Returns the page a ``Done`` named, if
        any. A refusal the action keeps on its form, or input the service found wrong (ValidationError),
        stops there: the form carries the error and nothing else runs.
        """
        spec = self.form_actions[action]
        done, goto = 0, None
        for row in rows if spec.on_rows else [None]:
            try:
                result = spec.apply(row, data, request.user)
            except ValidationError as invalid:
                if form is None:
                    self.message_user(request, " ".join(invalid.messages), messages.ERROR)
                    continue
                form.add_error(None, invalid)
                return None
            except self.refusals as refusal:
                if spec.refusal_on_form and form is not None:
                    form.add_error(None, str(refusal))
                    return None
                self.message_user(request, self.refusal_message(row, refusal), messages.ERROR)
                continue
            done += 1
            message, goto = (result.message, result.url) if isinstance(result, Done) else (result, goto)
            self.message_user(request, message, messages.SUCCESS)
        if summary and spec.on_rows and len(rows) > 1:
            words = spec.summary.format(done=done, count=len(rows), plural=self.nouns()[1])
            self.message_user(request, words, messages.INFO)
        return goto
