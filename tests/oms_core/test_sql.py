"""Hand-written reads: ORM instances from rows, and on PostgreSQL statements planned once per connection."""

import pytest
from django.db import connection

from inventory.models import Product
from inventory.selectors import active_products
from oms_core.sql import columns, prepared_cursor
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
def test_a_read_run_again_and_again_is_prepared_on_its_connection():
    # given a product, and a hand-written read the connection has not run yet
    ProductFactory(sku="TEE-M")
    assert not [s for s in prepared_statements() if "inventory_product" in s]

    # when the intake's product read runs as often as every request would run it
    found = [active_products(["TEE-M"]) for _ in range(6)]

    # then it answers the same every time, and PostgreSQL now holds it prepared (planned once, not per run)
    assert all(list(result) == ["TEE-M"] for result in found)
    assert [s for s in prepared_statements() if "inventory_product" in s and "p.is_active" in s]


def test_a_prepared_cursor_raises_djangos_errors():
    from django.db import DatabaseError

    with pytest.raises(DatabaseError), prepared_cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM inventory_product")


def test_the_column_list_handed_out_is_the_callers_own():
    selected, names = columns(Product, "p")
    names.append("not a column")

    assert columns(Product, "p") == (selected, [f.attname for f in Product._meta.concrete_fields])


HOSTILE = [
    'say "hi"',
    "back\\slash",
    'both \\" mixed',
    "{braces, and, commas}",
    "NULL",
    "",
    " padded ",
    "line\nbreak",
    "日本語 ✓",
]


@pytest.mark.postgres
def test_text_and_json_sent_in_bulk_come_back_as_written():
    from psycopg.adapt import PyFormat

    from notifications.models import Message

    # given the connection's list dumper (Django's bulk_create sends every column as one array)
    connection.ensure_connection()
    assert connection.connection.adapters.get_dumper(list, PyFormat.TEXT).__name__ == "FastEscapeListDumper"

    # when products and outbox rows whose text and JSON hold quotes, backslashes, braces and the word NULL are
    # written in one statement each
    Product.objects.bulk_create(Product(sku=f"HOSTILE-{n}", name=name, price=1) for n, name in enumerate(HOSTILE))
    Message.objects.bulk_create(
        Message(
            key=f"k{n}",
            event="order_allocated",
            audience="customer",
            recipient="a@example.com",
            context={"text": text, "list": [text, {"nested": text}]},
        )
        for n, text in enumerate(HOSTILE)
    )

    # then every value reads back exactly as it was written
    names = dict(Product.objects.filter(sku__startswith="HOSTILE-").values_list("sku", "name"))
    assert [names[f"HOSTILE-{n}"] for n in range(len(HOSTILE))] == HOSTILE
    contexts = dict(Message.objects.filter(key__startswith="k").values_list("key", "context"))
    assert [contexts[f"k{n}"] for n in range(len(HOSTILE))] == [
        {"text": text, "list": [text, {"nested": text}]} for text in HOSTILE
    ]
