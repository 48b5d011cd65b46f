"""The four roles: every console page renders for each, and each is refused what it must not do."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from inventory import services as inventory
from inventory.models import RoutingExclusion, SafetyStockRule, StockLevel, Warehouse
from orders import services as order_services
from orders.models import OrderStatus
from shipping.models import Vendor
from tests.conftest import ROLES
from tests.factories import OrderFactory, ProductFactory, UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db
USERS = ["superuser", *ROLES]


@pytest.fixture
def one_of_everything(db):
    """At least one row behind every page of the console."""
    order = OrderFactory(status=OrderStatus.ALLOCATED)
    WarehouseFactory()
    interval = IntervalSchedule.objects.create(every=15, period=IntervalSchedule.MINUTES)
    CrontabSchedule.objects.create(minute="0", hour="6")
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    SolarSchedule.objects.create(event="sunrise", latitude=Decimal("32.78"), longitude=Decimal("-96.80"))
    PeriodicTask.objects.create(name="flag late", task="orders.tasks.flag_late_orders", interval=interval)
    # Inventory: a level and its ledger, an allocation (a second order, routed through the service), routing
    # rules, a cycle count, and a check run whose finding is the level below its reorder point.
    dal = Warehouse.objects.get()
    routed = OrderFactory()
    line = routed.lines.get()
    inventory.receive_stock(warehouse_id=dal.pk, product_id=line.product_id, quantity=5, actor="test")
    order_services.allocate_order(order_id=routed.pk, actor="test")
    StockLevel.objects.update(reorder_point=10)
    SafetyStockRule.objects.create(channel=order.channel, quantity=1)
    RoutingExclusion.objects.create(warehouse=dal, reason="test")
    inventory.start_cycle_count(warehouse_id=dal.pk, actor="test")
    inventory.run_inventory_check(triggered_by="test", email=False)
    # notifications: a queued message, a template override, an ops recipient list
    from notifications.models import MessageTemplate, RecipientList
    from orders.services import notify

    notify.order_received(order)
    # orders: a delay notice the customer was told of
    from orders.models import OrderDelayNotice

    OrderDelayNotice.objects.create(
        order=order,
        cause="backordered",
        promised_date=order.promised_date,
        new_estimate=order.promised_date,
        state="sent",
    )
    # orders: a business customer's setup with a contact
    from orders.models import BusinessProfile

    business = BusinessProfile.objects.create(customer=order.customer, kind="wholesale", packing_instructions="Pallets")
    business.contacts.create(email="shipping@example.com")
    MessageTemplate.objects.create(event="order_received", subject="Thanks for order {{ order.number }}")
    RecipientList.objects.get_or_create(event="order_on_hold")
    # shipping: a carrier with its rate card, the routed order's shipment labelled, a scan, a label batch
    from shipping.models import LabelBatch, Lane, TrackingEvent
    from shipping.selectors import clear_rate_cache
    from tests.shipping.conftest import make_service

    clear_rate_cache()  # rate cards are cached per process: this test's carrier, not an earlier test's
    dal.locate()
    dal.save()
    make_service(Vendor.objects.create(code="rapid", name="Rapid Air"), "2DAY", transit=2, prices="15.00")
    (shipment,) = order_services.create_shipments(order_id=routed.pk, actor="test")
    order_services.buy_labels(shipment_id=shipment.pk, actor="test")
    TrackingEvent.objects.create(  # by hand: shipping it would use up the allocation shown above
        shipment=shipment,
        tracking_number=shipment.parcels.get().tracking_number,
        status="in_transit",
        occurred_at=timezone.now(),
        source="admin",
        recorded_by="test",
    )
    LabelBatch.objects.create(label_count=1).shipments.set([shipment])
    Lane.objects.create(  # promise accuracy: a lane with one delivery
        warehouse=dal,
        destination_zip3="752",
        service=shipment.service,
        vendor=shipment.service.vendor,
        deliveries=1,
        promised=1,
        on_time=1,
        transit_median=2,
        transit_percentile=2,
    )
    # returns: an RMA with a line, an order error with its refund, the policy and its reason rules
    from orders.returns.models import (
        OrderErrorCase,
        Refund,
        ReturnPolicy,
        ReturnRequest,
        StoreCredit,
        VariantGroup,
    )

    ReturnPolicy.current()
    rma = ReturnRequest.objects.create(order=routed, reason="damaged", number="RMA-TEST")
    rma.lines.create(order_line=line, product=line.product, sku=line.sku, name=line.name, unit_price=1, quantity=1)
    case = OrderErrorCase.objects.create(order=routed, kind="late", root_cause="other", shipment=shipment)
    Refund.objects.create(order=routed, error_case=case, amount=1, currency="USD", idempotency_key="roles-test")
    # an exchange's variant group, and store credit that settled a customer's return refund
    VariantGroup.objects.create(name="Tee").products.add(line.product)
    credited = Refund.objects.create(order=routed, rma=rma, amount=1, currency="USD", idempotency_key="roles-sc")
    StoreCredit.objects.create(
        number="SC-TEST", customer=routed.customer, order=routed, refund=credited, amount=1, currency="USD"
    )
    # end returns
    # 3PL warehouses: a connection, a release of the labelled shipment, a dead message
    from orders.partners.models import PartnerConnection, PartnerMessage, PartnerRelease

    partner = PartnerConnection.objects.create(
        code="acme", name="Acme 3PL", warehouse=WarehouseFactory(), endpoint="http://127.0.0.1:9", secret="s"
    )
    release = PartnerRelease.objects.create(connection=partner, shipment=shipment, ack_due_at=timezone.now())
    PartnerMessage.objects.create(
        connection=partner, direction="out", kind="release", key="release:x:v1", release=release, status="dead"
    )
    # a typed hold on one shipment (the holds' list)
    from orders.models import Hold

    Hold.objects.create(order=routed, shipment=shipment, hold_type="stock", reason="recount", placed_by_name="test")
    # a payment transaction, a credit rule, a blocked value, an exported journal entry (accounts: the migration)
    from orders.payments import accounting as payments_accounting
    from orders.payments.models import BlockedValue, CreditRule, ExportBatch, PaymentTransaction

    PaymentTransaction.objects.create(
        order=order,
        kind="authorise",
        gateway="manual",
        amount=1,
        currency="USD",
        idempotency_key="roles",
        status="succeeded",
    )
    CreditRule.objects.create(name="Big", kind="amount_over", threshold=1000)
    BlockedValue.objects.create(kind="email", value="fraud@example.com")
    batch = ExportBatch.objects.create(export_date=timezone.localdate(), csv_content="batch\n", json_body="{}")
    payments_accounting.post_entry(
        kind="refund", currency="USD", memo="roles", legs=[("refunds", 1), ("cash", -1)], batch=batch
    )
    # CSV imports: a checked receipts file with a row to import and a bad one
    from inventory.models import ImportJob

    ImportJob.objects.create(
        kind="stock_receipt",
        status=ImportJob.Status.DRY_RUN_DONE,
        file_name="receipts.csv",
        content="warehouse,sku,quantity,reference\nDAL,TEE-M,1,PO-1\nDAL,NOPE,1,PO-1\n",
        total_rows=2,
        processed_rows=2,
        created_count=1,
        failed_count=1,
        preview=[{"row": 2, "warehouse": "DAL", "sku": "TEE-M", "quantity": 1, "reference": "PO-1"}],
        error_rows=[{"row": 3, "field": "sku", "message": "unknown SKU 'NOPE'"}],
    )
    # channels: a storefront variant mapped to a SKU
    from orders.models import ChannelVariant

    ChannelVariant.objects.create(channel=order.channel, variant_id="4471", product=line.product, title="Tee / M")
    # network coverage: a finished run (the population as demand, the network as it is)
    from orders.models import CoverageRun

    CoverageRun.objects.create(
        description="The US population (lower 48); the network as it is",
        parameters={"demand": "population", "timing": "weekday"},
        status=CoverageRun.Status.DONE,
        result={
            "assumptions": {
                "timing": "weekday",
                "instants": 1,
                "parcel_kg": "1",
                "handling_cost": "0",
                "ground_services": ["Road Ground"],
                "counted": 1,
                "left_out": 0,
            },
            "areas": [{"key": "752", "lat": 32.8, "lon": -96.8, "weight": 1.0}],
            "current": {
                "sites": [{"code": "DAL", "name": "Dallas", "lat": 32.78, "lon": -96.8, "candidate": False}],
                "figures": {
                    "within": {"1": 0.0, "2": 1.0, "3": 1.0},
                    "mean_days": 2.0,
                    "mean_cost": "8.00",
                    "unserved": 0.0,
                    "total_weight": 1.0,
                    "sites": [{"code": "DAL", "name": "Dallas", "candidate": False, "share": 1.0, "mean_days": 2.0}],
                    "area_days": {"752": 2.0},
                },
            },
            "whatif": None,
            "suggestion": None,
        },
    )
    # sign-in: a locked-out attempt and its logs; a two-factor app and recovery codes
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    seen = {"ip_address": "203.0.113.7", "user_agent": "test", "path_info": "/admin/login/", "username": "wes"}
    AccessAttempt.objects.create(**seen, failures_since_start=5, get_data="", post_data="")
    AccessLog.objects.create(**seen)
    AccessFailureLog.objects.create(**seen, locked_out=True)
    someone = UserFactory(username="two-factor-user")
    TOTPDevice.objects.create(user=someone, name="phone", confirmed=True)
    StaticDevice.objects.create(user=someone, name="Recovery codes", confirmed=True)
    # the operations manual: a procedure with its first version
    from oms_site.manual.services import create_procedure

    create_procedure(slug="holds", title="Holds", governs="hold_review", body="Read the reason.", actor=someone)
    return order


def login_as(client, who: str):
    if who == "superuser":
        user = UserFactory(username="root", is_superuser=True)
    else:
        user = UserFactory(username=who.lower().replace(" ", "-"), role=who)
    client.force_login(user)
    return user


def test_roles_exist_as_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


def test_migrate_makes_each_role_hold_exactly_the_tables_permissions():
    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    from oms_site.roles import ROLES as TABLE

    # given a role changed by hand in the console: one permission taken away, one it should not have added
    associate = Group.objects.get(name="Operations associate")
    associate.permissions.remove(Permission.objects.get(codename="view_order", content_type__app_label="orders"))
    associate.permissions.add(Permission.objects.get(codename="delete_order", content_type__app_label="orders"))

    # when the database is migrated (nothing to apply: the roles are set all the same)
    call_command("migrate", verbosity=0)

    # then every role holds exactly what the table says
    for role, names in TABLE.items():
        held = {
            f"{app}.{codename}"
            for app, codename in Group.objects.get(name=role).permissions.values_list(
                "content_type__app_label", "codename"
            )
        }
        assert held == set(names), role


@pytest.mark.parametrize("who", USERS)
def test_every_console_page_renders_or_is_refused_never_breaks(client, one_of_everything, who):
    user = login_as(client, who)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        can_view = user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )
        changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == (200 if can_view else 403), (who, opts.label, "list")

        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"no {opts.label} row to open"
        change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == (200 if can_view else 403), (who, opts.label, "change")

        add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        request = add.wsgi_request
        can_add = model_admin.has_add_permission(request)
        assert add.status_code == (200 if can_add else 403), (who, opts.label, "add")

        history = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]))
        assert history.status_code == (200 if can_view else 403), (who, opts.label, "history")


EXPECTED_PAGES = {
    # role: (may open, refused)
    "Operations manager": (
        [
            "orders_order",
            "orders_customer",
            "orders_businessprofile",
            "orders_channel",
            "orders_channelvariant",
            "inventory_product",
            "inventory_stocklevel",
            "inventory_cyclecount",
            "inventory_inventorycheckrun",
            "inventory_safetystockrule",
            "django_celery_beat_periodictask",
        ],
        ["auth_user", "auth_group"],
    ),
    "Operations associate": (
        [
            "orders_order",
            "orders_customer",
            "orders_businessprofile",
            "orders_channelvariant",
            "inventory_product",
            "inventory_warehouse",
            "inventory_stocklevel",
            "inventory_stockmovement",
            "inventory_inventorycheckrun",
        ],
        ["auth_user", "django_celery_beat_periodictask", "inventory_cyclecount"],
    ),
    "Returns associate": (
        ["orders_order", "orders_customer", "inventory_product", "inventory_stocklevel", "inventory_stockmovement"],
        [
            "auth_user",
            "django_celery_beat_periodictask",
            "inventory_cyclecount",
            "inventory_safetystockrule",
            "inventory_inventorycheckrun",
        ],
    ),
    "Warehouse staff": (
        [
            "orders_order",
            "inventory_product",
            "inventory_warehouse",
            "inventory_stocklevel",
            "inventory_stockmovement",
            "inventory_cyclecount",
        ],
        [
            "orders_customer",
            "orders_businessprofile",
            "orders_channel",
            "auth_user",
            "django_celery_beat_periodictask",
            "inventory_safetystockrule",
            "inventory_inventorycheckrun",
        ],
    ),
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_what_it_needs_and_nothing_it_must_not(client, one_of_everything, role):
    login_as(client, role)
    allowed, refused = EXPECTED_PAGES[role]
    for page in allowed:
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200, page
    for page in refused:
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 403, page


HOLD_ALLOWED = {
    "Operations manager": True,
    "Operations associate": True,
    "Returns associate": False,
    "Warehouse staff": False,
}
CANCEL_ALLOWED = {
    "Operations manager": True,
    "Operations associate": False,
    "Returns associate": False,
    "Warehouse staff": False,
}


@pytest.mark.parametrize("role", ROLES)
def test_hold_and_cancel_only_for_the_roles_that_own_them(client, one_of_everything, role):
    order = one_of_everything
    login_as(client, role)

    hold = client.post(
        reverse("admin:orders_order_act", args=["hold"]),
        {"ids": str(order.pk), "hold_type": "customer_request", "reason": "check"},
    )
    order.refresh_from_db()
    if HOLD_ALLOWED[role]:
        assert hold.status_code == 302
        assert order.status == OrderStatus.ON_HOLD
        client.post(reverse("admin:orders_order_act", args=["release"]), {"ids": str(order.pk), "reason": ""})
        order.refresh_from_db()
        assert order.status == OrderStatus.ALLOCATED
    else:
        assert hold.status_code == 403
        assert order.status == OrderStatus.ALLOCATED

    cancel = client.post(reverse("admin:orders_order_act", args=["cancel"]), {"ids": str(order.pk), "reason": "x"})
    order.refresh_from_db()
    if CANCEL_ALLOWED[role]:
        assert cancel.status_code == 302
        assert order.status == OrderStatus.CANCELLED
    else:
        assert cancel.status_code == 403
        assert order.status == OrderStatus.ALLOCATED

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert ('data-action="hold"' in page) == (HOLD_ALLOWED[role] and order.status == OrderStatus.ALLOCATED)
    assert ('data-action="cancel"' in page) == (CANCEL_ALLOWED[role] and order.status == OrderStatus.ALLOCATED)
    action_form = client.get(reverse("admin:orders_order_changelist")).context["action_form"]
    action_names = {name for name, _ in action_form.fields["action"].choices} if action_form else set()
    assert ("hold_selected" in action_names) == HOLD_ALLOWED[role]
    assert ("cancel_selected" in action_names) == CANCEL_ALLOWED[role]


@pytest.mark.parametrize("role", ["Operations associate", "Returns associate", "Warehouse staff"])
def test_only_the_manager_changes_prices(client, one_of_everything, role):
    product = ProductFactory(sku="PRICE-1", price=Decimal("10.00"))
    login_as(client, role)
    url = reverse("admin:inventory_product_change", args=[product.pk])

    response = client.post(url, {"sku": "PRICE-1", "name": product.name, "price": "1.00", "weight_kg": "0.5"})

    assert response.status_code == 403
    product.refresh_from_db()
    assert product.price == Decimal("10.00")


def test_the_manager_changes_prices(client, one_of_everything):
    product = ProductFactory(sku="PRICE-2", price=Decimal("10.00"))
    login_as(client, "Operations manager")
    url = reverse("admin:inventory_product_change", args=[product.pk])

    response = client.post(
        url,
        {
            "sku": "PRICE-2",
            "name": product.name,
            "price": "12.50",
            "unit_cost": "6.10",
            "weight_kg": "0.5",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.price, product.unit_cost) == (Decimal("12.50"), Decimal("6.10"))


def test_nobody_edits_an_order_by_hand(client, one_of_everything):
    order = one_of_everything
    login_as(client, "superuser")

    response = client.post(reverse("admin:orders_order_change", args=[order.pk]), {"status": "delivered"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
