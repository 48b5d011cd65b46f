"""Shipping documents (labels, packing slips, pick lists) rendered from plain dataclasses.

Nothing here touches the database: services map the models to these dataclasses and
call the renderers, typically from a Celery task.
"""

from .barcodes import code128_svg
from .data import (
    LabelData,
    PackingSlipData,
    PackingSlipLine,
    PickBin,
    PickInstruction,
    PickItem,
    PickListData,
    PickWarehouse,
    PostalAddress,
)
from .pdf import join_pdfs, render_labels_pdf, render_packing_slip_pdf, render_pick_list_pdf
from .zpl import render_labels_zpl

__all__ = [
    "LabelData",
    "PackingSlipData",
    "PackingSlipLine",
    "PickBin",
    "PickInstruction",
    "PickItem",
    "PickListData",
    "PickWarehouse",
    "PostalAddress",
    "code128_svg",
    "join_pdfs",
    "render_labels_pdf",
    "render_labels_zpl",
    "render_packing_slip_pdf",
    "render_pick_list_pdf",
]
