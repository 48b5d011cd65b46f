"""Shipping documents as PDF: WeasyPrint renders the Django templates, pypdf joins chunks rendered apart."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import replace

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from .barcodes import code128_svg
from .data import LabelData, PackingSlipData, PickBin, PickListData, natural_key

LABEL_TEMPLATE = "shipping/label.html"
PACKING_SLIP_TEMPLATE = "shipping/packing_slip.html"
PICK_LIST_TEMPLATE = "shipping/pick_list.html"


class OfflineURLFetcher(URLFetcher):
    """Refuses every URL but data: ones, so a document never waits on (or leaks to) the network."""

    def fetch(self, url, headers=None):
        if not url.startswith("data:"):
            raise FatalURLFetchingError(f"shipping documents render offline; refused to fetch {url}")
        return super().fetch(url, headers)


_url_fetcher = OfflineURLFetcher()


@functools.cache
def _font_config() -> FontConfiguration:
    """One font configuration per process: fonts are looked up once, not per document.

    The lookup is a large share of a one-label PDF (bench/README.md, labels).
    """
    return FontConfiguration()


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of an HTML string; only local fonts and data: URLs are used."""
    return HTML(string=html, url_fetcher=_url_fetcher).write_pdf(font_config=_font_config())


def render_labels_html(labels: Sequence[LabelData]) -> str:
    """The labels' HTML document, one 4×6 in page per label."""
    if not labels:
        raise ValueError("no labels to render")
    pages = [
        # The SVG is built from bar widths only (no user text), so it alone is marked safe.
        {"data": label, "barcode": mark_safe(code128_svg(label.tracking_number))}  # noqa: S308
        for label in labels
    ]
    return render_to_string(LABEL_TEMPLATE, {"labels": pages})


def render_labels_pdf(labels: Sequence[LabelData]) -> bytes:
    """One PDF, one 4×6 in page per label, in the order given.

    Raises ValueError when there is no label or a tracking number Code 128 cannot carry.
    """
    return html_to_pdf(render_labels_html(labels))


def render_packing_slip_pdf(slips: Sequence[PackingSlipData]) -> bytes:
    """One US Letter PDF, one packing slip per page (a long slip continues on the next page)."""
    if not slips:
        raise ValueError("no packing slips to render")
    return html_to_pdf(render_to_string(PACKING_SLIP_TEMPLATE, {"slips": slips}))


def _sorted_bin(pick_bin: PickBin) -> PickBin:
    items = sorted(pick_bin.items, key=lambda item: natural_key(item.sku))
    return replace(pick_bin, items=[replace(item, order_numbers=sorted(item.order_numbers)) for item in items])


def sort_pick_list(pick_list: PickListData) -> PickListData:
    """A copy with bins in natural order (A-2 before A-10, bins without a location last) and items by SKU.

    Warehouses keep the order given.
    """
    warehouses = [
        replace(
            warehouse,
            bins=[
                _sorted_bin(b)
                for b in sorted(warehouse.bins, key=lambda b: (not b.bin_location.strip(), natural_key(b.bin_location)))
            ],
        )
        for warehouse in pick_list.warehouses
    ]
    return replace(pick_list, warehouses=warehouses)


def render_pick_list_pdf(pick_list: PickListData) -> bytes:
    """A US Letter pick list: a page (or more) per warehouse, its bins in walking order, with totals."""
    if not pick_list.warehouses:
        raise ValueError("the pick list has no warehouse")
    return html_to_pdf(render_to_string(PICK_LIST_TEMPLATE, {"pick_list": sort_pick_list(pick_list)}))


def join_pdfs(parts: Iterable[bytes]) -> bytes:
    """One PDF made of the parts' pages, in order (label chunks rendered in parallel, joined for printing)."""
    writer = PdfWriter()
    count = 0
    for part in parts:
        # Pages are copied one part at a time; each reader is dropped once its pages are in.
        writer.append(PdfReader(io.BytesIO(part)), import_outline=False)
        count += 1
    if not count:
        raise ValueError("no PDF to join")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


__all__ = [
    "html_to_pdf",
    "join_pdfs",
    "render_labels_html",
    "render_labels_pdf",
    "render_packing_slip_pdf",
    "render_pick_list_pdf",
    "sort_pick_list",
]
