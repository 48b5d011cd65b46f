"""The transaction sets' grammars (which segments, in which order, how often) and checking a set against them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from oms_core.x12.syntax import (
    SEGMENT_HAS_ELEMENT_ERRORS,
    SEGMENT_LOOP_TOO_OFTEN,
    SEGMENT_MANDATORY_MISSING,
    SEGMENT_NOT_IN_SET,
    SEGMENT_TOO_OFTEN,
    SEGMENT_UNEXPECTED,
    SEGMENT_UNRECOGNIZED,
    SEGMENT_WORDS,
    SEGMENTS,
    SET_SEGMENTS_IN_ERROR,
    Segment,
    SegmentError,
    X12Error,
    check_segment,
    describe_element_error,
)

# --- transaction set grammars ------------------------------------------------------------


@dataclass(frozen=True)
class Seg:
    tag: str
    required: bool = False
    max_use: int = 1


@dataclass(frozen=True)
class Loop:
    """A loop: its first node (a segment) starts each occurrence, once; the other nodes follow."""

    loop_id: str
    nodes: tuple[Seg | Loop, ...]  # nodes[0] is a Seg
    required: bool = False
    max_use: int = 1

    @property
    def trigger(self) -> str:
        return self.nodes[0].tag


def _party_loop(max_use: int = 10, required: bool = False) -> Loop:
    return Loop(
        "0100",
        (Seg("N1", True), Seg("N2", max_use=2), Seg("N3", max_use=2), Seg("N4"), Seg("G61", max_use=3)),
        required,
        max_use,
    )


GRAMMARS: dict[str, tuple[Seg | Loop, ...]] = {
    "940": (
        Seg("W05", True),
        _party_loop(),
        Seg("N9", max_use=10),
        Seg("G62", max_use=10),
        Seg("NTE", max_use=10),
        Seg("W66", True),
        Loop("0200", (Seg("LX", True), Loop("0210", (Seg("W01", True), Seg("G69", max_use=5), Seg("N9", max_use=5)),
                                            True, 1)), True, 9999),
        Seg("W76"),
    ),
    "945": (
        Seg("W06", True),
        _party_loop(),
        Seg("N9", max_use=30),
        Seg("G62", max_use=10),
        Seg("W27", True),
        Loop("0300", (Seg("LX", True), Seg("MAN", max_use=10), Seg("N9", max_use=10),
                      Loop("0310", (Seg("W12", True), Seg("G69", max_use=5), Seg("N9", max_use=5)), True, 9999)),
             True, 9999),
        Seg("W03", True),
    ),
    "846": (
        Seg("BIA", True),
        _party_loop(200),
        Loop("LIN", (Seg("LIN", True), Seg("PID", max_use=200), Loop("QTY", (Seg("QTY", True),), False, 99999)),
             False, 10000),
        Seg("CTT"),
    ),
    "944": (
        Seg("W17", True),
        _party_loop(),
        Seg("N9", max_use=10),
        Seg("G62", max_use=5),
        Loop("0200", (Seg("LX", True), Loop("0210", (Seg("W07", True), Seg("G69", max_use=5), Seg("N9", max_use=5)),
                                            True, 9999)), True, 9999),
        Seg("W14", True),
    ),
    "997": (
        Seg("AK1", True),
        Loop("AK2", (Seg("AK2", True), Loop("AK3", (Seg("AK3", True), Seg("AK4", max_use=99)), False, 999999),
                     Seg("AK5", True)), False, 999999),
        Seg("AK9", True),
    ),
}  # fmt: skip


def _tags(nodes: Iterable[Seg | Loop]) -> set[str]:
    found = set()
    for node in nodes:
        found |= {node.tag} if isinstance(node, Seg) else _tags(node.nodes)
    return found


def check_set(set_id: str, body: Sequence[Segment], *, first_position: int = 2) -> list[SegmentError]:
    """The segment errors (AK3 with AK4) of a transaction set's body (the segments between ST and SE).

    Positions are counted in the set, the ST being 1 (``first_position`` is the body's first segment).
    Segments the set's grammar does not have at all are reported (unknown, or not in this set) and left
    out before the rest is matched; of segments out of place, the first is reported.
    """
    grammar = GRAMMARS[set_id]
    known = _tags(grammar)
    errors: list[SegmentError] = []
    kept: list[tuple[int, Segment]] = []
    for index, seg in enumerate(body):
        position = first_position + index
        if seg.tag not in known:
            code = SEGMENT_UNRECOGNIZED if seg.tag not in SEGMENTS else SEGMENT_NOT_IN_SET
            errors.append(SegmentError(seg.tag, position, code))
        else:
            kept.append((position, seg))
    matcher = _Matcher([seg for _, seg in kept], [position for position, _ in kept], first_position + len(body), errors)
    matcher.match(grammar)
    if matcher.index < len(kept):
        position, seg = kept[matcher.index]
        errors.append(SegmentError(seg.tag, position, SEGMENT_UNEXPECTED))
    return sorted(errors, key=lambda error: error.position)


class _Matcher:
    def __init__(self, body: Sequence[Segment], positions: Sequence[int], end: int, errors: list[SegmentError]):
        self.body = body
        self.positions = positions
        self.end_position = end  # the SE's position: where a segment missing at the end is reported
        self.errors = errors
        self.index = 0

    def _peek(self) -> str | None:
        return self.body[self.index].tag if self.index < len(self.body) else None

    def _position(self) -> int:
        return self.positions[self.index] if self.index < len(self.positions) else self.end_position

    def _take(self) -> None:
        seg = self.body[self.index]
        element_errors = check_segment(seg)
        if element_errors:
            self.errors.append(
                SegmentError(
                    seg.tag, self._position(), SEGMENT_HAS_ELEMENT_ERRORS, element_errors=tuple(element_errors)
                )
            )
        self.index += 1

    def match(self, nodes: Sequence[Seg | Loop]) -> None:
        for node in nodes:
            if isinstance(node, Seg):
                count = 0
                while self._peek() == node.tag:
                    count += 1
                    if count > node.max_use:
                        self.errors.append(SegmentError(node.tag, self._position(), SEGMENT_TOO_OFTEN))
                    self._take()
                if count == 0 and node.required:
                    self.errors.append(SegmentError(node.tag, self._position(), SEGMENT_MANDATORY_MISSING))
            else:
                count = 0
                while self._peek() == node.trigger:
                    count += 1
                    if count > node.max_use:
                        self.errors.append(SegmentError(node.trigger, self._position(), SEGMENT_LOOP_TOO_OFTEN))
                    self._take()  # the trigger, once per occurrence
                    self.match(node.nodes[1:])
                if count == 0 and node.required:
                    self.errors.append(SegmentError(node.trigger, self._position(), SEGMENT_MANDATORY_MISSING))


def raise_first_error(
    set_id: str, body: Sequence[Segment], errors: list[SegmentError], *, st_position: int | None, where: str = "segment"
) -> None:
    """Raise the first segment error as an X12Error naming the segment and, if any, the element.

    With ``st_position`` (the ST's place in the file) the position named is the file's; without, the set's.
    """
    if not errors:
        return
    error = errors[0]
    index = error.position - 2
    seg = body[index] if 0 <= index < len(body) else None
    position = st_position + error.position - 1 if st_position else error.position
    if error.element_errors and seg is not None:
        element_error = error.element_errors[0]
        raise X12Error(
            describe_element_error(seg, element_error),
            position=position,
            segment=seg.tag,
            element=seg.name(element_error.position),
            code=SET_SEGMENTS_IN_ERROR,
            where=where,
        )
    found = f" (found {seg.tag})" if seg is not None and seg.tag != error.segment_id else ""
    raise X12Error(
        f"{error.segment_id} {SEGMENT_WORDS.get(error.code, 'is in error')} in the {set_id}{found}",
        position=position,
        segment=seg.tag if seg is not None else error.segment_id,
        code=SET_SEGMENTS_IN_ERROR,
        where=where,
    )
