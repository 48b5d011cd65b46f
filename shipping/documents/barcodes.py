"""Code 128 barcodes as inline SVG for the label HTML (python-barcode encodes; no Pillow)."""

from __future__ import annotations

import itertools
import re

from barcode.codex import Code128
from barcode.errors import BarcodeError

# The widest barcode a 4-inch label holds inside its margins, and the bar height.
MAX_WIDTH_MM = 92.0
BAR_HEIGHT_MM = 22.0
# A 203-dpi thermal head prints 0.125 mm dots: 3 dots a module is what carriers print, and the
# widest module we allow, so short numbers do not become billboard-sized.
MAX_MODULE_MM = 0.375
QUIET_ZONE_MODULES = 10
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def code128_modules(value: str) -> str:
    """The Code 128 symbol of `value` as a string of '1' (bar) and '0' (space) modules, without quiet zones.

    Raises ValueError when `value` is empty or has a character outside printable ASCII.
    """
    if not PRINTABLE_ASCII.fullmatch(value):
        raise ValueError(f"Code 128 labels carry printable ASCII only, got {value!r}")
    try:
        return Code128(value).build()[0]
    except BarcodeError as error:
        raise ValueError(str(error)) from error


def code128_svg(value: str) -> str:
    """Code 128 of `value` as an inline <svg> element (no XML prolog), at most 92 mm wide, no text under the bars.

    Raises ValueError like code128_modules. The bars are one <path> rather than python-barcode's
    SVGWriter output of one <rect> per bar: WeasyPrint then parses and draws one element instead
    of 30 to 60, which halves the time of a label (bench/labels.py --compare-barcodes measures it).
    """
    modules = code128_modules(value)
    total = len(modules) + 2 * QUIET_ZONE_MODULES
    width_mm = min(MAX_WIDTH_MM, total * MAX_MODULE_MM)
    bars = []
    x = QUIET_ZONE_MODULES
    for bit, run in itertools.groupby(modules):
        width = len(list(run))
        if bit == "1":
            bars.append(f"M{x} 0h{width}v1h-{width}z")
        x += width
    # The viewBox is modules wide and 1 high; preserveAspectRatio="none" stretches it to the size.
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_mm:.2f}mm" height="{BAR_HEIGHT_MM:.2f}mm" '
        f'viewBox="0 0 {total} 1" preserveAspectRatio="none" shape-rendering="crispEdges">'
        f'<path fill="#000" d="{"".join(bars)}"/></svg>'
    )
