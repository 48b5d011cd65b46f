"""Stock receipts from CSV: one receipt per row, through ``receive_stock`` (so the ledger records each).

Columns ``warehouse,sku,quantity,reference`` and optionally ``note``. The
reference (purchase order, delivery note, ASN) makes a re-upload harmless:
a row whose (reference, SKU, warehouse) was already received is skipped.
"""

from __future__ import annotations

from ..exceptions import InventoryError
from ..models import Product, StockMovement, Warehouse
from ..services import receive_stock
from ..services._common import lock_levels
from .base import CsvRow, ImportHandler, ImportRefused, RowError, Unit, parse_quantity, parse_text

REFERENCE_LENGTH = 100  # StockMovement.reference


class StockReceiptHandler(ImportHandler):
    kind = "stock_receipt"
    title = "stock receipts"
    unit_name = ("receipt", "receipts")
    permission = "inventory.import_stock_receipts"
    required_columns = ("warehouse", "sku", "quantity", "reference")
    optional_columns = ("note",)
    example = (
        "warehouse,sku,quantity,reference,note\nDAL,TEE-M,120,PO-2026-0117,pallet 1 of 2\nEWR,MUG-BLU,48,PO-2026-0118,"
    )
    preview_columns = [
        ("row", "Row"),
        ("warehouse", "Warehouse"),
        ("sku", "SKU"),
        ("quantity", "Quantity"),
        ("reference", "Reference"),
    ]
    changelist_url_name = "admin:inventory_stockmovement_changelist"

    def group(self, rows: list[CsvRow], options: dict) -> list[Unit]:
        units = []
        first_seen: dict[tuple[str, str, str], int] = {}
        for row in rows:
            unit = Unit(key=f"row {row.number}", rows=[row])
            values = {}
            for column, limit in (("warehouse", 10), ("sku", 64), ("reference", REFERENCE_LENGTH)):
                value, why = parse_text(row.get(column), max_length=limit, required=True)
                if why:
                    unit.refuse(row.number, column, why)
                values[column] = value
            quantity, why = parse_quantity(row.get("quantity"))
            if why:
                unit.refuse(row.number, "quantity", why)
            note, why = parse_text(row.get("note"), max_length=1000, required=False)
            if why:
                unit.refuse(row.number, "note", why)
            if not unit.errors:
                key = (values["reference"], values["sku"], values["warehouse"].upper())
                if key in first_seen:
                    unit.refuse(
                        row.number,
                        "reference",
                        f"{key[0]!r} already receives {key[1]} at {key[2]} on row {first_seen[key]}; "
                        "put the quantity on one row",
                    )
                else:
                    first_seen[key] = row.number
                unit.data = {**values, "warehouse": values["warehouse"].upper(), "quantity": quantity, "note": note}
            units.append(unit)
        return units

    def check(self, units: list[Unit], options: dict) -> None:
        if not units:
            return
        warehouses = {w.code.upper(): w for w in Warehouse.objects.all()}
        products = {p.sku: p for p in Product.objects.filter(sku__in={unit.data["sku"] for unit in units})}
        for unit in units:
            data, row = unit.data, unit.first_row
            warehouse = warehouses.get(data["warehouse"])
            product = products.get(data["sku"])
            if warehouse is None:
                known = ", ".join(sorted(warehouses)) or "none yet"
                unit.refuse(row, "warehouse", f"no warehouse with code {data['warehouse']!r} (known: {known})")
            if product is None:
                unit.refuse(row, "sku", f"unknown SKU {data['sku']!r}")
            if unit.errors:
                continue
            data["warehouse_id"], data["product_id"] = warehouse.pk, product.pk
        received = set(
            StockMovement.objects.filter(
                kind=StockMovement.Kind.RECEIPT,
                reference__in={unit.data["reference"] for unit in units if not unit.errors},
            ).values_list("reference", "product_id", "warehouse_id")
        )
        for unit in units:
            if unit.errors:
                continue
            data = unit.data
            if (data["reference"], data["product_id"], data["warehouse_id"]) in received:
                unit.skip_reason = f"{data['reference']} was already received"

    def lock(self, units: list[Unit], options: dict) -> None:
        # The levels' locks make "already received?" and the receipt one step, even for two uploads at once.
        lock_levels((unit.data["warehouse_id"], unit.data["product_id"]) for unit in units)

    def apply(self, unit: Unit, *, options: dict, actor, job) -> bool:
        data = unit.data
        # the level is locked already (``lock``, for the whole chunk in key order)
        if StockMovement.objects.filter(
            kind=StockMovement.Kind.RECEIPT,
            reference=data["reference"],
            product_id=data["product_id"],
            warehouse_id=data["warehouse_id"],
        ).exists():
            return False
        try:
            receive_stock(
                warehouse_id=data["warehouse_id"],
                product_id=data["product_id"],
                quantity=data["quantity"],
                reference=data["reference"],
                reason=data["note"] or f"CSV import #{job.pk} ({job.file_name}), row {unit.first_row}",
                actor=actor,
            )
        except InventoryError as refusal:
            raise ImportRefused([RowError(unit.first_row, "quantity", str(refusal))]) from None
        return True

    def preview(self, unit: Unit) -> dict:
        data = unit.data
        return {
            "row": unit.first_row,
            "warehouse": data["warehouse"],
            "sku": data["sku"],
            "quantity": data["quantity"],
            "reference": data["reference"],
        }
