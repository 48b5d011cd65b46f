"""People as the console names them: colleagues by their full name, never a link to a user page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin


def person_name(user) -> str:
    """A user as colleagues know them: the full name, else the username; "—" for nobody."""
    if user is None:
        return "—"
    full_name = (user.get_full_name() if hasattr(user, "get_full_name") else "").strip()
    return full_name or user.get_username()


def person_field(field_name: str, *, description: str | None = None) -> Callable:
    """A read-only column or field naming the user in the foreign key ``field_name``, as plain text.

    Use it as an attribute of a ModelAdmin or inline, and put its attribute name where the foreign
    key was (``created_by_name = person_field("created_by")``, then ``"created_by_name"`` in
    ``readonly_fields`` and ``list_display``). Django's admin links a read-only foreign key to the
    related object's page whatever the viewer may open, and only superusers may open a user's page:
    everybody else followed the link into a 403. A display function is not handed the request, so
    the name is plain text for everyone, superusers included (who reach users from the index).
    """

    @admin.display(description=description or field_name.replace("_", " "), ordering=field_name)
    def display(model_admin, obj) -> str:
        return person_name(getattr(obj, field_name))

    display.__name__ = f"{field_name}_name"
    return display
