"""The channels' variant tables: the SKU a storefront's variant is, for order lines that arrive without a SKU.

Kept in the console (Orders → Channel variants), one row per channel and
variant id, and imported there from CSV with the columns
``channel,variant_id,sku`` and optionally ``title``. Each row of a file is
written whole or not at all (created, or its SKU and title changed); the
report names each refused row and field. The CSV is read with the pieces of
the house's import jobs (``inventory.imports.base``); a variant table is
small enough to be imported while the page waits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import DatabaseError, transaction

from inventory.imports.base import (
    CsvRow,
    ImportFileError,
    RowError,
    check_shape,
    decode,
    parse_text,
    read_csv,
)
from inventory.models import Product

from ..models import Channel, ChannelVariant

REQUIRED_COLUMNS = ("channel", "variant_id", "sku")
OPTIONAL_COLUMNS = ("title",)
EXAMPLE = (
    "channel,variant_id,sku,title\nshopify-us,44712345678901,TEE-M,Organic tee - M\nshopify-us,44712345678902,TEE-L,"
)
# Imported while the page waits: a bigger file is split (a store has a few thousand variants).
MAX_ROWS = 20_000
SHOPIFY_VARIANT_GID = "gid://shopify/ProductVariant/"


def variant_skus(*, channel: Channel, variant_ids: Iterable[str]) -> dict[str, str]:
    """The SKU of each of these variant ids that the channel's table maps, by variant id."""
    return dict(
        ChannelVariant.objects.filter(channel=channel, variant_id__in=sorted(set(variant_ids))).values_list(
            "variant_id", "product__sku"
        )
    )


def normalize_variant_id(raw: str) -> str:
    """A variant id as the webhooks give it: Shopify's ``gid://shopify/ProductVariant/44712…`` is ``44712…``."""
    value = raw.strip().removeprefix(SHOPIFY_VARIANT_GID)
    return str(int(value)) if value.isdecimal() and value.isascii() else value


@dataclass
class VariantImport:
    """What an import did: rows created and changed, rows already as the file has them, and each refusal."""

    rows: int = 0
    created: list[ChannelVariant] = field(default_factory=list)
    changed: list[ChannelVariant] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def refused_rows(self) -> int:
        return len({error.row for error in self.errors})


@dataclass
class _Row:
    number: int
    channel: Channel
    variant_id: str
    product: Product
    title: str | None  # None: the file leaves the title as it is


@transaction.atomic
def import_channel_variants(*, content: bytes | str, file_name: str = "", actor) -> VariantImport:
    """Create or change the variant rows of a CSV file, each row whole or not at all.

    Raises ImportFileError (nothing written) when the file itself is wrong:
    not UTF-8, a missing or unknown column, no rows, too many. Rows already as
    the file says are left alone. Each row created or changed is written to the
    console's history under ``actor``.
    """
    rows = read_csv(decode(content), required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    if len(rows) > MAX_ROWS:
        raise ImportFileError([RowError(0, "file", f"has {len(rows):,} rows; at most {MAX_ROWS:,}: split it")])
    report = VariantImport(rows=len(rows))
    good = _check(rows, report.errors)
    existing = {
        (variant.channel_id, variant.variant_id): variant
        for variant in ChannelVariant.objects.select_for_update()
        .filter(channel_id__in={row.channel.pk for row in good}, variant_id__in={row.variant_id for row in good})
        .order_by("pk")
    }
    for row in good:
        variant = existing.get((row.channel.pk, row.variant_id))
        if variant is None:
            variant = ChannelVariant(channel=row.channel, variant_id=row.variant_id, product=row.product)
            variant.title = row.title or ""
            done = report.created
        elif variant.product_id == row.product.pk and (row.title is None or row.title == variant.title):
            report.unchanged += 1
            continue
        else:
            variant.channel, variant.product = row.channel, row.product
            variant.title = variant.title if row.title is None else row.title
            done = report.changed
        try:
            with transaction.atomic():  # a row the database refuses (another import added it meanwhile) is its own
                variant.save()
        except DatabaseError as error:
            report.errors.append(
                RowError(row.number, "row", f"the database refused it ({type(error).__name__}: {error})")
            )
        else:
            done.append(variant)
    report.errors.sort(key=lambda error: error.row)
    _record(report, file_name=file_name, actor=actor)
    return report


def _check(rows: list[CsvRow], errors: list[RowError]) -> list[_Row]:
    """The rows with nothing wrong; each problem of the others noted by row and field. Reads in bulk, writes nothing."""
    channels = {channel.code: channel for channel in Channel.objects.all()}
    skus = {row.get("sku") for row in rows if check_shape(row) is None}  # a NUL is no query parameter (PostgreSQL)
    products = {product.sku: product for product in Product.objects.filter(sku__in=skus)}
    first_row: dict[tuple[str, str], int] = {}
    good = []
    for row in rows:
        shape = check_shape(row)
        if shape is not None:
            errors.append(shape)
            continue
        refused = len(errors)
        values = {}
        for column, limit in (("channel", 30), ("variant_id", 64), ("sku", 64)):
            values[column], why = parse_text(row.get(column), max_length=limit, required=True)
            if why:
                errors.append(RowError(row.number, column, why))
        title, why = parse_text(row.get("title"), max_length=200, required=False)
        if why:
            errors.append(RowError(row.number, "title", why))
        channel = channels.get(values["channel"]) if values["channel"] else None
        if values["channel"] and channel is None:
            known = ", ".join(sorted(channels)) or "none yet"
            errors.append(RowError(row.number, "channel", f"{values['channel']!r} is not a channel (known: {known})"))
        product = products.get(values["sku"]) if values["sku"] else None
        if values["sku"] and product is None:
            errors.append(RowError(row.number, "sku", f"{values['sku']!r} is not a product"))
        variant_id = normalize_variant_id(values["variant_id"]) if values["variant_id"] else ""
        if channel is not None and variant_id:
            key = (channel.code, variant_id)
            if key in first_row:
                errors.append(
                    RowError(
                        row.number,
                        "variant_id",
                        f"variant {variant_id} of {channel.code} is on row {first_row[key]} already; "
                        "keep one row per variant",
                    )
                )
            else:
                first_row[key] = row.number
        if len(errors) == refused:
            good.append(_Row(row.number, channel, variant_id, product, title or None))
    return good


def _record(report: VariantImport, *, file_name: str, actor) -> None:
    """Each row created or changed goes into the console's history, under who imported it."""
    user_id = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
    if user_id is None:
        return
    source = f"Imported from CSV {file_name}".rstrip()
    if report.created:
        LogEntry.objects.log_actions(user_id, report.created, ADDITION, source)
    if report.changed:
        LogEntry.objects.log_actions(
            user_id, report.changed, CHANGE, f"{source}: product and title as the file has them"
        )
