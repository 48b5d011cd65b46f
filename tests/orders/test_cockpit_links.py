"""Every number on the cockpit links to the console list behind it, and that list counts the number.

The data set is sixty orders placed over the last eighteen days, every few hours,
across two channels and two warehouses: delivered, shipped, split, partly shipped,
open, held for each reason, cancelled; shipments left late and on time, arrivals
after and before the promise; returns, order errors, stock levels. Everything
happened before the real clock's now, which both the figures and the lists read
(the lists measure open orders' ages and the promise from it), and no open
order's age is near a whole number of days. Times are in America/Phoenix, whose
evening is the next day in UTC, so a list counting UTC days would miss.

Each figure's list is fetched as a superuser through the console and its
count (``ChangeList.result_count``) compared with the figure; a revenue's list
is summed instead (its figure is money).
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from inventory.models import StockLevel
from orders.cockpit import Chart, ListLink, Period, charts_for, kpis_for
from orders.cockpit.periods import local_date
from orders.models import OrderStatus
from orders.returns.models import OrderErrorCase, ReturnReason, ReturnRequest
from orders.services import refresh_all_shipping_facts, refresh_shipping_facts
from shipping.models import CarrierService, ShipmentStatus, Vendor
from tests.factories import ChannelFactory, ProductFactory, UserFactory, WarehouseFactory
from tests.orders.test_cockpit import figures_with_lists, hold_event, make_order, make_shipment, reserve

pytestmark = pytest.mark.django_db
S = OrderStatus
SS = ShipmentStatus
HOLD_WORDS = (
    "Credit check: rule 'Large order': 500.00 USD is over 400.00",
    "Payment declined by test_card: insufficient funds",
    "Customer asked us to wait",  # by an operator
    "Address could not be verified",
    "Shopify's totals do not add up",  # by the sales channel (recorded cause)
    "Exchange for RMA-0001: waits for the returned goods",  # an exchange's replacement (recorded cause)
)
ROOT_CAUSES = tuple(OrderErrorCase.RootCause.values)
RETURN_REASONS = (ReturnReason.DAMAGED, ReturnReason.WRONG_ITEM, ReturnReason.NO_LONGER_WANTED)


@pytest.fixture
def shop(settings):
    """The data set, built back from now; returns what the periods need."""
    settings.TIME_ZONE = "America/Phoenix"
    refresh_all_shipping_facts()  # the facts and day rollups in the ops zone, as the command leaves them
    settings.COCKPIT_CACHE_SECONDS = 60
    cache.clear()
    now = timezone.now()
    web, mkt = ChannelFactory(code="web", name="Web store"), ChannelFactory(code="mkt", name="Marketplace")
    east, west = WarehouseFactory(code="EAST"), WarehouseFactory(code="WEST")
    fast = CarrierService.objects.create(
        vendor=Vendor.objects.create(code="fast", name="Fast Freight"), code="GROUND", name="Ground", max_weight_kg=30
    )
    post = CarrierService.objects.create(
        vendor=Vendor.objects.create(code="post", name="Parcel Post"), code="GROUND", name="Ground", max_weight_kg=30
    )
    operator = UserFactory(username="dana")
    causes, reasons = itertools.cycle(ROOT_CAUSES), itertools.cycle(RETURN_REASONS)

    def before_now(moment: dt.datetime) -> dt.datetime | None:
        return moment if moment < now else None

    for i in range(60):
        # 5 h ago, then every 7 h 13 min: never within 18 minutes of a whole number of days old
        placed = now - dt.timedelta(minutes=300 + 433 * i)
        placed_day = local_date(placed)
        number = f"L{i:02d}"
        order = make_order(
            number,
            web if i % 2 == 0 else mkt,
            S.RECEIVED,
            placed,
            f"{40 + 7 * i}.00",
            promised=placed_day + dt.timedelta(days=2 + i % 3),
            currency="EUR" if i % 7 == 3 else "USD",
        )
        kind = i % 6
        if kind in (0, 1, 2, 5):
            # shipments: (warehouse, service); the split ones leave from both warehouses, every fourth a third
            # shipment that was cancelled
            legs = [(east, fast)] if kind in (0, 5) else [(west, post)]
            if kind == 1:
                legs.append((east, post))
            statuses = []
            for leg, (warehouse, service) in enumerate(legs):
                shipped = before_now(placed + dt.timedelta(hours=10 + (i + leg) % 4 * 8))
                delivered = shipped and before_now(shipped + dt.timedelta(hours=20 + (i + leg) % 5 * 10))
                if kind == 5 and leg == 0:
                    shipped = delivered = None  # partly shipped: this one waits for its label
                status = SS.DELIVERED if delivered else SS.IN_TRANSIT if shipped else SS.AWAITING_LABEL
                statuses.append(status)
                make_shipment(
                    f"{number}-{leg}",
                    order,
                    warehouse,
                    service,
                    status,
                    placed_day + dt.timedelta(days=i % 2),  # planned pickup: the day placed or the next
                    shipped,
                    delivered,
                    f"{5 + i % 4}.50",
                    currency=order.currency,
                )
            if kind == 5:
                make_shipment(f"{number}-x", order, west, post, SS.IN_TRANSIT, placed_day, placed, None, "4.00")
                statuses.append(SS.IN_TRANSIT)
            if i % 4 == 1:
                make_shipment(f"{number}-c", order, west, post, SS.CANCELLED, None, None, None, "9.00")
            order.status = _order_status(statuses)
        elif kind == 3:
            order.status = (S.ALLOCATED, S.BACKORDERED, S.CANCELLED)[i // 6 % 3]
            if order.status != S.CANCELLED:
                reserve(order, east if i % 4 == 3 else west)
        else:
            order.status = S.ON_HOLD
            words = HOLD_WORDS[i // 6 % len(HOLD_WORDS)]
            hold_event(
                order,
                placed + dt.timedelta(minutes=5),
                words,
                actor=operator if "asked" in words else None,
                cause="channel" if "Shopify" in words else "exchange" if "Exchange" in words else None,
            )
            if i % 8 == 4:
                reserve(order, east)
        order.save(update_fields=["status"])
        refresh_shipping_facts([order.pk])  # its status, as the services that ship and deliver it do

        last = order.shipments.exclude(status=SS.CANCELLED).order_by("-shipped_at").first()
        if order.status == S.DELIVERED and i % 2 == 0:
            opened = before_now(placed + dt.timedelta(days=3))
            if opened:
                ReturnRequest.objects.create(number=f"R{i:02d}", order=order, reason=next(reasons), created_at=opened)
        if last and last.shipped_at and i % 3 == 0:
            OrderErrorCase.objects.create(
                order=order,
                kind="wrong_item",
                root_cause=next(causes),
                warehouse=last.warehouse,
                vendor=last.service.vendor,
                created_at=before_now(last.shipped_at + dt.timedelta(hours=12)) or last.shipped_at,
            )

    old = WarehouseFactory(code="OLD", is_active=False)
    for warehouse, on_hand, reorder_point in (
        (east, 3, 5),  # low
        (east, 10, 5),
        (west, 5, 5),  # low: at the reorder point
        (west, 0, 0),  # no reorder point set
        (old, 1, 4),  # an inactive warehouse
    ):
        StockLevel.objects.create(
            warehouse=warehouse, product=ProductFactory(), on_hand=on_hand, reorder_point=reorder_point
        )
    return {"today": timezone.localdate(), "mkt": mkt, "east": east, "west": west}


def _order_status(shipment_statuses: list[str]) -> str:
    left = [status for status in shipment_statuses if status in (SS.IN_TRANSIT, SS.DELIVERED)]
    if not left:
        return S.ALLOCATED
    if len(left) < len(shipment_statuses):
        return S.PARTIALLY_SHIPPED
    return S.DELIVERED if all(status == SS.DELIVERED for status in left) else S.SHIPPED


def periods(shop) -> dict[str, Period]:
    today = shop["today"]
    custom = (today - dt.timedelta(days=16), today - dt.timedelta(days=4))
    return {
        "today": Period.today(),  # its previous period ends at this time of day yesterday
        "7 days": Period.last_7_days(),
        "7 days, Marketplace": Period.last_7_days(channel_id=shop["mkt"].pk),
        "7 days, EAST": Period.last_7_days(warehouse_id=shop["east"].pk),
        "custom": Period.custom(*custom),
        "custom, WEST": Period.custom(*custom, warehouse_id=shop["west"].pk),
        "custom, Marketplace": Period.custom(*custom, channel_id=shop["mkt"].pk),
    }


def chart_links(charts: dict[str, Chart]) -> list[tuple[str, ListLink]]:
    """Any list a chart links to (a dataset's or a bar's), should charts carry them."""
    found = []

    def visit(name, value):
        if isinstance(value, ListLink):
            found.append((name, value))
        elif isinstance(value, tuple | list):
            for index, item in enumerate(value):
                visit(f"{name}[{index}]", item)
        elif hasattr(value, "__dataclass_fields__"):
            for field in value.__dataclass_fields__:
                visit(f"{name}.{field}", getattr(value, field))

    for key, chart in charts.items():
        visit(key, chart)
    return found


def listed(client, link: ListLink):
    response = client.get(link.url)
    assert response.status_code == 200, link.url  # a parameter no filter takes redirects with ?e=1
    return response.context["cl"]


def test_every_figure_of_every_period_and_filter_links_to_a_list_of_as_many(shop, client, superuser):
    client.force_login(superuser)
    counted = {}

    for label, period in periods(shop).items():
        kpis = kpis_for(period, fresh=True)
        for name, figure, link in figures_with_lists(kpis):
            assert listed(client, link).result_count == figure, (label, name, link.url)
            counted[name] = counted.get(name, 0) + figure
        for amount in kpis.revenue:
            summed = listed(client, amount.link).queryset.aggregate(total=Sum("grand_total"))["total"]
            assert Decimal(summed or 0) == amount.value, (label, "revenue", amount.currency, amount.link.url)
            before = listed(client, amount.previous_link).queryset.aggregate(total=Sum("grand_total"))["total"]
            assert Decimal(before or 0) == amount.previous, (label, "revenue before", amount.previous_link.url)
        # The charts carry no links today; a link one gains is followed here.
        for _, link in chart_links(charts_for(period, fresh=True)):
            listed(client, link)

    # The data set reaches every kind of figure: each was more than zero in some period and filter.
    assert sorted(name for name, total in counted.items() if not total) == []


@pytest.mark.parametrize(
    "query",
    [
        "placed__gte=yesterday&placed__lt=2026-12-06T10:00:00%2B00:00",  # not an instant
        "placed__gte=2026-12-05T10:00:00&placed__lt=2026-12-06T10:00:00",  # no offset: whose 10:00?
        "placed__gte=2026-12-06T10:00:00%2B00:00&placed__lt=2026-12-05T10:00:00%2B00:00",  # ends before it starts
    ],
)
def test_an_instant_range_the_list_cannot_read_is_refused_not_ignored(client, superuser, query):
    client.force_login(superuser)

    response = client.get(f"/admin/orders/order/?{query}")

    assert response.status_code == 302 and response.url.endswith("?e=1")
