"""Shipping labels in ZPL II for 203-dpi 4×6 in thermal printers (812 × 1218 dots).

Built in Python rather than a template: ZPL is one command after another with
coordinates, and every text field has to be escaped the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .barcodes import code128_modules
from .data import LabelData, PostalAddress

DOTS_WIDE = 812
DOTS_HIGH = 1218
MARGIN = 30
# Field data carries no ^ or ~ (command prefixes) and no _ (our ^FH hex indicator):
# they go in as hex escapes. Control characters are dropped.
_HEX_ESCAPED = {"_": "_5F", "^": "_5E", "~": "_7E"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def zpl_field_data(text: str) -> str:
    """`text` made safe for an ^FH^FD…^FS field: ^, ~ and _ hex-escaped, control characters removed."""
    return "".join(_HEX_ESCAPED.get(char, char) for char in _CONTROL.sub(" ", str(text)))


def _fit(text: str, font_height: int, width: int = DOTS_WIDE - 2 * MARGIN) -> str:
    # Font 0's characters are at most about 0.6 of its height wide; cut rather than wrap or overprint.
    return text.strip()[: _max_chars(font_height, width)].strip()


def _max_chars(font_height: int, width: int) -> int:
    return max(int(width / (font_height * 0.6)), 1)


def _fitting_height(text: str, largest: int, smallest: int, width: int = DOTS_WIDE - 2 * MARGIN) -> int:
    """The largest font height, down to `smallest`, at which `text` fits on one line."""
    height = largest
    while height > smallest and len(text.strip()) > _max_chars(height, width):
        height -= 2
    return height


def _text(x: int, y: int, height: int, text: str, *, width: int = DOTS_WIDE - 2 * MARGIN, bold: bool = False) -> str:
    if not text:
        return ""
    field = zpl_field_data(_fit(text, height, width))
    command = f"^FO{x},{y}^A0N,{height},{height}^FH_^FD{field}^FS"
    if bold:  # font 0 has no bold: print the field twice, one dot apart
        command += f"^FO{x + 1},{y}^A0N,{height},{height}^FH_^FD{field}^FS"
    return command


def _box(y: int, thickness: int = 3) -> str:
    return f"^FO{MARGIN},{y}^GB{DOTS_WIDE - 2 * MARGIN},{thickness},{thickness}^FS"


def _address(x: int, y: int, address: PostalAddress, *, first: int, rest: int, max_lines: int, width: int) -> list[str]:
    commands = []
    for n, line in enumerate(address.lines[:max_lines]):
        height = first if n == 0 else rest
        commands.append(_text(x, y, height, line, width=width, bold=n == 0 and first > rest))
        y += height + 6
    return commands


def _barcode(tracking_number: str, y: int) -> str:
    modules = len(code128_modules(tracking_number)) + 20  # raises ValueError like the PDF label
    module_dots = max(1, min(3, (DOTS_WIDE - 2 * MARGIN) // modules))
    x = max(MARGIN, (DOTS_WIDE - module_dots * modules) // 2)
    # Mode A: the printer picks the Code 128 subsets (C for digit runs), so the field is the plain number.
    return f"^FO{x},{y}^BY{module_dots}^BCN,200,N,N,N,A^FH_^FD{zpl_field_data(tracking_number)}^FS"


def render_label_zpl(label: LabelData) -> str:
    """One label: ^XA … ^XZ."""
    right = DOTS_WIDE - MARGIN - 250
    commands = [
        "^XA",
        "^CI28",  # field data is UTF-8
        f"^PW{DOTS_WIDE}^LL{DOTS_HIGH}^LH0,0",
        _text(MARGIN, 25, 20, "FROM"),
        *_address(MARGIN, 50, label.ship_from, first=22, rest=22, max_lines=5, width=right - MARGIN - 10),
        _text(right, 25, 20, "SHIP DATE", width=250),
        _text(right, 50, 24, label.ship_date.isoformat(), width=250),
        _text(right, 85, 20, "WEIGHT", width=250),
        _text(right, 110, 24, label.weight_text, width=250),
    ]
    if label.dimensions_text:
        commands += [
            _text(right, 145, 20, "DIMENSIONS", width=250),
            # × is not in every printer's font 0
            _text(right, 170, 24, label.dimensions_text.replace("×", "x"), width=250),
        ]
    commands += [
        _box(205),
        _text(MARGIN, 220, 22, "SHIP TO", width=300),
        _text(360, 220, 22, f"Tel. {label.ship_to.phone}" if label.ship_to.phone else "", width=422),
        *_address(MARGIN + 20, 252, label.ship_to, first=44, rest=36, max_lines=6, width=DOTS_WIDE - 2 * MARGIN - 20),
        _box(530),
        _text(MARGIN, 548, 26, f"{label.vendor_name} - {label.service_name}"),
        # Long service names ("PRIORITY EXPRESS") shrink rather than lose their end.
        _text(MARGIN, 590, _fitting_height(label.service_code, 90, 40), label.service_code, bold=True),
        _box(715, 6),
        _text(MARGIN, 735, 20, "ORDER", width=400),
        _text(MARGIN, 760, 36, label.order_number, width=400, bold=True),
        _text(440, 735, 32, f"Parcel {label.parcel_index} of {label.parcel_count}", width=342, bold=True),
    ]
    if label.reference:
        commands.append(_text(MARGIN, 805, 24, f"Ref. {label.reference}", width=400))
    if label.warehouse_code:
        commands.append(_text(440, 780, 26, f"Warehouse {label.warehouse_code}", width=342))
    commands += [
        _box(845),
        _text(MARGIN, 860, 20, "TRACKING NUMBER"),
        _barcode(label.tracking_number, 895),
        # ^FB centres the printed number under the bars.
        f"^FO{MARGIN},1120^A0N,40,40^FB{DOTS_WIDE - 2 * MARGIN},1,0,C^FH_^FD{zpl_field_data(label.tracking_number)}^FS",
        "^XZ",
    ]
    return "\n".join(command for command in commands if command) + "\n"


def render_labels_zpl(labels: Sequence[LabelData]) -> str:
    """The labels as one ZPL stream, one ^XA…^XZ format per label, in the order given.

    Raises ValueError when there is no label or a tracking number Code 128 cannot carry.
    """
    if not labels:
        raise ValueError("no labels to render")
    return "".join(render_label_zpl(label) for label in labels)
