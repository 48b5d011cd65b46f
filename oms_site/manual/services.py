"""Writing procedures: every save and every restore adds a version; none is ever changed or removed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .changes import person
from .links import GOVERNED_PAGES
from .models import Procedure, ProcedureVersion


def _check(*, procedure: Procedure | None, slug: str, title: str, governs: str, body: str) -> None:
    errors = {}
    if not title.strip():
        errors["title"] = "A procedure needs a title."
    if not body.strip():
        errors["body"] = "A procedure needs its text."
    if governs and governs not in GOVERNED_PAGES:
        errors["governs"] = f"{governs!r} is not a console page a procedure can be shown on."
    elif governs:
        other = Procedure.objects.filter(governs=governs).exclude(pk=getattr(procedure, "pk", None)).first()
        if other is not None:
            errors["governs"] = f"“{other.title}” is already shown on {GOVERNED_PAGES[governs].label.split(':')[0]}."
    if procedure is None and Procedure.objects.filter(slug=slug).exists():
        errors["slug"] = f"A procedure at {slug!r} exists already."
    if errors:
        raise ValidationError(errors)


def _add_version(procedure: Procedure, *, note: str, actor, restored_from: int | None = None) -> ProcedureVersion:
    return ProcedureVersion.objects.create(
        procedure=procedure,
        number=procedure.version,
        title=procedure.title,
        governs=procedure.governs,
        body=procedure.body,
        note=note.strip(),
        restored_from=restored_from,
        created_at=procedure.updated_at,
        created_by=actor,
        created_by_name=person(actor),
    )


@transaction.atomic(durable=True)
def create_procedure(*, slug: str, title: str, governs: str, body: str, note: str = "", actor) -> Procedure:
    """Write a new procedure as its version 1."""
    _check(procedure=None, slug=slug, title=title, governs=governs, body=body)
    procedure = Procedure.objects.create(
        slug=slug,
        title=title.strip(),
        governs=governs,
        body=body,
        version=1,
        updated_at=timezone.now(),
        updated_by=actor,
    )
    _add_version(procedure, note=note or "First version", actor=actor)
    return procedure


@transaction.atomic(durable=True)
def update_procedure(
    *, procedure_id: int, title: str, governs: str, body: str, note: str, base_version: int, actor
) -> Procedure:
    """Save a procedure's new text as its next version.

    ``base_version`` is the version the writer started from: if someone saved another since, nothing is
    written and the error says who (their text would otherwise be lost without anyone seeing it).
    """
    procedure = Procedure.objects.select_for_update().get(pk=procedure_id)
    if procedure.version != base_version:
        latest = procedure.versions.order_by("-number").first()
        raise ValidationError(
            {
                "body": f"{latest.created_by_name or 'Someone'} saved version {procedure.version} while you were "
                f"writing; open the procedure again to start from their text."
            }
        )
    _check(procedure=procedure, slug=procedure.slug, title=title, governs=governs, body=body)
    if (title.strip(), governs, body) == (procedure.title, procedure.governs, procedure.body):
        raise ValidationError({"body": "Nothing changed: no new version was saved."})
    procedure.title, procedure.governs, procedure.body = title.strip(), governs, body
    procedure.version += 1
    procedure.updated_at, procedure.updated_by = timezone.now(), actor
    procedure.save(update_fields=["title", "governs", "body", "version", "updated_at", "updated_by"])
    _add_version(procedure, note=note, actor=actor)
    return procedure


@transaction.atomic(durable=True)
def restore_procedure_version(*, procedure_id: int, number: int, actor) -> Procedure:
    """Bring back an old version's text as the procedure's next version (the versions between are kept)."""
    procedure = Procedure.objects.select_for_update().get(pk=procedure_id)
    old = procedure.versions.filter(number=number).first()
    if old is None:
        raise ValidationError({"number": f"{procedure.title} has no version {number}."})
    if number == procedure.version:
        raise ValidationError({"number": f"Version {number} is the current text already."})
    _check(procedure=procedure, slug=procedure.slug, title=old.title, governs=old.governs, body=old.body)
    procedure.title, procedure.governs, procedure.body = old.title, old.governs, old.body
    procedure.version += 1
    procedure.updated_at, procedure.updated_by = timezone.now(), actor
    procedure.save(update_fields=["title", "governs", "body", "version", "updated_at", "updated_by"])
    _add_version(procedure, note=f"Restored version {number}", actor=actor, restored_from=number)
    return procedure
