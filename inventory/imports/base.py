"""Reading an uploaded CSV and the interface a kind of import implements.

Row numbers are the file's line numbers, the header being row 1, as a
spreadsheet numbers them. A *unit* is what is imported all or nothing: one
order (its rows share an external id) or one receipt row.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.core.exceptions import ValidationError

from oms_core.csvfiles import CsvSyntaxError, csv_records
from oms_core.emails import normalize_address, validate_email_address

MAX_ROWS = 100_000
NUL = "\x00"
# A noncharacter (Unicode keeps U+FFFE for a program's internal use) that stands for a NUL in a kept file.
NUL_STAND_IN = "\ufffe"


@dataclass(frozen=True)
class RowError:
    """One thing wrong: ``row`` is the file's line (1 is the header, 0 the whole file)."""

    row: int
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}, {self.field}: {self.message}"


class ImportFileError(Exception):
    """The file was refused before any row was read (encoding, header, size); nothing was queued."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))


class ImportRefused(Exception):
    """A unit was refused while importing; nothing of it was written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))


@dataclass
class CsvRow:
    """A data row: its line in the file and its cells by column; ``extra`` and ``nul_columns`` refuse it."""

    number: int
    values: dict[str, str]
    extra: str = ""  # "5 cells but the header names 4": the cells are misaligned, none is read
    nul_columns: tuple[str, ...] = ()

    def get(self, column: str) -> str:
        return (self.values.get(column) or "").strip()


@dataclass
class Unit:
    """Rows imported together, all or nothing; ``errors`` refuse it, ``skip_reason`` says it is already in."""

    key: str
    rows: list[CsvRow]
    errors: list[RowError] = field(default_factory=list)
    skip_reason: str = ""
    data: Any = None

    @property
    def first_row(self) -> int:
        return self.rows[0].number

    def refuse(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(row, column, message))


def decode(content: bytes | str) -> str:
    """The file's text: UTF-8 with or without a byte order mark; Windows line endings are fine."""
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            [RowError(0, "file", f"is not UTF-8 text (byte {error.start}); save the sheet as 'CSV UTF-8'.")]
        ) from None


def read_csv(text: str, *, required: tuple[str, ...], optional: tuple[str, ...]) -> list[CsvRow]:
    """The data rows of a CSV with a header row; raises ImportFileError naming every header problem.

    Column names are matched without case or surrounding spaces; blank lines
    are skipped (they keep their number, so later rows still match the sheet).
    A quote that never closes refuses the file, naming the line it opens on
    (read on, it would swallow every line after it into one cell). A row
    with a NUL character is marked for ``check_shape`` to refuse.
    """
    records = csv_records(text)
    try:
        header_row, header = next(records, (0, None))
        while header is not None and not any(cell.strip() for cell in header):
            header_row, header = next(records, (0, None))
        if header is None:
            raise ImportFileError([RowError(1, "header", "the file is empty; the first row must name the columns")])
        if any(NUL in cell or NUL_STAND_IN in cell for cell in header):
            raise ImportFileError(
                [
                    RowError(
                        header_row,
                        "header",
                        "has NUL characters (zero bytes): the file looks like UTF-16 text (Excel's 'Unicode "
                        "Text'); save the sheet as 'CSV UTF-8'",
                    )
                ]
            )
        names = [cell.strip().lower() for cell in header]
        errors = []
        missing = [column for column in required if column not in names]
        if missing:
            errors.append(
                RowError(
                    header_row,
                    ", ".join(missing),
                    f"missing column{'s' if len(missing) > 1 else ''}; the header must name {', '.join(required)}",
                )
            )
        known = set(required) | set(optional)
        for name in names:
            if name and name not in known:
                errors.append(
                    RowError(header_row, name, f"unknown column; the columns are {', '.join((*required, *optional))}")
                )
        for name in sorted({name for name in names if name and names.count(name) > 1}):
            errors.append(RowError(header_row, name, "the column appears more than once"))
        if errors:
            raise ImportFileError(errors)
        rows = []
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names) and any(cell.strip() for cell in cells[len(names) :]):
                rows.append(CsvRow(number, {}, f"{len(cells)} cells but the header names {len(names)}"))
            else:
                values = {name: cell for name, cell in zip(names, cells, strict=False) if name}
                rows.append(CsvRow(number, values, nul_columns=_nul_columns(values)))
            if len(rows) > MAX_ROWS:
                raise ImportFileError([RowError(number, "file", f"more than {MAX_ROWS:,} rows; split the file")])
    except CsvSyntaxError as error:
        raise ImportFileError([RowError(error.line, "file", str(error))]) from None
    if not rows:
        raise ImportFileError([RowError(header_row + 1, "row", "the file has a header but no rows")])
    return rows


def storable(text: str) -> str:
    """The file's text as the database can keep it: PostgreSQL stores no NUL, so its stand-in takes its place.

    ``read_csv`` treats the stand-in as the NUL it was, so the row is still
    refused naming its column when the kept file is read again.
    """
    return text.replace(NUL, NUL_STAND_IN)


def _nul_columns(values: dict[str, str]) -> tuple[str, ...]:
    return tuple(name for name, cell in values.items() if NUL in cell or NUL_STAND_IN in cell)


def check_shape(row: CsvRow) -> RowError | None:
    """A row with more cells than the header has, or with a NUL character in a cell, is refused as a whole."""
    if row.extra:
        return RowError(row.number, "row", f"has {row.extra}; quote cells that contain commas")
    if row.nul_columns:
        return RowError(
            row.number,
            ", ".join(row.nul_columns),
            "contains a NUL character (a zero byte), which cannot be stored; delete it from the cell",
        )
    return None


# --- cell parsers: (value, "") or (None, why) ------------------------------------


def parse_text(raw: str, *, max_length: int, required: bool) -> tuple[str | None, str]:
    if not raw:
        return (None, "is required") if required else ("", "")
    if len(raw) > max_length:
        return None, f"is {len(raw)} characters long; at most {max_length}"
    return raw, ""


def parse_quantity(raw: str, *, limit: int = 1_000_000) -> tuple[int | None, str]:
    if not raw:
        return None, "is required; give a whole number above 0"
    if not raw.lstrip("+-").isdecimal():
        return None, f"{raw!r} is not a whole number above 0"
    value = int(raw)
    if value <= 0:
        return None, f"must be above 0, not {raw}"
    if value > limit:
        return None, f"{raw} is more than {limit:,}"
    return value, ""


def parse_money(raw: str, *, required: bool, limit: Decimal = Decimal("10000000000")) -> tuple[Decimal | None, str]:
    if not raw:
        return (None, "is required; give an amount like 12.50") if required else (Decimal("0.00"), "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None, f"{raw!r} is not an amount (use a dot for decimals, no currency sign)"
    if not value.is_finite():
        return None, f"{raw!r} is not an amount"
    if value < 0:
        return None, f"must be 0 or more, not {raw}"
    if value >= limit:
        return None, f"{raw} is too large"
    if -value.as_tuple().exponent > 2:
        return None, f"{raw} has more than 2 decimals"
    return value, ""


def parse_email(raw: str) -> tuple[str | None, str]:
    if not raw:
        return None, "is required"
    raw = normalize_address(raw)
    try:
        validate_email_address(raw)  # internationalised addresses too (RFC 6531/6532)
    except ValidationError:
        return None, f"{raw!r} is not an email address"
    if len(raw) > 254:
        return None, "is longer than 254 characters"
    return raw, ""


def parse_date(raw: str) -> tuple[dt.date | None, str]:
    if not raw:
        return None, ""
    try:
        return dt.date.fromisoformat(raw), ""
    except ValueError:
        return None, f"{raw!r} is not a date; use YYYY-MM-DD"


class ImportHandler(ABC):
    """What one kind of import does with its units. Subclasses set the class attributes.

    ``group`` reads rows into units without touching the database;
    ``check`` looks a chunk of units up in batches (unknown SKUs, rows
    already imported) and writes nothing; ``lock`` takes the chunk's row
    locks up front when importing; ``apply`` imports one checked unit
    inside the savepoint the runner opens, returning True when it created
    something and False when it was already there, or raising ImportRefused.
    """

    kind: ClassVar[str]
    title: ClassVar[str]  # "orders"
    unit_name: ClassVar[tuple[str, str]]  # ("order", "orders")
    permission: ClassVar[str]  # "app_label.codename"
    required_columns: ClassVar[tuple[str, ...]]
    optional_columns: ClassVar[tuple[str, ...]] = ()
    example: ClassVar[str] = ""
    preview_columns: ClassVar[list[tuple[str, str]]] = []
    changelist_url_name: ClassVar[str] = ""  # where the imported rows are listed

    def extra_fields(self) -> dict:
        """Form fields the upload page asks for besides the file (e.g. a channel)."""
        return {}

    def options_from_form(self, cleaned_data: dict) -> dict:
        """The job's options (JSON) from the upload form's extra fields."""
        return {}

    def describe_options(self, options: dict) -> str:
        return ""

    @abstractmethod
    def group(self, rows: list[CsvRow], options: dict) -> list[Unit]:
        """The file's rows as units, each imported whole or not at all (an order and its lines; a receipt row)."""

    @abstractmethod
    def check(self, units: list[Unit], options: dict) -> None:
        """Note every problem on its unit (row and field), without writing anything."""

    def lock(self, units: list[Unit], options: dict) -> None:  # noqa: B027 (optional: nothing to lock by default)
        """Lock, once and in a fixed order, the rows the chunk's good units will write (before the first apply).

        Savepoints do not release row locks: a handler that locked per unit
        would take them in file order and hold them all to the chunk's end,
        against workers that lock the same rows in key order.
        """

    @abstractmethod
    def apply(self, unit: Unit, *, options: dict, actor, job) -> bool:
        """Write one good unit; False when it was there already (skipped)."""

    @abstractmethod
    def preview(self, unit: Unit) -> dict:
        """What the dry run shows of a unit that would be created."""
