"""X12 EDI over SFTP: 940s out for releases, changes and cancels; 945, 846, 944 and 997 in; a 997 for every group.

Outbound, one interchange per message, one file each, into the partner's in/ folder:

- a release is a 940 with W0501 ``N`` (original); a change is a 940 with W0501 ``R`` (replace: the shipment as
  it now stands, all its lines); a cancel is a 940 with W0501 ``C`` (cancel) and the lines as released.
  The header N9 ``ZZ`` carries the release's version (``v2``); NTE ``WHI`` the reason of a change or cancel.
- an item sync has no set among those used: it goes as the CSV item file (``items-<id>.csv``, as over CSV).

The control numbers (ISA13, GS06, ST02) come from the connection's counters in the database
(``services.allocate_control_number``), are kept on the message (``envelope``) and reused when the same
message is written again after a failure, so the partner's copy and ours always agree and a number is never
given to two messages.

Inbound, from the partner's out/ folder: every X12 file is read leniently; each functional group gets its 997
at once (into in/), and each set the 997 accepts becomes a message: 945 → ship confirmation (de-duplication
id ``945:<W0604>``), 846 → stock snapshot (``846:<BIA03>``), 944 → receipt (``944:<W1703>``), or return
receipt when its header N9 ``RZ`` names the RMA (each line's N9 ``ZZ`` its grading), 997 → the
"received" acknowledgement of the 940 whose group it answers. A rejected set is recorded as an exception for
ops naming the file, the segment and the element. A 997 says a file was read, never that the partner accepts
the order: the partner's business answer (accepted or rejected) comes in its ``acks*.csv`` file, as over CSV.
X12 dates and times carry no zone: they are read as UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.utils import timezone

from oms_core import x12

from ..models import Direction, MessageKind, PartnerMessage
from ..outbox import release_payload
from . import Envelope, PermanentFailure
from .csv_sftp import parse_inbound_csv, render_csv
from .filedrop import FileDropTransport, FileRefused, InboundRecord, dedup_key, message_file_stem

PURPOSE = {MessageKind.RELEASE: "N", MessageKind.CHANGE: "R", MessageKind.CANCEL: "C"}
KIND_OF_PURPOSE = {code: kind for kind, code in PURPOSE.items()}
SET_KINDS = {"945": MessageKind.SHIP_CONFIRMATION, "846": MessageKind.STOCK_SNAPSHOT, "944": MessageKind.RECEIPT}
# A 944's header N9 with this qualifier (returned goods authorisation number) makes it a return receipt.
RETURN_QUALIFIER = "RZ"
# element → the payload field it fills, for the reasons ops read
FIELD_OF_ELEMENT = {
    "W1203": "quantity",
    "W1207": "sku",
    "W1208": "sku",
    "W0602": "release",
    "W0603": "shipped_at",
    "QTY02": "on_hand",
    "LIN03": "sku",
    "W0701": "quantity",
    "W0705": "sku",
    "BIA04": "as_of",
}


def trading_partner(connection) -> x12.TradingPartner:
    """The envelope's parties and version, from the connection."""
    return x12.TradingPartner(
        our_id=connection.x12_our_id,
        their_id=connection.x12_their_id,
        our_qualifier=connection.x12_our_qualifier,
        their_qualifier=connection.x12_their_qualifier,
        version=connection.x12_version,
        test=connection.x12_test,
    )


def _ship_to(ship_to: dict) -> x12.Party:
    text = {key: x12.plain_text(str(value or "")) for key, value in (ship_to or {}).items()}
    return x12.Party(
        role="ST",
        name=(text.get("name") or text.get("company") or "Customer")[:60],
        name_lines=(text["company"][:60],) if text.get("company") and text.get("name") else (),
        address_lines=tuple(line[:55] for line in (text.get("line1", ""), text.get("line2", "")) if line),
        city=text.get("city", "")[:30],
        state=text.get("state", "")[:2],
        postal_code=text.get("postal_code", "")[:15],
        country=text.get("country", "")[:3],
        phone=text.get("phone", "")[:80],
        email=text.get("email", "")[:80],
    )


def shipping_order(envelope: Envelope, *, released_lines: list | None = None) -> x12.ShippingOrder:
    """The 940 of a release, change or cancel (PermanentFailure when the payload lacks what a 940 needs).

    A cancel's payload names only the release: its lines are the shipment's, ``released_lines``.
    """
    payload = envelope.payload if isinstance(envelope.payload, dict) else {}
    if not payload.get("release"):
        raise PermanentFailure("release: required, the 940 cannot be written without it.")
    lines = payload.get("lines") or (released_lines if envelope.kind == MessageKind.CANCEL else None)
    order_lines = []
    for index, line in enumerate(lines or []):
        if not isinstance(line, dict) or not line.get("sku") or not line.get("quantity"):
            raise PermanentFailure(f"lines[{index}]: sku and quantity are required for the 940's W01.")
        order_lines.append(
            x12.OrderLine(
                sku=x12.plain_text(str(line["sku"])),
                quantity=Decimal(line["quantity"]),
                description=x12.plain_text(str(line.get("name") or ""))[:45],
                line_reference=str(line.get("line") or ""),
            )
        )
    if not order_lines:
        raise PermanentFailure("lines: a 940 needs at least one line.")
    promised = payload.get("promised_date")
    return x12.ShippingOrder(
        shipment_id=str(payload["release"]),
        order_number=str(payload.get("order") or payload["release"]),
        lines=tuple(order_lines),
        parties=(_ship_to(payload.get("ship_to") or {}),),
        purpose=PURPOSE[envelope.kind],
        requested_delivery_date=dt.date.fromisoformat(promised) if promised else None,
        carrier=x12.plain_text(str(payload.get("carrier") or ""))[:4],
        service_level=x12.plain_text(str(payload.get("service_level") or ""))[:35],
        instructions=x12.plain_text(str(payload.get("reason") or ""))[:80],
        references=(("ZZ", f"v{payload['version']}"),) if payload.get("version") else (),
    )


class _Numbers:
    """Control numbers for one outbound file: those the message kept, else new ones from the connection's counters."""

    def __init__(self, connection, kept: dict):
        self.connection = connection
        self.kept = kept
        self.taken: dict[str, int] = {}

    def next_control_number(self, kind: str) -> int:
        from ..services.polling import allocate_control_number

        number = self.kept.get(kind) or allocate_control_number(connection_id=self.connection.pk, kind=kind)
        self.taken[kind] = number
        return number


def _when() -> dt.datetime:
    return timezone.now().astimezone(dt.UTC)


class X12SftpTransport(FileDropTransport):
    """X12 EDI files over SFTP (docs/reference/partners.md and docs/reference/x12.md)."""

    def render(self, envelope: Envelope) -> tuple[str, bytes]:
        if envelope.kind == MessageKind.ITEM_SYNC:
            return render_csv(envelope)
        if envelope.kind not in PURPOSE:
            raise PermanentFailure(f"type: {envelope.kind!r} is not a message the X12 file drop sends.")
        message = (
            PartnerMessage.objects.filter(connection=self.connection, direction=Direction.OUT, key=envelope.message_id)
            .select_related("release__shipment__service__vendor")
            .first()
        )
        released_lines = None
        if envelope.kind == MessageKind.CANCEL and message is not None and message.release is not None:
            released_lines = release_payload(message.release, message.release.shipment)["lines"]
        document = shipping_order(envelope, released_lines=released_lines)
        kept = dict(message.envelope) if message is not None else {}
        numbers = _Numbers(self.connection, kept)
        try:
            _, text = x12.write_interchange(
                [document], partner=trading_partner(self.connection), next_control_number=numbers, when=_when()
            )
        except x12.X12Error as error:
            raise PermanentFailure(f"the 940 cannot be written: {error}") from error
        name = f"940-{message_file_stem(envelope.message_id)}.x12"
        if message is not None and numbers.taken != {k: kept.get(k) for k in numbers.taken}:
            # kept before the file is written: a retry writes the same numbers into the same file
            PartnerMessage.objects.filter(pk=message.pk).update(envelope={**numbers.taken, "file": name})
        return name, text.encode("ascii")

    # --- inbound -------------------------------------------------------------------------------------------

    def parse(self, name: str, data: bytes) -> list[InboundRecord]:
        if name.lower().startswith("acks") and name.lower().endswith(".csv"):
            self._answers = []
            return parse_inbound_csv(name, data)
        try:
            interchanges = x12.read_interchanges(data, strict=False)
        except x12.X12Error as error:
            raise FileRefused(f"not readable as X12: {error}") from None
        records: list[InboundRecord] = []
        answers: list[tuple[x12.Interchange, list[x12.FunctionalAcknowledgement]]] = []
        for interchange in interchanges:
            acks = x12.acknowledge(interchange)
            answers.append((interchange, acks))
            by_group = {ack.group_control_number: ack for ack in acks}
            for group in interchange.groups:
                for ts in group.transaction_sets:
                    records.append(self._record(name, interchange, group, ts, by_group.get(group.control_number)))
        self._answers = answers
        return records

    def _record(self, name, interchange, group, ts, ack) -> InboundRecord:
        source = {
            "file": name,
            "sender": interchange.sender_id,
            "interchange": interchange.control_number,
            "group": group.control_number,
            "set": ts.control_number,
            "set_id": ts.set_id,
        }
        if group.functional_id != "FA":
            source["997"] = answer_file_name(interchange)
        fallback = f"{ts.set_id}:{interchange.sender_id}:{interchange.control_number}:{ts.control_number}"
        kind = SET_KINDS.get(ts.set_id, MessageKind.ACK)
        answer = ack.set_status(ts.control_number) if ack is not None else None
        if group.functional_id != "FA" and (answer is None or not answer.accepted):
            return InboundRecord(
                key=dedup_key(fallback),
                kind=kind,
                payload={"x12": x12_text_of(ts)},
                error=f"{name}, {ts.set_id} set {ts.control_number}: " + _set_errors(ts, answer),
                source=source,
            )
        try:
            document = x12.parse_document(ts, group.version)
        except x12.X12Error as error:
            return InboundRecord(
                key=dedup_key(fallback),
                kind=kind,
                payload={"x12": x12_text_of(ts)},
                error=f"{name}, {ts.set_id} set {ts.control_number}: {error}",
                source=source,
            )
        if isinstance(document, x12.ShippingAdvice):
            return self._confirmation(document, fallback, source)
        if isinstance(document, x12.InventoryAdvice):
            return self._snapshot(name, document, source)
        if isinstance(document, x12.StockReceipt) and _rma_of(document):
            return self._return_receipt(document, source)
        if isinstance(document, x12.StockReceipt):
            payload = {
                "receipt": document.receipt_number,
                "lines": [{"sku": line.sku, "quantity": _whole(line.quantity)} for line in document.lines],
            }
            return InboundRecord(
                key=dedup_key(f"944:{document.receipt_number}"), kind=kind, payload=payload, source=source
            )
        return self._acknowledgement(name, document, fallback, source)

    def _confirmation(self, advice: x12.ShippingAdvice, fallback: str, source: dict) -> InboundRecord:
        shipped_at = dt.datetime.combine(advice.ship_date, advice.shipped_time or dt.time(0, 0), tzinfo=dt.UTC)
        packages = []
        for number, package in enumerate(advice.packages, start=1):
            packages.append(
                {
                    "tracking_number": package.tracking_number or advice.tracking_number or f"package {number}",
                    "carrier": advice.carrier,
                    "lines": [{"sku": line.sku, "quantity": _whole(line.quantity_shipped)} for line in package.lines],
                }
            )
        key = f"945:{advice.warehouse_shipment_id}" if advice.warehouse_shipment_id else fallback
        payload = {"release": advice.shipment_id, "shipped_at": shipped_at.isoformat(), "packages": packages}
        return InboundRecord(key=dedup_key(key), kind=MessageKind.SHIP_CONFIRMATION, payload=payload, source=source)

    def _snapshot(self, name: str, advice: x12.InventoryAdvice, source: dict) -> InboundRecord:
        as_of = dt.datetime.combine(advice.as_of_date, advice.as_of_time or dt.time(0, 0), tzinfo=dt.UTC)
        items, problems = [], []
        for index, item in enumerate(advice.items):
            on_hand = item.on_hand
            if on_hand is None:
                problems.append(f"{name}, 846 {advice.report_id}: LIN {item.sku} has no QTY 33 or 17 (items[{index}])")
            items.append({"sku": item.sku, "on_hand": _whole(on_hand) if on_hand is not None else None})
        return InboundRecord(
            key=dedup_key(f"846:{advice.report_id}"),
            kind=MessageKind.STOCK_SNAPSHOT,
            payload={"as_of": as_of.isoformat(), "items": items},
            error="; ".join(problems),
            source=source,
        )

    def _return_receipt(self, receipt: x12.StockReceipt, source: dict) -> InboundRecord:
        """A 944 with a header N9 RZ (returned goods authorisation): a customer's return received by the 3PL."""
        lines = []
        for line in receipt.lines:
            found = {"sku": line.sku, "quantity": _whole(line.quantity)}
            if line.disposition:
                found["disposition"] = line.disposition.lower()
            if line.disposition_note:
                found["reason"] = line.disposition_note
            lines.append(found)
        payload = {"rma": _rma_of(receipt), "receipt": receipt.receipt_number, "lines": lines}
        return InboundRecord(
            key=dedup_key(f"944:{receipt.receipt_number}"),
            kind=MessageKind.RETURN_RECEIPT,
            payload=payload,
            source=source,
        )

    def _acknowledgement(self, name: str, ack: x12.FunctionalAcknowledgement, key: str, source: dict):
        ours = (
            PartnerMessage.objects.filter(
                connection=self.connection, direction=Direction.OUT, envelope__group=ack.group_control_number
            )
            .select_related("release__shipment")
            .first()
        )
        if ours is None or ours.release is None:
            return InboundRecord(
                key=dedup_key(key),
                kind=MessageKind.ACK,
                payload={"group": ack.group_control_number, "status": ack.status},
                error=f"{name}: a 997 for group {ack.group_control_number}, which the OMS did not send to this "
                "partner.",
                source=source,
            )
        payload = {"release": ours.release.shipment.number, "of": ours.kind, "status": "received"}
        if ack.status == "R":
            sets = "; ".join(
                f"set {answer.control_number} AK5 {answer.status} {' '.join(answer.error_codes)}".strip()
                for answer in ack.sets
            )
            return InboundRecord(
                key=dedup_key(key),
                kind=MessageKind.ACK,
                payload=payload,
                error=f"{name}: the partner could not read our {ours.kind} {ours.key} (group "
                f"{ack.group_control_number}, AK9 R {' '.join(ack.error_codes)}; {sets}): fix it and resend it.",
                source=source,
            )
        return InboundRecord(key=dedup_key(key), kind=MessageKind.ACK, payload=payload, source=source)

    def after_recorded(self, drop, name: str, data: bytes) -> None:
        """Send a 997 for every group of the file (none for 997s), into the partner's in/ folder."""
        for interchange, acks in getattr(self, "_answers", []):
            if not acks:
                continue
            numbers = _Numbers(self.connection, {})
            _, text = x12.write_interchange(
                acks, partner=trading_partner(self.connection), next_control_number=numbers, when=_when()
            )
            drop.write(
                f"997-{interchange.sender_id.strip()}-{interchange.control_number:09d}.x12", text.encode("ascii")
            )
        self._answers = []


def answer_file_name(interchange: x12.Interchange) -> str:
    """The file of our 997s to one inbound interchange: the same name however often the file is read."""
    sender = re.sub(r"[^A-Za-z0-9_-]+", "_", interchange.sender_id.strip()) or "partner"
    return f"997-{sender}-{interchange.control_number:09d}.x12"


def _rma_of(receipt: x12.StockReceipt) -> str:
    """The RMA number a 944 names in its header N9 RZ (returned goods authorisation), or "" for a stock receipt."""
    return next((value for qualifier, value in receipt.references if qualifier == RETURN_QUALIFIER and value), "")


def _whole(quantity: Decimal) -> int | str:
    return int(quantity) if quantity == quantity.to_integral_value() else str(quantity)


def x12_text_of(ts: x12.TransactionSet) -> str:
    """A refused set's segments, as text for the message log."""
    return "\n".join(
        "*".join([segment.tag, *(value if isinstance(value, str) else ">".join(value) for value in segment.elements)])
        for segment in ts.segments
    )[:20000]


def _set_errors(ts: x12.TransactionSet, answer) -> str:
    """What the 997 says is wrong with a set, each error with its segment, element and the payload field."""
    if answer is None:
        return "its group was refused whole (envelope errors): " + "; ".join(str(e) for e in ts.errors)
    said = [str(error) for error in ts.errors]
    for segment_error in answer.segment_errors:
        index = segment_error.position - 2  # the body starts after the ST
        path = _payload_path(ts, index)
        for element in segment_error.element_errors or (None,):
            where = f"segment {segment_error.position} ({segment_error.segment_id})"
            if element is None:
                said.append(f"{where}: error {segment_error.code}")
                continue
            name = f"{segment_error.segment_id}{element.position:02d}"
            field = FIELD_OF_ELEMENT.get(name, "")
            value = f" {element.bad_value!r}" if element.bad_value else ""
            said.append(
                f"{where}: {name}{value} is invalid (AK4 {element.code})"
                + (f" ({path}.{field})" if path and field else (f" ({field})" if field else ""))
            )
    return "; ".join(said) or f"rejected (AK5 {' '.join(answer.error_codes)})"


def _payload_path(ts: x12.TransactionSet, index: int) -> str:
    """Where a 945's W12 lands in the confirmation's payload: packages[i].lines[j]."""
    if ts.set_id != "945" or not 0 <= index < len(ts.segments):
        return ""
    package, line = -1, -1
    for segment in ts.segments[: index + 1]:
        if segment.tag == "LX":
            package, line = package + 1, -1
        elif segment.tag == "W12":
            line += 1
    return f"packages[{package}].lines[{line}]" if package >= 0 and line >= 0 else ""
