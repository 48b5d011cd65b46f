"""Shopify orders (REST Admin API / ``orders/create`` webhook JSON) as ``OrderData``.

``order_data_from_shopify(payload)`` reads one Shopify order object (the
webhook body; ``{"order": {...}}`` as the REST API wraps it is accepted too)
and returns the ``OrderData`` for ``place_order``. Every problem is collected
and raised together as ``PayloadError``, each with its JSON path, e.g.
``line_items[2].sku: missing``.

What is read, and how:

- ``id`` → external id (as text); ``created_at`` → placed at; ``currency``.
- Customer: name from ``customer.first_name``/``last_name`` (else the
  shipping, then billing address's name); email from ``email``, else
  ``contact_email``, else ``customer.email``; phone from ``phone``, else
  ``customer.phone``, else the shipping address's; ``buyer_accepts_marketing``.
- Addresses: ``name`` (or first + last name), ``address1``, ``address2``,
  ``city``, ``province_code`` → state, ``zip`` → postal code,
  ``country_code`` → country, ``company``, ``phone``. The shipping address is
  required; a missing billing address is the shipping address.
- Lines: ``sku``, ``quantity`` (``current_quantity`` once the order was edited
  in Shopify: 0 is a line removed), ``price`` (the unit price before discounts).
  A line item without a SKU (empty or null) but with a ``variant_id`` takes
  the SKU the channel's variant table maps it to (``variant_skus``, looked
  up by the caller: the converter never reads the database); one that has
  neither is refused, naming the line and the variant.
  Line items with the same SKU and unit price are merged into one line
  (quantities added): Shopify splits a variant over several items when they
  carry different properties (an engraving), and stock is reserved per SKU.
  The same SKU at different prices stays as separate lines.
- Money (``Decimal`` from Shopify's string amounts, never float):
  ``total_discounts`` → discount; ``total_tax`` → tax, except when
  ``taxes_included`` is true: then the tax is already inside the line and
  shipping prices, so the order's tax is 0 (the included tax is kept in
  ``extra``) and the grand total is what the customer paid; shipping from
  ``total_shipping_price_set.shop_money.amount``, else the sum of
  ``shipping_lines[].price``.
- Payment: Shopify took it, so ``PaymentData(gateway="channel",
  token=<the Shopify order id>)``; the gateway Shopify used is in ``extra``.
- ``total_price`` (what Shopify charged), ``total_tip_received`` and
  ``original_total_duties_set`` are kept in ``extra``; ``total_mismatch``
  compares them with the OMS's total once the order is placed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from oms_core.emails import normalize_address, validate_email_address

from ..models import Address, Customer, Order, OrderLine
from ..services.intake import AddressData, CustomerData, LineData, OrderData, PaymentData, canonical_payload
from . import Loc, PayloadError, Problem

CENT = Decimal("0.01")
# Order amounts are stored as 12 digits with 2 decimals.
MAX_AMOUNT = Decimal("9999999999.99")
MAX_LINE_QUANTITY = 1_000_000
EARLIEST_PLACED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_PLACED = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
PAYMENT_GATEWAY = "channel"  # paid through the sales channel: the payments work treats it as prepaid
_MISSING = object()
# A difference of a cent is rounding; more is a total the OMS does not agree with.
TOTAL_TOLERANCE = Decimal("0.01")


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def order_data_from_shopify(
    payload: object, *, variant_skus: Mapping[str, str] | None = None, channel_code: str = ""
) -> OrderData:
    """The ``OrderData`` for one Shopify order; raises PayloadError naming every problem.

    ``variant_skus`` maps the variant ids of line items that came without a
    SKU to the SKU the channel ``channel_code`` sells them as (see
    ``skuless_variant_ids``).
    """
    reader = _Reader(variant_skus or {}, channel_code)
    data = reader.order(payload)
    if reader.problems:
        raise PayloadError(reader.problems, channel_format="Shopify")
    assert data is not None  # every path that returns None recorded a problem
    return data


def skuless_variant_ids(payload: object) -> set[str]:
    """The variant ids of the line items that have no SKU (empty or null): the ones to look up in the channel's table.

    Reads leniently (never raises): whatever is malformed is for ``order_data_from_shopify`` to report.
    """
    if isinstance(payload, dict) and "line_items" not in payload and isinstance(payload.get("order"), dict):
        payload = payload["order"]
    items = payload.get("line_items") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return set()
    found = set()
    for item in items:
        if isinstance(item, dict) and not (isinstance(item.get("sku"), str) and item["sku"].strip()):
            variant_id = _variant_id(item.get("variant_id"))
            if variant_id:
                found.add(variant_id)
    return found


def _variant_id(value: object) -> str:
    """A variant id as text (Shopify sends a number; some tools send it as a string), or "" when it is not one."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value) if value > 0 else ""
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 64:
        return str(int(value.strip()))
    return ""


def total_mismatch(data: OrderData, grand_total: Decimal) -> str | None:
    """Why the total Shopify charged is not the OMS's total for the order (beyond a cent), or None when they agree.

    Shopify's ``total_price`` is the line items less discounts, plus shipping,
    plus taxes unless the prices include them, plus duties and tips: the OMS's
    grand total (which leaves tax out when the prices include it) plus the
    tips and duties. An order whose Shopify total is unknown is not compared.
    """
    shopify = data.extra.get("shopify", {})
    if "total_price" not in shopify:
        return None
    charged = Decimal(shopify["total_price"])
    extras = {name: Decimal(shopify[key]) for name, key in (("tips", "tips"), ("duties", "duties")) if key in shopify}
    computed = grand_total + sum(extras.values(), Decimal("0"))
    difference = abs(charged - computed)
    if difference <= TOTAL_TOLERANCE:
        return None
    added = "".join(f" + {name} {amount}" for name, amount in extras.items() if amount)
    how = f" (grand total {grand_total}{added})" if added else ""
    return (
        f"Shopify total {charged} {data.currency} differs from the computed total {computed} {data.currency}{how} "
        f"by {difference}"
    )


class _Reader:
    """Reads one order, collecting problems instead of stopping at the first."""

    def __init__(self, variant_skus: Mapping[str, str], channel_code: str) -> None:
        self.problems: list[Problem] = []
        self.variant_skus = variant_skus
        self.channel_code = channel_code
        self.mapped: dict[str, str] = {}  # variant id -> SKU, for the lines that took theirs from the table

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc, message))

    # --- the order

    def order(self, payload: object) -> OrderData | None:
        if isinstance(payload, dict) and "line_items" not in payload and isinstance(payload.get("order"), dict):
            payload = payload["order"]  # the REST API's wrapping
        if not isinstance(payload, dict):
            self.problem((), "must be a JSON object (one Shopify order)")
            return None
        order = payload
        external_id = self.external_id(order)
        currency = self.currency(order)
        placed_at = self.placed_at(order)
        shipping_address = self.address(order, "shipping_address", required=True)
        billing_address = self.address(order, "billing_address", required=False)
        customer = self.customer(order, shipping_address, billing_address)
        lines = self.lines(order)
        taxes_included = self.boolean(order, ("taxes_included",))
        tax = self.money(order, ("total_tax",), required=False)
        discount = self.money(order, ("total_discounts",), required=False)
        shipping = self.shipping(order)
        charged = self.money(order, ("total_price",), required=True) if order.get("total_price") is not None else None
        tips = self.money(order, ("total_tip_received",), required=False)
        duties = self.duties(order)
        if self.problems:
            return None
        subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
        tax_total = Decimal("0.00") if taxes_included else tax
        if subtotal + shipping + tax_total > MAX_AMOUNT:
            self.problem(("line_items",), f"the order's total is more than {MAX_AMOUNT:,}")
            return None
        return OrderData(
            external_id=external_id,
            customer=customer,
            shipping_address=shipping_address,
            billing_address=billing_address,
            lines=lines,
            currency=currency,
            shipping_total=shipping,
            tax_total=tax_total,
            discount_total=discount,
            placed_at=placed_at,
            payment=PaymentData(gateway=PAYMENT_GATEWAY, token=external_id),
            extra={
                "shopify": self.references(
                    order, taxes_included=taxes_included, tax=tax, charged=charged, tips=tips, duties=duties
                )
            },
        )

    def external_id(self, order: dict) -> str:
        value = order.get("id")
        loc = ("id",)
        if value is None:
            self.problem(loc, "missing (the Shopify order id)")
            return ""
        if isinstance(value, int) and not isinstance(value, bool):
            if value <= 0:
                self.problem(loc, "must be a positive number")
                return ""
            text = str(value)
            if len(text) > _max_length(Order, "external_id"):
                self.problem(loc, f"longer than {_max_length(Order, 'external_id')} characters")
                return ""
            return text
        if isinstance(value, str):
            return self.text(order, loc, required=True, max_length=_max_length(Order, "external_id"))
        self.problem(loc, "must be a whole number (the Shopify order id)")
        return ""

    def currency(self, order: dict) -> str:
        loc = ("currency",)
        code = self.text(order, loc, required=True, max_length=3).upper()
        if code and not (len(code) == 3 and code.isascii() and code.isalpha()):
            self.problem(loc, f"must be a three-letter ISO 4217 code, not {code!r}")
        return code

    def placed_at(self, order: dict) -> dt.datetime | None:
        loc = ("created_at",)
        text = self.text(order, loc, required=False, max_length=64)
        if not text:
            return None  # placed now
        try:
            placed = dt.datetime.fromisoformat(text)
        except ValueError:
            self.problem(loc, f"must be an ISO 8601 date and time, e.g. 2026-11-25T14:03:00-05:00, not {text!r}")
            return None
        if placed.tzinfo is None or placed.utcoffset() is None:
            self.problem(loc, "needs a time zone offset, e.g. 2026-11-25T14:03:00-05:00")
            return None
        try:
            in_range = EARLIEST_PLACED <= placed < LATEST_PLACED
        except OverflowError:
            in_range = False
        if not in_range:
            self.problem(loc, "must be between 1970 and 2100")
            return None
        return placed

    # --- customer and addresses

    def customer(self, order: dict, shipping: AddressData | None, billing: AddressData | None) -> CustomerData | None:
        person = self.optional_object(order, ("customer",))
        first = self.text(person, ("customer", "first_name"), max_length=100) if person else ""
        last = self.text(person, ("customer", "last_name"), max_length=100) if person else ""
        email = ""
        for source, loc in ((order, ("email",)), (order, ("contact_email",)), (person, ("customer", "email"))):
            if source is not None and not email:
                email = normalize_address(self.text(source, loc, max_length=_max_length(Customer, "email")))
                if email:
                    try:
                        validate_email_address(email)
                    except ValidationError:
                        self.problem(loc, f"{email!r} is not an email address")
        if not email:
            self.problem(("email",), "missing (looked at email, contact_email and customer.email)")
        phone = self.text(order, ("phone",), max_length=_max_length(Customer, "phone"))
        if not phone and person:
            phone = self.text(person, ("customer", "phone"), max_length=_max_length(Customer, "phone"))
        if not phone and shipping:
            phone = shipping.phone
        name = " ".join(part for part in (first, last) if part)
        name = name or (shipping.name if shipping else "") or (billing.name if billing else "") or email
        name = name[: _max_length(Customer, "name")]
        accepts_marketing = self.boolean(order, ("buyer_accepts_marketing",))
        return CustomerData(name=name, email=email, phone=phone, accepts_marketing=accepts_marketing)

    def address(self, order: dict, key: str, *, required: bool) -> AddressData | None:
        loc = (key,)
        address = self.required_object(order, loc) if required else self.optional_object(order, loc)
        if address is None:
            return None

        def field(name: str, *, max_from: str, required: bool = False) -> str:
            return self.text(address, (key, name), required=required, max_length=_max_length(Address, max_from))

        first = field("first_name", max_from="name")
        last = field("last_name", max_from="name")
        name = field("name", max_from="name") or " ".join(part for part in (first, last) if part)
        if not name:
            self.problem((key, "name"), "missing (no name, first_name or last_name)")
        country = field("country_code", max_from="country", required=True).upper()
        if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
            self.problem((key, "country_code"), f"must be a two-letter ISO 3166-1 code, not {country!r}")
        return AddressData(
            name=name[: _max_length(Address, "name")],
            line1=field("address1", max_from="line1", required=True),
            line2=field("address2", max_from="line2"),
            city=field("city", max_from="city", required=True),
            postal_code=field("zip", max_from="postal_code", required=True),
            country=country,
            state=field("province_code", max_from="state"),
            company=field("company", max_from="company"),
            phone=field("phone", max_from="phone"),
        )

    # --- lines, shipping, extra

    def lines(self, order: dict) -> list[LineData]:
        items = order.get("line_items")
        if items is None:
            self.problem(("line_items",), "missing (the order's lines)")
            return []
        if not isinstance(items, list):
            self.problem(("line_items",), "must be a list of line items")
            return []
        if not items:
            self.problem(("line_items",), "an order needs at least one line item")
            return []
        merged: dict[tuple[str, Decimal], int] = {}
        for index, item in enumerate(items):
            loc = ("line_items", index)
            if not isinstance(item, dict):
                self.problem(loc, "must be an object (a line item)")
                continue
            sku = self.text(item, (*loc, "sku"), max_length=_max_length(OrderLine, "sku"))
            written = item.get("sku")
            if not sku and (written is None or (isinstance(written, str) and not written.strip())):
                sku = self.mapped_sku(item, loc)
            # After an edit in Shopify, current_quantity is what the line still has (0: removed); quantity stays
            # what was first ordered.
            edited = item.get("current_quantity") is not None
            quantity = self.quantity(item, (*loc, "current_quantity" if edited else "quantity"), allow_zero=edited)
            price = self.money(item, (*loc, "price"), required=True)
            if sku and quantity:
                merged[(sku, price)] = merged.get((sku, price), 0) + quantity
        lines = []
        for (sku, price), quantity in merged.items():
            if quantity > MAX_LINE_QUANTITY:
                self.problem(("line_items",), f"{quantity:,} units of {sku} is more than {MAX_LINE_QUANTITY:,}")
            lines.append(LineData(sku=sku, quantity=quantity, unit_price=price))
        return lines

    def mapped_sku(self, item: dict, loc: Loc) -> str:
        """The SKU the channel's variant table gives a line item that has none; else the problem, named."""
        variant_id = _variant_id(item.get("variant_id"))
        if variant_id:
            sku = self.variant_skus.get(variant_id, "")
            if sku:
                self.mapped[variant_id] = sku
                return sku
            self.problem(
                (*loc, "sku"),
                f"line {loc[-1] + 1}: variant {variant_id} has no SKU and no mapping on channel "
                f"{self.channel_code or '(unknown)'}; add it under Channel variants",
            )
            return ""
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        self.problem(
            (*loc, "sku"),
            "missing: every line needs a SKU the OMS stocks or a variant_id the channel maps to one"
            + (f" ({title[:100]!r} has neither)" if title else ""),
        )
        return ""

    def quantity(self, item: dict, loc: Loc, *, allow_zero: bool = False) -> int:
        value = item.get(loc[-1])
        if value is None:
            self.problem(loc, "missing")
            return 0
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(loc, "must be a whole number")
            return 0
        if allow_zero and value == 0:
            return 0
        if not 1 <= value <= MAX_LINE_QUANTITY:
            self.problem(loc, f"must be between 1 and {MAX_LINE_QUANTITY:,}, not {value}")
            return 0
        return value

    def shipping(self, order: dict) -> Decimal:
        price_set = order.get("total_shipping_price_set")
        if price_set is not None:
            loc = ("total_shipping_price_set",)
            if not isinstance(price_set, dict):
                self.problem(loc, "must be an object with shop_money")
                return Decimal("0.00")
            shop_money = self.required_object(price_set, (*loc, "shop_money"))
            if shop_money is None:
                return Decimal("0.00")
            return self.money(shop_money, (*loc, "shop_money", "amount"), required=True)
        shipping_lines = order.get("shipping_lines")
        if shipping_lines is None:
            return Decimal("0.00")
        if not isinstance(shipping_lines, list):
            self.problem(("shipping_lines",), "must be a list")
            return Decimal("0.00")
        total = Decimal("0.00")
        for index, line in enumerate(shipping_lines):
            loc = ("shipping_lines", index)
            if not isinstance(line, dict):
                self.problem(loc, "must be an object (a shipping line)")
                continue
            total += self.money(line, (*loc, "price"), required=True)
        if total > MAX_AMOUNT:
            self.problem(("shipping_lines",), f"the shipping total is more than {MAX_AMOUNT:,}")
        return total

    def duties(self, order: dict) -> Decimal:
        """The duties Shopify charged (``original_total_duties_set.shop_money.amount``), 0 when there are none."""
        price_set = order.get("original_total_duties_set")
        if price_set is None:
            return Decimal("0.00")
        loc = ("original_total_duties_set",)
        if not isinstance(price_set, dict):
            self.problem(loc, "must be an object with shop_money, or null")
            return Decimal("0.00")
        shop_money = self.required_object(price_set, (*loc, "shop_money"))
        if shop_money is None:
            return Decimal("0.00")
        return self.money(shop_money, (*loc, "shop_money", "amount"), required=True)

    def references(
        self,
        order: dict,
        *,
        taxes_included: bool,
        tax: Decimal,
        charged: Decimal | None,
        tips: Decimal,
        duties: Decimal,
    ) -> dict:
        """Shopify's own references, kept with the intake record; unreadable ones are left out."""
        extra: dict = {}
        name = order.get("name")
        if _is_clean_text(name, 50):
            extra["name"] = name.strip()
        for key in ("financial_status",):
            if _is_clean_text(order.get(key), 50):
                extra[key] = order[key].strip()
        gateways = order.get("payment_gateway_names")
        gateway = gateways[0] if isinstance(gateways, list) and gateways else order.get("gateway")
        if _is_clean_text(gateway, 100):
            extra["payment_gateway"] = gateway.strip()
        if charged is not None:
            extra["total_price"] = str(charged)
        if tips:
            extra["tips"] = str(tips)
        if duties:
            extra["duties"] = str(duties)
        if self.mapped:
            extra["variant_skus"] = dict(sorted(self.mapped.items()))
        if taxes_included:
            extra["taxes_included"] = True
            extra["included_tax"] = str(tax)
        if order.get("test") is True:
            extra["test"] = True
        return extra

    # --- values

    def text(self, obj: dict, loc: Loc, *, required: bool = False, max_length: int) -> str:
        """The text at ``loc`` (last part is the key in ``obj``), stripped; "" when absent or null."""
        value = obj.get(loc[-1])
        if value is None:
            if required:
                self.problem(loc, "missing")
            return ""
        if not isinstance(value, str):
            self.problem(loc, f"must be text, not {_json_type(value)}")
            return ""
        if "\x00" in value:
            self.problem(loc, "contains a NUL character")
            return ""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.problem(loc, "is not valid Unicode text")
            return ""
        value = value.strip()
        if required and not value:
            self.problem(loc, "missing (empty)")
        if len(value) > max_length:
            self.problem(loc, f"longer than {max_length} characters")
            return ""
        return value

    def money(self, obj: dict, loc: Loc, *, required: bool) -> Decimal:
        value = obj.get(loc[-1], _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.problem(loc, "missing")
            return Decimal("0.00")
        amount = _parse_money(value)
        if isinstance(amount, str):
            self.problem(loc, amount)
            return Decimal("0.00")
        return amount

    def boolean(self, obj: dict, loc: Loc) -> bool:
        value = obj.get(loc[-1])
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(loc, f"must be true or false, not {_json_type(value)}")
            return False
        return value

    def required_object(self, obj: dict, loc: Loc) -> dict | None:
        value = obj.get(loc[-1])
        if value is None:
            self.problem(loc, "missing")
            return None
        if not isinstance(value, dict):
            self.problem(loc, f"must be an object, not {_json_type(value)}")
            return None
        return value

    def optional_object(self, obj: dict, loc: Loc) -> dict | None:
        value = obj.get(loc[-1])
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(loc, f"must be an object or null, not {_json_type(value)}")
            return None
        return value


def _parse_money(value: object) -> Decimal | str:
    """An amount as Decimal, or why it is not one (Shopify sends amounts as strings like "11.94")."""
    if isinstance(value, bool | float):
        return f'must be an amount as a string, e.g. "11.94", not {_json_type(value)}'
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return f'must be an amount, e.g. "11.94", not {value[:40]!r}'
    else:
        return f'must be an amount as a string, e.g. "11.94", not {_json_type(value)}'
    if not amount.is_finite():
        return "must be a finite amount"
    if amount < 0:
        return f"must not be negative, not {amount}"
    if amount > MAX_AMOUNT:
        return f"must be at most {MAX_AMOUNT:,}"
    if amount != amount.quantize(CENT):
        return f"has more than two decimal places: {amount}"
    return amount.quantize(CENT)


def _is_clean_text(value: object, max_length: int) -> bool:
    if not isinstance(value, str) or "\x00" in value or len(value.strip()) > max_length or not value.strip():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- an order Shopify changed (orders/updated) --------------------------------------------------------------
@dataclass(frozen=True)
class ShopifyEdit:
    """What a Shopify order asks of the OMS's order it was placed as: line changes for ``edit_lines`` (by line
    id or, for a new line, SKU and price), the channel's totals, a new ship-to address; ``problems`` when it
    cannot be read as an edit (JSON path → why)."""

    changes: list[dict]
    totals: dict[str, Decimal]
    address: AddressData | None
    problems: list[Problem]
    seen: dict  # the order as Shopify sent it now (``canonical_payload``): what the next update is compared with

    @property
    def changes_anything(self) -> bool:
        return bool(self.changes or self.totals or self.address)


ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone")


def _units_by_sku(lines: list[dict]) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for line in lines:
        units, _ = found.get(line["sku"], (0, line["unit_price"]))
        found[line["sku"]] = (units + int(line["quantity"]), line["unit_price"])
    return found


def shopify_edit(order: Order, data: OrderData, *, seen: dict | None = None) -> ShopifyEdit:
    """What Shopify changed, to apply to the OMS's ``order``: ``data`` is the order as Shopify now has it (read by
    ``order_data_from_shopify``), ``seen`` the same order as Shopify last sent it (``canonical_payload``: the
    intake's, or the last change applied). Only what Shopify changed since is applied, so a change made in the
    OMS (an address corrected, an item added) is not undone by Shopify's next unrelated update (a fulfilment, a
    note). Each SKU's units (a SKU added at Shopify's price, or gone), the shipping, tax and discount totals, the
    ship-to address. Without ``seen``, the OMS's order itself is compared. Writes nothing."""
    problems: list[Problem] = []
    lines = list(OrderLine.objects.filter(order_id=order.pk).order_by("pk"))
    wanted: dict[str, LineData] = {}
    for line in data.lines:
        if line.sku in wanted:
            problems.append(
                Problem(("line_items",), f"{line.sku} is on two lines at different prices; the OMS keeps one price")
            )
            continue
        wanted[line.sku] = line
    now = canonical_payload(data)
    if seen is None:  # no earlier Shopify view: the OMS's order as it stands
        seen = {
            "lines": [
                {"sku": own.sku, "quantity": own.quantity, "unit_price": str(own.unit_price)}
                for own in lines
                if own.quantity > 0
            ],
            **{name: str(getattr(order, name)) for name in ("shipping_total", "tax_total", "discount_total")},
            "shipping_address": {
                name: (getattr(order.shipping_address, name) or "").strip() for name in ADDRESS_FIELDS
            },
        }
    before, after = _units_by_sku(seen.get("lines", [])), _units_by_sku(now["lines"])
    changes: list[dict] = []
    for sku in sorted(before.keys() | after.keys(), key=lambda sku: (sku not in before, sku)):
        if before.get(sku, (0, ""))[0] == after.get(sku, (0, ""))[0]:
            continue
        existing = [own for own in lines if own.sku == sku]
        units = after.get(sku, (0, ""))[0]
        if len(existing) > 1:
            problems.append(Problem(("line_items",), f"order {order} has {len(existing)} lines of {sku}"))
        elif existing:
            own = existing[0]
            if sku in wanted and own.unit_price != wanted[sku].unit_price:
                problems.append(
                    Problem(
                        ("line_items",),
                        f"{sku} costs {wanted[sku].unit_price} in Shopify and {own.unit_price} on order {order}",
                    )
                )
            elif own.quantity != units:
                changes.append({"line": own.pk, "sku": sku, "quantity": units})
        elif units:
            changes.append({"sku": sku, "quantity": units, "unit_price": wanted[sku].unit_price})
    names = ("shipping_total", "tax_total", "discount_total")
    totals = {name: getattr(data, name) for name in names if str(seen.get(name)) != now[name]}
    if changes:  # the channel's totals stand for the edited order, as at intake
        totals = {name: getattr(data, name) for name in names}
    totals = {
        name: value
        for name, value in totals.items()
        if changes or Decimal(value).quantize(CENT) != getattr(order, name)
    }
    address = None
    if data.shipping_address is not None and _address_of(seen) != _address_of(now):
        ours = {name: (getattr(order.shipping_address, name) or "").strip() for name in ADDRESS_FIELDS}
        if _address_of({"shipping_address": ours}) != _address_of(now):
            address = data.shipping_address
    return ShopifyEdit(changes=changes, totals=totals, address=address, problems=problems, seen=now)


def _address_of(payload: dict) -> dict:
    address = payload.get("shipping_address") or {}
    found = {name: str(address.get(name) or "").strip() for name in ADDRESS_FIELDS}
    found["country"] = found["country"].upper()
    return found
