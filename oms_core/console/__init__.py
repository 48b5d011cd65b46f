"""The console's shared pieces, used by every app's admin.

Read-only consoles, the action-with-a-form pattern (a table of actions, the one form page
``admin/oms/action_form.html``, one dispatcher), status badges, links to a row's page, safe redirects,
the CSV upload form, and people by name. Plumbing below every app: it knows Django's admin and users,
never an app of ours.
"""

from .actions import ACTION_FORM_TEMPLATE, Done, FormAction, FormActionsMixin, form_page
from .display import admin_change_url, admin_link, badge, plural, rows_table
from .forms import CsvUploadForm, require_review
from .people import person_field, person_name
from .readonly import ReadOnlyAdmin, ReadOnlyMixin, ReadOnlyTabularInline
from .requests import int_or_404, int_or_none, safe_next, selected_ids

__all__ = [
    "ACTION_FORM_TEMPLATE",
    "CsvUploadForm",
    "Done",
    "FormAction",
    "FormActionsMixin",
    "ReadOnlyAdmin",
    "ReadOnlyMixin",
    "ReadOnlyTabularInline",
    "admin_change_url",
    "admin_link",
    "badge",
    "form_page",
    "int_or_404",
    "int_or_none",
    "person_field",
    "person_name",
    "plural",
    "require_review",
    "rows_table",
    "safe_next",
    "selected_ids",
]
