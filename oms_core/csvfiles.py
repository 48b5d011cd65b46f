"""CSV as the OMS reads and writes it: one reader for every upload, one guarded writer for every download.

Reading (``csv_records``): Python's reader, told nothing, takes a quote that
never closes as a cell running to the end of the file, so the lines after
it vanish into one cell and the file still "parses". Here that file is
refused, naming the line where the quote opened.

Writing (``csv_writer``): a spreadsheet runs a cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula, so a name a
user typed (``=HYPERLINK(...)``) would run on the machine of whoever opens
the export. Text cells that start so get a leading single quote, as OWASP
advises (the spreadsheet shows the text and runs nothing). Numbers are not
text: an ``int`` or ``Decimal`` is written as the number it is, so a
negative amount stays ``-12.00``; callers pass amounts as numbers and
format them by quantizing, never as strings.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FIELD_END = re.compile(r"[,\r\n]")


class CsvSyntaxError(ValueError):
    """The text is not CSV that can be read as its author meant; ``line`` is the file's line (1 is the first)."""

    def __init__(self, line: int, message: str):
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


def csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record of a comma-separated text with the line it ends on, as ``csv.reader`` reads it.

    Blank lines come as empty records (they keep their number). A quote
    that opens a cell and never closes raises CsvSyntaxError naming the line
    where it opened, before the record it swallowed is yielded; so does
    anything else the reader refuses (a cell over its size limit), naming
    the line it reached.
    """
    lines = _Lines(text)
    reader = csv.reader(lines)
    pending: tuple[int, int, list[str]] | None = None  # (offset where it starts, line it ends on, cells)
    while True:
        start = lines.offset
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise _explain(text, start, reader.line_num, str(error)) from None
        if pending is not None:
            yield pending[1], pending[2]
        pending = (start, reader.line_num, cells)
    if pending is not None:
        opened = _unclosed_quote(text, pending[0])
        if opened is not None:
            raise _unclosed(text, opened)
        yield pending[1], pending[2]


class _Lines:
    """The text's lines as ``open(..., newline="")`` gives them, counting how far the reader has read."""

    def __init__(self, text: str):
        self._lines = iter(io.StringIO(text, newline=""))
        self.offset = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.offset += len(line)
        return line


def _unclosed_quote(text: str, position: int) -> int | None:
    """Where a quote that never closes opens, reading a record from ``position`` as csv.reader does; else None.

    A quote opens a cell only as its first character; inside a quoted cell
    ``""`` is a quote; after the closing quote the rest of the cell is plain.
    """
    at_cell_start = True
    while position < len(text):
        if at_cell_start and text[position] == '"':
            opened, position = position, position + 1
            while True:
                close = text.find('"', position)
                if close < 0:
                    return opened
                if text.startswith('"', close + 1):
                    position = close + 2
                    continue
                position = close + 1
                break
            at_cell_start = False
            continue
        end = _FIELD_END.search(text, position)
        if end is None:
            return None
        position, at_cell_start = end.end(), True
    return None


def _line_of(text: str, position: int) -> int:
    before = text[:position]
    return 1 + before.count("\n") + before.count("\r") - before.count("\r\n")


def _unclosed(text: str, opened: int) -> CsvSyntaxError:
    return CsvSyntaxError(
        _line_of(text, opened),
        "a quote opens here and never closes, so every line after it would be read into one cell; "
        'close the quote, or double a quote meant as text ("")',
    )


def _explain(text: str, start: int, line: int, error: str) -> CsvSyntaxError:
    opened = _unclosed_quote(text, start)
    if opened is not None:  # a runaway cell grew past the reader's limit before the end of the file
        return _unclosed(text, opened)
    return CsvSyntaxError(line, f"is not valid CSV ({error})")


# --- writing -----------------------------------------------------------------------


def inert(text: str) -> str:
    """A text cell a spreadsheet shows as text and never runs as a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Any) -> str:
    """One cell as written: text guarded, numbers and dates as they are, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # 1E+2 would be text to a spreadsheet; 100 is a number
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return inert(str(value))


class GuardedWriter:
    """``csv.writer`` with every cell passed through ``csv_cell``."""

    def __init__(self, out: TextIO, **options):
        self._writer = csv.writer(out, **options)

    def writerow(self, cells: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(value) for value in cells])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for cells in rows:
            self.writerow(cells)


def csv_writer(out: TextIO, **options) -> GuardedWriter:
    """A writer for every CSV the OMS hands out: text that could run as a formula is made inert."""
    return GuardedWriter(out, **options)


def csv_text(rows: Iterable[Iterable[Any]], **options) -> str:
    """Rows (the header first) as CSV text, through ``csv_writer``."""
    out = io.StringIO()
    csv_writer(out, **options).writerows(rows)
    return out.getvalue()
