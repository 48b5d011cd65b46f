"""The demo's story: a few dozen orders of the last five weeks driven through the real services.

The bulk history (``demo_data``) gives volume; this gives every page a new
user opens something true to show: card payments through the test card
gateway (approved, declined, held by a credit rule and released), captures
per shipment and declined ones, labels and carrier scans, deliveries,
returns in every state with refunds settled and still to settle, write-offs
valued at unit cost, order errors with a reship, invoices paid and unpaid,
and the accounting journal exported night after night.

Each order follows a script (a generator that yields how long until its next
step); the scripts run interleaved in time order, and while a step runs
``StoryClock`` makes Django's ``timezone.now()`` answer that step's moment,
so timelines, ledgers, journal dates and batches read as weeks of work.
Every row is written by the services themselves, so every invariant holds
by construction. A step that would fall after ``now`` is not taken: the
order stays where it is, as a recent order would.

Told once, on a database without orders, and only where the test card
gateway is on (``PAYMENTS_TEST_CARD``, on by default with ``DEBUG``).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone as django_timezone

from inventory import services as inventory
from inventory.models import Product, StockLevel, Warehouse
from shipping.models import Parcel, Shipment, ShipmentStatus, TrackingEvent

from . import services
from .models import Channel, Order, OrderStatus
from .payments import accounting
from .payments import services as payments
from .payments.gateways import GATEWAYS
from .payments.models import CreditRule, ExportBatch, PaymentTransaction, SandboxPayment
from .returns import services as returns
from .returns.models import OrderErrorCase, Refund, ReturnReason, ReturnRequest, SettlementMethod

Step = Generator[dt.timedelta, None, bool | None]
S = OrderStatus
R = ReturnReason
ROUTING = "system: routing"
WAREHOUSE = "warehouse"
MANAGER = "ops.manager"
ASSOCIATE = "ops.associate"
RETURNS_DESK = "returns.associate"
CARD = "test_card"
STORY_DAYS = 35
CREDIT_LIMIT = Decimal("750.00")
TAX_RATE = Decimal("0.0825")
CENT = Decimal("0.01")
# Regional hubs a parcel passes through, by warehouse code.
HUBS = {"EWR": "Newark, NJ", "ATL": "Atlanta, GA", "DAL": "Fort Worth, TX", "RNO": "Sparks, NV"}


# --- the clock ------------------------------------------------------------------------------
class _RealDatetime(type):
    """Instances of the clock's datetime class are the ordinary datetimes (``isinstance`` keeps working)."""

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, dt.datetime)

    def __subclasscheck__(cls, subclass) -> bool:
        return issubclass(subclass, dt.datetime)


class StoryClock:
    """While entered, ``django.utils.timezone.now()`` answers ``moment`` (and so every model default,
    ``auto_now`` field, service and sweep that asks Django the time).

    Django's ``now()`` reads the class ``datetime`` from its module at each call;
    the clock swaps in a subclass whose ``now()`` is the story's moment, and
    puts the real one back on leaving.
    """

    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment
        self._saved = None

    def __enter__(self) -> StoryClock:
        clock = self

        class StoryDatetime(dt.datetime, metaclass=_RealDatetime):
            @classmethod
            def now(cls, tz=None):
                return clock.moment.astimezone(tz) if tz else clock.moment.astimezone().replace(tzinfo=None)

        self._saved = django_timezone.datetime
        django_timezone.datetime = StoryDatetime
        return self

    def __exit__(self, *exc) -> None:
        django_timezone.datetime = self._saved


# --- what the story tells -------------------------------------------------------------------
@dataclass
class StoryResult:
    orders: int = 0
    returns: int = 0
    refunds: int = 0
    error_cases: int = 0
    export_batches: int = 0
    skipped: str = ""

    def __str__(self) -> str:
        if self.skipped:
            return f"story skipped: {self.skipped}"
        return (
            f"{self.orders} story orders through the services ({self.returns} returns, {self.refunds} refunds, "
            f"{self.error_cases} order errors, {self.export_batches} accounting export batches)"
        )


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str
    line1: str
    city: str
    state: str
    postal_code: str


def tell_story(*, seed: int, now: dt.datetime) -> StoryResult:
    """Drive the story's orders through the services, dated over the ``STORY_DAYS`` before ``now``.

    Needs the reference data (channels, products, warehouses, carriers) and
    opening stock in place; skipped (and says why) on a database that has
    orders already or where the test card gateway is off.
    """
    if Order.objects.exists():
        return StoryResult(skipped="the database has orders already (the story is told on an empty one)")
    if CARD not in GATEWAYS:
        return StoryResult(skipped="the test card gateway is off (set PAYMENTS_TEST_CARD=true to tell it)")
    story = Story(random.Random(f"demo story {seed}"), now)  # noqa: S311 - a demo's draws, not a secret
    story.tell()
    return StoryResult(
        orders=Order.objects.count(),
        returns=ReturnRequest.objects.count(),
        refunds=Refund.objects.count(),
        error_cases=OrderErrorCase.objects.count(),
        export_batches=ExportBatch.objects.count(),
    )


class Story:
    """The scripts, the timetable that interleaves them, and the steps they are made of."""

    def __init__(self, rng: random.Random, now: dt.datetime) -> None:
        self.rng = rng
        self.now = now
        self.start = now - dt.timedelta(days=STORY_DAYS)
        self.clock = StoryClock(self.start)
        self.timetable: list[tuple[dt.datetime, int, Iterator]] = []
        self.sequence = itertools.count()
        self.channels = {channel.code: channel for channel in Channel.objects.all()}
        self.warehouses = list(Warehouse.objects.order_by("code"))
        self.products = list(Product.objects.filter(is_active=True).order_by("sku"))
        self.people = self._people(24)
        self.numbers = itertools.count(7001)

    # --- running the timetable ---------------------------------------------------------
    def tell(self) -> None:
        CreditRule.objects.get_or_create(
            name=f"Orders over {CREDIT_LIMIT:,.0f} USD",
            defaults={"kind": CreditRule.Kind.AMOUNT_OVER, "threshold": CREDIT_LIMIT, "currency": "USD"},
        )
        self.cast()
        with self.clock:
            while self.timetable:
                moment, _, script = heapq.heappop(self.timetable)
                self.clock.moment = moment
                try:
                    wait = next(script)
                except StopIteration:
                    continue
                self._schedule(moment + wait, script)

    def begin(self, days_ago: int, script: Iterator) -> None:
        """Start a script on the day ``days_ago`` days before today, during the day.

        Whole days, so that when the story is told (the time of day) does not
        move its steps: each script starts far enough back for every step it
        has to reach, however long its waits draw.
        """
        day = dt.datetime.combine(self.now.date() - dt.timedelta(days=days_ago), dt.time(8), tzinfo=self.now.tzinfo)
        self._schedule(day + dt.timedelta(minutes=self.rng.uniform(0, 11 * 60)), script)

    def begin_recent(self, hours_ago: float, script: Iterator) -> None:
        """Start a script ``hours_ago`` hours before now: it gets as far as the time since allows."""
        self._schedule(self.now - dt.timedelta(hours=hours_ago), script)

    def _schedule(self, moment: dt.datetime, script: Iterator) -> None:
        if moment < self.now - dt.timedelta(minutes=1):  # later steps have not happened yet
            heapq.heappush(self.timetable, (moment, next(self.sequence), script))

    @property
    def moment(self) -> dt.datetime:
        return self.clock.moment

    def minutes(self, low: float, high: float) -> dt.timedelta:
        return dt.timedelta(minutes=self.rng.uniform(low, high))

    def hours(self, low: float, high: float) -> dt.timedelta:
        return dt.timedelta(hours=self.rng.uniform(low, high))

    def days(self, low: float, high: float) -> dt.timedelta:
        return dt.timedelta(days=self.rng.uniform(low, high))

    def working(self, wait: dt.timedelta) -> dt.timedelta:
        """``wait``, moved into working hours (08:00 to 18:00; the warehouse works every day) when it ends outside."""
        at = self.moment + wait
        if at.hour >= 18:
            at = (at + dt.timedelta(days=1)).replace(hour=8) + self.minutes(0, 90)
        elif at.hour < 8:
            at = at.replace(hour=8) + self.minutes(0, 90)
        return at - self.moment

    # --- the cast: who orders what, and what happens to it --------------------------------
    def cast(self) -> None:
        """Every script and the day it starts: early enough for each step its script must reach.

        At their longest (every wait drawn at its maximum, each ending after
        hours) a delivery takes 7 days, a return to its close 26 more or less
        than that by state, an order error put right with a reship 19. The
        scripts started in the last days are cut off where now finds them.
        """
        for days_ago in (34, 30, 27, 23, 19, 16, 12, 9, 6, 4):
            self.begin(days_ago, self.journey(self.card_order()))
        for hours_ago in (60, 30, 9):  # in transit, labelled or waiting to be picked, by the time of day
            self.begin_recent(hours_ago, self.journey(self.card_order()))
        for days_ago in (31, 17, 3):
            self.begin(days_ago, self.journey(self.order("amazon", gateway="channel")))
        self.begin(21, self.journey(self.order("wholesale", gateway="manual"), paid_after=9))
        self.begin(8, self.journey(self.order("wholesale", gateway="manual")))  # the invoice is open
        self.begin(11, self.journey(self.order("phone")))

        # Returns, one script per state a return can be in.
        self.begin(33, self.returned(self.card_order(), R.NO_LONGER_WANTED, until="closed"))
        self.begin(29, self.returned(self.card_order(), R.DAMAGED, until="closed", write_off=True))
        self.begin(28, self.returned(self.order("amazon", gateway="channel"), R.NOT_AS_DESCRIBED, until="closed"))
        self.begin(28, self.returned(self.order("phone"), R.NO_LONGER_WANTED, until="refunded", settle=True))
        self.begin(25, self.returned(self.card_order(), R.WRONG_ITEM, until="refunded"))
        self.begin(24, self.returned(self.order("phone"), R.ARRIVED_LATE, until="refunded"))  # refund to settle
        self.begin(23, self.returned(self.card_order(), R.DAMAGED, until="inspected", write_off=True))
        self.begin(21, self.returned(self.card_order(), R.NOT_AS_DESCRIBED, until="received"))
        self.begin(15, self.returned(self.card_order(), R.OTHER, until="rejected"))
        self.begin(14, self.returned(self.card_order(), R.DAMAGED, until="authorised"))
        self.begin(13, self.returned(self.card_order(), R.NO_LONGER_WANTED, until="requested"))

        # Order errors: a reship, refunds, one still open.
        self.begin(26, self.order_error(self.card_order(), "wrong_item", "pick_error", reship=True))
        self.begin(20, self.order_error(self.card_order(), "damaged_in_transit", "carrier_damage", refund=True))
        self.begin(16, self.order_error(self.card_order(), "late", "other", goodwill=Decimal("10.00")))
        self.begin(14, self.order_error(self.order("phone"), "missing_item", "stock_error", refund=True))
        self.begin(12, self.order_error(self.card_order(), "missing_item", "stock_error"))  # still open

        # Payments that need a person: a decline, credit holds, declined captures, a cancellation.
        self.begin(2, self.journey(self.card_order(token="tok_decline")))  # noqa: S106 - a test card token
        self.begin(1, self.journey(self.card_order(big=True)))  # held by the credit rule, waits for review
        self.begin(18, self.journey(self.card_order(big=True), release=True))
        self.begin(10, self.journey(self.card_order(), lapse=True))
        self.begin(6, self.journey(self.card_order(), lapse=True, capture_again=True))
        self.begin(7, self.cancelled(self.card_order()))

        self.begin(STORY_DAYS, self.warehouse_work())
        self._schedule(self.start.replace(hour=1, minute=0, second=0, microsecond=0), self.nightly_export())

    def _people(self, count: int) -> list[Person]:
        from .demo_data import FIRST_NAMES, LAST_NAMES, STREETS, US_PLACES

        names = self.rng.sample([(first, last) for first in FIRST_NAMES for last in LAST_NAMES], count)
        people = []
        for first, last in names:
            city, state, postal_code = self.rng.choice(US_PLACES)
            local = f"{first}.{last}".lower().replace("'", "").encode("ascii", "ignore").decode()
            people.append(
                Person(
                    name=f"{first} {last}",
                    email=f"{local}@example.org",
                    phone=f"+1-555-{self.rng.randint(100, 999)}-{self.rng.randint(1000, 9999)}",
                    line1=f"{self.rng.randint(1, 9999)} {self.rng.choice(STREETS)}",
                    city=city,
                    state=state,
                    postal_code=postal_code,
                )
            )
        return people

    def card_order(self, *, token: str = "tok_approve", big: bool = False) -> dict:  # noqa: S107 - a test card token
        return self.order("webstore", gateway=CARD, token=token, big=big)

    def order(self, channel: str, *, gateway: str = "", token: str = "", big: bool = False) -> dict:
        """What a customer orders: who, the lines (from stock on hand), how they pay. Placed when its script starts."""
        person = self.rng.choice(self.people)
        lines = self._big_lines() if big else self._lines()
        prefix = {"webstore": "W", "amazon": "114", "phone": "PH", "wholesale": "WH"}[channel]
        return {
            "channel": channel,
            "external_id": f"{prefix}-{next(self.numbers)}",
            "person": person,
            "lines": lines,
            "gateway": gateway,
            "token": token,
        }

    def _sellable(self, units: int) -> list[Product]:
        held = {
            product_id
            for product_id, on_hand, allocated in StockLevel.objects.values_list("product_id", "on_hand", "allocated")
            if on_hand - allocated >= units
        }
        return [product for product in self.products if product.pk in held]

    def _lines(self) -> list[tuple[Product, int]]:
        """One to three SKUs in stock, mostly one unit each, under the credit limit."""
        choices = self._sellable(20)
        while True:
            count = self.rng.choices((1, 2, 3), weights=(55, 30, 15))[0]
            lines = [
                (product, self.rng.choices((1, 2), weights=(80, 20))[0]) for product in self.rng.sample(choices, count)
            ]
            if sum(product.price * units for product, units in lines) < CREDIT_LIMIT * Decimal("0.8"):
                return lines

    def _big_lines(self) -> list[tuple[Product, int]]:
        """A large order: three or more of each of three dear SKUs (89.00 and up), so over the credit limit."""
        dear = [product for product in self._sellable(30) if product.price >= 89]
        return [(product, self.rng.randint(3, 5)) for product in self.rng.sample(dear, 3)]

    # --- the scripts -----------------------------------------------------------------------------
    def journey(
        self,
        spec: dict,
        *,
        release: bool = False,
        lapse: bool = False,
        capture_again: bool = False,
        paid_after: float | None = None,
    ) -> Step:
        """Placed, paid for (or held), routed, shipped and delivered; True once delivered."""
        order = self.place(spec)
        yield self.minutes(2, 8)
        if not self.route(order):
            if not release:
                return False  # declined or held for review: it waits for an operator
            yield self.working(self.hours(1, 4))
            services.release_order(
                order_id=order.pk, actor=MANAGER, note="Reviewed: a returning customer, address and card verified."
            )
            yield self.minutes(1, 3)
            if not self.route(order):
                return False
        delivered = yield from self.fulfil(order, lapse=lapse, capture_again=capture_again)
        if delivered and paid_after is not None:
            yield self.working(dt.timedelta(days=paid_after))
            payments.mark_paid(order_id=order.pk, actor=MANAGER, reference=f"BACS {self.moment:%Y%m%d}-{order.pk}")
        return delivered

    def fulfil(self, order: Order, *, lapse: bool = False, capture_again: bool = False) -> Step:
        """Shipments, labels, hand-over (which captures), carrier scans; True once every shipment arrived."""
        yield self.working(self.hours(1.5, 6))
        shipments = services.create_shipments(order_id=order.pk, actor=WAREHOUSE)
        yield self.minutes(15, 50)
        for shipment in shipments:
            services.buy_labels(shipment_id=shipment.pk, actor=WAREHOUSE)
        yield self.working(self.hours(1, 3))
        if lapse:
            # The card issuer let the authorisation lapse before the goods left: the capture is declined.
            auth = payments.authorisation(order)
            SandboxPayment.objects.filter(reference=auth.gateway_reference).update(voided=True)
        for shipment in shipments:
            services.ship_shipment(shipment_id=shipment.pk, actor=WAREHOUSE)
        if capture_again:
            yield self.working(self.hours(16, 24))
            declined = PaymentTransaction.objects.filter(
                order=order, kind=PaymentTransaction.Kind.CAPTURE, status=PaymentTransaction.Status.DECLINED
            ).first()
            payments.capture_again(
                transaction_id=declined.pk, actor=MANAGER, reason="Customer says the card is fine; trying again."
            )
        yield self.hours(3, 8)
        self.scan(shipments, ShipmentStatus.IN_TRANSIT, "Departed origin facility", hub=True)
        if self.rng.random() < 0.2:
            yield self.hours(14, 30)
            self.scan(shipments, ShipmentStatus.EXCEPTION, "Delayed: severe weather at the hub", hub=True)
            yield self.hours(16, 30)
            self.scan(shipments, ShipmentStatus.IN_TRANSIT, "Out for delivery")
        yield self.hours(20, 50)
        self.scan(shipments, ShipmentStatus.DELIVERED, "Delivered, left at front door")
        return True

    def returned(self, spec: dict, reason: str, *, until: str, write_off: bool = False, settle: bool = False) -> Step:
        """Delivered, then a return taken as far as ``until`` (requested … closed, or rejected)."""
        if not (yield from self.journey(spec)):
            return
        order = Order.objects.get(channel__code=spec["channel"], external_id=spec["external_id"])
        line = order.lines.order_by("pk").first()
        yield self.working(self.days(1, 5))
        rma = returns.open_return(
            order_id=order.pk,
            lines={line.pk: 1},
            reason=reason,
            actor=RETURNS_DESK,
            customer_note=CUSTOMER_NOTES[reason],
        )
        if until == "requested":
            return
        if until == "rejected":
            yield self.working(self.hours(2, 20))
            returns.reject_return(
                rma_id=rma.pk, reason="Photos show the item worn; the policy takes back unused goods.", actor=MANAGER
            )
            return
        rma.refresh_from_db()
        if rma.status == ReturnRequest.Status.REQUESTED:
            yield self.working(self.hours(2, 20))
            returns.authorise_return(rma_id=rma.pk, actor=RETURNS_DESK)
        if until == "authorised":
            return
        yield self.working(self.days(3, 6))
        returns.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor=WAREHOUSE)
        if until == "received":
            return
        yield self.working(self.hours(2, 24))
        return_line = rma.lines.get()
        found = (
            returns.Inspection(write_off=1, reason="Cracked in transit; cannot be sold again")
            if write_off
            else returns.Inspection(restock=1)
        )
        returns.inspect_return(rma_id=rma.pk, results={return_line.pk: found}, actor=RETURNS_DESK)
        if until == "inspected":
            return
        yield self.working(self.hours(1, 6))
        refund = returns.confirm_return_refund(rma_id=rma.pk, actor=RETURNS_DESK)
        if settle:
            yield self.working(self.days(1, 3))
            returns.mark_refund_settled(
                refund_id=refund.pk,
                method=SettlementMethod.CHEQUE,
                reference=f"Cheque no. {self.rng.randint(20000, 29999)}",
                note="Posted to the customer's billing address.",
                actor=MANAGER,
            )
        if until == "refunded":
            return
        yield self.working(self.days(1, 2))
        returns.close_return(rma_id=rma.pk, actor=RETURNS_DESK)

    def order_error(
        self,
        spec: dict,
        kind: str,
        root_cause: str,
        *,
        reship: bool = False,
        refund: bool = False,
        goodwill: Decimal | None = None,
    ) -> Step:
        """Delivered, then something we got wrong: opened, and put right by a reship, a refund, or not yet."""
        if not (yield from self.journey(spec)):
            return
        order = Order.objects.get(channel__code=spec["channel"], external_id=spec["external_id"])
        line = order.lines.order_by("pk").first()
        yield self.working(self.days(1, 4))
        case = returns.open_error_case(
            order_id=order.pk, kind=kind, root_cause=root_cause, actor=RETURNS_DESK, description=ERROR_NOTES[kind]
        )
        if not (reship or refund or goodwill):
            return
        yield self.working(self.hours(1, 8))
        case = returns.resolve_error_case(
            case_id=case.pk,
            actor=RETURNS_DESK,
            reship={line.pk: 1} if reship else None,
            refund_lines={line.pk: 1} if refund else None,
            refund_amount=goodwill,
        )
        if case.reship_order_id:
            replacement = Order.objects.get(pk=case.reship_order_id)
            yield self.minutes(2, 6)
            self.route(replacement)
            yield from self.fulfil(replacement)

    def cancelled(self, spec: dict) -> Step:
        """Paid for and routed, then cancelled at the customer's request: the authorisation is voided."""
        order = self.place(spec)
        yield self.minutes(2, 8)
        self.route(order)
        yield self.working(self.hours(1, 5))
        services.cancel_order(
            order_id=order.pk, reason="Customer asked to cancel: ordered the wrong size.", actor=ASSOCIATE
        )

    def warehouse_work(self) -> Step:
        """Weekly purchase-order receipts, and stock found damaged on the shelf (written off at unit cost)."""
        for week in range(STORY_DAYS // 7):
            yield self.working(dt.timedelta(days=7 if week else 1))
            warehouse = self.warehouses[week % len(self.warehouses)]
            for product in self.rng.sample(self.products, 3):
                inventory.receive_stock(
                    warehouse_id=warehouse.pk,
                    product_id=product.pk,
                    quantity=self.rng.choice((24, 48, 96)),
                    actor=WAREHOUSE,
                    reference=f"PO-{self.moment:%Y}-{self.moment:%m%d}-{warehouse.code}",
                    reason="Supplier delivery",
                )
            if week % 2:
                level = self.rng.choice(
                    [level for level in StockLevel.objects.filter(warehouse=warehouse) if level.available >= 10]
                )
                inventory.write_off_stock(
                    warehouse_id=warehouse.pk,
                    product_id=level.product_id,
                    quantity=2,
                    reason="Water damage found during the shelf check",
                    actor=WAREHOUSE,
                    reference=f"DMG-{self.moment:%m%d}",
                )

    def nightly_export(self) -> Step:
        """The 01:00 accounting export of the day before, every night (nothing new: no batch)."""
        while True:
            accounting.export_journal(
                export_date=django_timezone.localdate() - dt.timedelta(days=1), actor="system: accounting export"
            )
            yield dt.timedelta(days=1)

    # --- the steps ----------------------------------------------------------------------------
    def place(self, spec: dict) -> Order:
        """The channel sends the order (its totals as a store computes them)."""
        person: Person = spec["person"]
        lines = spec["lines"]
        subtotal = sum((product.price * units for product, units in lines), Decimal("0"))
        data = services.OrderData(
            external_id=spec["external_id"],
            customer=services.CustomerData(name=person.name, email=person.email, phone=person.phone),
            shipping_address=services.AddressData(
                name=person.name,
                line1=person.line1,
                city=person.city,
                state=person.state,
                postal_code=person.postal_code,
                phone=person.phone,
            ),
            lines=[services.LineData(sku=p.sku, quantity=units, unit_price=p.price) for p, units in lines],
            shipping_total=Decimal("0.00") if subtotal >= 75 else Decimal("5.99"),
            tax_total=(subtotal * TAX_RATE).quantize(CENT),
            promised_date=django_timezone.localdate() + dt.timedelta(days=self.rng.choice((4, 5, 6))),
            placed_at=self.moment,
            payment=services.PaymentData(gateway=spec["gateway"], token=spec["token"]) if spec["gateway"] else None,
        )
        order, _ = services.place_order(
            channel=self.channels[spec["channel"]], data=data, actor=f"channel: {spec['channel']}", route=False
        )
        return order

    def route(self, order: Order) -> bool:
        """What the routing task does: credit check and authorisation first, then stock; True once allocated."""
        status = Order.objects.values_list("status", flat=True).get(pk=order.pk)
        if status == S.RECEIVED:
            if not services.prepare_order(order_id=order.pk, actor=ROUTING):
                return False
            services.allocate_order(order_id=order.pk, actor=ROUTING)
            status = Order.objects.values_list("status", flat=True).get(pk=order.pk)
        return status == S.ALLOCATED

    def scan(self, shipments: list[Shipment], status: str, description: str, *, hub: bool = False) -> None:
        """The carrier's webhook reports a scan for every parcel of these shipments."""
        for shipment in Shipment.objects.filter(pk__in=[s.pk for s in shipments]).select_related(
            "service__vendor", "warehouse"
        ):
            vendor = shipment.service.vendor
            where = HUBS.get(shipment.warehouse.code, "") if hub else _place(shipment.ship_to)
            for tracking_number in Parcel.objects.filter(shipment=shipment).values_list("tracking_number", flat=True):
                services.record_tracking(
                    tracking_number=tracking_number,
                    status=status,
                    occurred_at=self.moment,
                    actor=f"carrier: {vendor.name}",
                    source=TrackingEvent.Source.WEBHOOK,
                    description=description,
                    location=where,
                    vendor=vendor,
                )


def _place(ship_to: dict) -> str:
    return f"{ship_to.get('city', '')}, {ship_to.get('state', '')}".strip(", ")


CUSTOMER_NOTES = {
    R.DAMAGED: "The mug arrived with a crack along the handle.",
    R.WRONG_ITEM: "I ordered a different colour than the one that came.",
    R.NOT_AS_DESCRIBED: "Smaller than the photos suggest.",
    R.NO_LONGER_WANTED: "Changed my mind; it is unused and in its box.",
    R.ARRIVED_LATE: "It came after the birthday it was for.",
    R.OTHER: "Not what I expected.",
}
ERROR_NOTES = {
    "wrong_item": "Customer received the wrong variant; the bin next to it holds the one that shipped.",
    "damaged_in_transit": "Box crushed on arrival; the carrier's photo confirms it.",
    "late": "Arrived two days after the promised date.",
    "missing_item": "One item missing from the parcel; the packing slip lists it.",
}
