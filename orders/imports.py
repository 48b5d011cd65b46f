"""Orders from CSV: the handler the background import runs for jobs of kind ``order``.

One row per order line; rows with the same channel and ``external_id`` form
one order, wherever they are in the file. Order-level cells (customer,
address, totals, dates) must agree between the rows of one order; a
continuation row may leave them empty. A bad row refuses its whole order.
Orders go through ``place_order`` (source: CSV), so a re-upload creates
nothing new, and a changed order under an external id already used is
refused with the columns that differ.
"""

from __future__ import annotations

from django import forms

from inventory import geo
from inventory.imports.base import (
    CsvRow,
    ImportHandler,
    ImportRefused,
    RowError,
    Unit,
    parse_date,
    parse_email,
    parse_money,
    parse_quantity,
    parse_text,
)
from inventory.models import Product

from .exceptions import IntakeConflict, OrderError
from .models import Channel, Order, OrderIntake
from .services import AddressData, CustomerData, LineData, OrderData, place_order
from .services.intake import canonical_payload, fingerprint, payload_differences

REQUIRED_COLUMNS = (
    "external_id",
    "customer_name",
    "email",
    "ship_line1",
    "ship_city",
    "ship_postal_code",
    "sku",
    "quantity",
    "unit_price",
)
OPTIONAL_COLUMNS = (
    "channel",
    "phone",
    "ship_name",
    "ship_company",
    "ship_line2",
    "ship_state",
    "ship_country",
    "currency",
    "shipping_total",
    "tax_total",
    "discount_total",
    "promised_date",
)
LINE_COLUMNS = ("sku", "quantity", "unit_price")
ORDER_COLUMNS = tuple(c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c not in LINE_COLUMNS)
TEXT_LIMITS = {  # column: (max length, required) as the models allow
    "customer_name": (200, True),
    "phone": (40, False),
    "ship_name": (200, False),
    "ship_company": (200, False),
    "ship_line1": (200, True),
    "ship_line2": (200, False),
    "ship_city": (100, True),
    "ship_state": (50, False),
    "ship_postal_code": (20, True),
}
# Where a difference found by place_order's payload comparison sits in the file.
PAYLOAD_COLUMNS = {
    "customer.name": "customer_name",
    "customer.email": "email",
    "customer.phone": "phone",
    "shipping_address.name": "ship_name",
    "shipping_address.company": "ship_company",
    "shipping_address.line1": "ship_line1",
    "shipping_address.line2": "ship_line2",
    "shipping_address.city": "ship_city",
    "shipping_address.state": "ship_state",
    "shipping_address.postal_code": "ship_postal_code",
    "shipping_address.country": "ship_country",
    "shipping_address.phone": "phone",
    "currency": "currency",
    "shipping_total": "shipping_total",
    "tax_total": "tax_total",
    "discount_total": "discount_total",
    "promised_date": "promised_date",
}


def _payload_column(path: str) -> str:
    if path.startswith("lines"):
        tail = path.rsplit(".", 1)[-1]
        return tail if tail in LINE_COLUMNS else "sku"
    return PAYLOAD_COLUMNS.get(path.replace("billing_address", "shipping_address"), "external_id")


class OrderImportHandler(ImportHandler):
    kind = "order"
    title = "orders"
    unit_name = ("order", "orders")
    permission = "orders.import_orders"
    required_columns = REQUIRED_COLUMNS
    optional_columns = OPTIONAL_COLUMNS
    example = (
        "channel,external_id,customer_name,email,phone,ship_line1,ship_city,ship_state,ship_postal_code,"
        "sku,quantity,unit_price,currency,shipping_total,promised_date\n"
        "webstore,W-1001,Zoë Müller,zoe@example.com,555-0100,12 Elm St,Dallas,TX,75201,TEE-M,2,24.00,USD,4.95,"
        "2027-03-02\n"
        "webstore,W-1001,,,,,,,,MUG-BLU,1,18.00,,,"
    )
    preview_columns = [
        ("rows", "Rows"),
        ("channel", "Channel"),
        ("external_id", "Channel order id"),
        ("customer", "Customer"),
        ("ship_to", "Ship to"),
        ("lines", "Lines"),
        ("total", "Total"),
    ]
    changelist_url_name = "admin:orders_order_changelist"

    # --- the upload form ---------------------------------------------------------
    def extra_fields(self) -> dict:
        return {
            "channel": forms.ModelChoiceField(
                queryset=Channel.objects.filter(is_active=True).order_by("name"),
                required=False,
                help_text="For rows without a channel (no channel column, or its cell empty).",
            )
        }

    def options_from_form(self, cleaned_data: dict) -> dict:
        channel = cleaned_data.get("channel")
        return {"channel": channel.code if channel else ""}

    def describe_options(self, options: dict) -> str:
        return f"channel {options['channel']} for rows without one" if options.get("channel") else ""

    # --- reading rows into orders ------------------------------------------------
    def group(self, rows: list[CsvRow], options: dict) -> list[Unit]:
        default_channel = options.get("channel", "")
        units: dict[tuple[str, str], Unit] = {}
        for row in rows:
            channel = row.get("channel") or default_channel
            external_id = row.get("external_id")
            if not external_id or len(external_id) > 100:
                unit = Unit(key=f"row {row.number}", rows=[row])
                why = "is required" if not external_id else "is longer than 100 characters"
                unit.refuse(row.number, "external_id", f"{why}; rows of one order share the channel's order id")
                units[("\0bad row", str(row.number))] = unit  # never a real (channel, id): its own unit
                continue
            key = (channel, external_id)
            if key not in units:
                units[key] = Unit(key=f"{channel or '?'}/{external_id}", rows=[])
            units[key].rows.append(row)
        for (channel, _), unit in units.items():
            if unit.errors:
                continue
            unit.data = self._order_fields(unit, channel)
        return list(units.values())

    def _order_fields(self, unit: Unit, channel: str) -> dict | None:
        """The order's cells merged across its rows, each checked; lines parsed. Errors go on the unit."""
        external_id = unit.rows[0].get("external_id")
        if not channel:
            unit.refuse(unit.first_row, "channel", "no channel; add a channel column or choose one on the upload form")
        merged: dict[str, tuple[str, int]] = {}  # column: (value, row it came from)
        for row in unit.rows:
            for column in ORDER_COLUMNS:
                if column in ("channel", "external_id"):
                    continue
                value = row.get(column)
                if not value:
                    continue
                if column not in merged:
                    merged[column] = (value, row.number)
                elif merged[column][0] != value:
                    first, first_row = merged[column]
                    unit.refuse(
                        row.number,
                        column,
                        f"{value!r} here but {first!r} on row {first_row} of order {external_id}; the rows of one "
                        "order must agree (or leave the cell empty)",
                    )

        def cell(column: str) -> tuple[str, int]:
            return merged.get(column, ("", unit.first_row))

        fields: dict = {"channel": channel, "external_id": external_id}
        for column, (limit, required) in TEXT_LIMITS.items():
            raw, row = cell(column)
            value, why = parse_text(raw, max_length=limit, required=required)
            if why:
                unit.refuse(row, column, why)
            fields[column] = value or ""
        raw, row = cell("email")
        fields["email"], why = parse_email(raw)
        if why:
            unit.refuse(row, "email", why)
        raw, row = cell("ship_country")
        country = (raw or "US").upper()
        if len(country) != 2 or not country.isalpha():
            unit.refuse(row, "ship_country", f"{raw!r} is not a two-letter country code (ISO 3166-1, e.g. US)")
        fields["ship_country"] = country
        raw, row = cell("ship_postal_code")
        if raw and country == "US" and geo.coordinates_or_none(raw, "US") is None:
            unit.refuse(row, "ship_postal_code", f"{raw!r} is not a US ZIP code")
        raw, row = cell("currency")
        if raw and (len(raw) != 3 or not raw.isalpha()):
            unit.refuse(row, "currency", f"{raw!r} is not a three-letter currency code (e.g. USD)")
        fields["currency"] = raw.upper()
        for column in ("shipping_total", "tax_total", "discount_total"):
            raw, row = cell(column)
            fields[column], why = parse_money(raw, required=False)
            if why:
                unit.refuse(row, column, why)
        raw, row = cell("promised_date")
        fields["promised_date"], why = parse_date(raw)
        if why:
            unit.refuse(row, "promised_date", why)
        lines = []
        for row in unit.rows:
            sku, why = parse_text(row.get("sku"), max_length=64, required=True)
            if why:
                unit.refuse(row.number, "sku", why)
            quantity, why = parse_quantity(row.get("quantity"))
            if why:
                unit.refuse(row.number, "quantity", why)
            price, why = parse_money(row.get("unit_price"), required=True)
            if why:
                unit.refuse(row.number, "unit_price", why)
            lines.append({"row": row.number, "sku": sku, "quantity": quantity, "unit_price": price})
        fields["lines"] = lines
        return fields

    # --- looking them up -------------------------------------------------------
    def check(self, units: list[Unit], options: dict) -> None:
        if not units:
            return
        channels = {c.code: c for c in Channel.objects.filter(code__in={unit.data["channel"] for unit in units})}
        skus = {line["sku"] for unit in units for line in unit.data["lines"]}
        known_skus = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
        for unit in units:
            fields = unit.data
            channel = channels.get(fields["channel"])
            if channel is None:
                unit.refuse(unit.first_row, "channel", f"no channel with code {fields['channel']!r}")
            for line in fields["lines"]:
                if line["sku"] not in known_skus:
                    unit.refuse(line["row"], "sku", f"unknown SKU {line['sku']!r}")
            if unit.errors:
                continue
            fields["channel_obj"] = channel
            fields["order_data"] = self._order_data(fields, channel)
        self._mark_already_imported([unit for unit in units if not unit.errors])

    @staticmethod
    def _order_data(fields: dict, channel: Channel) -> OrderData:
        return OrderData(
            external_id=fields["external_id"],
            customer=CustomerData(name=fields["customer_name"], email=fields["email"], phone=fields["phone"]),
            shipping_address=AddressData(
                name=fields["ship_name"] or fields["customer_name"],
                company=fields["ship_company"],
                line1=fields["ship_line1"],
                line2=fields["ship_line2"],
                city=fields["ship_city"],
                state=fields["ship_state"],
                postal_code=fields["ship_postal_code"],
                country=fields["ship_country"],
                phone=fields["phone"],
            ),
            lines=[
                LineData(sku=line["sku"], quantity=line["quantity"], unit_price=line["unit_price"])
                for line in fields["lines"]
            ],
            currency=fields["currency"] or channel.default_currency,
            shipping_total=fields["shipping_total"],
            tax_total=fields["tax_total"],
            discount_total=fields["discount_total"],
            promised_date=fields["promised_date"],
        )

    def _mark_already_imported(self, units: list[Unit]) -> None:
        """Orders already placed under these ids: the same order is skipped, a different one refused."""
        by_channel: dict[int, dict[str, Unit]] = {}
        for unit in units:
            by_channel.setdefault(unit.data["channel_obj"].pk, {})[unit.data["external_id"]] = unit
        for channel_id, wanted in by_channel.items():
            existing = Order.objects.filter(channel_id=channel_id, external_id__in=wanted).values_list(
                "external_id", "number", "intake__fingerprint", "intake__payload"
            )
            for external_id, number, digest, old_payload in existing:
                unit = wanted[external_id]
                payload = canonical_payload(unit.data["order_data"])
                if digest is None or digest == fingerprint(payload):
                    unit.skip_reason = f"already imported as {number}"
                else:
                    self._refuse_conflict(unit, number, payload_differences(old_payload, payload))

    def _refuse_conflict(self, unit: Unit, number: str, differences: list[dict]) -> None:
        columns = []
        for difference in differences:
            column = _payload_column(difference["path"])
            if column not in columns:
                columns.append(column)
        unit.refuse(
            unit.first_row,
            columns[0] if columns else "external_id",
            f"order {unit.data['external_id']} was already imported as {number} with a different "
            f"{', '.join(columns) or 'content'}; a channel order id stands for one order",
        )

    # --- importing ---------------------------------------------------------------
    def apply(self, unit: Unit, *, options: dict, actor, job) -> bool:
        try:
            _, created = place_order(
                channel=unit.data["channel_obj"],
                data=unit.data["order_data"],
                actor=actor,
                route=True,
                source=OrderIntake.Source.CSV,
            )
        except IntakeConflict as conflict:
            unit.errors.clear()
            self._refuse_conflict(unit, str(conflict.order), conflict.differences)
            raise ImportRefused(list(unit.errors)) from None
        except OrderError as refusal:
            raise ImportRefused([RowError(unit.first_row, "order", str(refusal))]) from None
        return created

    def preview(self, unit: Unit) -> dict:
        data: OrderData = unit.data["order_data"]
        total = sum((line.unit_price * line.quantity for line in data.lines), data.shipping_total + data.tax_total)
        total = max(total - data.discount_total, 0)
        address = data.shipping_address
        return {
            "rows": ", ".join(str(row.number) for row in unit.rows),
            "channel": unit.data["channel"],
            "external_id": data.external_id,
            "customer": f"{data.customer.name} <{data.customer.email}>",
            "ship_to": ", ".join(p for p in (address.city, f"{address.state} {address.postal_code}".strip()) if p),
            "lines": ", ".join(f"{line.quantity} × {line.sku}" for line in data.lines),
            "total": f"{total:,.2f} {data.currency.upper()}",
        }
