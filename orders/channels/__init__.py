"""Storefront formats: pure converters from what a sales channel sends to ``OrderData``.

A converter reads a channel's own JSON (already parsed) and returns the
``OrderData`` that ``orders.services.place_order`` takes, or raises
``PayloadError`` listing every problem with its JSON path. It never touches
the database and never raises KeyError or TypeError on a malformed payload.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import OrderError

Loc = tuple[str | int, ...]


def format_path(loc: Loc) -> str:
    """A JSON path as people write it: ``("line_items", 2, "sku")`` is ``line_items[2].sku``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(the order)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a payload: where (a JSON path) and what."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        return format_path(self.loc)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PayloadError(OrderError):
    """A channel's order could not be read; ``problems`` names every field at fault."""

    def __init__(self, problems: list[Problem], *, channel_format: str = "channel"):
        self.problems = problems
        super().__init__(f"The {channel_format} order was refused: " + "; ".join(str(p) for p in problems) + ".")
