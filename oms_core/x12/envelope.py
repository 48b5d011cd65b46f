"""The envelope: ISA/GS/ST around documents, written with the caller's control numbers, read and checked."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from oms_core.x12.documents import DOCUMENT_TYPES, Document
from oms_core.x12.grammar import check_set, raise_first_error
from oms_core.x12.syntax import (
    GROUP,
    GROUP_CONTROL_NUMBER_MISMATCH,
    GROUP_SET_COUNT_WRONG,
    GROUP_TRAILER_MISSING,
    GROUP_VERSION_NOT_SUPPORTED,
    INTERCHANGE,
    ISA_LENGTH,
    ISA_WIDTHS,
    MAX_CONTROL_NUMBER,
    SET_CONTROL_NUMBER_INVALID,
    SET_CONTROL_NUMBER_MISMATCH,
    SET_CONTROL_NUMBER_NOT_UNIQUE,
    SET_NOT_SUPPORTED,
    SET_SEGMENT_COUNT_WRONG,
    SET_TRAILER_MISSING,
    TRANSACTION_SET,
    VERSION_4010,
    VERSION_5010,
    VERSIONS,
    Element,
    Segment,
    Separators,
    X12Error,
    date_text,
    element_text,
    parse_date,
    parse_time,
    segment,
)

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
    separators: Separators = field(default_factory=Separators)
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
        raise_first_error(document.SET_ID, body, check_set(document.SET_ID, body), st_position=None, where=where)
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
        text = element_text(value)
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

    With ``strict`` the first envelope error (or character outside ASCII) raises X12Error. Without, the
    errors a 997 reports (a set's or a group's count or control number, a missing SE or GE) are kept on the
    set or group (``errors``) for ``acknowledge``, and a character outside ASCII inside a set is left for the
    set's check to reject; errors that make the file unreadable (a broken ISA, no IEA, a segment outside a
    set) raise either way.
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
    isa_date = parse_date(isa.get(9))
    isa_time = parse_time(isa.get(10))
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
        in_set = current is not None and seg.tag not in ("SE", "ST", "GE", "GS", "IEA", "ISA")
        bad = _non_ascii(seg)
        if bad and (strict or not in_set):  # read leniently, the set's check rejects it (AK4 code 6)
            raise bad
        if in_set:
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
            group_date, group_time = parse_date(seg.get(4)), parse_time(seg.get(5))
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
    raise_first_error(transaction_set.set_id, body, errors, st_position=transaction_set.position or None)
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
