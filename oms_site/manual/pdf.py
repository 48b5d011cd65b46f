"""The manual as one printable PDF (WeasyPrint): a title page, a table of contents, every section.

The contents' entries are links to the sections, with their page numbers from CSS ``target-counter``; the
sections' headings also make the PDF's outline (bookmarks). The sections use the same templates as the
console, so the PDF says what the pages say, as the configuration is at the moment it is printed.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from shipping.documents.pdf import html_to_pdf

from .changes import person
from .sections import build_section, sections_for

DOCUMENT_TEMPLATE = "admin/manual/document.html"


def render_manual_html(*, generated_by=None) -> str:
    built = []
    for section in sections_for(generated_by).values():  # the sections its reader may read
        context = {**build_section(section), "printing": True}
        # The section's own template, rendered (and escaped) as on its console page.
        built.append({**context, "html": mark_safe(render_to_string(section.template_name, context))})  # noqa: S308
    return render_to_string(
        DOCUMENT_TEMPLATE,
        {
            "brand": settings.OMS_BRAND_NAME,
            "built": built,
            "generated_at": timezone.localtime(),
            "generated_by": person(generated_by),
            "printing": True,
        },
    )


def render_manual_pdf(*, generated_by=None) -> bytes:
    """The PDF's bytes; rendered offline (only local fonts, no URL is fetched)."""
    return html_to_pdf(render_manual_html(generated_by=generated_by))
