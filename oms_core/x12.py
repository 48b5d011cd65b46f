"""X12 EDI for warehouses run by a third-party logistics provider: read and write 940, 945, 846, 944 and 997.

The reader takes the separators from the ISA segment (fixed width, 106
characters: the element separator is its 4th character, the component
separator its 105th, the segment terminator its 106th; in 005010 ISA11 is the
repetition separator), tolerates CR/LF after each terminator, and checks the
envelope: ISA13 = IEA02, IEA01 = the number of groups, GS06 = GE02, GE01 =
the number of sets, ST02 = SE02, SE01 = the number of segments of the set.
A problem raises ``X12Error`` naming the segment's position in the file (1 is
the ISA), its id and the element (``segment 14 (SE): SE01 says 9 segments,
the set has 8``).

The writer builds an interchange from typed documents (``ShippingOrder`` 940,
``ShippingAdvice`` 945, ``InventoryAdvice`` 846, ``StockReceipt`` 944,
``FunctionalAcknowledgement`` 997) with ISA/GS/ST envelopes whose control
numbers come from the caller (``next_control_number(kind)``), so that the
caller can keep them unique in its database. Every element written is checked
against the same element table the reader uses: a value too long, a
separator inside a value or a character outside ASCII is refused, naming the
segment and the element, before anything is sent.

``acknowledge`` answers an inbound interchange with one 997 per functional
group: a set with a syntax error is rejected (AK5 R, with AK3/AK4 naming the
segment and element), the good sets of the same group are accepted.

Versions 004010 and 005010 (GS08; ISA12 00401 / 00501) are read and
written; the partner's version is chosen in ``TradingPartner``. The segments
and elements used are listed in docs/reference/x12.md. The element numbers in
the tables below are those of the X12 data element dictionary (they are what
AK402 reports).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Protocol, TypeAlias

VERSION_4010 = "004010"
VERSION_5010 = "005010"
VERSIONS = {VERSION_4010: "00401", VERSION_5010: "00501"}  # GS08 → ISA12

# The kinds a control number is asked for.
INTERCHANGE = "interchange"  # ISA13 / IEA02, 1..999999999
GROUP = "group"  # GS06 / GE02, 1..999999999
TRANSACTION_SET = "transaction_set"  # ST02 / SE02, 1..999999999 (written with at least 4 digits)
MAX_CONTROL_NUMBER = 999_999_999

ISA_LENGTH = 106
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)

Element: TypeAlias = str | tuple[str, ...]  # a simple element, or a composite's components


class X12Error(ValueError):
    """X12 text that cannot be read or written as it is; names the segment's position, its id and the element.

    ``position`` is the segment's place in the file (1 is the ISA) when read, or in its transaction set (1 is
    the ST) when written; ``code`` is the X12 syntax error code a 997 reports for it (AK5 or AK9), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        segment: str = "",
        element: str = "",
        code: str = "",
        where: str = "segment",
    ):
        self.message = message
        self.position = position
        self.segment = segment
        self.element = element
        self.code = code
        if position is not None:
            text = f"{where} {position} ({segment}): {message}" if segment else f"{where} {position}: {message}"
        else:
            text = message
        super().__init__(text)


# --- separators and segments -------------------------------------------------------


@dataclass(frozen=True)
class Separators:
    """The delimiters of an interchange. ``suffix`` is written after each terminator (a newline reads well)."""

    element: str = "*"
    component: str = ">"
    segment: str = "~"
    repetition: str = "^"  # 005010 only (ISA11); 004010 writes ISA11 "U"
    suffix: str = "\n"

    def check(self, *, repetition: bool = True) -> None:
        """Raise X12Error unless the delimiters are single, distinct, non-alphanumeric ASCII characters.

        ``repetition=False`` (004010, which has no repetition separator) leaves the repetition one out.
        """
        chars = {"element": self.element, "component": self.component, "segment": self.segment}
        if repetition:
            chars["repetition"] = self.repetition
        for name, char in chars.items():
            if len(char) != 1 or char.isalnum() or not char.isascii() or char == " ":
                raise X12Error(f"the {name} separator {char!r} must be one ASCII character, not a letter or digit")
        if len(set(chars.values())) != len(chars):
            raise X12Error(f"the separators must differ from each other: {chars}")
        if self.suffix.strip("\r\n"):
            raise X12Error(f"only CR and LF may follow a segment terminator, not {self.suffix!r}")

    @property
    def chars(self) -> frozenset[str]:
        return frozenset({self.element, self.component, self.segment, self.repetition})

    def reserved(self, *, repetition: bool = True) -> frozenset[str]:
        """The characters no value may hold."""
        return self.chars if repetition else frozenset({self.element, self.component, self.segment})


@dataclass(frozen=True)
class Segment:
    """One segment: its id and elements (``elements[0]`` is element 01). ``position`` is where it was read."""

    tag: str
    elements: tuple[Element, ...] = ()
    position: int = field(default=0, compare=False)

    def get(self, number: int) -> str:
        """Element ``number`` (1-based) as text, trailing spaces dropped; a composite gives its first component."""
        if number > len(self.elements):
            return ""
        value = self.elements[number - 1]
        if isinstance(value, tuple):
            value = value[0] if value else ""
        return value.rstrip()

    def components(self, number: int) -> tuple[str, ...]:
        if number > len(self.elements):
            return ()
        value = self.elements[number - 1]
        return value if isinstance(value, tuple) else (value,)

    def name(self, number: int) -> str:
        return f"{self.tag}{number:02d}"


def segment(tag: str, *elements: Element | None) -> Segment:
    """A segment from its elements, ``None`` standing for an empty element; trailing empty elements dropped."""
    values = ["" if value is None else value for value in elements]
    while values and values[-1] in ("", ()):
        values.pop()
    return Segment(tag, tuple(values))


def plain_text(value: str, limit: int | None = None) -> str:
    """Text fit for an X12 element: accents folded (José → Jose), other non-ASCII and control characters dropped.

    X12 text is ASCII; names and addresses typed by customers are not. Separators are not removed here (the
    writer refuses them, naming the element): pick separators no address contains (``*`` ``~`` ``>`` or ``|``
    ``^`` and a newline).
    """
    folded = unicodedata.normalize("NFKD", value)
    text = "".join(char for char in folded if char.isascii() and char.isprintable())
    text = " ".join(text.split())
    return text[:limit] if limit else text


# --- the element table ---------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What one element may hold: its dictionary number, type (AN, ID, N0, R, DT, TM), lengths, codes."""

    ref: int
    kind: str
    min: int
    max: int
    required: bool = False
    codes: frozenset[str] | None = None


def E(ref: int, kind: str, low: int, high: int, required: bool = False, codes: str = "") -> Spec:
    return Spec(ref, kind, low, high, required, frozenset(codes.split()) if codes else None)


M = True  # mandatory


@dataclass(frozen=True)
class SegmentSpec:
    """A segment's elements as used here; ``count`` is how many elements the standard defines (more is an
    error, those past ``elements`` are read as text); ``pairs``: both or neither; ``one_of``: at least one."""

    elements: tuple[Spec, ...]
    count: int
    pairs: tuple[tuple[int, int], ...] = ()
    one_of: tuple[tuple[int, ...], ...] = ()


def S(*elements: Spec, count: int = 0, pairs=(), one_of=()) -> SegmentSpec:
    return SegmentSpec(tuple(elements), max(count, len(elements)), tuple(pairs), tuple(one_of))


_PRODUCT_ID = (E(235, "ID", 2, 2), E(234, "AN", 1, 48))

SEGMENTS: dict[str, SegmentSpec] = {
    "ST": S(E(143, "ID", 3, 3, M), E(329, "AN", 4, 9, M), E(1705, "AN", 1, 35)),
    "SE": S(E(96, "N0", 1, 10, M), E(329, "AN", 4, 9, M)),
    # parties, addresses, references, dates, notes
    "N1": S(
        E(98, "ID", 2, 3, M), E(93, "AN", 1, 60), E(66, "ID", 1, 2), E(67, "AN", 2, 80), count=6, pairs=[(3, 4)],
        one_of=[(2, 3)],
    ),
    "N2": S(E(93, "AN", 1, 60, M), E(93, "AN", 1, 60)),
    "N3": S(E(166, "AN", 1, 55, M), E(166, "AN", 1, 55)),
    "N4": S(E(19, "AN", 2, 30), E(156, "ID", 2, 2), E(116, "ID", 3, 15), E(26, "ID", 2, 3), count=7),
    "G61": S(E(366, "ID", 2, 2, M), E(93, "AN", 1, 60, M), E(365, "ID", 2, 2), E(364, "AN", 1, 80), count=5,
             pairs=[(3, 4)]),
    "N9": S(E(128, "ID", 2, 3, M), E(127, "AN", 1, 50), E(369, "AN", 1, 45), count=7, one_of=[(2, 3)]),
    "G62": S(E(432, "ID", 2, 2), E(373, "DT", 8, 8), E(176, "ID", 1, 2), E(337, "TM", 4, 8), count=5,
             pairs=[(1, 2), (3, 4)]),
    "NTE": S(E(363, "ID", 3, 3), E(352, "AN", 1, 80, M)),
    "G69": S(E(352, "AN", 1, 45, M)),
    "LX": S(E(554, "N0", 1, 6, M)),
    # 940
    "W05": S(E(473, "ID", 1, 1, M), E(534, "AN", 1, 22, M), E(324, "AN", 1, 22), count=7),
    "W66": S(
        E(146, "ID", 2, 2, M), E(91, "ID", 1, 2, M), E(192, "ID", 1, 1), E(193, "ID", 2, 2), E(387, "AN", 1, 35),
        E(146, "ID", 2, 2), E(335, "ID", 3, 3), E(309, "ID", 1, 2), E(310, "AN", 1, 30), E(140, "ID", 2, 4),
        count=11,
    ),
    "W01": S(E(330, "R", 1, 15, M), E(355, "ID", 2, 2, M), E(438, "AN", 12, 12), *_PRODUCT_ID, *_PRODUCT_ID,
             count=16, pairs=[(4, 5), (6, 7)]),
    "W76": S(E(330, "R", 1, 15, M), E(81, "R", 1, 10), E(355, "ID", 2, 2), E(183, "R", 1, 8), E(355, "ID", 2, 2),
             count=6, pairs=[(2, 3), (4, 5)]),
    # 945
    "W06": S(E(585, "ID", 1, 1, M), E(534, "AN", 1, 22), E(373, "DT", 8, 8), E(145, "AN", 1, 30),
             E(145, "AN", 1, 30), E(324, "AN", 1, 22), count=10),
    "W27": S(E(91, "ID", 1, 2, M), E(140, "ID", 2, 4), E(387, "AN", 1, 35), E(146, "ID", 2, 2), count=12),
    "MAN": S(E(88, "ID", 1, 2, M), E(87, "AN", 1, 48, M), E(87, "AN", 1, 48), E(88, "ID", 1, 2), E(87, "AN", 1, 48),
             E(87, "AN", 1, 48), pairs=[(4, 5)]),
    "W12": S(E(368, "ID", 2, 2, M), E(330, "R", 1, 15), E(382, "R", 1, 10), E(668, "R", 1, 9), E(355, "ID", 2, 2),
             E(438, "AN", 12, 12), *_PRODUCT_ID, E(461, "AN", 1, 12), count=22, pairs=[(7, 8)]),
    "W03": S(E(382, "R", 1, 10, M), E(81, "R", 1, 10), E(355, "ID", 2, 2), E(183, "R", 1, 8), E(355, "ID", 2, 2),
             E(80, "N0", 1, 7), E(355, "ID", 2, 2), pairs=[(2, 3), (4, 5), (6, 7)]),
    # 846
    "BIA": S(E(353, "ID", 2, 2, M), E(755, "ID", 2, 2, M), E(127, "AN", 1, 30, M), E(373, "DT", 8, 8, M),
             E(337, "TM", 4, 8), count=6),
    "LIN": S(E(350, "AN", 1, 20), E(235, "ID", 2, 2, M), E(234, "AN", 1, 48, M), *_PRODUCT_ID, count=31,
             pairs=[(4, 5)]),
    "PID": S(E(349, "ID", 1, 1, M, "F S X"), E(750, "ID", 2, 3), E(559, "ID", 2, 2), E(751, "AN", 1, 12),
             E(352, "AN", 1, 80), count=9),
    "QTY": S(E(673, "ID", 2, 2, M), E(380, "R", 1, 15), E(355, "ID", 2, 2), count=4),
    "CTT": S(E(354, "N0", 1, 6, M), E(347, "R", 1, 10), count=7),
    # 944
    "W17": S(E(585, "ID", 1, 1, M), E(373, "DT", 8, 8, M), E(145, "AN", 1, 12, M), E(534, "AN", 1, 22),
             E(127, "AN", 1, 30), E(145, "AN", 1, 30), count=8),
    "W07": S(E(413, "R", 1, 15, M), E(355, "ID", 2, 2, M), E(438, "AN", 12, 12), *_PRODUCT_ID, *_PRODUCT_ID,
             E(461, "AN", 1, 12), count=11, pairs=[(4, 5), (6, 7)]),
    "W14": S(E(413, "R", 1, 15, M), E(382, "R", 1, 10), E(668, "R", 1, 9), count=9),
    # 997
    "AK1": S(E(479, "ID", 2, 2, M), E(28, "N0", 1, 9, M), E(480, "AN", 1, 12)),
    "AK2": S(E(143, "ID", 3, 3, M), E(329, "AN", 4, 9, M), E(1705, "AN", 1, 35)),
    "AK3": S(E(721, "ID", 2, 3, M), E(719, "N0", 1, 10, M), E(447, "AN", 1, 4), E(720, "ID", 1, 3)),
    "AK4": S(E(722, "N0", 1, 2, M), E(725, "N0", 1, 4), E(723, "ID", 1, 3, M), E(724, "AN", 1, 99)),
    "AK5": S(E(717, "ID", 1, 1, M, "A E M R W X"), *[E(718, "ID", 1, 3) for _ in range(5)]),
    "AK9": S(E(715, "ID", 1, 1, M, "A E M P R W X"), E(97, "N0", 1, 6, M), E(123, "N0", 1, 6, M),
             E(2, "N0", 1, 6, M), *[E(716, "ID", 1, 3) for _ in range(5)]),
}  # fmt: skip


# --- the syntax errors a 997 reports -----------------------------------------------------

# AK304 segment syntax error codes
SEGMENT_UNRECOGNIZED = "1"
SEGMENT_UNEXPECTED = "2"
SEGMENT_MANDATORY_MISSING = "3"
SEGMENT_LOOP_TOO_OFTEN = "4"
SEGMENT_TOO_OFTEN = "5"
SEGMENT_NOT_IN_SET = "6"
SEGMENT_HAS_ELEMENT_ERRORS = "8"
# AK403 data element syntax error codes
ELEMENT_MANDATORY_MISSING = "1"
ELEMENT_CONDITIONAL_MISSING = "2"
ELEMENT_TOO_MANY = "3"
ELEMENT_TOO_SHORT = "4"
ELEMENT_TOO_LONG = "5"
ELEMENT_INVALID_CHARACTER = "6"
ELEMENT_INVALID_CODE = "7"
ELEMENT_INVALID_DATE = "8"
ELEMENT_INVALID_TIME = "9"
# AK502 transaction set syntax error codes
SET_NOT_SUPPORTED = "1"
SET_TRAILER_MISSING = "2"
SET_CONTROL_NUMBER_MISMATCH = "3"
SET_SEGMENT_COUNT_WRONG = "4"
SET_SEGMENTS_IN_ERROR = "5"
SET_CONTROL_NUMBER_INVALID = "7"
SET_CONTROL_NUMBER_NOT_UNIQUE = "23"
# AK905 functional group syntax error codes
GROUP_NOT_SUPPORTED = "1"
GROUP_VERSION_NOT_SUPPORTED = "2"
GROUP_TRAILER_MISSING = "3"
GROUP_CONTROL_NUMBER_MISMATCH = "4"
GROUP_SET_COUNT_WRONG = "5"


@dataclass(frozen=True)
class ElementError:
    """One AK4: the element's position in its segment (and component), its number, the error code, the value."""

    position: int
    code: str
    reference: int | None = None
    component: int | None = None
    bad_value: str = ""


@dataclass(frozen=True)
class SegmentError:
    """One AK3: the segment's id and position in its set (the ST is 1), the error code, its element errors."""

    segment_id: str
    position: int
    code: str
    loop_id: str = ""
    element_errors: tuple[ElementError, ...] = ()


_ELEMENT_WORDS = {
    ELEMENT_MANDATORY_MISSING: "is required and missing",
    ELEMENT_CONDITIONAL_MISSING: "is required with the element it pairs with",
    ELEMENT_TOO_MANY: "is one element too many for this segment",
    ELEMENT_TOO_SHORT: "is too short",
    ELEMENT_TOO_LONG: "is too long",
    ELEMENT_INVALID_CHARACTER: "holds a character its type does not allow",
    ELEMENT_INVALID_CODE: "is not a code this element takes",
    ELEMENT_INVALID_DATE: "is not a date (CCYYMMDD)",
    ELEMENT_INVALID_TIME: "is not a time (HHMM, HHMMSS)",
}
_SEGMENT_WORDS = {
    SEGMENT_UNRECOGNIZED: "is not a segment this reader knows",
    SEGMENT_UNEXPECTED: "is not expected here",
    SEGMENT_MANDATORY_MISSING: "is required and missing",
    SEGMENT_LOOP_TOO_OFTEN: "starts its loop more often than allowed",
    SEGMENT_TOO_OFTEN: "occurs more often than allowed",
    SEGMENT_NOT_IN_SET: "does not belong in this transaction set",
    SEGMENT_HAS_ELEMENT_ERRORS: "has element errors",
}
_DATE = re.compile(r"\d{8}|\d{6}")
_TIME = re.compile(r"\d{4}(\d{2}(\d{1,2})?)?")
_NUMBER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?(\d+\.?\d*|\.\d+)")


def describe_element_error(seg: Segment, error: ElementError) -> str:
    name = seg.name(error.position)
    value = f" ({error.bad_value!r})" if error.bad_value else ""
    spec = _spec_of(seg.tag, error.position)
    limits = ""
    if spec and error.code in (ELEMENT_TOO_SHORT, ELEMENT_TOO_LONG):
        limits = f": {spec.min} to {spec.max} characters"
    return f"{name}{value} {_ELEMENT_WORDS.get(error.code, 'is in error')}{limits}"


def _spec_of(tag: str, position: int) -> Spec | None:
    spec = SEGMENTS.get(tag)
    if spec is None or position > len(spec.elements):
        return None
    return spec.elements[position - 1]


def _value_length(kind: str, value: str) -> int:
    if kind in ("N0", "R"):
        return sum(char.isdigit() for char in value)
    return len(value)


def _check_value(spec: Spec, value: str) -> str | None:
    """The AK403 code for a non-empty value its spec refuses, or None."""
    if not value.isascii() or not value.isprintable():
        return ELEMENT_INVALID_CHARACTER
    if spec.kind == "N0" and not _NUMBER.fullmatch(value):
        return ELEMENT_INVALID_CHARACTER
    if spec.kind == "R" and not _DECIMAL.fullmatch(value):
        return ELEMENT_INVALID_CHARACTER
    if spec.kind == "DT":
        if not _DATE.fullmatch(value) or len(value) != spec.max or _parse_date(value) is None:
            return ELEMENT_INVALID_DATE
        return None
    if spec.kind == "TM":
        if not _TIME.fullmatch(value) or _parse_time(value) is None:
            return ELEMENT_INVALID_TIME
        return None
    length = _value_length(spec.kind, value)
    if length < spec.min:
        return ELEMENT_TOO_SHORT
    if length > spec.max:
        return ELEMENT_TOO_LONG
    if spec.codes is not None and value not in spec.codes:
        return ELEMENT_INVALID_CODE
    return None


def check_segment(seg: Segment) -> list[ElementError]:
    """The element errors of one segment against the element table (a segment not in the table has none)."""
    spec = SEGMENTS.get(seg.tag)
    if spec is None:
        return []
    errors = []
    present = {n for n in range(1, len(seg.elements) + 1) if seg.get(n) or len(seg.components(n)) > 1}
    if len(seg.elements) > spec.count:
        errors.append(ElementError(spec.count + 1, ELEMENT_TOO_MANY, bad_value=_text(seg.elements[spec.count])))
    for number, element_spec in enumerate(spec.elements, start=1):
        if number not in present:
            if element_spec.required:
                errors.append(ElementError(number, ELEMENT_MANDATORY_MISSING, element_spec.ref))
            continue
        raw = seg.elements[number - 1]
        components = raw if isinstance(raw, tuple) else (raw,)
        code = _check_value(element_spec, components[0])
        if code is None and len(components) > 1:
            code = next((ELEMENT_INVALID_CHARACTER for c in components[1:] if not _NUMBER.fullmatch(c or "0")), None)
        if code is not None:
            errors.append(ElementError(number, code, element_spec.ref, bad_value=_text(raw)[:99]))
    for first, second in spec.pairs:
        if (first in present) != (second in present):
            missing = second if first in present else first
            errors.append(ElementError(missing, ELEMENT_CONDITIONAL_MISSING, _ref(spec, missing)))
    for group in spec.one_of:
        if not present & set(group):
            errors.append(ElementError(group[0], ELEMENT_CONDITIONAL_MISSING, _ref(spec, group[0])))
    for number in range(len(spec.elements) + 1, min(len(seg.elements), spec.count) + 1):
        value = _text(seg.elements[number - 1])
        if not value.isascii() or not value.isprintable():
            errors.append(ElementError(number, ELEMENT_INVALID_CHARACTER, bad_value=value[:99]))
    return sorted(errors, key=lambda error: error.position)


def _ref(spec: SegmentSpec, number: int) -> int | None:
    return spec.elements[number - 1].ref if number <= len(spec.elements) else None


def _text(value: Element) -> str:
    return value if isinstance(value, str) else ">".join(value)


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


def _raise_first(
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
        f"{error.segment_id} {_SEGMENT_WORDS.get(error.code, 'is in error')} in the {set_id}{found}",
        position=position,
        segment=seg.tag if seg is not None else error.segment_id,
        code=SET_SEGMENTS_IN_ERROR,
        where=where,
    )


# --- values ---------------------------------------------------------------------------------


def _parse_date(value: str) -> dt.date | None:
    try:
        if len(value) == 8:
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 6:  # the ISA's YYMMDD
            return dt.date(2000 + int(value[:2]), int(value[2:4]), int(value[4:]))
    except ValueError:
        return None
    return None


def _parse_time(value: str) -> dt.time | None:
    try:
        seconds = int(value[4:6]) if len(value) >= 6 else 0
        hundredths = int(value[6:8].ljust(2, "0")) if len(value) > 6 else 0
        return dt.time(int(value[:2]), int(value[2:4]), seconds, hundredths * 10000)
    except ValueError:
        return None


def date_text(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def time_text(value: dt.time | None) -> str:
    if value is None:
        return ""
    return value.strftime("%H%M%S") if value.second else value.strftime("%H%M")


def decimal_text(value: Decimal | int | None) -> str:
    """A quantity as X12 writes an R element: no exponent, no trailing zeros (10, 2.5, -3)."""
    if value is None:
        return ""
    number = Decimal(value)
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _date(seg: Segment, number: int) -> dt.date | None:
    text = seg.get(number)
    if not text:
        return None
    value = _parse_date(text)
    if value is None:
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a date",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )
    return value


def _time(seg: Segment, number: int) -> dt.time | None:
    text = seg.get(number)
    if not text:
        return None
    value = _parse_time(text)
    if value is None:
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a time",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )
    return value


def _decimal(seg: Segment, number: int) -> Decimal | None:
    text = seg.get(number)
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a number",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        ) from None


def _int(seg: Segment, number: int) -> int:
    text = seg.get(number)
    if not _NUMBER.fullmatch(text):
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a whole number",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )
    return int(text)


# --- typed documents ---------------------------------------------------------------------------


class _Cursor:
    """The segments of a set's body, taken in order by the typed readers (after ``check_set`` passed)."""

    def __init__(self, body: Sequence[Segment]):
        self.body = list(body)
        self.index = 0

    def peek(self) -> str | None:
        return self.body[self.index].tag if self.index < len(self.body) else None

    def take(self, tag: str) -> Segment:
        if self.peek() != tag:
            seg = self.body[self.index] if self.index < len(self.body) else None
            raise X12Error(
                f"expected {tag} here" + (f", found {seg.tag}" if seg else ", the set ends"),
                position=seg.position if seg else None,
                segment=seg.tag if seg else tag,
            )
        self.index += 1
        return self.body[self.index - 1]

    def take_if(self, tag: str) -> Segment | None:
        return self.take(tag) if self.peek() == tag else None

    def take_all(self, tag: str) -> list[Segment]:
        found = []
        while self.peek() == tag:
            found.append(self.take(tag))
        return found


@dataclass(frozen=True)
class Party:
    """An N1 loop: a party (N101: ST ship-to, SF ship-from, WH warehouse, DE depositor), its address, a contact."""

    role: str
    name: str
    id_qualifier: str = ""  # N103: 91 assigned by seller, 92 assigned by buyer, 9 DUNS+4
    id_code: str = ""  # N104
    name_lines: tuple[str, ...] = ()  # N2, additional name lines (at most 2)
    address_lines: tuple[str, ...] = ()  # N301, N302 (at most 2)
    city: str = ""  # N401
    state: str = ""  # N402
    postal_code: str = ""  # N403
    country: str = ""  # N404, ISO 3166 two-letter
    contact_name: str = ""  # G6102 with G6101 IC (the party's name when a phone or email is given without one)
    phone: str = ""  # G6104 with G6103 TE
    email: str = ""  # G6104 with G6103 EM

    def __post_init__(self):
        if (self.phone or self.email) and not self.contact_name:  # G6102 is mandatory beside a number
            object.__setattr__(self, "contact_name", self.name)

    def to_segments(self) -> list[Segment]:
        for name, lines in (("name_lines (N2)", self.name_lines), ("address_lines (N3)", self.address_lines)):
            if len(lines) > 2:
                raise X12Error(f"{self.role} {self.name!r}: {name} takes at most 2 lines, not {len(lines)}")
        found = [segment("N1", self.role, self.name, self.id_qualifier, self.id_code)]
        if self.name_lines:
            found.append(segment("N2", *self.name_lines[:2]))
        if self.address_lines:
            found.append(segment("N3", *self.address_lines[:2]))
        if self.city or self.state or self.postal_code or self.country:
            found.append(segment("N4", self.city, self.state, self.postal_code, self.country))
        if self.phone:
            found.append(segment("G61", "IC", self.contact_name, "TE", self.phone))
        if self.email:
            found.append(segment("G61", "IC", self.contact_name, "EM", self.email))
        if self.contact_name and not self.phone and not self.email:
            found.append(segment("G61", "IC", self.contact_name))
        return found

    @classmethod
    def read(cls, cursor: _Cursor) -> Party:
        n1 = cursor.take("N1")
        n2 = cursor.take_if("N2")
        n3 = cursor.take_if("N3")
        n4 = cursor.take_if("N4")
        contact, phone, email = "", "", ""
        for g61 in cursor.take_all("G61"):
            contact = contact or g61.get(2)
            if g61.get(3) == "TE":
                phone = g61.get(4)
            elif g61.get(3) == "EM":
                email = g61.get(4)
        return cls(
            role=n1.get(1),
            name=n1.get(2),
            id_qualifier=n1.get(3),
            id_code=n1.get(4),
            name_lines=tuple(v for v in (n2.get(1), n2.get(2)) if v) if n2 else (),
            address_lines=tuple(v for v in (n3.get(1), n3.get(2)) if v) if n3 else (),
            city=n4.get(1) if n4 else "",
            state=n4.get(2) if n4 else "",
            postal_code=n4.get(3) if n4 else "",
            country=n4.get(4) if n4 else "",
            contact_name=contact,
            phone=phone,
            email=email,
        )


def _read_parties(cursor: _Cursor) -> tuple[Party, ...]:
    parties = []
    while cursor.peek() == "N1":
        parties.append(Party.read(cursor))
    return tuple(parties)


def _party_segments(parties: Iterable[Party]) -> list[Segment]:
    return [seg for party in parties for seg in party.to_segments()]


def _product_elements(sku: str, upc: str) -> tuple[str, str, str, str]:
    """Qualifier and id pairs: VN (the vendor's item number, our SKU), then UP (the UPC barcode) if any."""
    return ("VN", sku, "UP", upc) if upc else ("VN", sku, "", "")


def _product_ids(seg: Segment, first: int, pairs: int = 2) -> dict[str, str]:
    found = {}
    for offset in range(pairs):
        qualifier, value = seg.get(first + 2 * offset), seg.get(first + 2 * offset + 1)
        if qualifier and value:
            found.setdefault(qualifier, value)
    return found


def _sku(seg: Segment, ids: dict[str, str], number: int) -> str:
    for qualifier in ("VN", "SK", "BP", "IN"):
        if ids.get(qualifier):
            return ids[qualifier]
    raise X12Error(
        f"{seg.name(number)}: no item number with qualifier VN (or SK, BP, IN) in {seg.tag}",
        position=seg.position,
        segment=seg.tag,
        element=seg.name(number),
    )


def _check_total(seg: Segment, number: int, said: Decimal | None, counted: Decimal, what: str) -> None:
    if said is not None and said != counted:
        raise X12Error(
            f"{seg.name(number)} says {decimal_text(said)} {what}, the lines add up to {decimal_text(counted)}",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )


@dataclass(frozen=True)
class OrderLine:
    """A 940 line: LX, W01 (quantity, unit, VN SKU, UP UPC), G69 description, N9 LI our line reference."""

    sku: str
    quantity: Decimal
    unit: str = "EA"
    upc: str = ""
    description: str = ""
    line_reference: str = ""


@dataclass(frozen=True)
class ShippingOrder:
    """940 Warehouse Shipping Order: we ask the warehouse to ship; W0502 is our shipment id, echoed in the 945."""

    SET_ID: ClassVar[str] = "940"
    FUNCTIONAL_ID: ClassVar[str] = "OW"

    shipment_id: str  # W0502 depositor order number
    order_number: str  # W0503 purchase order number (the customer's order)
    lines: tuple[OrderLine, ...]
    parties: tuple[Party, ...] = ()  # N1 ST ship-to (required by every 3PL), DE depositor, WH warehouse
    purpose: str = "N"  # W0501: N original
    requested_ship_date: dt.date | None = None  # G62 10
    requested_delivery_date: dt.date | None = None  # G62 02
    carrier: str = ""  # W6610 SCAC
    service_level: str = ""  # W6605 routing: the service the partner's mapping knows
    payment_method: str = "PP"  # W6601: PP prepaid, CC collect, TP third party
    transport_method: str = "U"  # W6602: U private parcel service, M motor, A air
    instructions: str = ""  # NTE WHI
    references: tuple[tuple[str, str], ...] = ()  # N9 (qualifier, value) at the header
    weight_lb: Decimal | None = None  # W7602 with W7603 LB

    @property
    def total_quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), Decimal(0))

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [segment("W05", self.purpose, self.shipment_id, self.order_number)]
        found += _party_segments(self.parties)
        found += [segment("N9", qualifier, value) for qualifier, value in self.references]
        if self.requested_delivery_date:
            found.append(segment("G62", "02", date_text(self.requested_delivery_date)))
        if self.requested_ship_date:
            found.append(segment("G62", "10", date_text(self.requested_ship_date)))
        if self.instructions:
            found.append(segment("NTE", "WHI", self.instructions))
        found.append(
            segment(
                "W66",
                self.payment_method,
                self.transport_method,
                "",
                "",
                self.service_level,
                "",
                "",
                "",
                "",
                self.carrier,
            )
        )
        for number, line in enumerate(self.lines, start=1):
            found.append(segment("LX", str(number)))
            found.append(
                segment("W01", decimal_text(line.quantity), line.unit, "", *_product_elements(line.sku, line.upc))
            )
            if line.description:
                found.append(segment("G69", line.description))
            if line.line_reference:
                found.append(segment("N9", "LI", line.line_reference))
        weight = decimal_text(self.weight_lb)
        found.append(segment("W76", decimal_text(self.total_quantity), weight, "LB" if weight else ""))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> ShippingOrder:
        cursor = _Cursor(body)
        w05 = cursor.take("W05")
        parties = _read_parties(cursor)
        references = tuple((n9.get(1), n9.get(2)) for n9 in cursor.take_all("N9"))
        dates = {g62.get(1): _date(g62, 2) for g62 in cursor.take_all("G62")}
        notes = [nte.get(2) for nte in cursor.take_all("NTE") if nte.get(1) in ("WHI", "")]
        w66 = cursor.take("W66")
        lines = []
        while cursor.peek() == "LX":
            cursor.take("LX")
            w01 = cursor.take("W01")
            ids = _product_ids(w01, 4)
            description = " ".join(g69.get(1) for g69 in cursor.take_all("G69"))
            line_ref = next((n9.get(2) for n9 in cursor.take_all("N9") if n9.get(1) == "LI"), "")
            lines.append(
                OrderLine(
                    sku=_sku(w01, ids, 5),
                    quantity=_decimal(w01, 1),
                    unit=w01.get(2),
                    upc=ids.get("UP", ""),
                    description=description,
                    line_reference=line_ref,
                )
            )
        order = cls(
            shipment_id=w05.get(2),
            order_number=w05.get(3),
            lines=tuple(lines),
            parties=parties,
            purpose=w05.get(1),
            requested_ship_date=dates.get("10"),
            requested_delivery_date=dates.get("02"),
            carrier=w66.get(10),
            service_level=w66.get(5),
            payment_method=w66.get(1),
            transport_method=w66.get(2),
            instructions=" ".join(notes),
            references=references,
        )
        w76 = cursor.take_if("W76")
        if w76 is not None:
            _check_total(w76, 1, _decimal(w76, 1), order.total_quantity, "units ordered")
            if w76.get(3) == "LB":
                order = replace(order, weight_lb=_decimal(w76, 2))
        return order

    def ship_to(self) -> Party | None:
        return next((party for party in self.parties if party.role == "ST"), None)


@dataclass(frozen=True)
class ShippedLine:
    """A 945 W12: what was ordered and shipped of one SKU in one package."""

    sku: str
    quantity_shipped: Decimal
    quantity_ordered: Decimal | None = None
    unit: str = "EA"
    status: str = "CC"  # W1201: CC shipped complete, CP shipped partial, ...
    lot: str = ""  # W1209
    description: str = ""  # G69
    line_reference: str = ""  # N9 LI: the 940's line reference, echoed

    @property
    def quantity_difference(self) -> Decimal | None:
        if self.quantity_ordered is None:
            return None
        return self.quantity_ordered - self.quantity_shipped


@dataclass(frozen=True)
class ShippedPackage:
    """A 945 LX loop: one package (MAN GM its id/SSCC, MAN CP its tracking number) and the lines in it."""

    lines: tuple[ShippedLine, ...]
    package_id: str = ""
    tracking_number: str = ""


@dataclass(frozen=True)
class ShippingAdvice:
    """945 Warehouse Shipping Advice: the warehouse shipped (all or part of) the order we sent in a 940."""

    SET_ID: ClassVar[str] = "945"
    FUNCTIONAL_ID: ClassVar[str] = "SW"

    shipment_id: str  # W0602: our shipment id from the 940's W0502
    ship_date: dt.date  # W0603
    packages: tuple[ShippedPackage, ...]
    warehouse_shipment_id: str = ""  # W0604: the warehouse's own id for the shipment
    order_number: str = ""  # W0606
    reporting_code: str = "F"  # W0601: F final, P partial
    parties: tuple[Party, ...] = ()
    shipped_time: dt.time | None = None  # G62 11 date with time qualifier 8
    carrier: str = ""  # W2702 SCAC
    service_level: str = ""  # W2703 routing
    transport_method: str = "U"  # W2701
    tracking_number: str = ""  # N9 CN: the shipment's (master) tracking or PRO number
    bill_of_lading: str = ""  # N9 BM
    weight_lb: Decimal | None = None  # W0302 with W0303 LB

    @property
    def units_shipped(self) -> Decimal:
        return sum((line.quantity_shipped for package in self.packages for line in package.lines), Decimal(0))

    def shipped_quantities(self) -> dict[str, Decimal]:
        """SKU → the units shipped of it, over all packages."""
        found: dict[str, Decimal] = {}
        for package in self.packages:
            for line in package.lines:
                found[line.sku] = found.get(line.sku, Decimal(0)) + line.quantity_shipped
        return found

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [
            segment(
                "W06",
                self.reporting_code,
                self.shipment_id,
                date_text(self.ship_date),
                self.warehouse_shipment_id,
                "",
                self.order_number,
            )
        ]
        found += _party_segments(self.parties)
        if self.tracking_number:
            found.append(segment("N9", "CN", self.tracking_number))
        if self.bill_of_lading:
            found.append(segment("N9", "BM", self.bill_of_lading))
        found.append(
            segment(
                "G62", "11", date_text(self.ship_date), "8" if self.shipped_time else "", time_text(self.shipped_time)
            )
        )
        found.append(segment("W27", self.transport_method, self.carrier, self.service_level))
        for number, package in enumerate(self.packages, start=1):
            found.append(segment("LX", str(number)))
            if package.package_id or package.tracking_number:
                if package.package_id and package.tracking_number:
                    found.append(segment("MAN", "GM", package.package_id, "", "CP", package.tracking_number))
                elif package.package_id:
                    found.append(segment("MAN", "GM", package.package_id))
                else:
                    found.append(segment("MAN", "CP", package.tracking_number))
            for line in package.lines:
                found.append(
                    segment(
                        "W12",
                        line.status,
                        decimal_text(line.quantity_ordered),
                        decimal_text(line.quantity_shipped),
                        decimal_text(line.quantity_difference),
                        line.unit,
                        "",
                        "VN",
                        line.sku,
                        line.lot,
                    )
                )
                if line.description:
                    found.append(segment("G69", line.description))
                if line.line_reference:
                    found.append(segment("N9", "LI", line.line_reference))
        weight = decimal_text(self.weight_lb)
        found.append(segment("W03", decimal_text(self.units_shipped), weight, "LB" if weight else ""))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> ShippingAdvice:
        cursor = _Cursor(body)
        w06 = cursor.take("W06")
        parties = _read_parties(cursor)
        references = {n9.get(1): n9.get(2) for n9 in cursor.take_all("N9")}
        ship_date, shipped_time = _date(w06, 3), None
        for g62 in cursor.take_all("G62"):
            if g62.get(1) == "11":
                ship_date = ship_date or _date(g62, 2)
                shipped_time = _time(g62, 4)
        if ship_date is None:
            raise X12Error(
                "W0603 (or a G62 11) must give the ship date", position=w06.position, segment="W06", element="W0603"
            )
        w27 = cursor.take("W27")
        packages = []
        while cursor.peek() == "LX":
            cursor.take("LX")
            package_id, tracking = "", ""
            for man in cursor.take_all("MAN"):
                marks = {man.get(1): man.get(2)}
                if man.get(4):
                    marks.setdefault(man.get(4), man.get(5))
                package_id = package_id or marks.get("GM", "") or marks.get("W", "")
                tracking = tracking or marks.get("CP", "")
            cursor.take_all("N9")
            lines = []
            while cursor.peek() == "W12":
                w12 = cursor.take("W12")
                ids = _product_ids(w12, 7, pairs=1)
                description = " ".join(g69.get(1) for g69 in cursor.take_all("G69"))
                line_ref = next((n9.get(2) for n9 in cursor.take_all("N9") if n9.get(1) == "LI"), "")
                shipped = _decimal(w12, 3)
                if shipped is None:
                    raise X12Error(
                        "W1203 must give the units shipped", position=w12.position, segment="W12", element="W1203"
                    )
                lines.append(
                    ShippedLine(
                        sku=_sku(w12, ids, 8),
                        quantity_shipped=shipped,
                        quantity_ordered=_decimal(w12, 2),
                        unit=w12.get(5) or "EA",
                        status=w12.get(1),
                        lot=w12.get(9),
                        description=description,
                        line_reference=line_ref,
                    )
                )
            packages.append(ShippedPackage(lines=tuple(lines), package_id=package_id, tracking_number=tracking))
        w03 = cursor.take("W03")
        advice = cls(
            shipment_id=w06.get(2),
            ship_date=ship_date,
            packages=tuple(packages),
            warehouse_shipment_id=w06.get(4),
            order_number=w06.get(6),
            reporting_code=w06.get(1),
            parties=parties,
            shipped_time=shipped_time,
            carrier=w27.get(2),
            service_level=w27.get(3),
            transport_method=w27.get(1),
            tracking_number=references.get("CN", ""),
            bill_of_lading=references.get("BM", ""),
            weight_lb=_decimal(w03, 2) if w03.get(3) == "LB" else None,
        )
        _check_total(w03, 1, _decimal(w03, 1), advice.units_shipped, "units shipped")
        return advice


@dataclass(frozen=True)
class InventoryQuantity:
    """A QTY: qualifier (33 quantity available / stock on hand, 17 on hand, 74 damaged, ...), quantity, unit."""

    qualifier: str
    quantity: Decimal
    unit: str = "EA"


@dataclass(frozen=True)
class InventoryItem:
    """An 846 LIN loop: the item (VN SKU, UP UPC), PID description, its QTY quantities."""

    sku: str
    quantities: tuple[InventoryQuantity, ...]
    upc: str = ""
    description: str = ""

    def quantity(self, *qualifiers: str) -> Decimal | None:
        """The first quantity reported under one of ``qualifiers``, in that order of preference."""
        by_qualifier = {q.qualifier: q.quantity for q in reversed(self.quantities)}
        return next((by_qualifier[q] for q in qualifiers if q in by_qualifier), None)

    @property
    def on_hand(self) -> Decimal | None:
        """The stock on hand: QTY 33 (quantity available for sale, stock quantity), else QTY 17 (on hand)."""
        return self.quantity("33", "17")


@dataclass(frozen=True)
class InventoryAdvice:
    """846 Inventory Inquiry/Advice: the warehouse's stock per SKU as of a date and time."""

    SET_ID: ClassVar[str] = "846"
    FUNCTIONAL_ID: ClassVar[str] = "IB"

    report_id: str  # BIA03
    as_of_date: dt.date  # BIA04
    items: tuple[InventoryItem, ...]
    as_of_time: dt.time | None = None  # BIA05 (the partner's local time: its agreement says which zone)
    purpose: str = "00"  # BIA01 00 original
    report_type: str = "DD"  # BIA02 DD distributor inventory report
    parties: tuple[Party, ...] = ()  # N1 WH: the warehouse reporting

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [
            segment(
                "BIA",
                self.purpose,
                self.report_type,
                self.report_id,
                date_text(self.as_of_date),
                time_text(self.as_of_time),
            )
        ]
        found += _party_segments(self.parties)
        for number, item in enumerate(self.items, start=1):
            found.append(segment("LIN", str(number), *_product_elements(item.sku, item.upc)))
            if item.description:
                found.append(segment("PID", "F", "", "", "", item.description))
            for quantity in item.quantities:
                found.append(segment("QTY", quantity.qualifier, decimal_text(quantity.quantity), quantity.unit))
        found.append(segment("CTT", str(len(self.items))))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> InventoryAdvice:
        cursor = _Cursor(body)
        bia = cursor.take("BIA")
        parties = _read_parties(cursor)
        items = []
        while cursor.peek() == "LIN":
            lin = cursor.take("LIN")
            ids = _product_ids(lin, 2)
            description = " ".join(pid.get(5) for pid in cursor.take_all("PID") if pid.get(5))
            quantities = []
            for qty in cursor.take_all("QTY"):
                amount = _decimal(qty, 2)
                if amount is None:
                    raise X12Error(
                        "QTY02 must give the quantity", position=qty.position, segment="QTY", element="QTY02"
                    )
                quantities.append(InventoryQuantity(qty.get(1), amount, qty.get(3) or "EA"))
            items.append(InventoryItem(_sku(lin, ids, 3), tuple(quantities), ids.get("UP", ""), description))
        ctt = cursor.take_if("CTT")
        if ctt is not None and _int(ctt, 1) != len(items):
            raise X12Error(
                f"CTT01 says {_int(ctt, 1)} items, the set has {len(items)}",
                position=ctt.position,
                segment="CTT",
                element="CTT01",
            )
        return cls(
            report_id=bia.get(3),
            as_of_date=_date(bia, 4),
            items=tuple(items),
            as_of_time=_time(bia, 5),
            purpose=bia.get(1),
            report_type=bia.get(2),
            parties=parties,
        )


@dataclass(frozen=True)
class ReceivedLine:
    """A 944 W07: the units received of one SKU (VN), its UPC, lot."""

    sku: str
    quantity: Decimal
    unit: str = "EA"
    upc: str = ""
    lot: str = ""
    description: str = ""


@dataclass(frozen=True)
class StockReceipt:
    """944 Warehouse Stock Transfer Receipt Advice: stock arrived at the warehouse (a transfer, a receipt, a return)."""

    SET_ID: ClassVar[str] = "944"
    FUNCTIONAL_ID: ClassVar[str] = "RE"

    receipt_number: str  # W1703: the warehouse's receipt number
    received_date: dt.date  # W1702
    lines: tuple[ReceivedLine, ...]
    reference: str = ""  # W1704: our transfer / advance shipping notice id (the 943's depositor order number)
    reporting_code: str = "F"  # W1701
    parties: tuple[Party, ...] = ()

    @property
    def total_quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), Decimal(0))

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [
            segment("W17", self.reporting_code, date_text(self.received_date), self.receipt_number, self.reference)
        ]
        found += _party_segments(self.parties)
        for number, line in enumerate(self.lines, start=1):
            found.append(segment("LX", str(number)))
            found.append(
                segment(
                    "W07", decimal_text(line.quantity), line.unit, "", *_product_elements(line.sku, line.upc), line.lot
                )
            )
            if line.description:
                found.append(segment("G69", line.description))
        found.append(segment("W14", decimal_text(self.total_quantity)))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> StockReceipt:
        cursor = _Cursor(body)
        w17 = cursor.take("W17")
        parties = _read_parties(cursor)
        cursor.take_all("N9")
        cursor.take_all("G62")
        lines = []
        while cursor.peek() == "LX":
            cursor.take("LX")
            while cursor.peek() == "W07":
                w07 = cursor.take("W07")
                ids = _product_ids(w07, 4)
                description = " ".join(g69.get(1) for g69 in cursor.take_all("G69"))
                cursor.take_all("N9")
                lines.append(
                    ReceivedLine(
                        _sku(w07, ids, 5), _decimal(w07, 1), w07.get(2), ids.get("UP", ""), w07.get(8), description
                    )
                )
        w14 = cursor.take("W14")
        receipt = cls(
            receipt_number=w17.get(3),
            received_date=_date(w17, 2),
            lines=tuple(lines),
            reference=w17.get(4),
            reporting_code=w17.get(1),
            parties=parties,
        )
        _check_total(w14, 1, _decimal(w14, 1), receipt.total_quantity, "units received")
        return receipt


@dataclass(frozen=True)
class SetAcknowledgement:
    """An AK2 loop: one transaction set's answer (AK5 A accepted, E accepted with errors, R rejected)."""

    set_id: str
    control_number: str
    status: str
    error_codes: tuple[str, ...] = ()
    segment_errors: tuple[SegmentError, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


@dataclass(frozen=True)
class FunctionalAcknowledgement:
    """997 Functional Acknowledgement: the group (AK1) and its sets (AK2/AK5) arrived and read, or not and why.

    A 997 says the message was read, not that the order was accepted: that answer is business, not syntax.
    """

    SET_ID: ClassVar[str] = "997"
    FUNCTIONAL_ID: ClassVar[str] = "FA"

    functional_id: str  # AK101: the acknowledged group's GS01
    group_control_number: int  # AK102: its GS06
    status: str  # AK901: A accepted, E accepted with errors, P partially accepted, R rejected
    sets: tuple[SetAcknowledgement, ...] = ()
    sets_included: int = 0  # AK902: GE01 as the sender said
    sets_received: int = 0  # AK903
    sets_accepted: int = 0  # AK904
    error_codes: tuple[str, ...] = ()  # AK905..AK909
    group_version: str = ""  # AK103 (005010)

    def set_status(self, control_number: str) -> SetAcknowledgement | None:
        return next((s for s in self.sets if s.control_number.lstrip("0") == control_number.lstrip("0")), None)

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        fifty = version.startswith(VERSION_5010)
        found = [
            segment("AK1", self.functional_id, str(self.group_control_number), self.group_version if fifty else "")
        ]
        for answer in self.sets:
            found.append(segment("AK2", answer.set_id, answer.control_number))
            for error in answer.segment_errors:
                found.append(segment("AK3", error.segment_id, str(error.position), error.loop_id, error.code))
                for element_error in error.element_errors:
                    position: Element = str(element_error.position)
                    if fifty and element_error.component:
                        position = (str(element_error.position), str(element_error.component))
                    reference = str(element_error.reference) if element_error.reference else ""
                    bad = plain_text(element_error.bad_value, 99)
                    found.append(segment("AK4", position, reference, element_error.code, bad))
            found.append(segment("AK5", answer.status, *answer.error_codes[:5]))
        found.append(
            segment(
                "AK9",
                self.status,
                str(self.sets_included),
                str(self.sets_received),
                str(self.sets_accepted),
                *self.error_codes[:5],
            )
        )
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> FunctionalAcknowledgement:
        cursor = _Cursor(body)
        ak1 = cursor.take("AK1")
        sets = []
        while cursor.peek() == "AK2":
            ak2 = cursor.take("AK2")
            segment_errors = []
            while cursor.peek() == "AK3":
                ak3 = cursor.take("AK3")
                element_errors = []
                for ak4 in cursor.take_all("AK4"):
                    position = ak4.components(1)
                    element_errors.append(
                        ElementError(
                            position=_int(ak4, 1),
                            code=ak4.get(3),
                            reference=int(ak4.get(2)) if ak4.get(2).isdigit() else None,
                            component=int(position[1]) if len(position) > 1 and position[1].isdigit() else None,
                            bad_value=ak4.get(4),
                        )
                    )
                segment_errors.append(
                    SegmentError(ak3.get(1), _int(ak3, 2), ak3.get(4), ak3.get(3), tuple(element_errors))
                )
            ak5 = cursor.take("AK5")
            codes = tuple(ak5.get(n) for n in range(2, 7) if ak5.get(n))
            sets.append(SetAcknowledgement(ak2.get(1), ak2.get(2), ak5.get(1), codes, tuple(segment_errors)))
        ak9 = cursor.take("AK9")
        return cls(
            functional_id=ak1.get(1),
            group_control_number=_int(ak1, 2),
            status=ak9.get(1),
            sets=tuple(sets),
            sets_included=_int(ak9, 2),
            sets_received=_int(ak9, 3),
            sets_accepted=_int(ak9, 4),
            error_codes=tuple(ak9.get(n) for n in range(5, 10) if ak9.get(n)),
            group_version=ak1.get(3),
        )


Document: TypeAlias = ShippingOrder | ShippingAdvice | InventoryAdvice | StockReceipt | FunctionalAcknowledgement
DOCUMENT_TYPES: dict[str, type[Document]] = {
    kind.SET_ID: kind
    for kind in (ShippingOrder, ShippingAdvice, InventoryAdvice, StockReceipt, FunctionalAcknowledgement)
}
FUNCTIONAL_IDS = {kind.FUNCTIONAL_ID: kind.SET_ID for kind in DOCUMENT_TYPES.values()}


# --- the envelope ----------------------------------------------------------------------------------


@dataclass
class TransactionSet:
    """ST ... SE: the set's id, control number and body (the segments between ST and SE).

    ``errors`` holds what is wrong with its envelope (read leniently); ``position`` is the ST's place in the file.
    """

    set_id: str
    control_number: str
    segments: list[Segment]
    position: int = 0
    errors: list[X12Error] = field(default_factory=list)
    implementation_reference: str = ""  # ST03 (005010)
    document: Document | None = None


@dataclass
class FunctionalGroup:
    """GS ... GE: the functional id (OW, SW, IB, RE, FA), the application codes, the control number, the sets."""

    functional_id: str
    sender_code: str
    receiver_code: str
    date: dt.date
    time: dt.time
    control_number: int
    version: str
    transaction_sets: list[TransactionSet] = field(default_factory=list)
    position: int = 0
    errors: list[X12Error] = field(default_factory=list)
    declared_set_count: int | None = None  # GE01 as read


@dataclass
class Interchange:
    """ISA ... IEA: who sends to whom, when, its control number, separators, and its functional groups."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: dt.date
    time: dt.time
    control_number: int
    version: str  # ISA12: 00401 or 00501
    separators: Separators
    groups: list[FunctionalGroup] = field(default_factory=list)
    usage: str = "P"  # ISA15: P production, T test
    acknowledgement_requested: bool = False  # ISA14 (a TA1)

    def transaction_sets(self) -> list[TransactionSet]:
        return [ts for group in self.groups for ts in group.transaction_sets]

    def errors(self) -> list[X12Error]:
        """Every envelope error found while reading, in file order."""
        found = []
        for group in self.groups:
            found += group.errors
            for ts in group.transaction_sets:
                found += ts.errors
        return sorted(found, key=lambda error: error.position or 0)

    def to_segments(self) -> list[Segment]:
        """The interchange as segments, envelope counts computed from its content."""
        sep = self.separators
        isa11 = sep.repetition if self.version == VERSIONS[VERSION_5010] else "U"
        found = [
            Segment(
                "ISA",
                (
                    "00",
                    " " * 10,
                    "00",
                    " " * 10,
                    self.sender_qualifier,
                    self.sender_id.ljust(15),
                    self.receiver_qualifier,
                    self.receiver_id.ljust(15),
                    self.date.strftime("%y%m%d"),
                    self.time.strftime("%H%M"),
                    isa11,
                    self.version,
                    f"{self.control_number:09d}",
                    "1" if self.acknowledgement_requested else "0",
                    self.usage,
                    sep.component,
                ),
            )
        ]
        for group in self.groups:
            found.append(
                segment(
                    "GS",
                    group.functional_id,
                    group.sender_code,
                    group.receiver_code,
                    date_text(group.date),
                    group.time.strftime("%H%M"),
                    str(group.control_number),
                    "X",
                    group.version,
                )
            )
            for ts in group.transaction_sets:
                fifty = group.version.startswith(VERSION_5010)
                found.append(segment("ST", ts.set_id, ts.control_number, ts.implementation_reference if fifty else ""))
                found += ts.segments
                found.append(segment("SE", str(len(ts.segments) + 2), ts.control_number))
            found.append(segment("GE", str(len(group.transaction_sets)), str(group.control_number)))
        found.append(segment("IEA", str(len(self.groups)), f"{self.control_number:09d}"))
        return found

    def to_text(self) -> str:
        """The interchange as X12 text with its separators; raises X12Error if a value holds a separator."""
        fifty = self.version == VERSIONS[VERSION_5010]
        self.separators.check(repetition=fifty)
        sep = self.separators
        reserved = sep.reserved(repetition=fifty)
        out = []
        set_position = 0
        for seg in self.to_segments():
            set_position = 1 if seg.tag == "ST" else set_position + 1
            for number, value in enumerate(seg.elements, start=1):
                for part in value if isinstance(value, tuple) else (value,):
                    bad = next((char for char in part if char in reserved), None) if seg.tag != "ISA" else None
                    if bad is not None:
                        raise X12Error(
                            f"{seg.name(number)} {part!r} holds the separator {bad!r}; choose other separators for "
                            "this partner or remove the character",
                            position=set_position,
                            segment=seg.tag,
                            element=seg.name(number),
                            where="segment",
                        )
            elements = [value if isinstance(value, str) else sep.component.join(value) for value in seg.elements]
            out.append(sep.element.join([seg.tag, *elements]) + sep.segment + sep.suffix)
        text = "".join(out)
        if not text.isascii():
            raise X12Error("the interchange holds characters outside ASCII; pass customer text through plain_text()")
        return text


@dataclass(frozen=True)
class TradingPartner:
    """Who we are and who the partner is on the envelope, which version it speaks and with which separators."""

    our_id: str  # ISA06 (at most 15)
    their_id: str  # ISA08
    our_qualifier: str = "ZZ"  # ISA05: ZZ mutually defined, 01 DUNS, 12 phone
    their_qualifier: str = "ZZ"  # ISA07
    our_application_code: str = ""  # GS02, defaults to our_id
    their_application_code: str = ""  # GS03, defaults to their_id
    version: str = VERSION_4010  # GS08: 004010 or 005010
    separators: Separators = Separators()
    test: bool = False  # ISA15 T instead of P
    acknowledgement_requested: bool = False  # ISA14


class ControlNumberAllocator(Protocol):
    def next_control_number(self, kind: str) -> int: ...


NextControlNumber: TypeAlias = Callable[[str], int] | ControlNumberAllocator


class CounterControlNumbers:
    """Control numbers from counters in memory, for tests and one-off files: an app keeps its own in its database."""

    def __init__(self, start: int = 1):
        self.counters = {INTERCHANGE: start - 1, GROUP: start - 1, TRANSACTION_SET: start - 1}

    def next_control_number(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]


def _allocate(allocator: NextControlNumber, kind: str) -> int:
    take = allocator.next_control_number if hasattr(allocator, "next_control_number") else allocator
    number = take(kind)
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_CONTROL_NUMBER:
        raise X12Error(f"the {kind} control number {number!r} must be a whole number from 1 to {MAX_CONTROL_NUMBER}")
    return number


def _check_partner(partner: TradingPartner) -> None:
    if partner.version not in VERSIONS:
        raise X12Error(f"version {partner.version!r} is not one this writer speaks: {sorted(VERSIONS)}")
    for name, value, width in (
        ("our_id (ISA06)", partner.our_id, 15),
        ("their_id (ISA08)", partner.their_id, 15),
        ("our_qualifier (ISA05)", partner.our_qualifier, 2),
        ("their_qualifier (ISA07)", partner.their_qualifier, 2),
    ):
        if not value or len(value) > width or not value.isascii() or not value.isprintable():
            raise X12Error(f"{name} {value!r} must be 1 to {width} ASCII characters")
    fifty = partner.version == VERSION_5010
    partner.separators.check(repetition=fifty)
    isa_fields = (partner.our_id, partner.their_id, partner.our_qualifier, partner.their_qualifier)
    if any(char in partner.separators.reserved(repetition=fifty) for value in isa_fields for char in value):
        raise X12Error("an ISA identifier holds one of the partner's separators")


_LABELS = ("shipment_id", "report_id", "receipt_number", "functional_id")


def build_interchange(
    documents: Sequence[Document],
    *,
    partner: TradingPartner,
    next_control_number: NextControlNumber,
    when: dt.datetime,
) -> Interchange:
    """An interchange carrying ``documents`` to ``partner``: one functional group per kind, in the order given.

    ``when`` stamps ISA09/ISA10 and GS04/GS05 as its wall-clock time (pass it in the zone agreed with the
    partner). Control numbers come from ``next_control_number(kind)`` (kinds INTERCHANGE, GROUP, TRANSACTION_SET); every
    segment is checked against the element table first, so a bad value raises X12Error naming the document,
    the segment (its position in the set, ST being 1) and the element, and no number is taken.
    ``interchange.to_text()`` gives the file.
    """
    _check_partner(partner)
    if not documents:
        raise X12Error("an interchange needs at least one document")
    bodies = []
    for document in documents:
        body = document.to_segments(partner.version)
        label = next((getattr(document, name) for name in _LABELS if getattr(document, name, "")), "")
        where = f"{document.SET_ID}{f' {label}' if label else ''}: segment"
        _raise_first(document.SET_ID, body, check_set(document.SET_ID, body), st_position=None, where=where)
        bodies.append(body)
    interchange = Interchange(
        sender_qualifier=partner.our_qualifier,
        sender_id=partner.our_id,
        receiver_qualifier=partner.their_qualifier,
        receiver_id=partner.their_id,
        date=when.date(),
        time=when.time().replace(second=0, microsecond=0),
        control_number=_allocate(next_control_number, INTERCHANGE),
        version=VERSIONS[partner.version],
        separators=partner.separators,
        usage="T" if partner.test else "P",
        acknowledgement_requested=partner.acknowledgement_requested,
    )
    groups: dict[str, FunctionalGroup] = {}
    for document, body in zip(documents, bodies, strict=True):
        group = groups.get(document.FUNCTIONAL_ID)
        if group is None:
            group = groups[document.FUNCTIONAL_ID] = FunctionalGroup(
                functional_id=document.FUNCTIONAL_ID,
                sender_code=partner.our_application_code or partner.our_id,
                receiver_code=partner.their_application_code or partner.their_id,
                date=interchange.date,
                time=interchange.time,
                control_number=_allocate(next_control_number, GROUP),
                version=partner.version,
            )
            interchange.groups.append(group)
        number = _allocate(next_control_number, TRANSACTION_SET)
        group.transaction_sets.append(TransactionSet(document.SET_ID, f"{number:04d}", body, document=document))
    return interchange


def write_interchange(
    documents: Sequence[Document],
    *,
    partner: TradingPartner,
    next_control_number: NextControlNumber,
    when: dt.datetime,
) -> tuple[Interchange, str]:
    """``build_interchange`` and its text: the interchange (for its control numbers) and the file to send."""
    interchange = build_interchange(documents, partner=partner, next_control_number=next_control_number, when=when)
    return interchange, interchange.to_text()


# --- reading ---------------------------------------------------------------------------------------


def _as_text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")  # every byte is one character; non-ASCII is reported with its segment
    return data


def _non_ascii(seg: Segment) -> X12Error | None:
    for number, value in enumerate(seg.elements, start=1):
        text = _text(value)
        for offset, char in enumerate(text):
            if not char.isascii():
                return X12Error(
                    f"{seg.name(number)} holds {char!r} (character {offset + 1}), outside ASCII: X12 text is ASCII",
                    position=seg.position,
                    segment=seg.tag,
                    element=seg.name(number),
                )
    return None


def _read_isa(text: str, start: int, position: int) -> tuple[Segment, Separators]:
    isa = text[start : start + ISA_LENGTH]
    if not isa.startswith("ISA"):
        raise X12Error(f"expected an ISA segment, found {isa[:20]!r}", position=position, segment="ISA")
    element = isa[3:4]
    fields = isa[4:].split(element) if element else []
    if len(isa) < ISA_LENGTH or len(fields) < 16:
        raise X12Error(
            f"the ISA is cut short or malformed ({len(isa)} characters, {len(fields)} elements after ISA); it is "
            "fixed width: 106 characters, 16 elements",
            position=position,
            segment="ISA",
        )
    for number, (value, width) in enumerate(zip(fields[:15], ISA_WIDTHS, strict=False), start=1):
        if len(value) != width:
            raise X12Error(
                f"ISA{number:02d} {value!r} is {len(value)} characters; the ISA is fixed width and ISA{number:02d} "
                f"takes {width}",
                position=position,
                segment="ISA",
                element=f"ISA{number:02d}",
            )
    component, terminator, version = isa[104], isa[105], fields[11]
    if version not in VERSIONS.values():
        raise X12Error(
            f"ISA12 {version!r} is not a version this reader speaks (00401, 00501)",
            position=position,
            segment="ISA",
            element="ISA12",
        )
    fifty = version == VERSIONS[VERSION_5010]
    repetition = fields[10] if fifty else _unused(Separators(element, component, terminator, "\x00"))
    separators = Separators(element, component, terminator, repetition, suffix="")
    if len(separators.chars) != 4 or any(char.isalnum() or char == " " for char in separators.chars):
        raise X12Error(
            f"the separators element {element!r}, component {component!r} (ISA16), segment {terminator!r}"
            + (f", repetition {repetition!r} (ISA11)" if fifty else "")
            + " must differ from each other and not be letters, digits or spaces",
            position=position,
            segment="ISA",
            element="ISA16",
        )
    if not fields[12].isdigit():
        raise X12Error(
            f"ISA13 {fields[12]!r} is not a 9-digit control number", position=position, segment="ISA", element="ISA13"
        )
    elements = (*fields[:15], component)
    seg = Segment("ISA", tuple(elements), position)
    bad = _non_ascii(seg)
    if bad:
        raise bad
    return seg, separators


def _unused(separators: Separators) -> str:
    """A repetition separator for a 004010 interchange (which has none) that clashes with none of its own."""
    taken = {separators.element, separators.component, separators.segment}
    return next(char for char in "^!{}`#" if char not in taken)


def _split(text: str, separators: Separators, position: int) -> Segment:
    parts = text.split(separators.element)
    elements: list[Element] = []
    for part in parts[1:]:
        if separators.component in part:
            elements.append(tuple(part.split(separators.component)))
        else:
            elements.append(part)
    return Segment(parts[0], tuple(elements), position)


def read_interchanges(data: str | bytes, *, strict: bool = True) -> list[Interchange]:
    """Every interchange in a file (most files hold one), envelopes checked.

    With ``strict`` the first envelope error raises X12Error. Without, the errors a 997 reports (a set's or a
    group's count or control number, a missing SE or GE) are kept on the set or group (``errors``) for
    ``acknowledge``; errors that make the file unreadable (a broken ISA, no IEA) raise either way.
    """
    text = _as_text(data)
    interchanges = []
    offset, position = 0, 0
    while True:
        while offset < len(text) and text[offset] in " \t\r\n\ufeff":
            offset += 1
        if offset >= len(text):
            break
        interchange, offset, position = _read_one(text, offset, position, strict)
        interchanges.append(interchange)
    if not interchanges:
        raise X12Error("the file is empty: no ISA segment", position=1)
    return interchanges


def read_interchange(data: str | bytes, *, strict: bool = True) -> Interchange:
    """The one interchange of a file (see ``read_interchanges``)."""
    interchanges = read_interchanges(data, strict=strict)
    if len(interchanges) > 1:
        raise X12Error(f"the file holds {len(interchanges)} interchanges; read it with read_interchanges()")
    return interchanges[0]


def _read_one(text: str, offset: int, position: int, strict: bool) -> tuple[Interchange, int, int]:
    position += 1
    isa, separators = _read_isa(text, offset, position)
    offset += ISA_LENGTH
    isa_date = _parse_date(isa.get(9))
    isa_time = _parse_time(isa.get(10))
    if isa_date is None or isa_time is None:
        element = "ISA09" if isa_date is None else "ISA10"
        raise X12Error(
            f"{element} is not a date (YYMMDD) or time (HHMM)", position=position, segment="ISA", element=element
        )
    interchange = Interchange(
        sender_qualifier=isa.get(5),
        sender_id=isa.get(6),
        receiver_qualifier=isa.get(7),
        receiver_id=isa.get(8),
        date=isa_date,
        time=isa_time,
        control_number=int(isa.get(13)),
        version=isa.get(12),
        separators=separators,
        usage=isa.get(15),
        acknowledgement_requested=isa.get(14) == "1",
    )
    group: FunctionalGroup | None = None
    current: TransactionSet | None = None
    terminator = separators.segment
    strip_chars = "".join(c for c in "\r\n" if c != terminator)

    def fail(error: X12Error) -> None:
        if strict:
            raise error

    def close_set(at: Segment, reason: str) -> None:
        nonlocal current
        if current is None:
            return
        error = X12Error(
            f"the {current.set_id} set {current.control_number} (ST at segment {current.position}) has no SE "
            f"before this {at.tag or reason}",
            position=at.position,
            segment=at.tag,
            code=SET_TRAILER_MISSING,
        )
        current.errors.append(error)
        fail(error)
        current = None

    def close_group(at: Segment) -> None:
        nonlocal group
        if group is None:
            return
        close_set(at, "end")
        error = X12Error(
            f"the group {group.control_number} (GS at segment {group.position}) has no GE before this {at.tag}",
            position=at.position,
            segment=at.tag,
            code=GROUP_TRAILER_MISSING,
        )
        group.errors.append(error)
        fail(error)
        group = None

    while True:
        end = text.find(terminator, offset)
        if end < 0:
            rest = text[offset:].strip(" \t\r\n")
            where = position + 1
            if rest:
                raise X12Error(
                    f"the interchange ends inside a segment ({rest[:30]!r}) without its terminator {terminator!r} "
                    "and without IEA",
                    position=where,
                )
            raise X12Error(
                f"the interchange {interchange.control_number:09d} ends without IEA", position=where, segment="IEA"
            )
        raw = text[offset:end].strip(strip_chars)
        offset = end + 1
        if not raw.strip():
            continue
        position += 1
        seg = _split(raw, separators, position)
        bad = _non_ascii(seg)
        if bad:
            raise bad
        if current is not None and seg.tag not in ("SE", "ST", "GE", "GS", "IEA", "ISA"):
            current.segments.append(seg)
            continue
        if seg.tag == "ST":
            if group is None:
                raise X12Error("ST outside a functional group (no GS before it)", position=position, segment="ST")
            close_set(seg, "ST")
            current = TransactionSet(seg.get(1), seg.get(2), [], position, implementation_reference=seg.get(3))
            if not re.fullmatch(r"\d{4,9}", current.control_number):
                error = X12Error(
                    f"ST02 {current.control_number!r} is not a control number of 4 to 9 digits",
                    position=position,
                    segment="ST",
                    element="ST02",
                    code=SET_CONTROL_NUMBER_INVALID,
                )
                current.errors.append(error)
                fail(error)
            elif any(ts.control_number == current.control_number for ts in group.transaction_sets):
                error = X12Error(
                    f"ST02 {current.control_number} is used by another set of the same group",
                    position=position,
                    segment="ST",
                    element="ST02",
                    code=SET_CONTROL_NUMBER_NOT_UNIQUE,
                )
                current.errors.append(error)
                fail(error)
            group.transaction_sets.append(current)
        elif seg.tag == "SE":
            if current is None:
                raise X12Error("SE without its ST", position=position, segment="SE")
            counted = len(current.segments) + 2
            if not seg.get(1).isdigit() or int(seg.get(1)) != counted:
                error = X12Error(
                    f"SE01 says {seg.get(1) or 'nothing'} segments, the set has {counted}",
                    position=position,
                    segment="SE",
                    element="SE01",
                    code=SET_SEGMENT_COUNT_WRONG,
                )
                current.errors.append(error)
                fail(error)
            if seg.get(2) != current.control_number:
                error = X12Error(
                    f"SE02 {seg.get(2)!r} does not match ST02 {current.control_number!r}",
                    position=position,
                    segment="SE",
                    element="SE02",
                    code=SET_CONTROL_NUMBER_MISMATCH,
                )
                current.errors.append(error)
                fail(error)
            current = None
        elif seg.tag == "GS":
            close_group(seg)
            group_date, group_time = _parse_date(seg.get(4)), _parse_time(seg.get(5))
            if not seg.get(6).isdigit() or group_date is None or group_time is None or len(seg.get(4)) != 8:
                element = "GS06" if not seg.get(6).isdigit() else ("GS04" if group_date is None else "GS05")
                raise X12Error(
                    f"{element} {seg.get(int(element[2:]))!r} is not valid",
                    position=position,
                    segment="GS",
                    element=element,
                )
            group = FunctionalGroup(
                functional_id=seg.get(1),
                sender_code=seg.get(2),
                receiver_code=seg.get(3),
                date=group_date,
                time=group_time,
                control_number=int(seg.get(6)),
                version=seg.get(8),
                position=position,
            )
            interchange.groups.append(group)
            if group.version[:6] not in VERSIONS:
                error = X12Error(
                    f"GS08 {group.version!r} is not a version this reader speaks (004010, 005010)",
                    position=position,
                    segment="GS",
                    element="GS08",
                    code=GROUP_VERSION_NOT_SUPPORTED,
                )
                group.errors.append(error)
                fail(error)
        elif seg.tag == "GE":
            if group is None:
                raise X12Error("GE without its GS", position=position, segment="GE")
            close_set(seg, "GE")
            counted = len(group.transaction_sets)
            group.declared_set_count = int(seg.get(1)) if seg.get(1).isdigit() else None
            if group.declared_set_count != counted:
                error = X12Error(
                    f"GE01 says {seg.get(1) or 'nothing'} transaction sets, the group has {counted}",
                    position=position,
                    segment="GE",
                    element="GE01",
                    code=GROUP_SET_COUNT_WRONG,
                )
                group.errors.append(error)
                fail(error)
            if not seg.get(2).isdigit() or int(seg.get(2)) != group.control_number:
                error = X12Error(
                    f"GE02 {seg.get(2)!r} does not match GS06 {group.control_number}",
                    position=position,
                    segment="GE",
                    element="GE02",
                    code=GROUP_CONTROL_NUMBER_MISMATCH,
                )
                group.errors.append(error)
                fail(error)
            group = None
        elif seg.tag == "IEA":
            close_group(seg)
            if not seg.get(1).isdigit() or int(seg.get(1)) != len(interchange.groups):
                raise X12Error(
                    f"IEA01 says {seg.get(1) or 'nothing'} functional groups, the interchange has "
                    f"{len(interchange.groups)}",
                    position=position,
                    segment="IEA",
                    element="IEA01",
                )
            if seg.get(2) != isa.get(13):
                raise X12Error(
                    f"IEA02 {seg.get(2)!r} does not match ISA13 {isa.get(13)!r}",
                    position=position,
                    segment="IEA",
                    element="IEA02",
                )
            return interchange, offset, position
        elif seg.tag == "ISA":
            raise X12Error("a new ISA before this interchange's IEA", position=position, segment="ISA")
        else:
            inside = "between sets" if group is not None else "outside a functional group"
            raise X12Error(
                f"{seg.tag} {inside}: a segment belongs between ST and SE", position=position, segment=seg.tag
            )


def parse_document(transaction_set: TransactionSet, version: str = VERSION_4010) -> Document:
    """The typed document of a transaction set, its segments checked first.

    Raises X12Error naming the segment (its position in the file) and element: an envelope error kept by a
    lenient read, a set this reader does not know, a segment or element the set's grammar refuses, or
    totals (W76, W03, W14, CTT) that do not add up.
    """
    if transaction_set.errors:
        raise transaction_set.errors[0]
    kind = DOCUMENT_TYPES.get(transaction_set.set_id)
    if kind is None:
        raise X12Error(
            f"ST01 {transaction_set.set_id!r} is not a set this reader knows ({', '.join(sorted(DOCUMENT_TYPES))})",
            position=transaction_set.position,
            segment="ST",
            element="ST01",
            code=SET_NOT_SUPPORTED,
        )
    body = transaction_set.segments
    errors = check_set(transaction_set.set_id, body)
    _raise_first(transaction_set.set_id, body, errors, st_position=transaction_set.position or None)
    return kind.from_segments(body, version)


def read_documents(data: str | bytes) -> list[tuple[FunctionalGroup, TransactionSet, Document]]:
    """Every document of a file with the group and set it came in, all checked strictly (first error raises)."""
    found = []
    for interchange in read_interchanges(data):
        for group in interchange.groups:
            if group.errors:
                raise group.errors[0]
            for ts in group.transaction_sets:
                ts.document = parse_document(ts, group.version)
                found.append((group, ts, ts.document))
    return found


# --- the 997 ----------------------------------------------------------------------------------------


def acknowledge(interchange: Interchange | str | bytes) -> list[FunctionalAcknowledgement]:
    """One 997 for every functional group of an inbound interchange (text is read leniently first).

    A set with an envelope error (SE count, SE02, no SE) or a syntax error in its segments is rejected (AK5 R,
    with AK3/AK4 naming each segment and element in error); the other sets of its group are accepted. The
    group is A (all accepted), P (some) or R (none, or its own envelope is wrong: GE count or control
    number, no GE, unknown version). 997 groups are never acknowledged. Send the 997s back with
    ``build_interchange`` (sender and receiver swapped, the group's version).
    """
    if not isinstance(interchange, Interchange):
        interchange = read_interchange(interchange, strict=False)
    answers = []
    for group in interchange.groups:
        if group.functional_id == "FA":
            continue
        set_answers = []
        for ts in group.transaction_sets:
            set_answers.append(_acknowledge_set(group, ts))
        accepted = sum(1 for answer in set_answers if answer.accepted)
        group_codes = tuple(error.code for error in group.errors if error.code)
        if group.functional_id not in FUNCTIONAL_IDS:
            group_codes = (GROUP_NOT_SUPPORTED, *group_codes)
        if group_codes or accepted == 0:
            status = "R"
            accepted = 0 if group_codes else accepted
            if group_codes:
                set_answers = [answer if not answer.accepted else replace(answer, status="R") for answer in set_answers]
        elif accepted < len(set_answers):
            status = "P"
        else:
            status = "A"
        answers.append(
            FunctionalAcknowledgement(
                functional_id=group.functional_id,
                group_control_number=group.control_number,
                status=status,
                sets=tuple(set_answers),
                sets_included=group.declared_set_count if group.declared_set_count is not None else len(set_answers),
                sets_received=len(set_answers),
                sets_accepted=accepted,
                error_codes=group_codes[:5],
                group_version=group.version,
            )
        )
    return answers


def _acknowledge_set(group: FunctionalGroup, ts: TransactionSet) -> SetAcknowledgement:
    codes = [error.code for error in ts.errors if error.code]
    segment_errors: list[SegmentError] = []
    expected_set = FUNCTIONAL_IDS.get(group.functional_id)
    if ts.set_id not in GRAMMARS or (expected_set is not None and ts.set_id != expected_set):
        codes.insert(0, SET_NOT_SUPPORTED)
    else:
        segment_errors = check_set(ts.set_id, ts.segments)
        if segment_errors:
            codes.append(SET_SEGMENTS_IN_ERROR)
    ordered = tuple(dict.fromkeys(codes))[:5]
    return SetAcknowledgement(
        set_id=ts.set_id,
        control_number=ts.control_number,
        status="R" if ordered else "A",
        error_codes=ordered,
        segment_errors=tuple(segment_errors),
    )
