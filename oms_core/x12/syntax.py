"""X12 syntax: separators, segments, the element table, the syntax error codes, values."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TypeAlias

__all__ = [
    "ELEMENT_CONDITIONAL_MISSING",
    "ELEMENT_INVALID_CHARACTER",
    "ELEMENT_INVALID_CODE",
    "ELEMENT_INVALID_DATE",
    "ELEMENT_INVALID_TIME",
    "ELEMENT_MANDATORY_MISSING",
    "ELEMENT_TOO_LONG",
    "ELEMENT_TOO_MANY",
    "ELEMENT_TOO_SHORT",
    "GROUP",
    "GROUP_CONTROL_NUMBER_MISMATCH",
    "GROUP_NOT_SUPPORTED",
    "GROUP_SET_COUNT_WRONG",
    "GROUP_TRAILER_MISSING",
    "GROUP_VERSION_NOT_SUPPORTED",
    "INTERCHANGE",
    "ISA_LENGTH",
    "ISA_WIDTHS",
    "MAX_CONTROL_NUMBER",
    "SEGMENTS",
    "SEGMENT_HAS_ELEMENT_ERRORS",
    "SEGMENT_LOOP_TOO_OFTEN",
    "SEGMENT_MANDATORY_MISSING",
    "SEGMENT_NOT_IN_SET",
    "SEGMENT_TOO_OFTEN",
    "SEGMENT_UNEXPECTED",
    "SEGMENT_UNRECOGNIZED",
    "SEGMENT_WORDS",
    "SET_CONTROL_NUMBER_INVALID",
    "SET_CONTROL_NUMBER_MISMATCH",
    "SET_CONTROL_NUMBER_NOT_UNIQUE",
    "SET_NOT_SUPPORTED",
    "SET_SEGMENTS_IN_ERROR",
    "SET_SEGMENT_COUNT_WRONG",
    "SET_TRAILER_MISSING",
    "TRANSACTION_SET",
    "VERSIONS",
    "VERSION_4010",
    "VERSION_5010",
    "Element",
    "ElementError",
    "Segment",
    "SegmentError",
    "SegmentSpec",
    "Separators",
    "Spec",
    "X12Error",
    "check_segment",
    "date_text",
    "decimal_text",
    "describe_element_error",
    "element_text",
    "parse_date",
    "parse_time",
    "plain_text",
    "read_date",
    "read_decimal",
    "read_int",
    "read_time",
    "segment",
    "time_text",
]

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
SEGMENT_WORDS = {
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
        if not _DATE.fullmatch(value) or len(value) != spec.max or parse_date(value) is None:
            return ELEMENT_INVALID_DATE
        return None
    if spec.kind == "TM":
        if not _TIME.fullmatch(value) or parse_time(value) is None:
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
        errors.append(ElementError(spec.count + 1, ELEMENT_TOO_MANY, bad_value=element_text(seg.elements[spec.count])))
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
            errors.append(ElementError(number, code, element_spec.ref, bad_value=element_text(raw)[:99]))
    for first, second in spec.pairs:
        if (first in present) != (second in present):
            missing = second if first in present else first
            errors.append(ElementError(missing, ELEMENT_CONDITIONAL_MISSING, _ref(spec, missing)))
    for group in spec.one_of:
        if not present & set(group):
            errors.append(ElementError(group[0], ELEMENT_CONDITIONAL_MISSING, _ref(spec, group[0])))
    for number in range(len(spec.elements) + 1, min(len(seg.elements), spec.count) + 1):
        value = element_text(seg.elements[number - 1])
        if not value.isascii() or not value.isprintable():
            errors.append(ElementError(number, ELEMENT_INVALID_CHARACTER, bad_value=value[:99]))
    return sorted(errors, key=lambda error: error.position)


def _ref(spec: SegmentSpec, number: int) -> int | None:
    return spec.elements[number - 1].ref if number <= len(spec.elements) else None


def element_text(value: Element) -> str:
    return value if isinstance(value, str) else ">".join(value)


# --- values ---------------------------------------------------------------------------------


def parse_date(value: str) -> dt.date | None:
    try:
        if len(value) == 8:
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 6:  # the ISA's YYMMDD
            return dt.date(2000 + int(value[:2]), int(value[2:4]), int(value[4:]))
    except ValueError:
        return None
    return None


def parse_time(value: str) -> dt.time | None:
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


def read_date(seg: Segment, number: int) -> dt.date | None:
    text = seg.get(number)
    if not text:
        return None
    value = parse_date(text)
    if value is None:
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a date",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )
    return value


def read_time(seg: Segment, number: int) -> dt.time | None:
    text = seg.get(number)
    if not text:
        return None
    value = parse_time(text)
    if value is None:
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a time",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )
    return value


def read_decimal(seg: Segment, number: int) -> Decimal | None:
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


def read_int(seg: Segment, number: int) -> int:
    text = seg.get(number)
    if not _NUMBER.fullmatch(text):
        raise X12Error(
            f"{seg.name(number)} {text!r} is not a whole number",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )
    return int(text)
