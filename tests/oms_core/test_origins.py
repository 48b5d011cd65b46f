"""Web origins as a channel allows them: normalised as browsers send them, a bad line named."""

import pytest
from django.core.exceptions import ValidationError

from oms_core.origins import normalize_origin, origin_of, parse_origins


@pytest.mark.parametrize(
    ("written", "origin"),
    [
        ("https://Shop.Example/", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("  https://shop.example  ", "https://shop.example"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_an_origin_is_kept_as_a_browser_sends_it(written, origin):
    assert normalize_origin(written) == origin


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("*", "wildcard"),
        ("shop.example", "scheme and the host"),
        ("https://shop.example/products", "no path"),
        ("https://shop.example/?a=1", "no path"),
        ("https://user@shop.example", "no path"),
        ("https://shop.example:99999", "port"),
        ("javascript:alert(1)", "scheme and the host"),
    ],
)
def test_what_is_no_origin_is_refused_saying_why(written, words):
    with pytest.raises(ValueError, match=words):
        normalize_origin(written)


def test_a_list_is_one_a_line_each_once_and_a_bad_line_is_named():
    assert parse_origins("https://a.example\n\nHTTPS://A.example/\nhttp://b.example") == [
        "https://a.example",
        "http://b.example",
    ]
    with pytest.raises(ValidationError, match=r"Line 2 \('ftp://b.example'\)"):
        parse_origins("https://a.example\nftp://b.example")


def test_the_origin_of_an_address_is_its_scheme_host_and_port():
    assert origin_of("http://127.0.0.1:8000/admin/") == "http://127.0.0.1:8000"
