"""A state table drawn as an SVG diagram, on the server: no script, no style sheet of its own.

Each status is a box; an arrow goes from a status to every status it may move to. Boxes stand in columns by
how many steps they are from the first status (breadth-first), in the table's order within a column. A
forward arrow runs from a box's right edge to the next column's left edge; an arrow within a column bows out
beside the boxes (down on the right, up on the left), one back to an earlier column arcs over them. Colours
and lines are SVG presentation attributes (not CSS), so the same markup draws in the console and in the PDF;
the console's ``manual.css`` only adds hover emphasis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

BOX_WIDTH, BOX_HEIGHT = 150, 38
COLUMN_GAP, ROW_GAP = 110, 26
MARGIN = 40
FINAL_FILL, OPEN_FILL, START_FILL = "#e5e7eb", "#ffffff", "#dbeafe"
INK, LINE = "#111827", "#4b5563"


@dataclass(frozen=True)
class Box:
    status: str
    label: str
    x: int
    y: int

    @property
    def cx(self) -> float:
        return self.x + BOX_WIDTH / 2

    @property
    def cy(self) -> float:
        return self.y + BOX_HEIGHT / 2


def ranks(statuses: Sequence[str], transitions: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each status's distance in steps from the first; a status no step reaches goes after the last column."""
    rank = {statuses[0]: 0} if statuses else {}
    frontier = list(rank)
    while frontier:
        following = []
        for status in frontier:
            for target in sorted(transitions.get(status, ()), key=statuses.index):
                if target not in rank:
                    rank[target] = rank[status] + 1
                    following.append(target)
        frontier = following
    last = max(rank.values(), default=-1) + 1
    return {status: rank.get(status, last) for status in statuses}


def layout(labels: Mapping[str, str], transitions: Mapping[str, Sequence[str]]) -> list[Box]:
    statuses = list(labels)
    rank = ranks(statuses, transitions)
    rows: dict[int, int] = {}
    boxes = []
    for status in statuses:
        column = rank[status]
        row = rows.get(column, 0)
        rows[column] = row + 1
        boxes.append(
            Box(
                status=status,
                label=labels[status],
                x=MARGIN + column * (BOX_WIDTH + COLUMN_GAP),
                y=MARGIN + row * (BOX_HEIGHT + ROW_GAP),
            )
        )
    return boxes


def _edge_path(source: Box, target: Box) -> str:
    if target.x > source.x:  # forward: right edge to left edge
        x1, y1 = source.x + BOX_WIDTH, source.cy
        x2, y2 = target.x, target.cy
        bend = (x2 - x1) / 2
        return f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    if target.x == source.x:  # same column: down on the right side, up on the left, bowing more for longer jumps
        down = target.y > source.y
        x = source.x + BOX_WIDTH if down else source.x
        outward = 1 if down else -1
        y1 = source.cy + (8 if down else -8)
        y2 = target.cy + (-8 if down else 8)
        bow = outward * (22 + abs(target.y - source.y) / 2.5)
        return f"M{x:.0f},{y1:.0f} C{x + bow:.0f},{y1:.0f} {x + bow:.0f},{y2:.0f} {x:.0f},{y2:.0f}"
    # back to an earlier column: from the top edge over the boxes to the target's top edge
    x1, y1 = source.cx - 10, source.y
    x2, y2 = target.cx + 10, target.y
    lift = min(y1, y2) - MARGIN + 8 + abs(source.x - target.x) / 12
    return f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 - lift:.0f} {x2:.0f},{y2 - lift:.0f} {x2:.0f},{y2:.0f}"


def state_diagram(
    *, key: str, title: str, labels: Mapping[str, str], transitions: Mapping[str, Sequence[str]]
) -> SafeString:
    """The SVG markup of a state table: ``labels`` (status → label, in order), ``transitions`` (status → next)."""
    boxes = layout(labels, transitions)
    by_status = {box.status: box for box in boxes}
    width = max((box.x + BOX_WIDTH for box in boxes), default=0) + MARGIN + 40
    height = max((box.y + BOX_HEIGHT for box in boxes), default=0) + MARGIN
    marker = f"{key}-arrow"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="manual-diagram" id="{escape(key)}-diagram" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{escape(key)}-diagram-title">',
        f'<title id="{escape(key)}-diagram-title">{escape(title)}</title>',
        f'<defs><marker id="{escape(marker)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{LINE}"/></marker></defs>',
    ]
    for status in labels:
        for target in sorted(transitions.get(status, ()), key=list(labels).index):
            source_box, target_box = by_status[status], by_status.get(target)
            if target_box is None or target == status:
                continue
            parts.append(
                f'<path class="manual-edge" data-from="{escape(status)}" data-to="{escape(target)}" '
                f'd="{_edge_path(source_box, target_box)}" fill="none" stroke="{LINE}" stroke-width="1.4" '
                f'marker-end="url(#{escape(marker)})"><title>{escape(labels[status])} → '
                f"{escape(labels[target])}</title></path>"
            )
    first = next(iter(labels), None)
    for box in boxes:
        final = not transitions.get(box.status)
        fill = START_FILL if box.status == first else FINAL_FILL if final else OPEN_FILL
        parts.append(
            f'<g class="manual-state" data-status="{escape(box.status)}">'
            f'<rect x="{box.x}" y="{box.y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="8" fill="{fill}" '
            f'stroke="{INK}" stroke-width="{2 if final else 1.2}"/>'
            f'<text x="{box.cx:.0f}" y="{box.cy + 5:.0f}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" '
            f'font-size="13" fill="{INK}">{escape(box.label)}</text></g>'
        )
    parts.append("</svg>")
    # Built from escaped labels and numbers only.
    return mark_safe("".join(parts))  # noqa: S308
