"""Turning an event and its snapshot into a subject, a plain-text body and an HTML body.

Default templates are files in ``templates/notifications/<event>/`` (Django's
cached loader keeps them compiled); an operator's override (``MessageTemplate``)
replaces any of the three parts and is compiled once per version per process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.template import Context, Template, engines
from django.template.loader import get_template

from .events import CUSTOMER, get_event
from .models import Message, MessageTemplate

PARTS = ("subject", "text_body", "html_body")
FILES = {"subject": "subject.txt", "text_body": "body.txt", "html_body": "body.html"}
_compiled_overrides: dict[tuple[int, str, str], Template] = {}
_MAX_COMPILED = 500
# What a message shows that is not kept on its row but made when it is rendered (the order status page's link,
# whose token the outbox must not hold): functions of a list of messages returning, per message id, the
# context entries to add. The apps above this one register theirs in their AppConfig.ready().
_send_time_providers: list[Callable[..., dict[int, dict]]] = []


def register_send_time_context(provider: Callable[..., dict[int, dict]]) -> None:
    """Add ``provider`` to the functions that complete messages' context when they are rendered (idempotent)."""
    if provider not in _send_time_providers:
        _send_time_providers.append(provider)


def send_time_context(messages: Sequence[Message], *, preview: bool = False) -> dict[int, dict]:
    """The context entries each message gets when it is rendered, by message id (a batch at a time).

    Providers are called as ``provider(messages, preview=preview)``; a preview (the console showing a message)
    must write nothing, so a provider then gives only what exists already.
    """
    extra: dict[int, dict] = {}
    for provider in _send_time_providers:
        for pk, entries in provider(messages, preview=preview).items():
            extra.setdefault(pk, {}).update(entries)
    return extra


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def template_name(event: str, part: str) -> str:
    return f"notifications/{event}/{FILES[part]}"


def default_source(event: str, part: str) -> str:
    """The default file's source, to start an override from."""
    template = get_template(template_name(event, part))
    origin = template.template.origin
    return Path(origin.name).read_text(encoding="utf-8")


def brand(own: dict | None = None, *, audience: str = CUSTOMER) -> dict:
    """What a message is branded with: the fields its order's channel sets (``own``, the snapshot's
    ``brand``), the settings for the rest.

    Ops messages are the system's own: ``own`` is ignored for them. The
    settings are read when the message is rendered, so a change of them
    applies to queued mail wherever the channel leaves a field blank.
    ``reply_to`` is where a reply reaches someone (the Reply-To header the
    message is sent with), blank when nowhere: templates say "reply to this
    email" only when it is set.
    """
    own = (own or {}) if audience == CUSTOMER else {}
    merged = {"name": settings.OMS_BRAND_NAME, "color": settings.OMS_BRAND_COLOR, **settings.NOTIFICATIONS_BRAND}
    merged.update((key, value) for key, value in own.items() if value)
    merged["reply_to"] = reply_address(own.get("reply_to", ""), audience=audience)
    return merged


def reply_address(own: str, *, audience: str) -> str:
    """The Reply-To of a message: its own (its channel's reply-to or support address), else
    NOTIFICATIONS_REPLY_TO, else, to a customer, the support address of the settings; blank: none."""
    if own:
        return own
    if settings.NOTIFICATIONS_REPLY_TO or audience != CUSTOMER:
        return settings.NOTIFICATIONS_REPLY_TO
    return settings.NOTIFICATIONS_BRAND.get("support_email", "")


def compile_source(source: str) -> Template:
    """Compile an override's source; raises TemplateSyntaxError with the line at fault."""
    return engines["django"].from_string(source).template


def active_overrides(events: set[str] | None = None) -> dict[str, MessageTemplate]:
    """The active overrides by event (one query; a batch of messages asks once)."""
    queryset = MessageTemplate.objects.filter(is_active=True)
    if events is not None:
        queryset = queryset.filter(event__in=events)
    return {override.event: override for override in queryset}


def render(
    event: str,
    context: dict,
    *,
    override: MessageTemplate | None = None,
    sources: dict[str, str] | None = None,
    extra: dict | None = None,
) -> Rendered:
    """Render the three parts for ``event`` with ``context``.

    ``override`` is a saved override; ``sources`` are unsaved part sources (the
    admin preview). Blank parts fall back to the default files.
    """
    audience = get_event(event).audience  # an unknown event is a programming error: fail loudly
    data = {**context, "brand": brand(context.get("brand"), audience=audience), "event": event, **(extra or {})}
    parts: dict[str, str] = {}
    for part in PARTS:
        source = (sources or {}).get(part) or (getattr(override, part, "") if override else "")
        if source:
            template = _override_template(override, part, source) if not sources else compile_source(source)
        else:
            template = get_template(template_name(event, part)).template
        # Plain text and subjects are not HTML: no escaping there.
        parts[part] = template.render(Context(data, autoescape=part == "html_body"))
    return Rendered(subject=_one_line(parts["subject"]), text=_tidy_text(parts["text_body"]), html=parts["html_body"])


def _override_template(override: MessageTemplate, part: str, source: str) -> Template:
    key = (override.pk, override.updated_at.isoformat(), part)
    template = _compiled_overrides.get(key)
    if template is None:
        if len(_compiled_overrides) >= _MAX_COMPILED:
            _compiled_overrides.clear()
        template = _compiled_overrides[key] = compile_source(source)
    return template


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:255]


def _tidy_text(text: str) -> str:
    # Template tags leave blank lines behind; keep at most one in a row.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"
