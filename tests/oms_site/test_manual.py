"""The operations manual's console pages: every staff role reads them, and each section says what the
configuration is now, so a change of a rule shows the next time the page is opened, with who and when."""

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from notifications.models import MessageTemplate
from oms_site import roles as role_table
from oms_site.celery import app
from oms_site.manual.sections import SECTIONS
from orders.models import ORDER_TRANSITIONS, OrderStatus
from orders.payments.models import CreditRule
from orders.returns.models import ReturnPolicy
from shipping.models import CarrierService, TransitTime, Vendor
from tests.factories import UserFactory, WarehouseFactory
from tests.oms_site.test_change_history import submit_change_form

pytestmark = pytest.mark.django_db

ROLE_NAMES = list(role_table.ROLES)


def text(response) -> str:
    """The page's words as a reader sees them: tags dropped, entities decoded, spaces collapsed."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def block(response, start: str, end: str = "</table>") -> str:
    """The words of the page from the first ``start`` (markup) to the next ``end``."""
    body = response.content.decode()
    first = body.index(">", body.index(start)) + 1  # after the tag that holds ``start``
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body[first : body.index(end, first)])).split())


def set_in(response) -> list[str]:
    """The console lists the section's "Set in the console" line links to."""
    body = response.content.decode()
    if 'id="manual-set-in"' not in body:
        return []
    line = body.split('id="manual-set-in"', 1)[1].split("</p>", 1)[0]
    return re.findall(r'href="([^"]+)"', line)


@pytest.fixture
def manager(roles):
    return UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role=role_table.OPERATIONS_MANAGER)


@pytest.fixture
def carrier(db):
    vendor = Vendor.objects.create(code="rapid", name="Rapid Air", tracking_prefix="RA", tracking_digits=10)
    service = CarrierService.objects.create(vendor=vendor, code="2DAY", name="Two day", max_weight_kg=Decimal("30"))
    for zone in range(2, 9):
        TransitTime.objects.create(service=service, zone=zone, business_days=2)
    return service


# --- who reads it ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_staff_role_reads_every_page_of_the_manual(client, roles, role):
    # every page, but those that show what the role may not see elsewhere (a business customer's credit)
    user = UserFactory(username="reader", role=role)
    client.force_login(user)

    contents = client.get("/admin/manual/")
    assert contents.status_code == 200
    for section in SECTIONS.values():
        if section.permission and not user.has_perm(section.permission):
            assert client.get(f"/admin/manual/{section.key}/").status_code == 404, section.key
            continue
        assert section.title in text(contents)
        page = client.get(f"/admin/manual/{section.key}/")
        assert page.status_code == 200, section.key
        assert section.title in text(page)
    # and the sidebar offers it
    assert 'href="/admin/manual/"' in contents.content.decode()


def test_staff_without_a_role_and_strangers_do_not_read_it(client, roles):
    client.force_login(UserFactory(username="no-role"))
    assert client.get("/admin/manual/").status_code == 403
    assert client.get("/admin/manual/routing/").status_code == 403
    assert client.get("/admin/manual/operations-manual.pdf").status_code == 403
    client.logout()
    response = client.get("/admin/manual/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_each_reader_is_sent_only_to_the_console_lists_they_may_open(client, roles):
    client.force_login(UserFactory(username="wes", role=role_table.WAREHOUSE_STAFF))
    assert set_in(client.get("/admin/manual/routing/")) == ["/admin/inventory/warehouse/"]
    assert set_in(client.get("/admin/manual/credit/")) == []


def test_an_unknown_section_is_not_found(client, manager):
    client.force_login(manager)
    assert client.get("/admin/manual/nothing-here/").status_code == 404


# --- order states ----------------------------------------------------------------------------------------


def test_the_states_page_draws_the_order_state_table_as_it_is_defined(client, manager):
    client.force_login(manager)

    page = client.get("/admin/manual/states/")

    body = page.content.decode()
    diagram = body[body.index('<svg xmlns="http://www.w3.org/2000/svg" class="manual-diagram" id="order-diagram"') :]
    diagram = diagram[: diagram.index("</svg>")]
    # one box per status and one arrow per allowed move, from the table beside the order model
    for status in OrderStatus:
        assert f'data-status="{status.value}"' in diagram
    arrows = set(re.findall(r'data-from="([a-z_]+)" data-to="([a-z_]+)"', diagram))
    assert arrows == {(source, target) for source, targets in ORDER_TRANSITIONS.items() for target in targets}
    assert "<script" not in diagram and "style=" not in diagram
    assert "Defined in code" in text(page) and "orders/models.py (ORDER_TRANSITIONS)" in text(page)
    received = block(page, '<tr data-status="received"', "</tr>")
    assert received == "Received Allocated, Backordered, On hold, Cancelled"
    assert "An order taken off hold goes back to the status it was held from." in text(page)


def test_a_move_added_to_the_state_table_shows_on_the_diagram(client, manager, monkeypatch):
    client.force_login(manager)
    monkeypatch.setitem(ORDER_TRANSITIONS, OrderStatus.DELIVERED, frozenset({OrderStatus.SHIPPED}))

    page = client.get("/admin/manual/states/")

    assert 'data-from="delivered" data-to="shipped"' in page.content.decode()
    assert block(page, '<tr data-status="delivered"', "</tr>") == "Delivered Shipped"


# --- routing ---------------------------------------------------------------------------------------------


def test_a_warehouse_cut_off_changed_in_the_console_shows_in_the_routing_rules_with_who_and_when(client, manager):
    warehouse = WarehouseFactory(
        code="DAL", name="Dallas", daily_cutoff=dt.time(15, 0), time_zone="America/Chicago", daily_order_capacity=400
    )
    client.force_login(manager)
    before = client.get("/admin/manual/routing/")
    row = block(before, "<td>DAL</td>", "</tr>")
    assert "15:00" in row and "America/Chicago" in row and "400" in row

    # when the manager moves the cut-off to 13:30 in the warehouse's console page
    response = submit_change_form(client, f"/admin/inventory/warehouse/{warehouse.pk}/change/", daily_cutoff="13:30")
    assert response.status_code == 302

    # then the manual says so at once, and who did it
    after = client.get("/admin/manual/routing/")
    row = block(after, "<td>DAL</td>", "</tr>")
    assert "13:30" in row and "15:00" not in row
    assert "by Maya Lindqvist: Warehouse “DAL · Dallas” changed" in text(after)
    # the warehouses' table says it too; the exclusions' table, untouched, does not
    assert "Last changed" in block(after, "<h3", "<h3") and "by Maya Lindqvist" in block(after, "<h3", "<h3")
    # and says where the rules are set
    assert set_in(after) == [
        "/admin/inventory/warehouse/",
        "/admin/inventory/safetystockrule/",
        "/admin/inventory/routingexclusion/",
    ]
    # the columns are the model's fields: cut-off, processing days and the time zone among them
    headers = block(after, "<thead>", "</thead>")
    for title in ("Priority", "Time zone", "Daily cut-off", "Processing days", "Daily order capacity"):
        assert title in headers


# --- carriers ----------------------------------------------------------------------------------------------


def test_a_services_transit_days_changed_show_in_vendors_and_services(client, manager, carrier):
    client.force_login(manager)
    assert block(client.get("/admin/manual/carriers/"), 'data-service="2DAY"', "</tr>") == (
        "2DAY · Two day 2 2 2 2 2 2 2"
    )

    transit = TransitTime.objects.get(service=carrier, zone=8)
    transit.business_days = 4
    transit._history_user = manager  # as the console's history middleware records the person behind a save
    transit.save()

    page = client.get("/admin/manual/carriers/")
    assert block(page, 'data-service="2DAY"', "</tr>") == "2DAY · Two day 2 2 2 2 2 2 4"
    assert "by Maya Lindqvist: Transit time" in text(page)


# --- credit rules and holds ----------------------------------------------------------------------------------


def test_credit_rules_and_the_hold_causes_show_as_defined(client, manager):
    CreditRule.objects.create(name="Big orders", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("500.00"))
    client.force_login(manager)

    page = client.get("/admin/manual/credit/")

    words = text(page)
    assert "Big orders Order total over a threshold 500" in words
    from orders.events import HOLD_CAUSES

    for cause, label in HOLD_CAUSES.items():
        assert f"{label} {cause}" in block(page, 'id="hold-causes"')

    rule = CreditRule.objects.get(name="Big orders")
    rule.threshold = Decimal("750.00")
    rule._history_user = manager
    rule.save()
    assert "Big orders Order total over a threshold 750" in text(client.get("/admin/manual/credit/"))


def test_each_hold_type_names_the_roles_that_may_release_it_as_the_roles_are_now(client, manager):
    from django.contrib.auth.models import Group, Permission

    client.force_login(manager)
    types = block(client.get("/admin/manual/credit/"), 'id="hold-types"')
    assert "Fraud review fraud_review Operations manager" in types
    assert "Fraud review fraud_review Operations associate" not in types
    assert "Stock stock Operations associate, Operations manager" in types

    # a manager gives the associates fraud reviews: the manual says so at once
    Group.objects.get(name="Operations associate").permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="release_fraud_review_hold")
    )
    types = block(client.get("/admin/manual/credit/"), 'id="hold-types"')
    assert "Fraud review fraud_review Operations associate, Operations manager" in types


# --- the return policy ----------------------------------------------------------------------------------------


def test_the_return_window_shows_as_set(client, manager):
    client.force_login(manager)
    policy = ReturnPolicy.current()
    assert f"{policy.window_days}" in block(client.get("/admin/manual/returns/"), "<tbody>", "</tbody>")

    policy.window_days = 45
    policy._history_user = manager
    policy.save()

    page = client.get("/admin/manual/returns/")
    assert "45" in block(page, "<tbody>", "</tbody>")
    assert "by Maya Lindqvist: Return policy" in text(page)


# --- notifications -----------------------------------------------------------------------------------------


def test_a_notification_template_changed_in_the_console_shows_with_its_new_subject(client, manager):
    client.force_login(manager)
    before = block(client.get("/admin/manual/notifications/"), 'data-event="order_shipped"', "</tr>")
    assert "The default files" in before

    override = MessageTemplate(event="order_shipped", subject="Your parcel {{ order.number }} is on its way")
    override.updated_by = "maya"
    override._history_user = manager
    override.save()

    page = client.get("/admin/manual/notifications/")
    after = block(page, 'data-event="order_shipped"', "</tr>")
    assert "Changed in the console by maya" in after
    assert "Subject (changed) Your parcel {{ order.number }} is on its way" in after
    assert "by Maya Lindqvist: Message template" in text(page)


# --- schedules ------------------------------------------------------------------------------------------


def test_the_schedules_come_from_the_settings_then_from_the_database_as_operators_change_them(client, manager):
    client.force_login(manager)
    # before beat has ever run: the settings' schedule
    page = client.get("/admin/manual/schedules/")
    for name in settings.CELERY_BEAT_SCHEDULE:
        assert f'data-schedule="{name}"' in page.content.decode()
    daily = block(page, 'data-schedule="daily-inventory-check"', "</tr>")
    assert "At 06:00" in daily and "not yet in the database" in daily
    assert "every 30 seconds" in block(page, 'data-schedule="sweep-outbox"', "</tr>")
    assert "every 15 minutes" in block(page, 'data-schedule="flag-late-orders"', "</tr>")

    # beat copies the schedule into the database; an operator moves the daily check to 07:30
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, app=app, **entry)
    task = PeriodicTask.objects.get(name="daily-inventory-check")
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="7", timezone=settings.CELERY_TIMEZONE)
    task.save()

    page = client.get("/admin/manual/schedules/")
    daily = block(page, 'data-schedule="daily-inventory-check"', "</tr>")
    assert "At 07:30" in daily and "At 06:00" not in daily
    assert "Schedule “daily-inventory-check” changed" in text(page)

    # a schedule switched off in the console's periodic task page: off, and who did it
    sweep = PeriodicTask.objects.get(name="sweep-payments")
    response = submit_change_form(client, f"/admin/django_celery_beat/periodictask/{sweep.pk}/change/", enabled="")
    assert response.status_code == 302
    page = client.get("/admin/manual/schedules/")
    assert "No" in block(page, 'data-schedule="sweep-payments"', "</tr>").split("minutes", 1)[1]
    assert "by Maya Lindqvist: Periodic task “sweep-payments" in text(page)


# --- roles ------------------------------------------------------------------------------------------------


def test_a_permission_added_to_a_role_shows_under_that_role(client, manager, monkeypatch):
    client.force_login(manager)
    warehouse = role_table.WAREHOUSE_STAFF
    before = block(client.get("/admin/manual/roles/"), f'data-role="{warehouse}"')
    assert "Can receive stock" in before and "Can cancel order" not in before

    monkeypatch.setitem(role_table.ROLES, warehouse, [*role_table.ROLES[warehouse], "orders.cancel_order"])

    page = client.get("/admin/manual/roles/")
    after = block(page, f'data-role="{warehouse}"')
    assert "Can cancel order" in after
    # the group in the database still has the old set until the next migrate: the page says so
    assert "In the table but taken away by hand: Can cancel order" in text(page)
    assert "oms_site/roles.py (ROLES)" in text(page)


def test_the_contents_page_says_when_each_part_last_changed(client, manager):
    WarehouseFactory(code="RNO", name="Reno")
    client.force_login(manager)

    page = client.get("/admin/manual/")

    routing = block(page, 'data-section="routing"', "</li>")
    assert "Last changed" in routing and "Warehouse “RNO · Reno” added" in routing
    states = block(page, 'data-section="states"', "</li>")
    assert "Defined in code, changed with a release" in states
