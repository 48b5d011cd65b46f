"""Intake's one write path, on SQLite and PostgreSQL: one read, then every row of a new order written together
(one statement on PostgreSQL, one transaction on SQLite), the same rows as Model.save writes."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.db.models.expressions import DatabaseDefault

from inventory.models import Product
from notifications.models import Message
from orders import services
from orders.exceptions import IntakeConflict
from orders.models import Address, Customer, Order, OrderEvent, OrderIntake, OrderLine, OrderStatus, OrderStatusLink
from orders.services import _statement, intake, notify
from orders.services._statement import OneStatement, SkippedOnConflict
from tests.factories import CustomerFactory, OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db
TABLES = [Customer, Address, Order, OrderLine, OrderEvent, OrderIntake, OrderStatusLink, Message]
PLACED_AT = dt.datetime(2026, 11, 20, 14, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture
def catalogue(db):
    return [ProductFactory(sku="TEE-M", name="Tee M"), ProductFactory(sku="MUG-WHT", name="Mug white")]


def order_data(external_id="web-1001", **overrides) -> services.OrderData:
    """An order whose customer's email carries its external id (so two placements have two customers)."""
    values = {
        "external_id": external_id,
        "customer": services.CustomerData(
            name="  Zoë Álvarez ", email=f"{external_id.upper()}@Example.COM", phone="+1 614 555 0100"
        ),
        "shipping_address": services.AddressData(
            name=" Zoë Álvarez", line1="12 Oak Ave ", city="Columbus", state="OH", postal_code="43215 "
        ),
        "billing_address": services.AddressData(
            name="Zoë Álvarez",
            company="Álvarez & Co",
            line1="1 Market St",
            line2="Floor 3",
            city="Toronto",
            state="ON",
            postal_code="M5V 2T6",
            country="ca",
        ),
        "lines": [
            services.LineData(sku="TEE-M", quantity=2, unit_price=Decimal("24")),
            services.LineData(sku="MUG-WHT", quantity=1, unit_price=Decimal("18.505")),
        ],
        "currency": "usd",
        "shipping_total": Decimal("5.99"),
        "tax_total": Decimal("5.49"),
        "discount_total": Decimal("2.00"),
        "promised_date": dt.date(2026, 12, 1),
        "placed_at": PLACED_AT,
        "extra": {"note": "gift wrap"},
    }
    values.update(overrides)
    return services.OrderData(**values)


def as_stored(field: models.Field, value):
    """A value as it reads back from its column (JSON as its encoder writes it: decimals become strings)."""
    if isinstance(field, models.JSONField):
        return json.loads(json.dumps(value, cls=field.encoder))
    return value


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def written(before: dict[str, int]) -> dict[str, int]:
    return {name: count - before[name] for name, count in counts().items()}


def rows_of(order: Order) -> dict[str, list[dict]]:
    """Every row written for the order, column by column, without ids, timestamps and what its ids make.

    Strings made from the external id, the order number or the order id are replaced by placeholders.
    """
    order = Order.objects.select_related("customer", "shipping_address", "billing_address").get(pk=order.pk)
    tables = {
        "customer": [order.customer],
        "shipping address": [order.shipping_address],
        "billing address": [order.billing_address],
        "order": [order],
        "lines": list(order.lines.order_by("pk")),
        "events": list(order.events.order_by("pk")),
        "intake": [OrderIntake.objects.get(order=order)],
        "status link": list(OrderStatusLink.objects.filter(order=order)),
        "outbox": list(Message.objects.filter(order=order).order_by("pk")),
    }

    def scrub(value, key=None):
        if isinstance(value, dict):
            return {k: scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if key == "id" and value == order.pk:
            return "<order id>"
        if key in ("nonce", "token_digest"):  # random per link
            return f"<{key}>"
        if isinstance(value, str):
            value = value.replace(order.number, "<number>").replace(order.external_id, "<external id>")
            if value.startswith(f"{order.pk}:"):  # an outbox key
                value = "<order id>" + value.removeprefix(str(order.pk))
        return value

    def columns(row: models.Model) -> dict:
        found = {
            field.name: scrub(getattr(row, field.attname), field.name)
            for field in row._meta.concrete_fields
            if not (field.primary_key or field.is_relation or isinstance(field, models.DateTimeField))
            and field.name != "uid"  # a random UUID per outbox row
        }
        if isinstance(row, OrderIntake):  # the hash of a payload that holds the external id
            assert found["fingerprint"] == intake.fingerprint(row.payload)
            found["fingerprint"] = "<sha-256 of the payload>"
        return found

    return {name: [columns(row) for row in rows] for name, rows in tables.items()}


ONE_ORDER = {
    "Customer": 1,
    "Address": 2,
    "Order": 1,
    "OrderLine": 2,
    "OrderEvent": 1,
    "OrderIntake": 1,
    "OrderStatusLink": 0,  # made when the confirmation is sent
    "Message": 1,
}


def saved_by_the_orm(channel, data: services.OrderData, actor) -> Order:
    """The same order's rows as Model.save writes them, one at a time: what the intake's rows are compared with."""
    products = {product.sku: product for product in Product.objects.all()}
    payload = intake.canonical_payload(data)
    with transaction.atomic():
        customer = intake._new_customer(data.customer)
        customer.save()
        shipping_address = intake.order_address(data.shipping_address)
        shipping_address.save()
        billing_address = intake.order_address(data.billing_address)
        billing_address.save()
        order = intake._build_order(
            channel=channel,
            data=data,
            customer=customer,
            shipping_address=shipping_address,
            billing_address=billing_address,
        )
        order.save()
        order.number = services.format_order_number(order.pk)
        order.save(update_fields=["number"])
        lines, event = intake._build_contents(order=order, channel=channel, data=data, products=products, actor=actor)
        for line in lines:
            line.save()
        event.save()
        OrderIntake(
            order=order, source=OrderIntake.Source.ADMIN, fingerprint=intake.fingerprint(payload), payload=payload
        ).save(force_insert=True)
        notify.order_received(order, lines=lines)
    return order


def test_the_intake_writes_the_same_rows_as_model_save(channel, catalogue):
    # given an order placed by the intake
    before = counts()
    placed, created = services.place_order(channel=channel, data=order_data("web-one"), actor="channel: webstore")
    by_intake = written(before)

    # when the same order, under another external id, is saved row by row through the ORM
    before = counts()
    saved = saved_by_the_orm(channel, order_data("web-orm"), actor="channel: webstore")
    by_orm = written(before)

    # then both wrote one row of each kind (two addresses, two lines), and the rows are the same, column by column
    assert created
    assert by_intake == by_orm == ONE_ORDER
    assert rows_of(placed) == rows_of(saved)
    # and the intake's rows hang together
    order = Order.objects.get(pk=placed.pk)
    assert order.number == f"SO-{order.pk:07d}"
    # the order keeps its own addresses, outside the address book
    assert order.shipping_address.customer_id is None and order.billing_address.customer_id is None
    assert order.shipping_address_id != order.billing_address_id
    assert order.intake.order_id == order.pk
    assert Message.objects.get(order=order).recipient == order.customer.email
    # and the values are the canonical ones, not only equal
    assert rows_of(placed)["customer"][0]["email"] == "<external id>@example.com"
    assert rows_of(placed)["billing address"][0]["country"] == "CA"
    assert [line["unit_price"] for line in rows_of(placed)["lines"]] == [Decimal("24.00"), Decimal("18.50")]
    assert rows_of(placed)["events"][0]["message"] == "Order placed on Web store as <external id>."


def test_the_order_takes_the_id_the_table_would_give_and_orders_saved_after_it_follow(channel, catalogue):
    # given an order saved through the ORM
    before = OrderFactory(channel=channel)

    # when the intake places one, and the ORM saves another
    placed, _ = services.place_order(channel=channel, data=order_data(), actor=None)
    after = OrderFactory(channel=channel)

    # then the ids follow one another: the intake took its id from the table's own sequence
    assert before.pk < placed.pk < after.pk
    assert placed.number == services.format_order_number(placed.pk)


def test_the_order_returned_is_the_order_written(channel, catalogue):
    # when an order is placed
    order, _ = services.place_order(channel=channel, data=order_data(), actor="channel: webstore")

    # then what the caller holds (the API answers from it) is what the database has, ids and timestamps included
    def values(row):
        return {field.attname: as_stored(field, getattr(row, field.attname)) for field in row._meta.concrete_fields}

    assert values(order) == values(Order.objects.get(pk=order.pk))
    assert [values(line) for line in order.placed_lines] == [values(line) for line in order.lines.order_by("pk")]
    assert values(order.placed_event) == values(order.events.get())
    assert values(order.customer) == values(Customer.objects.get(pk=order.customer_id))
    assert values(order.shipping_address) == values(Address.objects.get(pk=order.shipping_address_id))
    assert values(order.billing_address) == values(Address.objects.get(pk=order.billing_address_id))


def test_without_a_billing_address_the_shipping_address_is_both(channel, catalogue):
    before = counts()

    order, _ = services.place_order(channel=channel, data=order_data(billing_address=None), actor=None)

    order = Order.objects.get(pk=order.pk)
    assert order.billing_address_id == order.shipping_address_id
    assert written(before)["Address"] == 1


def test_an_existing_customer_is_used_as_stored(channel, catalogue):
    # given a customer stored under the email, with another name, phone and preference
    stored = CustomerFactory(email="web-1001@example.com", name="Zoë Stored", phone="555 0000", accepts_marketing=True)
    before = counts()

    # when an order arrives with that email (another case) and other details
    order, _ = services.place_order(channel=channel, data=order_data(), actor=None)

    # then the order is the stored customer's, who is unchanged, and the confirmation greets them by that name
    assert Order.objects.get(pk=order.pk).customer_id == stored.pk
    assert written(before)["Customer"] == 0
    assert Customer.objects.values("name", "phone", "accepts_marketing").get(pk=stored.pk) == {
        "name": "Zoë Stored",
        "phone": "555 0000",
        "accepts_marketing": True,
    }
    confirmation = Message.objects.get(order_id=order.pk, event="order_received")
    assert confirmation.context["customer"]["name"] == "Zoë Stored"
    # and the order's address is its own copy, outside the customer's address book
    assert Address.objects.get(pk=Order.objects.get(pk=order.pk).shipping_address_id).customer_id is None


def test_a_customer_stored_meanwhile_is_used_as_stored(channel, catalogue, monkeypatch):
    # given a request that finds no customer with the email, then another request stores one first
    reserve = intake._reserve

    def reserve_then_lose_the_race(channel, data):
        reserved = reserve(channel, data)
        if not Customer.objects.filter(email="web-1001@example.com").exists():  # the first read only
            assert reserved.customer is None
            CustomerFactory(email="web-1001@example.com", name="Zoë Stored", phone="555 0000")
        return reserved

    monkeypatch.setattr(intake, "_reserve", reserve_then_lose_the_race)

    # when the order is written
    order, _ = services.place_order(channel=channel, data=order_data(), actor=None)

    # then it is the stored customer's order, and it reads as theirs, as the ORM's get_or_create would have it
    stored = Customer.objects.get(email="web-1001@example.com")
    assert Order.objects.get(pk=order.pk).customer_id == stored.pk
    assert stored.name == "Zoë Stored"
    assert Message.objects.get(order_id=order.pk).context["customer"]["name"] == "Zoë Stored"
    assert (order.customer.name, order.customer.phone) == ("Zoë Stored", "555 0000")


def test_a_replay_returns_the_order_and_writes_nothing(channel, catalogue):
    # given an order placed once
    first, _ = services.place_order(channel=channel, data=order_data(), actor=None)
    before = counts()

    # when the channel sends it again (another time of sending, the same order)
    again, created = services.place_order(
        channel=channel, data=order_data(placed_at=PLACED_AT + dt.timedelta(minutes=5)), actor=None
    )

    # then it is the same order, and no table has a row more
    assert (again.pk, created) == (first.pk, False)
    assert written(before) == dict.fromkeys(ONE_ORDER, 0)


def test_another_order_under_a_used_external_id_is_a_conflict(channel, catalogue):
    # given an order placed once
    first, _ = services.place_order(channel=channel, data=order_data(), actor=None)
    before = counts()

    # when another order arrives under its external id
    changed = order_data(lines=[services.LineData(sku="TEE-M", quantity=3, unit_price=Decimal("24"))])
    with pytest.raises(IntakeConflict) as conflict:
        services.place_order(channel=channel, data=changed, actor=None)

    # then it is refused naming the order, and nothing is written
    assert conflict.value.order.pk == first.pk
    assert written(before) == dict.fromkeys(ONE_ORDER, 0)


def test_an_order_placed_meanwhile_under_the_external_id_wins_and_the_transaction_goes_on(
    channel, catalogue, monkeypatch, django_capture_on_commit_callbacks
):
    # given a request that finds the external id free, then another request places that order first
    data = order_data()
    reserve = intake._reserve
    theirs = {}

    def reserve_then_lose_the_race(channel, data):
        reserved = reserve(channel, data)
        if theirs:  # read again after losing: theirs is there
            return reserved
        assert not reserved.taken
        with monkeypatch.context() as unpatched:
            unpatched.setattr(intake, "_reserve", reserve)
            theirs["order"], _ = services.place_order(channel=channel, data=data, actor=None, route=False)
        return reserved

    monkeypatch.setattr(intake, "_reserve", reserve_then_lose_the_race)

    # when ours is written, inside the caller's transaction
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        before = counts()
        order, created = services.place_order(channel=channel, data=data, actor=None)
        # then the caller's transaction is still usable, and only their rows were written, none of ours
        assert written(before) == ONE_ORDER
        Order.objects.filter(pk=order.pk).update(promised_date=dt.date(2026, 12, 24))

    # and the order placed first is returned, with nothing queued after commit for ours
    assert (order.pk, created) == (theirs["order"].pk, False)
    assert Order.objects.get(pk=order.pk).promised_date == dt.date(2026, 12, 24)
    assert len(callbacks) == 1  # theirs: its confirmation's dispatch


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_order_is_committed_routed_and_confirmed(channel, catalogue, sites, stock):
    # given stock for the order
    for product in catalogue:
        stock(sites["EWR"], product, 5)

    # when it is placed with no transaction open (the write is its own)
    assert not connection.in_atomic_block
    order, _ = services.place_order(channel=channel, data=order_data(billing_address=None), actor=None)

    # then the after-commit work ran at once (tasks in-process): routed, and the confirmation sent
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ALLOCATED
    assert Message.objects.get(order=order, event="order_received").status == Message.Status.SENT
    assert ["web-1001@example.com"] in [sent.to for sent in mail.outbox]


# --- OneStatement: PostgreSQL's one statement, SQLite's INSERT a table -------------------


def customer(email: str = "kim@example.com", **fields) -> Customer:
    return Customer(email=email, name=fields.pop("name", "Kim"), **fields)


def address(**fields) -> Address:
    return Address(**{"name": "Kim", "line1": "1 Elm St", "city": "Columbus", "postal_code": "43215", **fields})


def test_a_step_needs_rows_of_one_model():
    statement = OneStatement()

    with pytest.raises(ValueError, match="at least one row"):
        statement.add([])
    with pytest.raises(ValueError, match="one model"):
        statement.add([customer(), address()])


def test_a_reference_must_name_a_one_row_step_added_before():
    statement = OneStatement()
    two = statement.add([customer("a@example.com"), customer("b@example.com")])

    with pytest.raises(ValueError, match="one-row step added before: 'w1'"):
        statement.add([address()], refs={"customer_id": "w1"})  # the alias the next step would get
    with pytest.raises(ValueError, match="one-row step added before"):
        statement.add([address()], refs={"customer_id": two})
    assert len(statement.steps) == 1


def test_rows_and_references_get_their_ids(db):
    # given a customer, two addresses referring to it, and three products
    statement = OneStatement()
    kim = customer()
    homes = [address(line2="Apt 1"), address(line2="Apt 2")]
    products = [Product(sku=f"ONE-{n}", name=f"One {n}", price=Decimal(n)) for n in (3, 1, 2)]
    alias = statement.add([kim])
    statement.add(homes, refs={"customer_id": alias})
    statement.add(products)

    # when the statement is executed
    statement.execute()

    # then each instance holds the id of its own row, and each reference the customer
    assert Customer.objects.get(pk=kim.pk).email == "kim@example.com"
    assert [Address.objects.get(pk=home.pk).line2 for home in homes] == ["Apt 1", "Apt 2"]
    assert [Address.objects.get(pk=home.pk).customer_id for home in homes] == [kim.pk, kim.pk]
    assert all(home.customer is kim and not home._state.adding for home in homes)
    assert [Product.objects.get(pk=product.pk).sku for product in products] == ["ONE-3", "ONE-1", "ONE-2"]


def test_a_conflicting_row_can_stand_for_the_stored_one(db):
    # given a stored customer
    stored = CustomerFactory(email="kim@example.com", name="Kim Stored")
    statement = OneStatement()
    alias = statement.add([customer(name="Kim New")], on_conflict="(email) DO UPDATE SET email = EXCLUDED.email")
    home = address()
    statement.add([home], refs={"customer_id": alias})

    # when the statement writes a customer with that email
    statement.execute()

    # then the stored customer stands, unchanged, and the address refers to it
    assert Customer.objects.filter(email="kim@example.com").count() == 1
    assert Customer.objects.get(pk=stored.pk).name == "Kim Stored"
    assert Address.objects.get(pk=home.pk).customer_id == stored.pk


def test_a_row_left_out_by_a_conflict_and_referred_to_makes_the_write_write_nothing(channel):
    # given a stored customer, and an order of a new customer with that email, left out on conflict
    CustomerFactory(email="kim@example.com", name="Kim Stored")
    before = counts()
    statement = OneStatement()
    kim = statement.add([customer(name="Kim New")], on_conflict="(email) DO NOTHING")
    home = statement.add([address()])
    order = Order(channel=channel, external_id="web-1", currency="USD", placed_at=PLACED_AT)
    statement.add([order], refs={"customer_id": kim, "shipping_address_id": home})

    # when it is executed
    with pytest.raises(SkippedOnConflict) as skipped:
        statement.execute()

    # then it names the row that was not written, and nothing was
    assert skipped.value.model is Customer
    assert written(before) == dict.fromkeys(ONE_ORDER, 0)


def test_a_row_a_conflict_may_leave_out_is_referred_to_by_a_not_null_column_only():
    # given a customer that a conflict may leave out
    statement = OneStatement()
    kim = statement.add([customer()], on_conflict="(email) DO NOTHING")

    # when an address (whose customer may be NULL) refers to it, it is refused: the write could not fail whole
    with pytest.raises(ValueError, match="NOT NULL column: customer_id"):
        statement.add([address()], refs={"customer_id": kim})


def test_a_database_default_is_left_to_the_database(db):
    # given a product whose unit cost is left to the database's default
    field = Product._meta.get_field("unit_cost")
    product = Product(sku="DB-DEFAULT", name="Default cost", price=Decimal("9.00"))
    product.unit_cost = DatabaseDefault(field._db_default_expression, output_field=field)
    statement = OneStatement()
    statement.add([product])

    # when it is written
    statement.execute()

    # then the column was not written (an expression as a value is refused), and the row has the database's default
    assert Product.objects.get(pk=product.pk).unit_cost == Decimal("0.00")


def test_other_expressions_are_refused(db):
    statement = OneStatement()
    statement.add([Product(sku="EXPR", name="Expression", price=F("unit_cost"))])

    with pytest.raises(ValueError, match=r"inventory\.Product\.price: only plain values"):
        statement.execute()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_statement_writes_all_rows_or_none():
    # given a customer that can be written, and then an address without its city (a NOT NULL column)
    statement = OneStatement()
    alias = statement.add([customer("whole@example.com")])
    statement.add([address(city=None)], refs={"customer_id": alias})

    # when it is executed in autocommit mode
    assert not connection.in_atomic_block
    with pytest.raises(IntegrityError):
        statement.execute()

    # then the customer was not written either
    assert not Customer.objects.filter(email="whole@example.com").exists()


SAMPLES = [
    None,
    "",
    "Kim",
    OrderStatus.RECEIVED,  # a str subclass
    0,
    7,
    True,  # an int subclass
    Decimal("12.50"),
    Decimal("3.14159"),
    PLACED_AT,
    dt.datetime(2026, 11, 20, 14, 30),  # naive
    dt.date(2026, 11, 20),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {"a": [1, "b"]},
]


@pytest.mark.postgres  # the shortcuts are PostgreSQL's text; SQLite's columns go through the field's preparation
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # naive datetimes, as the ORM warns of them
@pytest.mark.parametrize("model", TABLES, ids=lambda model: model.__name__)
def test_each_columns_shortcut_writes_what_the_fields_own_preparation_writes(model):
    # given every column the intake writes, and values of every kind
    plan = _statement._plan(model, (), True)
    assert {column.attname for column in plan.columns} == {f.attname for f in model._meta.local_concrete_fields}
    for column in plan.columns:
        for value in SAMPLES:
            # when the value is encoded for the statement, and by the field's own get_db_prep_save
            try:
                expected = _statement._json(column.field, value, connection)
            except Exception as error:
                expected = type(error)
            try:
                encoded = column.encode(value, connection)
            except Exception as error:
                encoded = type(error)

            # then both give the same JSON (or the same refusal)
            assert encoded == expected, f"{model.__name__}.{column.field.name} = {value!r}"
