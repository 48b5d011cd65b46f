"""factory_boy factories for every app's models."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from inventory.models import Product, Warehouse
from orders.models import Address, Channel, Customer, Order, OrderEvent, OrderLine, OrderStatus
from orders.services import format_order_number


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@oms.example")
    is_staff = True
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda c: c.code.replace("-", " ").title())
    kind = Channel.Kind.WEB_STORE


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("25.00")


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"W{n:02d}")
    name = factory.LazyAttribute(lambda w: f"Warehouse {w.code}")
    city = "Dallas"
    state = "TX"
    postal_code = "75201"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)  # an address-book entry; orders' own addresses pass None
    name = factory.LazyAttribute(lambda a: a.customer.name if a.customer else "Pat Doe")
    line1 = "100 Main St"
    city = "Columbus"
    state = "OH"
    postal_code = "43215"
    country = "US"


class OrderFactory(factory.django.DjangoModelFactory):
    """An order with one line (``lines=N`` for more) and its 'placed' event."""

    class Meta:
        model = Order
        skip_postgeneration_save = True

    channel = factory.SubFactory(ChannelFactory)
    external_id = factory.Sequence(lambda n: f"EXT-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    shipping_address = factory.LazyAttribute(lambda o: AddressFactory(customer=None, name=o.customer.name))
    status = OrderStatus.RECEIVED
    currency = "USD"
    promised_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=4))
    placed_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def lines(self, create, extracted, **kwargs):
        if not create:
            return
        count = 1 if extracted is None else extracted
        total = Decimal("0")
        for _ in range(count):
            product = ProductFactory()
            OrderLine.objects.create(
                order=self, product=product, sku=product.sku, name=product.name, quantity=2, unit_price=product.price
            )
            total += product.price * 2
        self.number = format_order_number(self.pk)
        self.subtotal = self.grand_total = total
        self.save(update_fields=["number", "subtotal", "grand_total"])
        OrderEvent.objects.create(
            order=self, kind=OrderEvent.Kind.PLACED, message="Order placed.", actor_name="test", data={}
        )
