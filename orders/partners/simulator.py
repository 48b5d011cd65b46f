"""A simulated 3PL over the REST transport: for the demo, and the real peer of the conformance tests.

It serves ``POST /messages`` on 127.0.0.1 (the connection's endpoint), checks each message's signature,
keeps each message id once (a retry of one it has is answered 200 "duplicate"), takes releases, changes,
cancellations and items, and answers with signed messages of its own, sent to the OMS's webhook: an
acknowledgement ("received", then "accepted" or "rejected") for each request, a ship confirmation per
release once ``ship_delay`` seconds have passed (with tracking numbers of its own), stock snapshots,
receipts and return receipts (a customer's return at its dock, graded). ``pump`` ships what is due and
delivers what it has to say; the management command ``run_partner_simulator`` calls it every second, a test
calls it when it wants the 3PL to speak.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .signing import MESSAGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers, verification_problem

# deliver(body, headers) -> HTTP status: how the simulator's messages reach the OMS
Deliver = Callable[[bytes, dict], int]


@dataclass
class SimulatedRelease:
    number: str
    payload: dict
    received_at: float
    state: str = "open"  # open, cancelled, shipped
    tracking_numbers: list = field(default_factory=list)


class Simulator:
    """A 3PL that speaks the REST transport. Start it, point a connection's endpoint at ``url``, pump it."""

    def __init__(
        self,
        *,
        secret: str,
        webhook_url: str = "",
        deliver: Deliver | None = None,
        ship_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        tracking_prefix: str = "SIM",
        max_skew_seconds: int = 300,
    ):
        self.secret = secret
        self.webhook_url = webhook_url
        self.deliver = deliver or self.post
        self.ship_delay = ship_delay
        self.host, self.port = host, port
        self.tracking_prefix = tracking_prefix
        self.max_skew_seconds = max_skew_seconds
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        # what the 3PL holds
        self.seen: dict[str, int] = {}  # message id -> times it arrived
        self.taken: list[tuple[str, str]] = []  # (message id, type) applied, once each
        self.taken_payloads: dict[str, dict] = {}
        self.releases: dict[str, SimulatedRelease] = {}
        self.items: dict[str, dict] = {}
        self.stock: dict[str, int] = {}
        self.returns_received: set[str] = set()  # RMAs whose goods arrived at its dock
        self.outbox: list[dict] = []
        # how it misbehaves, set by a scenario
        self.short: dict[str, int] = {}  # sku -> units it ships short
        self.reject_cancels = False
        self.refuse_changes = False
        self.drop_answers = 0  # answers it "loses" (closes the connection) after taking the message
        self._ids = itertools.count(1)
        self._tracking = itertools.count(1)

    # --- the server ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Simulator:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = simulator.handle(self.path, dict(self.headers.items()), body)
                if status is None:  # the answer is "lost": the connection closes without one
                    self.close_connection = True
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):  # quiet
                return

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="3pl-simulator", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: the port is closed (a peer that is down)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
            self.thread.join(timeout=5)

    # --- taking messages -----------------------------------------------------------------------------------
    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int | None, dict]:
        headers = {k.lower(): v for k, v in headers.items()}
        if path.rstrip("/") != "/messages":
            return 404, {"error": "POST /messages"}
        problem = verification_problem(
            self.secret,
            body,
            timestamp=headers.get(TIMESTAMP_HEADER.lower(), ""),
            received=headers.get(SIGNATURE_HEADER.lower(), ""),
            max_skew_seconds=self.max_skew_seconds,
        )
        if problem:
            return 401, {"error": problem}
        try:
            envelope = json.loads(body)
            message_id = envelope["message_id"]
            kind = envelope["type"]
            payload = envelope["payload"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "an envelope of message_id, type and payload"}
        if headers.get(MESSAGE_ID_HEADER.lower()) != message_id:
            return 400, {"error": f"{MESSAGE_ID_HEADER} differs from message_id"}
        with self.lock:
            self.seen[message_id] = self.seen.get(message_id, 0) + 1
            if self.seen[message_id] > 1:
                return 200, {"message_id": message_id, "duplicate": True}
            problem = self._take(kind, payload)
            if problem:
                del self.seen[message_id]  # refused: the same id may come back fixed
                return 422, {"error": problem}
            self.taken.append((message_id, kind))
            self.taken_payloads[message_id] = payload
            if self.drop_answers:
                self.drop_answers -= 1
                return None, {}
        return 202, {"message_id": message_id, "duplicate": False}

    def _take(self, kind: str, payload: dict) -> str:
        if kind == "item_sync":
            if not payload.get("sku"):
                return "item_sync: sku is required"
            self.items[payload["sku"]] = payload
            return ""
        number = payload.get("release") if isinstance(payload, dict) else None
        if not number:
            return f"{kind}: release is required"
        if kind == "release":
            lines = payload.get("lines")
            if not isinstance(lines, list) or not lines or not all(line.get("sku") for line in lines):
                return "release: lines with a sku each are required"
            self.releases[number] = SimulatedRelease(number, payload, time.monotonic())
            self._answer(number, "release", "received")
            self._answer(number, "release", "accepted", partner_reference=f"SIM-{number}")
        elif kind == "change":
            release = self.releases.get(number)
            ok = release is not None and release.state == "open" and not self.refuse_changes
            if ok:
                release.payload = payload
            self._answer(number, "change", "accepted" if ok else "rejected", reason="" if ok else "already picked")
        elif kind == "cancel":
            release = self.releases.get(number)
            ok = release is not None and release.state == "open" and not self.reject_cancels
            if ok:
                release.state = "cancelled"
            self._answer(number, "cancel", "accepted" if ok else "rejected", reason="" if ok else "already shipped")
        else:
            return f"unknown type {kind!r}"
        return ""

    # --- speaking ------------------------------------------------------------------------------------------
    def _queue(self, kind: str, payload: dict, message_id: str = "") -> dict:
        envelope = {"message_id": message_id or f"sim-{next(self._ids)}", "type": kind, "payload": payload}
        self.outbox.append(envelope)
        return envelope

    def _answer(self, number: str, of: str, status: str, **extra) -> None:
        self._queue("ack", {"release": number, "of": of, "status": status, **extra})

    def ship_due(self, *, force: bool = False) -> list[str]:
        """Ship every open release whose delay has passed: a confirmation with one package each."""
        now = time.monotonic()
        shipped = []
        with self.lock:
            for release in self.releases.values():
                if release.state != "open" or (not force and now - release.received_at < self.ship_delay):
                    continue
                lines = []
                for line in release.payload["lines"]:
                    quantity = line["quantity"] - self.short.get(line["sku"], 0)
                    if quantity > 0:
                        lines.append({"sku": line["sku"], "quantity": quantity})
                        self.stock[line["sku"]] = self.stock.get(line["sku"], 0) - quantity
                tracking = f"{self.tracking_prefix}{next(self._tracking):010d}"
                release.state, release.tracking_numbers = "shipped", [tracking]
                self._queue(
                    "ship_confirmation",
                    {
                        "release": release.number,
                        "shipped_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "packages": [{"tracking_number": tracking, "carrier": "SIMPOST", "lines": lines}],
                    },
                )
                shipped.append(release.number)
        return shipped

    def snapshot(self, *, as_of: dt.datetime | None = None, stock: dict[str, int] | None = None) -> dict:
        """Queue a stock snapshot (of ``stock``, or of what it holds) as of a time (now)."""
        with self.lock:
            counts = dict(stock if stock is not None else self.stock)
            as_of = as_of or dt.datetime.now(dt.UTC)
            return self._queue(
                "stock_snapshot",
                {
                    "as_of": as_of.isoformat(timespec="seconds"),
                    "items": [{"sku": sku, "on_hand": max(units, 0)} for sku, units in sorted(counts.items())],
                },
            )

    def receive(self, reference: str, lines: dict[str, int]) -> dict:
        """Queue a receipt: goods arrived at the 3PL."""
        with self.lock:
            for sku, units in lines.items():
                self.stock[sku] = self.stock.get(sku, 0) + units
            return self._queue(
                "receipt",
                {"receipt": reference, "lines": [{"sku": sku, "quantity": q} for sku, q in sorted(lines.items())]},
            )

    def receive_return(self, rma: str, lines: list[dict], *, receipt: str = "") -> dict:
        """Queue a return receipt: a customer's parcel for ``rma`` arrived at the dock, each line graded
        (``{"sku", "quantity", "disposition": "restock" or "damaged", "reason"}``; no disposition: not graded).
        Units graded restock go back into its stock."""
        with self.lock:
            for line in lines:
                if line.get("disposition") == "restock":
                    self.stock[line["sku"]] = self.stock.get(line["sku"], 0) + line["quantity"]
            receipt = receipt or f"RET{next(self._tracking):07d}"
            self.returns_received.add(rma)
            return self._queue("return_receipt", {"rma": rma, "receipt": receipt, "lines": [dict(x) for x in lines]})

    def say(self, kind: str, payload, message_id: str = "") -> dict:
        """Queue any message as it is (a scenario's malformed one, a replay of an id)."""
        with self.lock:
            return self._queue(kind, payload, message_id)

    def pump(self, *, ship: bool = True) -> list[int]:
        """Ship what is due, then deliver everything queued to the OMS, in order; returns the HTTP statuses.

        A message the OMS did not take (no answer, 5xx) stays queued for the next pump.
        """
        if ship:
            self.ship_due()
        with self.lock:
            waiting, self.outbox = self.outbox, []
        statuses, kept = [], []
        for envelope in waiting:
            body = json.dumps(envelope).encode()
            headers = signed_headers(self.secret, body, message_id=envelope["message_id"])
            try:
                status = self.deliver(body, headers)
            except OSError:
                status = 0
            statuses.append(status)
            if status == 0 or status >= 500:
                kept.append(envelope)
        with self.lock:
            self.outbox = kept + self.outbox
        return statuses

    def post(self, body: bytes, headers: dict) -> int:
        """Deliver one signed message to ``webhook_url`` over HTTP; returns the status (a refusal too)."""
        request = urllib.request.Request(self.webhook_url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class FileDropSimulator(Simulator):
    """A 3PL that speaks a file drop: it takes the OMS's files from its ``in/`` folder and leaves its own in ``out/``.

    ``root`` is the drop's folder as the 3PL sees it on its own disk (the one its SFTP server serves). The OMS
    writes one file per message into ``in/``; the simulator reads each complete file, takes each message id
    once, and removes the file, as a 3PL's importer does. ``pump`` takes what arrived, ships what is due,
    writes what it has to say as files into ``out/`` (one file per type and pump, written atomically), then
    calls ``poll`` (the OMS taking its files in) and returns what that returns.
    """

    def __init__(
        self,
        *,
        root,
        poll: Callable[[], list[int]],
        file_format: str = "csv",
        partner=None,
        ship_delay: float = 0.0,
        tracking_prefix: str = "SIM",
    ):
        """``partner`` (X12): the 3PL's side of the envelope, an ``oms_core.x12.TradingPartner`` with its id first."""
        super().__init__(secret="", ship_delay=ship_delay, tracking_prefix=tracking_prefix)
        from oms_core import x12

        self.partner = partner
        self.control_numbers = x12.CounterControlNumbers()
        self.answers: list = []  # 997s it owes the OMS
        self.acknowledged: list = []  # the OMS's 997s it received
        from oms_core.filedrop import DropLayout, LocalFileDrop

        self.root = Path(root)
        self.poll = poll
        self.file_format = file_format
        self.drop = LocalFileDrop(self.root, layout=DropLayout(incoming="in", outgoing="out"))
        self.refused_files: list[tuple[str, str]] = []
        self._files = itertools.count(1)

    def start(self) -> FileDropSimulator:
        return self

    def stop(self) -> None:
        """Nothing runs between pumps."""

    def take_files(self) -> list[str]:
        """Take every complete file the OMS left in in/ (oldest first); returns their names."""
        from .transports.csv_sftp import read_outbound_file
        from .transports.filedrop import FileRefused

        taken = []
        for name in self.drop.list_incoming():
            data = self.drop.read(name)
            try:
                messages = read_outbound_file(name, data) if name.endswith(".csv") else self._read_x12(data)
            except (FileRefused, ValueError, KeyError, IndexError) as error:
                self.refused_files.append((name, str(error)))
                self.drop.reject(name, str(error))
                continue
            (self.root / "in" / name).unlink()
            for message_id, kind, payload in messages:
                with self.lock:
                    self.seen[message_id] = self.seen.get(message_id, 0) + 1
                    if self.seen[message_id] > 1:
                        continue
                    problem = self._take(kind, payload)
                    if problem:
                        self.refused_files.append((name, problem))
                        continue
                    self.taken.append((message_id, kind))
                    self.taken_payloads[message_id] = payload
            taken.append(name)
        return taken

    def _read_x12(self, data: bytes) -> list[tuple[str, str, dict]]:
        """The OMS's 940s as (message id, type, payload); its 997s kept; a 997 owed for each group."""
        from oms_core import x12

        from .transports.x12_sftp import KIND_OF_PURPOSE

        messages = []
        for interchange in x12.read_interchanges(data):
            self.answers += x12.acknowledge(interchange)
            for group in interchange.groups:
                for ts in group.transaction_sets:
                    document = x12.parse_document(ts, group.version)
                    if isinstance(document, x12.FunctionalAcknowledgement):
                        self.acknowledged.append(document)
                        continue
                    kind = KIND_OF_PURPOSE[document.purpose]
                    version = next((v for q, v in document.references if q == "ZZ"), "")
                    ship_to = document.ship_to()
                    payload = {
                        "release": document.shipment_id,
                        "order": document.order_number,
                        "service_level": document.service_level,
                        "carrier": document.carrier,
                        "lines": [
                            {
                                "line": int(line.line_reference) if line.line_reference else None,
                                "sku": line.sku,
                                "name": line.description,
                                "quantity": int(line.quantity),
                            }
                            for line in document.lines
                        ],
                    }
                    if ship_to is not None:
                        payload["ship_to"] = {
                            field: getattr(ship_to, field)
                            for field in ("name", "city", "state", "postal_code", "country")
                        }
                    if version:
                        payload["version"] = int(version.lstrip("v"))
                    if document.instructions:
                        payload["reason"] = document.instructions
                    key = f"{kind}:{document.shipment_id}" + (f":{version}" if kind != "cancel" else "")
                    messages.append((key, kind, payload))
        return messages

    def _x12_files(self, by_kind: dict[str, list[tuple[str, dict]]]) -> list[tuple[str, bytes]]:
        """The 3PL's 997s, 945s, 846s and 944s (receipts and return receipts) as X12 files, one interchange per set
        type."""
        from decimal import Decimal, InvalidOperation

        from oms_core import x12

        def own_id(message_id: str, set_id: str) -> str:
            return message_id.removeprefix(f"{set_id}:")

        documents: dict[str, list] = {}
        if self.answers:
            documents["997"], self.answers = self.answers, []
        poison = "987654321"
        for message_id, p in by_kind.get("ship_confirmation", []):
            shipped = dt.datetime.fromisoformat(p["shipped_at"]).astimezone(dt.UTC)
            packages = []
            for package in p["packages"]:
                lines = []
                for line in package["lines"]:
                    try:
                        quantity = Decimal(line["quantity"])
                    except (InvalidOperation, TypeError, ValueError):  # a broken 3PL: the file says what it says
                        quantity = Decimal(poison)
                    lines.append(x12.ShippedLine(sku=line["sku"], quantity_shipped=quantity))
                packages.append(x12.ShippedPackage(lines=tuple(lines), tracking_number=package["tracking_number"]))
            documents.setdefault("945", []).append(
                x12.ShippingAdvice(
                    shipment_id=p["release"],
                    ship_date=shipped.date(),
                    shipped_time=shipped.time().replace(microsecond=0),
                    packages=tuple(packages),
                    warehouse_shipment_id=own_id(message_id, "945"),
                    carrier=str(p["packages"][0].get("carrier") or "")[:4] if p["packages"] else "",
                )
            )
        for message_id, p in by_kind.get("stock_snapshot", []):
            as_of = dt.datetime.fromisoformat(p["as_of"]).astimezone(dt.UTC)
            documents.setdefault("846", []).append(
                x12.InventoryAdvice(
                    report_id=own_id(message_id, "846"),
                    as_of_date=as_of.date(),
                    as_of_time=as_of.time().replace(microsecond=0),
                    items=tuple(
                        x12.InventoryItem(
                            sku=i["sku"], quantities=(x12.InventoryQuantity("33", Decimal(i["on_hand"])),)
                        )
                        for i in p["items"]
                    ),
                )
            )
        for _, p in by_kind.get("return_receipt", []):
            documents.setdefault("944", []).append(
                x12.StockReceipt(
                    receipt_number=p["receipt"][:12],
                    received_date=dt.datetime.now(dt.UTC).date(),
                    lines=tuple(
                        x12.ReceivedLine(
                            sku=line["sku"],
                            quantity=Decimal(line["quantity"]),
                            disposition=str(line.get("disposition") or "").upper(),
                            disposition_note=str(line.get("reason") or "")[:45],
                        )
                        for line in p["lines"]
                    ),
                    references=(("RZ", p["rma"]),),
                )
            )
        for message_id, p in by_kind.get("receipt", []):
            documents.setdefault("944", []).append(
                x12.StockReceipt(
                    receipt_number=own_id(message_id, "944")[:12],
                    received_date=dt.datetime.now(dt.UTC).date(),
                    lines=tuple(
                        x12.ReceivedLine(sku=line["sku"], quantity=Decimal(line["quantity"])) for line in p["lines"]
                    ),
                    reference=p.get("receipt", "")[:22],
                )
            )
        files = []
        for set_id, found in documents.items():
            _, text = x12.write_interchange(
                found, partner=self.partner, next_control_number=self.control_numbers, when=dt.datetime.now(dt.UTC)
            )
            text = text.replace(f"*{poison}*", "*one*")
            files.append((f"x12-{next(self._files):06d}-{set_id}.x12", text.encode("ascii")))
        return files

    def write_files(self, envelopes: list[dict]) -> list[str]:
        """Leave the envelopes in out/: one file per type, in the order the types first come."""
        from .transports.csv_sftp import INBOUND_PREFIX, write_inbound_csv

        if self.file_format == "x12":
            by_kind: dict[str, list[tuple[str, dict]]] = {}
            for envelope in envelopes:
                by_kind.setdefault(envelope["type"], []).append((envelope["message_id"], envelope["payload"]))
            written = []
            if by_kind.get("ack"):  # the business answers: the acknowledgement file, as over CSV
                name = f"acks-{next(self._files):06d}.csv"
                self.drop.write(name, write_inbound_csv("ack", by_kind["ack"]))
                written.append(name)
            for name, data in self._x12_files(by_kind):
                self.drop.write(name, data)
                written.append(name)
            return written

        by_kind: dict[str, list[tuple[str, dict]]] = {}
        for envelope in envelopes:
            by_kind.setdefault(envelope["type"], []).append((envelope["message_id"], envelope["payload"]))
        written = []
        for kind, messages in by_kind.items():
            name = f"{INBOUND_PREFIX[kind]}-{next(self._files):06d}.csv"
            self.drop.write(name, write_inbound_csv(kind, messages))
            written.append(name)
        return written

    def pump(self, *, ship: bool = True) -> list[int]:
        """Take the OMS's files, ship what is due, leave its messages in out/, and let the OMS poll."""
        self.take_files()
        if ship:
            self.ship_due()
        with self.lock:
            waiting, self.outbox = self.outbox, []
        self.write_files(waiting)
        return self.poll()


# returns_due(RMAs received already) -> [(RMA number, lines of the return receipt)]: the customers' parcels at the dock
ReturnsDue = Callable[[set], list[tuple[str, list[dict]]]]


class Runner:
    """A simulator at work in a thread of its own: a pump a second, a stock snapshot every ``snapshot_every``, and
    a return receipt for each customer's parcel ``returns_due`` says has arrived.

    What ``run_partner_simulator`` and ``runembedded`` run; ``stop`` ends the loop and closes the port.
    """

    def __init__(
        self,
        simulator: Simulator,
        *,
        snapshot_every: float = 300.0,
        report: Callable[[str], None] = print,
        returns_due: ReturnsDue | None = None,
    ):
        self.simulator = simulator
        self.snapshot_every = snapshot_every
        self.report = report
        self.returns_due = returns_due
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> Runner:
        self.simulator.start()
        self.thread = threading.Thread(target=self.run, name="3pl-simulator-pump", daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        last_snapshot = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() - last_snapshot >= self.snapshot_every:
                self.simulator.snapshot()
                last_snapshot = time.monotonic()
            shipped = self.simulator.ship_due()
            for number in shipped:
                self.report(f"Simulated 3PL: shipped {number}.")
            for rma, lines in self.returns_due(set(self.simulator.returns_received)) if self.returns_due else ():
                self.simulator.receive_return(rma, lines)
                self.report(f"Simulated 3PL: received return {rma}.")
            for status in self.simulator.pump(ship=False):
                if status not in (200, 202):
                    self.report(f"Simulated 3PL: the OMS answered {status or 'nothing'}; trying again in a second.")
            self.stopping.wait(1.0)  # the demo's pace: one round a second, ended at once by stop()
        if self.returns_due is not None:  # it read the OMS's returns in this thread: its connection closes with it
            from django.db import connection

            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.simulator.stop()


def runner_for(
    connection,
    *,
    base_url: str,
    ship_delay: float,
    snapshot_every: float,
    port: int = 0,
    report: Callable[[str], None] = print,
) -> Runner:
    """A runner playing the 3PL of a REST ``connection``: serving its endpoint's port (or ``port``), holding the
    stock its warehouse holds, posting to the webhook of the OMS at ``base_url``. Not started."""
    port = port or endpoint_port(connection.endpoint)
    simulator = Simulator(
        secret=connection.secret,
        webhook_url=f"{base_url.rstrip('/')}/api/v1/partners/{connection.code}/webhook",
        ship_delay=ship_delay,
        port=port,
    )
    simulator.stock = {
        connection.partner_sku(sku): on_hand
        for sku, on_hand in connection.warehouse.stock_levels.values_list("product__sku", "on_hand")
    }
    hold_open_releases(simulator, connection)
    return Runner(
        simulator,
        snapshot_every=snapshot_every,
        report=report,
        returns_due=lambda received: returns_arriving(connection, received, after=ship_delay),
    )


def returns_arriving(connection, received: set, *, after: float) -> list[tuple[str, list[dict]]]:
    """The demo's stand-in for customers' parcels reaching the 3PL's dock: each return authorised to its warehouse
    at least ``after`` seconds ago and not received yet arrives whole, every unit graded fit to restock (the 3PL's
    item codes). A real 3PL learns of a return from the parcel itself."""
    from django.utils import timezone

    from ..returns.models import ReturnLine, ReturnStatus

    lines = (
        ReturnLine.objects.filter(
            rma__warehouse_id=connection.warehouse_id,
            rma__status=ReturnStatus.AUTHORISED,
            rma__authorised_at__lte=timezone.now() - dt.timedelta(seconds=after),
        )
        .exclude(rma__number__in=received)
        .order_by("rma_id", "pk")
        .values_list("rma__number", "sku", "quantity")
    )
    arriving: dict[str, list[dict]] = {}
    for number, sku, quantity in lines:
        arriving.setdefault(number, []).append(
            {"sku": connection.partner_sku(sku), "quantity": quantity, "disposition": "restock"}
        )
    return list(arriving.items())


def hold_open_releases(simulator: Simulator, connection) -> None:
    """Give ``simulator`` the releases the OMS sent that the 3PL has not shipped or cancelled, as it last had
    them (and their message ids, seen): one started again (``make run`` restarted) ships them after its delay
    instead of forgetting them."""
    from .models import OPEN_RELEASE_STATES, Direction, MessageKind, PartnerMessage

    now = time.monotonic()
    sent = (
        PartnerMessage.objects.filter(
            connection=connection,
            direction=Direction.OUT,
            kind__in=[MessageKind.RELEASE, MessageKind.CHANGE],
            release__state__in=OPEN_RELEASE_STATES,
        )
        .exclude(sent_at=None)
        .order_by("sent_at", "pk")
    )
    for message in sent:
        number = message.payload.get("release")
        if number and message.payload.get("lines"):
            simulator.releases[number] = SimulatedRelease(number, message.payload, now)
            simulator.seen[message.key] = 1


def endpoint_port(endpoint: str) -> int:
    """The port of a REST endpoint (http://127.0.0.1:8701 -> 8701; none given -> 0)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(endpoint).port or 0
    except ValueError:
        return 0


def start_demo_simulator(*, base_url: str, report: Callable[[str], None] = print) -> Runner | None:
    """Start the demo 3PL beside the web server (``runembedded``): None when DEMO_3PL_SIMULATOR is off, the demo
    connection is not there (or not REST, or has no secret), or its port is taken (said through ``report``)."""
    from django.conf import settings

    from orders.demo_data import DEMO_3PL_CODE

    from .models import PartnerConnection

    if not settings.DEMO_3PL_SIMULATOR:
        return None
    connection = (
        PartnerConnection.objects.select_related("warehouse")
        .filter(code=DEMO_3PL_CODE, kind=PartnerConnection.Kind.REST, is_active=True)
        .first()
    )
    if connection is None or not connection.secret:
        return None
    runner = runner_for(
        connection,
        base_url=base_url,
        ship_delay=settings.DEMO_3PL_SHIP_DELAY_SECONDS,
        snapshot_every=settings.DEMO_3PL_SNAPSHOT_SECONDS,
        report=report,
    )
    try:
        runner.start()
    except OSError as error:
        report(f"The demo 3PL could not serve {connection.endpoint} ({error}); its releases wait for it.")
        return None
    report(
        f"Demo 3PL {connection.name} at {runner.simulator.url}: ships each release after "
        f"{settings.DEMO_3PL_SHIP_DELAY_SECONDS:g} s, posting to {runner.simulator.webhook_url}"
    )
    return runner


# --- the 3PL over a file drop, for the command and the demo ---------------------------------------------------


def drop_runner_for(
    connection,
    *,
    folder,
    ship_delay: float,
    snapshot_every: float,
    report: Callable[[str], None] = print,
) -> Runner:
    """A runner playing the 3PL of a file-drop ``connection`` (CSV or X12) in ``folder``, as the 3PL sees it: it
    takes the OMS's files from ``in/``, leaves its acknowledgements, confirmations and snapshots in ``out/``
    (each written atomically), holds the stock its warehouse holds and the releases still open. ``folder`` is
    the one the 3PL's SFTP server serves, or the connection's ``PARTNER_DROP_FOLDERS`` folder. The OMS takes
    the files in when its beat polls. Not started."""
    from oms_core import x12

    from .models import PartnerConnection

    partner = None
    if connection.kind == PartnerConnection.Kind.X12_SFTP:
        partner = x12.TradingPartner(  # the 3PL's side of the envelope: its id first
            our_id=connection.x12_their_id,
            their_id=connection.x12_our_id,
            our_qualifier=connection.x12_their_qualifier,
            their_qualifier=connection.x12_our_qualifier,
            version=connection.x12_version,
            test=connection.x12_test,
        )
    simulator = FileDropSimulator(
        root=Path(folder),
        poll=list,  # the OMS polls on its own schedule
        file_format="x12" if partner is not None else "csv",
        partner=partner,
        ship_delay=ship_delay,
    )
    simulator.stock = {
        connection.partner_sku(sku): on_hand
        for sku, on_hand in connection.warehouse.stock_levels.values_list("product__sku", "on_hand")
    }
    hold_open_releases(simulator, connection)
    return Runner(simulator, snapshot_every=snapshot_every, report=report)


def start_demo_file_drop_simulator(*, report: Callable[[str], None] = print) -> Runner | None:
    """Start the demo 3PL over a file drop (``runembedded``) when DEMO_3PL_TRANSPORT says csv_sftp or x12_sftp.

    The demo connection is first set to speak what DEMO_3PL_TRANSPORT says (REST again when it says rest; then
    ``start_demo_simulator`` serves it). Returns the runner, or None: the setting says rest, the simulator is
    off, or the demo connection is not there.
    """
    from django.conf import settings

    from orders.demo_data import DEMO_3PL_CODE

    from .models import PartnerConnection

    if not settings.DEMO_3PL_SIMULATOR:
        return None
    connection = PartnerConnection.objects.select_related("warehouse").filter(code=DEMO_3PL_CODE).first()
    if connection is None:
        return None
    kind = settings.DEMO_3PL_TRANSPORT
    if connection.kind != kind:
        changes = {"kind": kind}
        if kind == PartnerConnection.Kind.X12_SFTP:
            changes.update(x12_our_id=connection.x12_our_id or "NORTHWINDOMS", x12_their_id="BUCKEYE3PL")
        PartnerConnection.objects.filter(pk=connection.pk).update(**changes)
        connection.refresh_from_db()
        report(f"Demo 3PL {connection.name} now speaks {connection.get_kind_display()} (DEMO_3PL_TRANSPORT).")
    if kind == PartnerConnection.Kind.REST:
        return None
    folder = settings.PARTNER_DROP_FOLDERS[DEMO_3PL_CODE]
    runner = drop_runner_for(
        connection,
        folder=folder,
        ship_delay=settings.DEMO_3PL_SHIP_DELAY_SECONDS,
        snapshot_every=settings.DEMO_3PL_SNAPSHOT_SECONDS,
        report=report,
    )
    runner.start()
    report(
        f"Demo 3PL {connection.name} in {folder}: takes the files in in/, ships each release after "
        f"{settings.DEMO_3PL_SHIP_DELAY_SECONDS:g} s, leaves its files in out/ for the beat's poll"
    )
    return runner
