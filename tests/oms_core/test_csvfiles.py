"""The shared CSV reader and writer, below every upload and download (the pages' tests drive them end to end)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from oms_core.csvfiles import CsvSyntaxError, csv_records, csv_text


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote(start):
    text = csv_text([["name"], [f"{start}SUM(A1:A9)"]])

    assert list(csv.reader(io.StringIO(text)))[1] == [f"'{start}SUM(A1:A9)"]


def test_numbers_and_dates_we_write_stay_what_they_are_and_plain_text_is_untouched():
    row = [Decimal("-12.00"), -3, Decimal("1E+2"), dt.date(2026, 3, 2), None, "Cash - Stripe", "a=b"]

    text = csv_text([row])

    assert text == "-12.00,-3,100,2026-03-02,,Cash - Stripe,a=b\r\n"


def test_a_number_given_as_text_is_text_and_guarded():
    assert csv_text([["-12.00"]]) == "'-12.00\r\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a,b\n1,2\n3,"x\n4,5\n', 3),
        ('a,b\r\n1,"ok"\r\n3,"x\r\n\r\n', 3),
        ('a,b\n1,"two\nlines"\n3,4,"never\n', 4),  # the record before spans lines 2-3
        ('a,"b', 1),
        ("a,b\n1," + '"' + "x" * 200_000, 2),  # past the reader's cell limit before the end
    ],
)
def test_a_quote_that_never_closes_is_named_by_the_line_it_opens_on(text, line):
    with pytest.raises(CsvSyntaxError) as refused:
        list(csv_records(text))

    assert refused.value.line == line
    assert str(refused.value).startswith(f"line {line}: a quote opens here and never closes")


def test_quotes_that_close_read_as_before():
    text = 'a,b\r\n1,"x""y"\r\n\r\n2,5" screen\r\n3,"multi\r\nline"\r\n'

    assert list(csv_records(text)) == [
        (1, ["a", "b"]),
        (2, ["1", 'x"y']),
        (3, []),
        (4, ["2", '5" screen']),
        (6, ["3", "multi\r\nline"]),
    ]
