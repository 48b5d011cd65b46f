"""CSV over SFTP: one CSV file per outbound message in the partner's in/ folder; its CSV files polled from out/.

The columns are defined here and documented in docs/reference/partners.md. Outbound (we write):

- ``orders-<id>.csv`` a release or a change: one row per line, the header fields repeated on each row;
- ``cancels-<id>.csv`` a cancel request, one row;
- ``items-<id>.csv`` an item (SKU) to add or update, one row.

Inbound (the partner writes; the file name's start says what it holds):

- ``shipments*.csv`` ship confirmations: one row per package line, grouped into one confirmation per
  ``message_id`` (or per release when the column is empty), packages by tracking number;
- ``inventory*.csv`` stock snapshots: one row per SKU, grouped per ``message_id`` (or per ``as_of``);
- ``receipts*.csv`` receipts: one row per SKU, grouped per ``message_id`` (or per ``receipt``);
- ``returns*.csv`` return receipts (a customer's return received): one row per SKU and grading, grouped per
  ``message_id`` (or per ``receipt``);
- ``acks*.csv`` answers to our releases, changes and cancels: one message per row.

Each inbound message's de-duplication id is its ``message_id`` when the partner fills it in, otherwise the
file name and its first row (``shipments-0042.csv#2``). A row with a bad field makes its message an
exception naming the file, the row and the column; the other messages of the file are recorded as usual.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_date, parse_datetime

from oms_core.csvfiles import CsvSyntaxError
from oms_core.filedrop import csv_payload, csv_payload_records

from ..models import MessageKind
from . import Envelope, PermanentFailure
from .filedrop import FileDropTransport, FileRefused, InboundRecord, dedup_key, message_file_stem

SHIP_TO_FIELDS = ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone", "email")

ORDER_COLUMNS = (
    "message_id",
    "type",
    "release",
    "order",
    "version",
    "service_level",
    "carrier",
    "promised_date",
    "reason",
    *(f"ship_to_{name}" for name in SHIP_TO_FIELDS),
    "line",
    "sku",
    "name",
    "quantity",
)
CANCEL_COLUMNS = ("message_id", "type", "release", "order", "reason")
ITEM_COLUMNS = ("message_id", "type", "sku", "our_sku", "name", "weight_kg", "barcode", "active")

SHIPMENT_COLUMNS = ("message_id", "release", "shipped_at", "tracking_number", "carrier", "sku", "quantity")
INVENTORY_COLUMNS = ("message_id", "as_of", "sku", "on_hand")
RECEIPT_COLUMNS = ("message_id", "receipt", "sku", "quantity")
RETURN_COLUMNS = ("message_id", "rma", "receipt", "sku", "quantity", "disposition", "reason")
DISPOSITIONS = ("restock", "damaged")
ACK_COLUMNS = ("message_id", "release", "of", "status", "reason", "partner_reference")

# inbound file name start → (message type, columns, columns a row must fill)
INBOUND_FILES = {
    "shipments": (
        MessageKind.SHIP_CONFIRMATION,
        SHIPMENT_COLUMNS,
        ("release", "shipped_at", "tracking_number", "sku", "quantity"),
    ),
    "inventory": (MessageKind.STOCK_SNAPSHOT, INVENTORY_COLUMNS, ("as_of", "sku", "on_hand")),
    "receipts": (MessageKind.RECEIPT, RECEIPT_COLUMNS, ("receipt", "sku", "quantity")),
    "returns": (MessageKind.RETURN_RECEIPT, RETURN_COLUMNS, ("rma", "receipt", "sku", "quantity")),
    "acks": (MessageKind.ACK, ACK_COLUMNS, ("release", "of", "status")),
}
OUTBOUND_PREFIX = {
    MessageKind.RELEASE: "orders",
    MessageKind.CHANGE: "orders",
    MessageKind.CANCEL: "cancels",
    MessageKind.ITEM_SYNC: "items",
}


def _text(value) -> str:
    return "" if value is None else str(value)


def _required(payload: dict, names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if payload.get(name) in (None, "")]
    if missing:
        raise PermanentFailure(f"{what}: {', '.join(missing)}: required, the CSV file cannot be written without it.")


def render_csv(envelope: Envelope) -> tuple[str, bytes]:
    """The file of one outbound message: its name and bytes. Raises PermanentFailure when a column is missing."""
    payload = envelope.payload if isinstance(envelope.payload, dict) else {}
    kind = envelope.kind
    prefix = OUTBOUND_PREFIX.get(kind)
    if prefix is None:
        raise PermanentFailure(f"type: {kind!r} is not a message the CSV file drop sends.")
    name = f"{prefix}-{message_file_stem(envelope.message_id)}.csv"
    if kind in (MessageKind.RELEASE, MessageKind.CHANGE):
        _required(payload, ("release", "lines"), kind)
        ship_to = payload.get("ship_to") or {}
        head = [
            envelope.message_id,
            kind,
            payload["release"],
            payload.get("order"),
            payload.get("version"),
            payload.get("service_level"),
            payload.get("carrier"),
            payload.get("promised_date"),
            payload.get("reason"),
            *(ship_to.get(field) for field in SHIP_TO_FIELDS),
        ]
        rows = []
        for index, line in enumerate(payload["lines"]):
            if not isinstance(line, dict):
                raise PermanentFailure(f"lines[{index}]: must be an object.")
            _required(line, ("sku", "quantity"), f"lines[{index}]")
            rows.append([*head, line.get("line"), line["sku"], line.get("name"), line["quantity"]])
        if not rows:
            raise PermanentFailure("lines: at least one line is required.")
        table = [ORDER_COLUMNS, *rows]
    elif kind == MessageKind.CANCEL:
        _required(payload, ("release",), kind)
        table = [
            CANCEL_COLUMNS,
            [envelope.message_id, kind, payload["release"], payload.get("order"), payload.get("reason")],
        ]
    else:
        _required(payload, ("sku", "name"), "item_sync")
        active = payload.get("active")
        table = [
            ITEM_COLUMNS,
            [
                envelope.message_id,
                kind,
                payload["sku"],
                payload.get("our_sku"),
                payload["name"],
                payload.get("weight_kg"),
                payload.get("barcode"),
                "" if active is None else ("true" if active else "false"),
            ],
        ]
    return name, csv_payload([[_text(value) for value in row] for row in table])


def _rows(name: str, data: bytes, columns: tuple[str, ...]) -> list[tuple[int, dict]]:
    """The rows of a CSV file as (line, {column: value}); FileRefused when it is not CSV or lacks a column."""
    try:
        records = list(csv_payload_records(data))
    except CsvSyntaxError as error:
        raise FileRefused(f"not readable as CSV: {error}") from None
    records = [(line, cells) for line, cells in records if any(cell.strip() for cell in cells)]
    if not records:
        raise FileRefused("empty: no header row")
    _, header = records[0]
    header = [cell.strip().lower() for cell in header]
    optional = ("message_id", "disposition", "reason")
    missing = [column for column in columns if column not in header and column not in optional]
    if missing:
        raise FileRefused(f"the header lacks the column {', '.join(missing)} (expected {', '.join(columns)})")
    rows = []
    for line, cells in records[1:]:
        rows.append((line, {column: (cells[i].strip() if i < len(cells) else "") for i, column in enumerate(header)}))
    return rows


def read_outbound_file(name: str, data: bytes) -> list[tuple[str, str, dict]]:
    """A file the OMS wrote, as the 3PL reads it: (message id, type, payload) — the simulator's side of the format."""
    if name.startswith("orders-"):
        rows = _rows(name, data, ORDER_COLUMNS)
        first = rows[0][1]
        payload = {
            "release": first["release"],
            "order": first["order"],
            "version": int(first["version"]) if first["version"] else None,
            "ship_to": {field: first[f"ship_to_{field}"] for field in SHIP_TO_FIELDS if first[f"ship_to_{field}"]},
            "service_level": first["service_level"],
            "carrier": first["carrier"],
            "promised_date": first["promised_date"] or None,
            "lines": [
                {
                    "line": int(row["line"]) if row["line"] else None,
                    "sku": row["sku"],
                    "name": row["name"],
                    "quantity": int(row["quantity"]),
                }
                for _, row in rows
            ],
        }
        if first["reason"]:
            payload["reason"] = first["reason"]
        return [(first["message_id"], first["type"], payload)]
    if name.startswith("cancels-"):
        _, row = _rows(name, data, CANCEL_COLUMNS)[0]
        return [
            (
                row["message_id"],
                row["type"],
                {"release": row["release"], "order": row["order"], "reason": row["reason"]},
            )
        ]
    if name.startswith("items-"):
        _, row = _rows(name, data, ITEM_COLUMNS)[0]
        payload = {column: row[column] for column in ITEM_COLUMNS[2:] if row[column]}
        return [(row["message_id"], row["type"], payload)]
    raise FileRefused(f"{name}: not a file the OMS writes")


# --- inbound -------------------------------------------------------------------------------------------------


class _Group:
    """The rows of one inbound message, and what is wrong with them."""

    def __init__(self, first_line: int):
        self.first_line = first_line
        self.lines: list[int] = []
        self.rows: list[dict] = []
        self.errors: list[str] = []


def _whole(value: str, *, minimum: int) -> int | None:
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if number != number.to_integral_value() or number < minimum:
        return None
    return int(number)


def _time_problem(value: str) -> str:
    parsed = parse_datetime(value) if value else None
    if parsed is None and value and parse_date(value) is None:
        return f"{value!r} is not an ISO 8601 time, e.g. 2026-12-06T14:05:00Z"
    if parsed is None or parsed.tzinfo is None:
        return f"{value!r} needs its time and offset, e.g. 2026-12-06T14:05:00Z"
    return ""


def parse_inbound_csv(name: str, data: bytes) -> list[InboundRecord]:
    """The messages of one of the partner's CSV files, each valid or refused with the row and column at fault."""
    prefix = next((start for start in INBOUND_FILES if name.lower().startswith(start)), None)
    if prefix is None or not name.lower().endswith(".csv"):
        raise FileRefused(f"the name must start with {', '.join(INBOUND_FILES)} and end with .csv")
    kind, columns, _ = INBOUND_FILES[prefix]
    try:
        rows = _rows(name, data, columns)
    except FileRefused as refusal:
        raise FileRefused(str(refusal), kind=kind) from None
    groups: OrderedDict[str, _Group] = OrderedDict()
    for line, row in rows:
        if row.get("message_id"):
            group_id = row["message_id"]
        elif kind == MessageKind.SHIP_CONFIRMATION and row["release"]:
            group_id = f"{name}#release={row['release']}"
        elif kind == MessageKind.STOCK_SNAPSHOT and row["as_of"]:
            group_id = f"{name}#as_of={row['as_of']}"
        elif kind in (MessageKind.RECEIPT, MessageKind.RETURN_RECEIPT) and row["receipt"]:
            group_id = f"{name}#receipt={row['receipt']}"
        else:
            group_id = f"{name}#{line}"
        group = groups.setdefault(group_id, _Group(line))
        group.lines.append(line)
        group.rows.append(row)
    records = []
    for group_id, group in groups.items():
        key = group_id if not group_id.startswith(f"{name}#") else f"{name}#{group.first_line}"
        payload = _payload(kind, name, group)
        records.append(
            InboundRecord(
                key=dedup_key(key),
                kind=kind,
                payload=payload,
                error="; ".join(group.errors),
                source={"file": name, "rows": group.lines},
            )
        )
    return records


def _payload(kind: str, name: str, group: _Group) -> dict:
    """The message's payload as the services take it; each bad field adds an error naming file, row, column."""

    def refuse(line: int, column: str, problem: str, path: str = "") -> None:
        group.errors.append(f"{name} row {line}, {column}: {problem}" + (f" ({path})" if path else ""))

    def line_quantity(line: int, row: dict, index: int) -> int | None:
        """A line's quantity, a whole number of 1 or more; a row that gives something else is refused."""
        quantity = _whole(row["quantity"], minimum=1) if row["quantity"] else None
        if row["quantity"] and quantity is None:
            refuse(
                line, "quantity", f"{row['quantity']!r} is not a whole number of 1 or more", f"lines[{index}].quantity"
            )
        return quantity

    _, _, required = next(spec for spec in INBOUND_FILES.values() if spec[0] == kind)
    for line, row in zip(group.lines, group.rows, strict=True):
        for column in required:
            if not row.get(column):
                refuse(line, column, "required")
    first = group.rows[0]
    if kind == MessageKind.SHIP_CONFIRMATION:
        packages: OrderedDict[str, dict] = OrderedDict()
        for line, row in zip(group.lines, group.rows, strict=True):
            if row["release"] and row["release"] != first["release"]:
                refuse(line, "release", f"{row['release']!r} differs from {first['release']!r} in the same message")
            problem = _time_problem(row["shipped_at"]) if row["shipped_at"] else ""
            if problem:
                refuse(line, "shipped_at", problem, "shipped_at")
            package = packages.setdefault(
                row["tracking_number"],
                {"tracking_number": row["tracking_number"], "carrier": row.get("carrier", ""), "lines": []},
            )
            index, position = list(packages).index(row["tracking_number"]), len(package["lines"])
            quantity = _whole(row["quantity"], minimum=1) if row["quantity"] else None
            if row["quantity"] and quantity is None:
                refuse(
                    line,
                    "quantity",
                    f"{row['quantity']!r} is not a whole number of 1 or more",
                    f"packages[{index}].lines[{position}].quantity",
                )
            package["lines"].append(
                {"sku": row["sku"], "quantity": quantity if quantity is not None else row["quantity"]}
            )
        return {"release": first["release"], "shipped_at": first["shipped_at"], "packages": list(packages.values())}
    if kind == MessageKind.STOCK_SNAPSHOT:
        items = []
        for index, (line, row) in enumerate(zip(group.lines, group.rows, strict=True)):
            if row["as_of"] and row["as_of"] != first["as_of"]:
                refuse(line, "as_of", f"{row['as_of']!r} differs from {first['as_of']!r} in the same snapshot")
            problem = _time_problem(row["as_of"]) if row["as_of"] else ""
            if problem:
                refuse(line, "as_of", problem, "as_of")
            on_hand = _whole(row["on_hand"], minimum=0) if row["on_hand"] else None
            if row["on_hand"] and on_hand is None:
                refuse(
                    line, "on_hand", f"{row['on_hand']!r} is not a whole number of 0 or more", f"items[{index}].on_hand"
                )
            items.append({"sku": row["sku"], "on_hand": on_hand if on_hand is not None else row["on_hand"]})
        return {"as_of": first["as_of"], "items": items}
    if kind == MessageKind.RECEIPT:
        lines = []
        for index, (line, row) in enumerate(zip(group.lines, group.rows, strict=True)):
            quantity = line_quantity(line, row, index)
            lines.append({"sku": row["sku"], "quantity": quantity if quantity is not None else row["quantity"]})
        return {"receipt": first["receipt"], "lines": lines}
    if kind == MessageKind.RETURN_RECEIPT:
        lines = []
        for index, (line, row) in enumerate(zip(group.lines, group.rows, strict=True)):
            if row["rma"] and row["rma"] != first["rma"]:
                refuse(line, "rma", f"{row['rma']!r} differs from {first['rma']!r} in the same return receipt")
            quantity = line_quantity(line, row, index)
            found = {"sku": row["sku"], "quantity": quantity if quantity is not None else row["quantity"]}
            disposition = row.get("disposition", "").lower()
            if disposition and disposition not in DISPOSITIONS:
                refuse(
                    line,
                    "disposition",
                    f"{row['disposition']!r} must be {' or '.join(DISPOSITIONS)} (or empty: not graded)",
                    f"lines[{index}].disposition",
                )
            if disposition:
                found["disposition"] = disposition
            if row.get("reason"):
                found["reason"] = row["reason"]
            lines.append(found)
        return {"rma": first["rma"], "receipt": first["receipt"], "lines": lines}
    # an acknowledgement: one row
    line = group.lines[0]
    if first["of"] and first["of"] not in (MessageKind.RELEASE, MessageKind.CHANGE, MessageKind.CANCEL):
        refuse(line, "of", f"{first['of']!r} must be release, change or cancel")
    if first["status"] and first["status"] not in ("received", "accepted", "rejected"):
        refuse(line, "status", f"{first['status']!r} must be received, accepted or rejected")
    payload = {"release": first["release"], "of": first["of"], "status": first["status"]}
    if first.get("reason"):
        payload["reason"] = first["reason"]
    if first.get("partner_reference"):
        payload["partner_reference"] = first["partner_reference"]
    return payload


def write_inbound_csv(kind: str, messages: list[tuple[str, dict]]) -> bytes:
    """A file of the partner's messages of one type, as a 3PL writes it (the simulator's side of the format)."""
    if kind == MessageKind.SHIP_CONFIRMATION:
        rows = [
            [message_id, p.get("release"), p.get("shipped_at"), package.get("tracking_number"), package.get("carrier"),
             line.get("sku"), line.get("quantity")]
            for message_id, p in messages
            for package in p.get("packages", [])
            for line in package.get("lines", [])
        ]  # fmt: skip
        columns = SHIPMENT_COLUMNS
    elif kind == MessageKind.STOCK_SNAPSHOT:
        rows = [
            [message_id, p.get("as_of"), item.get("sku"), item.get("on_hand")]
            for message_id, p in messages
            for item in p.get("items", [])
        ]
        columns = INVENTORY_COLUMNS
    elif kind == MessageKind.RECEIPT:
        rows = [
            [message_id, p.get("receipt"), line.get("sku"), line.get("quantity")]
            for message_id, p in messages
            for line in p.get("lines", [])
        ]
        columns = RECEIPT_COLUMNS
    elif kind == MessageKind.RETURN_RECEIPT:
        rows = [
            [message_id, p.get("rma"), p.get("receipt"), line.get("sku"), line.get("quantity"),
             line.get("disposition"), line.get("reason")]
            for message_id, p in messages
            for line in p.get("lines", [])
        ]  # fmt: skip
        columns = RETURN_COLUMNS
    else:
        rows = [
            [message_id, p.get("release"), p.get("of"), p.get("status"), p.get("reason"), p.get("partner_reference")]
            for message_id, p in messages
        ]
        columns = ACK_COLUMNS
    return csv_payload([columns, *[[_text(value) for value in row] for row in rows]])


INBOUND_PREFIX = {spec[0]: prefix for prefix, spec in INBOUND_FILES.items()}


class CsvSftpTransport(FileDropTransport):
    """CSV files over SFTP (docs/reference/partners.md, "Connecting a 3PL by file drop")."""

    def render(self, envelope: Envelope) -> tuple[str, bytes]:
        return render_csv(envelope)

    def parse(self, name: str, data: bytes) -> list[InboundRecord]:
        return parse_inbound_csv(name, data)
