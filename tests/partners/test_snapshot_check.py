"""The daily inventory check on 3PL warehouses: each one's last stock snapshot, its age and its differences."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import services as inventory
from inventory.models import CycleCount, InventoryFinding, Product
from orders.partners import services
from orders.partners.models import MessageKind, PartnerConnection, StockSnapshot

pytestmark = pytest.mark.django_db
Kind = InventoryFinding.Kind
Severity = InventoryFinding.Severity


def snapshot(connection, *, as_of, stock: dict[str, int], message_id: str):
    """The 3PL's stock snapshot, received and applied as the webhook and its task do."""
    message, _ = services.receive_message(
        connection=connection,
        message_id=message_id,
        kind=MessageKind.STOCK_SNAPSHOT,
        payload={
            "as_of": as_of.isoformat(),
            "items": [{"sku": sku, "on_hand": units} for sku, units in stock.items()],
        },
    )
    services.process_message(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "applied", message.last_error
    return message


def findings(run, kind):
    return list(run.findings.filter(kind=kind).order_by("pk"))


def test_a_3pl_that_never_sent_a_snapshot_is_a_finding_an_error_once_it_should_have(connection, settings):
    settings.PARTNER_SNAPSHOT_MAX_AGE_HOURS = 26

    fresh = inventory.run_inventory_check(triggered_by="test", email=False)
    PartnerConnection.objects.filter(pk=connection.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    later = inventory.run_inventory_check(triggered_by="test", email=False)

    (new,) = findings(fresh, Kind.PARTNER_SNAPSHOT_STALE)
    assert new.severity == Severity.WARNING
    assert new.message.startswith("Acme Fulfilment at DAL has never sent a stock snapshot")
    assert new.warehouse.code == "DAL" and new.data["subject"] == "Acme Fulfilment (DAL)"
    (old,) = findings(later, Kind.PARTNER_SNAPSHOT_STALE)
    assert old.severity == Severity.ERROR
    assert later.summary["partners"][0]["as_of"] == "" and later.summary["partners"][0]["stale"]


def test_a_snapshot_older_than_the_limit_is_stale_and_twice_as_old_an_error(
    connection, products, stock, sites, settings
):
    settings.PARTNER_SNAPSHOT_MAX_AGE_HOURS = 26
    stock(sites["DAL"], products[0], 5)
    as_of = timezone.now()
    snapshot(connection, as_of=as_of, stock={"ACME-A": 5}, message_id="snap-1")

    recent = inventory.run_inventory_check(triggered_by="test", email=False, now=as_of + dt.timedelta(hours=20))
    late = inventory.run_inventory_check(triggered_by="test", email=False, now=as_of + dt.timedelta(hours=30))
    very_late = inventory.run_inventory_check(triggered_by="test", email=False, now=as_of + dt.timedelta(hours=60))

    assert findings(recent, Kind.PARTNER_SNAPSHOT_STALE) == []
    (stale,) = findings(late, Kind.PARTNER_SNAPSHOT_STALE)
    assert stale.severity == Severity.WARNING
    assert "30 hours ago (limit 26 hours)" in stale.message
    (staler,) = findings(very_late, Kind.PARTNER_SNAPSHOT_STALE)
    assert staler.severity == Severity.ERROR and "60 hours ago" in staler.message
    assert findings(late, Kind.PARTNER_SNAPSHOT_VARIANCE) == []  # it matched our book


def test_the_last_snapshot_s_differences_and_what_waits_for_a_manager_are_reported(
    connection, products, stock, sites, settings, superuser
):
    settings.PARTNER_SNAPSHOT_AUTO_UNITS = 2
    settings.PARTNER_SNAPSHOT_VARIANCE_VALUE = Decimal("500.00")
    a, b = products[:2]
    Product.objects.filter(pk=a.pk).update(unit_cost=Decimal("4.00"))
    Product.objects.filter(pk=b.pk).update(unit_cost=Decimal("10.00"))
    stock(sites["DAL"], a, 5)
    stock(sites["DAL"], b, 20)
    as_of = timezone.now()  # after the stock arrived: our book then is 5 and 20
    snapshot(connection, as_of=as_of, stock={"ACME-A": 6, b.sku: 8}, message_id="s1")

    run = inventory.run_inventory_check(triggered_by="test", email=False, now=as_of + dt.timedelta(hours=1))

    (variance,) = findings(run, Kind.PARTNER_SNAPSHOT_VARIANCE)
    assert variance.severity == Severity.WARNING  # 124.00 at cost, under the limit, but some wait for a manager
    count = CycleCount.objects.get(warehouse=sites["DAL"], status=CycleCount.Status.SUBMITTED)
    assert "2 of 2 SKUs differed from our book, 1 unit over and 12 short, 124.00 at cost" in variance.message
    assert f"1 SKU (12 units) wait for a manager in count #{count.pk}" in variance.message
    assert variance.data["units_waiting"] == 12 and variance.data["cycle_count"] == count.pk
    (line,) = run.summary["partners"]
    assert line == {
        "name": "Acme Fulfilment",
        "warehouse": "DAL",
        "as_of": line["as_of"],
        "age_hours": 1.0,
        "stale": False,
        "skus": 2,
        "skus_differing": 2,
        "units_over": 1,
        "units_short": 12,
        "value": "124.00",
        "skus_waiting": 1,
        "units_waiting": 12,
    }

    # the manager approves the count: the differences stand, nothing waits any more
    inventory.approve_cycle_count(count_id=count.pk, actor=superuser, variances_checked=True)
    decided = inventory.run_inventory_check(triggered_by="test", email=False)
    (settled,) = findings(decided, Kind.PARTNER_SNAPSHOT_VARIANCE)
    assert settled.severity == Severity.INFO and settled.message.endswith("all adjusted.")
    assert decided.summary["partners"][0]["skus_waiting"] == 0

    # differences worth the limit or more are an error
    settings.PARTNER_SNAPSHOT_VARIANCE_VALUE = Decimal("100.00")
    costly = inventory.run_inventory_check(triggered_by="test", email=False)
    assert findings(costly, Kind.PARTNER_SNAPSHOT_VARIANCE)[0].severity == Severity.ERROR


def test_an_older_snapshot_ignored_is_not_the_last_one(connection, products, stock, sites):
    a = products[0]
    stock(sites["DAL"], a, 5)
    now = timezone.now()
    snapshot(connection, as_of=now, stock={"ACME-A": 5}, message_id="newer")
    snapshot(connection, as_of=now - dt.timedelta(hours=5), stock={"ACME-A": 1}, message_id="older")

    run = inventory.run_inventory_check(triggered_by="test", email=False)

    assert StockSnapshot.objects.count() == 1
    assert findings(run, Kind.PARTNER_SNAPSHOT_VARIANCE) == []
    assert run.summary["partners"][0]["skus_differing"] == 0


def test_the_check_reads_every_3pl_in_the_same_number_of_queries(connection, products, stock, sites):
    stock(sites["DAL"], products[0], 5)
    snapshot(connection, as_of=timezone.now(), stock={"ACME-A": 9}, message_id="one")
    inventory.run_inventory_check(triggered_by="test", email=False)  # Django caches the content types it reads
    with CaptureQueriesContext(db) as one:
        inventory.run_inventory_check(triggered_by="test", email=False)

    for code in ("EWR", "RNO"):
        other = PartnerConnection.objects.create(
            code=f"p-{code.lower()}", name=f"Partner {code}", warehouse=sites[code], endpoint="http://127.0.0.1:9"
        )
        stock(sites[code], products[0], 5)
        snapshot(other, as_of=timezone.now(), stock={products[0].sku: 1}, message_id=code)
    with CaptureQueriesContext(db) as three:
        run = inventory.run_inventory_check(triggered_by="test", email=False)

    assert len(run.summary["partners"]) == 3
    assert run.summary["totals"][Kind.PARTNER_SNAPSHOT_VARIANCE] == 3
    assert len(three.captured_queries) == len(one.captured_queries)


def test_the_report_email_and_page_show_each_3pl_s_last_snapshot(
    connection, products, stock, sites, settings, client, superuser
):
    settings.OPS_EMAILS = ["ops@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    stock(sites["DAL"], products[0], 5)
    snapshot(connection, as_of=timezone.now(), stock={"ACME-A": 4}, message_id="snap")

    run = inventory.run_inventory_check(triggered_by="test")

    (email,) = mail.outbox
    assert "3PL stock snapshot variance: 1" in email.body
    assert "Acme Fulfilment (DAL): as of" in email.body
    assert "1 of 1 SKUs differing, +0 / -1 units" in email.body
    html = email.alternatives[0][0]
    assert "3PL warehouses: last stock snapshot" in html and "Acme Fulfilment (DAL)" in html

    client.force_login(superuser)
    page = client.get(f"/admin/inventory/inventorycheckrun/{run.pk}/change/").content.decode()
    assert 'id="check-partners"' in page
    row = page.split('data-partner="DAL"', 1)[1].split("</tr>", 1)[0]
    assert "Acme Fulfilment" in row and "1 of 1" in row and "none" in row
