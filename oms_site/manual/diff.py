"""The difference between two versions of a procedure, line by line, for the history page."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "same" or "gap" (lines left out between changes)
    text: str
    sign: str


def diff_lines(old: str, new: str, *, context: int = 3) -> list[DiffLine]:
    """What ``new`` adds and removes from ``old``, with ``context`` unchanged lines around each change."""
    lines = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("gap", line, "…"))
        elif line.startswith("+"):
            lines.append(DiffLine("added", line[1:], "+"))
        elif line.startswith("-"):
            lines.append(DiffLine("removed", line[1:], "−"))
        else:
            lines.append(DiffLine("same", line[1:], " "))
    return lines
