"""Delay notices: the customer hears once per new estimate, before the promised date passes, that the order
will be late; ops can suppress a notice. Each trigger is played on a hand-built timeline (the services take
``now``), the week of Monday 23 November 2026: warehouses cut off at 15:00 and need one business day to
pick and pack; the carriers are a 5-day ground, a 2-day and an overnight service."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Message
from orders import services
from orders.exceptions import OrderError
from orders.models import OrderDelayNotice, OrderEvent, OrderStatus
from orders.services import delay_notices, status_links
from shipping.models import Lane, Shipment, ShipmentStatus, TrackingEvent
from tests.conftest import make_warehouse
from tests.notifications.conftest import smtp_port, smtp_sink  # noqa: F401 - fixtures used here
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db

MON, TUE, WED, THU, FRI = (dt.date(2026, 11, 23) + dt.timedelta(days=n) for n in range(5))
NEXT_MON = dt.date(2026, 11, 30)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def delay_emails(order) -> list[Message]:
    return list(Message.objects.filter(order=order, event="order_delayed").order_by("pk"))


def told_once_before_the_promise(order) -> OrderDelayNotice:
    """The order's one delay email went out (through the outbox) before its promised date passed; its notice."""
    (notice,) = OrderDelayNotice.objects.filter(order=order)
    (email,) = delay_emails(order)
    assert notice.state == "sent" and notice.message == email
    assert notice.sent_at < at(notice.promised_date + dt.timedelta(days=1), 0)
    assert email.context["delay"]["new_estimate"] == notice.new_estimate.isoformat()
    return notice


def shipped_order(order_to, sites, stock, product, *, promised: dt.date, made: dt.datetime):
    """An order to New York, reserved at Edison (EWR) and given its shipment at ``made``."""
    stock(sites["EWR"], product, 5)
    order = order_to("NYC", [(product, 1)], promised_date=promised, placed_at=made)
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=made)
    return order, shipment


def label(shipment) -> str:
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    return shipment.parcels.get().tracking_number


# --- each trigger: one email before the promised date, none when on time -------------------------------


@pytest.mark.usefixtures("carriers")
def test_an_order_not_reserved_by_the_cut_off_gets_one_email_with_the_new_date(
    sites,
    stock,
    products,
    order_to,
    smtp_sink,  # noqa: F811 - the fixture imported above
    django_capture_on_commit_callbacks,
):
    # given an order placed Monday morning for Tuesday, stock at Edison, and nobody routed it
    stock(sites["EWR"], products[0], 5)
    order = order_to("NYC", [(products[0], 1)], promised_date=TUE, placed_at=at(MON, 8))

    # before the 15:00 cut-off nothing is in danger yet
    assert services.sweep_delay_notices(now=at(MON, 14)) == 0
    # when the sweep runs after the cut-off: work starts Tuesday, packed Wednesday, overnight Thursday
    with django_capture_on_commit_callbacks(execute=True):
        told = services.sweep_delay_notices(now=at(MON, 16))

    # then the customer got one email, on Monday, with Thursday as the new estimate and the status page
    assert told == 1
    notice = OrderDelayNotice.objects.get(order=order)
    assert (notice.cause, notice.state, notice.promised_date, notice.new_estimate) == (
        "not_reserved",
        "sent",
        TUE,
        THU,
    )
    assert notice.sent_at < at(TUE, 0)
    (email,) = smtp_sink.messages
    assert email.rcpt_tos == [order.customer.email]
    assert email.subject == f"Your order {order.number} will arrive a little later than planned"
    text = email.part("text/plain")
    assert "will not reach you by Tuesday, November 24 as we promised" in text
    assert "it is taking us longer than planned to get your order ready" in text
    assert "New estimated delivery: Thursday, November 26" in text
    assert "Wait: you need not do anything" in text
    assert "we will change your order or cancel the items that are late and refund them. Contact Northwind OMS." in text
    status_url = status_links.live_status_url(order)  # made when the email was sent
    assert status_url and f"See your order: {status_url}" in text
    assert status_url in email.part("text/html")
    # and the timeline says so, in the messages group
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.DELAY_NOTICE)
    assert entry.message == (
        "Customer told the order will be late: promised Tue 24 Nov, now expected Thu 26 Nov "
        "(not reserved by the warehouse's cut-off: still not reserved at EWR's 15:00 cut-off (UTC))."
    )
    assert entry.actor_name == "system: delay sweep"


@pytest.mark.usefixtures("carriers")
def test_an_order_that_still_makes_its_date_gets_no_email(sites, stock, products, order_to):
    # given the same unrouted order, promised for next Monday
    stock(sites["EWR"], products[0], 5)
    order = order_to("NYC", [(products[0], 1)], promised_date=NEXT_MON, placed_at=at(MON, 8))

    # when the sweep runs after the cut-off: Thursday still beats Monday
    assert services.sweep_delay_notices(now=at(MON, 16)) == 0

    assert not delay_emails(order) and not OrderDelayNotice.objects.exists()


@pytest.mark.usefixtures("carriers")
def test_a_backorder_whose_email_gave_the_new_date_is_marked_told_without_a_second_email(products, order_to, settings):
    # given an order promised in two days that no warehouse can fill: its backorder email says 14 days from today
    settings.NOTIFICATIONS_BACKORDER_LEAD_DAYS = 14
    today = timezone.localdate()
    order = order_to("NYC", [(products[0], 1)], promised_date=today + dt.timedelta(days=2))
    services.allocate_order(order_id=order.pk, actor="test")
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED
    (backorder_email,) = Message.objects.filter(order=order, event="order_backordered")
    assert backorder_email.context["estimate"] == (today + dt.timedelta(days=14)).isoformat()

    # when the sweep runs, today and in the days after, while the stock is still missing
    for days in (0, 0, 1):
        services.sweep_delay_notices(now=timezone.now() + dt.timedelta(days=days))

    # then the order is marked told, by that email, and no delay email repeats it or slips a day each day
    notice = OrderDelayNotice.objects.get(order=order)
    assert (notice.cause, notice.state, notice.new_estimate) == ("backordered", "sent", today + dt.timedelta(days=14))
    assert notice.message == backorder_email
    assert not delay_emails(order)
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.DELAY_NOTICE)
    assert entry.message.endswith("in the backorder email.")


@pytest.mark.usefixtures("carriers")
def test_a_backorder_still_waiting_when_its_far_promise_comes_is_told_once(products, order_to, settings):
    # given an order promised in 20 days, backordered today: the 14-day restock still makes it
    settings.NOTIFICATIONS_BACKORDER_LEAD_DAYS = 14
    today = timezone.localdate()
    promised = today + dt.timedelta(days=20)
    order = order_to("NYC", [(products[0], 1)], promised_date=promised)
    services.allocate_order(order_id=order.pk, actor="test")
    assert services.sweep_delay_notices() == 0

    # when the promised day comes and the stock has not: the day after is the earliest it can arrive
    on_the_day = timezone.now() + dt.timedelta(days=20)
    assert services.sweep_delay_notices(now=on_the_day) == 1
    assert services.sweep_delay_notices(now=on_the_day + dt.timedelta(hours=1)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("backordered", promised + dt.timedelta(days=1))
    (email,) = delay_emails(order)
    assert email.context["delay"]["reason"] == "some of your items are waiting for new stock"


@pytest.mark.usefixtures("carriers")
def test_a_label_not_bought_by_the_ship_by_day_is_told_once_and_again_for_a_later_date(
    sites, stock, products, order_to
):
    # given a shipment made Monday 09:00 for Thursday: to be picked up Tuesday by the 2-day service
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    assert shipment.ship_date == TUE

    # Tuesday evening the label is not bought, but the ship-by day is not over
    assert services.sweep_delay_notices(now=at(TUE, 18)) == 0
    # when Wednesday's sweeps find no label: packed today, picked up Thursday, overnight at best: Friday
    assert services.sweep_delay_notices(now=at(WED, 10)) == 1
    assert services.sweep_delay_notices(now=at(WED, 10, 15)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("label_late", FRI)
    # when Thursday morning still finds no label: Monday, a later date, told once more
    assert services.sweep_delay_notices(now=at(THU, 9)) == 1
    assert services.sweep_delay_notices(now=at(THU, 9, 15)) == 0
    assert [m.context["delay"]["new_estimate"] for m in delay_emails(order)] == ["2026-11-27", "2026-11-30"]


@pytest.mark.usefixtures("carriers")
def test_a_label_bought_but_never_picked_up_is_told_a_business_day_after_pickup(sites, stock, products, order_to):
    # given the Tuesday pickup's label bought, and no carrier has the parcel
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    label(shipment)

    assert services.sweep_delay_notices(now=at(TUE, 18)) == 0  # the pickup day itself
    assert services.sweep_delay_notices(now=at(WED, 10)) == 1
    assert services.sweep_delay_notices(now=at(WED, 10, 15)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("no_scan", NEXT_MON)  # the labelled 2-day service, from Thursday


@pytest.mark.usefixtures("carriers")
def test_a_parcel_handed_over_with_no_carrier_scan_is_told(sites, stock, products, order_to):
    # given the parcel handed over Tuesday, and the carrier never scanned it
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    label(shipment)
    services.ship_shipment(shipment_id=shipment.pk, actor="test", now=at(TUE, 10))

    assert services.sweep_delay_notices(now=at(TUE, 18)) == 0
    # when Wednesday comes without a scan: the parcel moves from Wednesday at best, two days: Friday
    assert services.sweep_delay_notices(now=at(WED, 10)) == 1
    assert services.sweep_delay_notices(now=at(WED, 10, 15)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("no_scan", FRI)


@pytest.mark.usefixtures("carriers")
def test_a_scanned_parcel_on_time_gets_no_email(sites, stock, products, order_to):
    # given the parcel handed over Tuesday and scanned by the carrier the same day
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    number = label(shipment)
    services.ship_shipment(shipment_id=shipment.pk, actor="test", now=at(TUE, 10))
    services.record_tracking(
        tracking_number=number, status="in_transit", occurred_at=at(TUE, 16), actor="carrier", source="webhook"
    )

    # then Wednesday's sweep sees it arriving Thursday, as promised
    assert services.sweep_delay_notices(now=at(WED, 10)) == 0
    assert not delay_emails(order)


@pytest.mark.usefixtures("carriers")
def test_a_parcel_that_left_late_for_its_transit_time_is_told(sites, stock, products, order_to):
    # given the parcel handed over Wednesday, a day late, and scanned: two days from Wednesday is Friday
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    number = label(shipment)
    services.ship_shipment(shipment_id=shipment.pk, actor="test", now=at(WED, 10))
    services.record_tracking(
        tracking_number=number, status="in_transit", occurred_at=at(WED, 12), actor="carrier", source="webhook"
    )

    assert services.sweep_delay_notices(now=at(WED, 13)) == 1
    assert services.sweep_delay_notices(now=at(WED, 13, 15)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("transit_too_long", FRI)
    assert "2 business days in transit from Wed 25 Nov" in notice.detail


@pytest.mark.usefixtures("carriers")
def test_a_parcel_on_a_lane_that_learned_a_longer_transit_time_is_told(sites, stock, products, order_to):
    # given the parcel handed over Tuesday and scanned: the 2-day service's rate card brings it Thursday, as promised
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    number = label(shipment)
    services.ship_shipment(shipment_id=shipment.pk, actor="test", now=at(TUE, 10))
    services.record_tracking(
        tracking_number=number, status="in_transit", occurred_at=at(TUE, 12), actor="carrier", source="webhook"
    )
    assert services.sweep_delay_notices(now=at(TUE, 13)) == 0
    # when, since it left, Edison's lane to New York by that service has learned it takes four business days
    Lane.objects.create(
        warehouse=sites["EWR"],
        destination_zip3="100",
        service=shipment.service,
        vendor=shipment.service.vendor,
        deliveries=25,
        transit_median=4,
        transit_percentile=4,
        learned_days=4,
    )

    # then Wednesday's sweep tells the customer once: four business days from Tuesday is next Monday
    assert services.sweep_delay_notices(now=at(WED, 10)) == 1
    assert services.sweep_delay_notices(now=at(WED, 10, 15)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("transit_too_long", NEXT_MON)
    assert notice.detail == f"{shipment.number}: 4 business days in transit (learned on its lane) from Tue 24 Nov"


@pytest.mark.usefixtures("carriers")
def test_a_labelled_parcel_whose_lane_learned_a_longer_time_is_told_before_its_pickup(sites, stock, products, order_to):
    # given Tuesday's pickup labelled on Monday for the 2-day service: Thursday, as promised
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    label(shipment)
    assert services.sweep_delay_notices(now=at(MON, 10)) == 0
    # when Edison's lane to New York by that service learns it takes four business days
    Lane.objects.create(
        warehouse=sites["EWR"],
        destination_zip3="100",
        service=shipment.service,
        vendor=shipment.service.vendor,
        deliveries=25,
        learned_days=4,
    )

    # then the customer hears on Monday, before the parcel even leaves: four business days from Tuesday
    assert services.sweep_delay_notices(now=at(MON, 11)) == 1
    assert services.sweep_delay_notices(now=at(MON, 11, 15)) == 0

    notice = told_once_before_the_promise(order)
    assert (notice.cause, notice.new_estimate) == ("transit_too_long", NEXT_MON)
    assert notice.detail == f"{shipment.number}: 4 business days in transit (learned on its lane) from Tue 24 Nov"


@pytest.mark.usefixtures("carriers")
def test_a_carrier_exception_tells_the_customer_at_once_and_the_sweep_not_again(
    sites,
    stock,
    products,
    order_to,
    django_capture_on_commit_callbacks,
    smtp_sink,  # noqa: F811 - the fixture imported above
):
    # given a parcel on its way today, promised for today (the tracking event is recorded as it comes)
    today = timezone.localdate()
    now = timezone.now()
    order, shipment = shipped_order(order_to, sites, stock, products[0], promised=today, made=now)
    number = label(shipment)
    services.ship_shipment(shipment_id=shipment.pk, actor="test", now=now)

    # when the carrier reports an exception
    with django_capture_on_commit_callbacks(execute=True):
        services.record_tracking(
            tracking_number=number,
            status="exception",
            occurred_at=now,
            actor="carrier",
            source="webhook",
            description="Damaged in transit",
        )

    # then the customer hears at once (after ops' alert), with a date after today
    notice = told_once_before_the_promise(order)
    assert notice.cause == "carrier_exception" and notice.new_estimate > today
    assert "Damaged in transit" in notice.detail
    (email,) = [m for m in smtp_sink.messages if "later than planned" in m.subject]
    assert email.subject == f"Your order {order.number} will arrive a little later than planned"
    assert "the carrier ran into a problem on the way" in email.part("text/plain")
    # and the sweep does not tell the same date twice
    assert services.sweep_delay_notices(now=now) == 0
    assert len(delay_emails(order)) == 1
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.EXCEPTION
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1


# --- no date can be worked out: review, nobody emailed -----------------------------------------------------


def test_a_delay_without_a_new_date_waits_for_review_and_emails_nobody(
    sites,
    stock,
    products,
    order_to,
    carriers,  # noqa: F811 - the fixture imported above
):
    # given a label never bought, and every carrier service withdrawn since
    order, _ = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    for service in carriers.values():
        service.is_active = False
        service.save()
    delay_notices.active_service_terms(fresh=True)

    assert services.sweep_delay_notices(now=at(WED, 10)) == 0
    assert services.sweep_delay_notices(now=at(WED, 11)) == 0

    notice = OrderDelayNotice.objects.get(order=order)
    assert (notice.state, notice.new_estimate, notice.cause) == ("review", None, "label_late")
    assert "no active carrier service" in notice.detail
    assert not delay_emails(order)


# --- suppression ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_a_suppressed_estimate_is_never_emailed_but_a_later_one_is(sites, stock, products, order_to, role_user, roles):
    # given Wednesday's label not bought for Thursday's promise, and an associate who called the customer
    order, _ = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    associate = role_user("Operations associate")

    notice = services.suppress_delay_notice(
        order_id=order.pk, reason="Called the customer", actor=associate, now=at(WED, 9)
    )

    # then the sweep emails nobody for that estimate
    assert services.sweep_delay_notices(now=at(WED, 10)) == 0
    assert not delay_emails(order)
    assert (notice.state, notice.new_estimate, notice.cause) == ("suppressed", FRI, "label_late")
    assert (notice.suppressed_by, notice.suppressed_at, notice.suppressed_reason) == (
        associate,
        at(WED, 9),
        "Called the customer",
    )
    # and a later estimate is told as usual
    assert services.sweep_delay_notices(now=at(THU, 9)) == 1
    assert [m.context["delay"]["new_estimate"] for m in delay_emails(order)] == ["2026-11-30"]


@pytest.mark.usefixtures("carriers")
def test_suppressing_an_order_on_time_or_already_told_is_refused(sites, stock, products, order_to):
    stock(sites["EWR"], products[0], 5)
    on_time = order_to("NYC", [(products[0], 1)], promised_date=NEXT_MON, placed_at=at(MON, 8))
    with pytest.raises(OrderError) as refusal:
        services.suppress_delay_notice(order_id=on_time.pk, reason="x", actor="test", now=at(MON, 16))
    assert "by its promised Mon 30 Nov: there is no delay notice to suppress" in str(refusal.value)

    late = order_to("NYC", [(products[0], 1)], promised_date=TUE, placed_at=at(MON, 8))
    services.sweep_delay_notices(now=at(MON, 16))
    with pytest.raises(OrderError) as refusal:
        services.suppress_delay_notice(order_id=late.pk, reason="x", actor="test", now=at(MON, 16, 30))
    assert f"The customer of {late.number} was already told of Thu 26 Nov" in str(refusal.value)
    assert OrderDelayNotice.objects.filter(state="suppressed").count() == 0


# --- on each warehouse's own clock (the operations team's zone, settings.TIME_ZONE, is UTC here) ---------------

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")


def on(zone, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


@pytest.fixture
def coasts(stock, products):
    """Edison in New York's zone with the first product, Reno in Los Angeles' with the second: 15:00 cut-offs."""
    edison = make_warehouse("EWR", "08817", time_zone="America/New_York")
    reno = make_warehouse("RNO", "89501", time_zone="America/Los_Angeles")
    stock(edison, products[0], 5)
    stock(reno, products[1], 5)
    return edison, reno


@pytest.mark.usefixtures("carriers", "coasts")
def test_an_order_not_reserved_waits_for_its_own_warehouses_cut_off_not_15_utc(products, order_to):
    # given, on Monday morning, an order to New York that only Edison can fill and one to Los Angeles only Reno can
    east = order_to("NYC", [(products[0], 1)], promised_date=TUE, placed_at=on(NEW_YORK, MON, 8))
    west = order_to("LAX", [(products[1], 1)], promised_date=TUE, placed_at=on(LOS_ANGELES, MON, 8))

    # at 15:30 UTC (10:30 in New York) and a minute before Edison's 15:00 neither is in danger
    assert services.sweep_delay_notices(now=at(MON, 15, 30)) == 0
    assert services.sweep_delay_notices(now=on(NEW_YORK, MON, 14, 59)) == 0
    # a minute after Edison's 15:00 (12:01 in Los Angeles) the New York order is told, the other still makes it
    assert services.sweep_delay_notices(now=on(NEW_YORK, MON, 15, 1)) == 1
    assert not delay_emails(west)
    # a minute after Reno's 15:00 (23:01 UTC) the Los Angeles order is told too
    assert services.sweep_delay_notices(now=on(LOS_ANGELES, MON, 14, 59)) == 0
    assert services.sweep_delay_notices(now=on(LOS_ANGELES, MON, 15, 1)) == 1

    # each notice names the cut-off it missed, on its warehouse's clock
    assert OrderDelayNotice.objects.get(order=east).detail == (
        "still not reserved at EWR's 15:00 cut-off (America/New_York)"
    )
    assert OrderDelayNotice.objects.get(order=west).detail == (
        "still not reserved at RNO's 15:00 cut-off (America/Los_Angeles)"
    )
    assert [len(delay_emails(east)), len(delay_emails(west))] == [1, 1]


@pytest.mark.usefixtures("carriers", "coasts")
def test_the_not_reserved_cut_off_follows_new_york_into_summer_time(products, order_to):
    # given an order placed Friday 12 March 2027 after Edison's cut-off, promised for Tuesday 16 March; the clocks
    # go forward on Sunday, so Monday's 15:00 in New York is 19:00 UTC, no longer 20:00
    friday, monday, tuesday = dt.date(2027, 3, 12), dt.date(2027, 3, 15), dt.date(2027, 3, 16)
    order = order_to("NYC", [(products[0], 1)], promised_date=tuesday, placed_at=on(NEW_YORK, friday, 16))

    # Monday 14:59 in New York (18:59 UTC: long after 15:00 UTC) it can still be worked on Monday
    assert services.sweep_delay_notices(now=dt.datetime(2027, 3, 15, 18, 59, tzinfo=dt.UTC)) == 0
    # at 19:30 UTC, 15:30 summer time, Monday's cut-off has passed: work Tuesday, packed Wednesday, overnight Thursday
    assert services.sweep_delay_notices(now=dt.datetime(2027, 3, 15, 19, 30, tzinfo=dt.UTC)) == 1

    notice = OrderDelayNotice.objects.get(order=order)
    assert (notice.cause, notice.new_estimate) == ("not_reserved", dt.date(2027, 3, 18))
    assert monday < notice.new_estimate


@pytest.mark.usefixtures("carriers")
def test_a_label_not_bought_is_late_on_its_warehouses_date_not_the_utc_date(coasts, products, order_to):
    # given a Los Angeles order reserved at Reno on Monday 09:00 there, for Thursday: its pickup is Tuesday
    order = order_to("LAX", [(products[1], 1)], promised_date=THU, placed_at=on(LOS_ANGELES, MON, 9))
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=on(LOS_ANGELES, MON, 9))
    assert shipment.ship_date == TUE

    # at 23:30 on Tuesday in Los Angeles it is Wednesday 07:30 UTC, but Reno's ship-by day is not over
    assert services.sweep_delay_notices(now=on(LOS_ANGELES, TUE, 23, 30)) == 0
    assert not OrderDelayNotice.objects.exists()
    # when Wednesday comes in Los Angeles with no label: worked Wednesday, picked up Thursday, overnight Friday
    assert services.sweep_delay_notices(now=on(LOS_ANGELES, WED, 0, 30)) == 1

    notice = OrderDelayNotice.objects.get(order=order)
    assert (notice.cause, notice.new_estimate) == ("label_late", FRI)
    assert notice.detail == f"{shipment.number} had to ship Tue 24 Nov"


# --- a bounded number of queries, whatever the number of orders --------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_the_sweep_reads_many_orders_in_as_many_queries_as_few(sites, stock, products, order_to):
    stock(sites["EWR"], products[0], 500)

    def queries_for_sweep() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert services.sweep_delay_notices(now=at(MON, 16)) == 0
        return len(captured)

    for _ in range(3):
        shipped_order(order_to, sites, stock, products[0], promised=NEXT_MON, made=at(MON, 9))
        # still received: routed again in one pass for the chunk, their cut-off (Tuesday 15:00) not passed yet
        order_to("NYC", [(products[0], 1)], promised_date=NEXT_MON, placed_at=at(MON, 15, 30))
    few = queries_for_sweep()
    for _ in range(12):
        _, shipment = shipped_order(order_to, sites, stock, products[0], promised=NEXT_MON, made=at(MON, 9))
        label(shipment)
        order_to("NYC", [(products[1], 2), (products[0], 1)], promised_date=NEXT_MON, placed_at=at(MON, 15, 30))
    assert queries_for_sweep() == few


# --- two sweeps at once: one email --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("carriers")
def test_two_sweeps_at_once_send_one_email(sites, stock, products, order_to):
    # given Wednesday's label not bought for Thursday's promise
    order, _ = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait(timeout=10)
            results.append(services.sweep_delay_notices(now=at(WED, 10)))
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            close_old_connections()

    # when two sweeps run at once, each in its own transaction
    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then one of them told the customer, once
    assert not errors
    assert sorted(results) == [0, 1]
    assert OrderDelayNotice.objects.filter(order=order).count() == 1
    assert len(delay_emails(order)) == 1


# --- the schedule ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_beat_runs_the_sweep_every_15_minutes_and_the_task_tells_the_late(products, order_to):
    from django.conf import settings

    from orders import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-delay-notices"]
    assert (entry["task"], entry["schedule"]) == (tasks.sweep_delay_notices.name, 15 * 60)
    # given a backordered order promised for tomorrow, when beat's task runs now
    order = order_to("NYC", [(products[0], 1)], promised_date=timezone.localdate() + dt.timedelta(days=1))
    services.allocate_order(order_id=order.pk, actor="test")

    assert tasks.sweep_delay_notices.apply().get() == 1
    assert OrderDelayNotice.objects.get(order=order).state == "sent"


@pytest.mark.usefixtures("carriers")
def test_an_order_on_hold_is_left_to_the_operator_until_released(sites, stock, products, order_to):
    # given Wednesday's label not bought for Thursday's promise, and the order held for a review
    order, _ = shipped_order(order_to, sites, stock, products[0], promised=THU, made=at(MON, 9))
    services.hold_order(order_id=order.pk, reason="Fraud review", actor="test")

    assert services.sweep_delay_notices(now=at(WED, 10)) == 0
    # once released, the next sweep tells the customer
    services.release_order(order_id=order.pk, actor="test")
    assert services.sweep_delay_notices(now=at(WED, 10, 15)) == 1
    assert len(delay_emails(order)) == 1
