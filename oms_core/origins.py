"""Web origins (``https://shop.example``, ``http://localhost:3000``) as a channel allows them: one per line."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def normalize_origin(text: str) -> str:
    """``scheme://host[:port]`` in lower case, as browsers send it in ``Origin``; ValueError says what is wrong."""
    text = text.strip()
    if text == "*":
        raise ValueError("a wildcard is not allowed: name each store's address")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("write it as https://shop.example (the scheme and the host)")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("an origin is the scheme, the host and the port only: no path, query or user")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 0 to 65535") from None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}[parts.scheme.lower()]
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None and port != default_port else "")


def origin_of(url: str) -> str:
    """The origin of a page's address: ``https://oms.example/admin/`` is ``https://oms.example``."""
    parts = urlsplit(url)
    return normalize_origin(f"{parts.scheme}://{parts.netloc}")


def parse_origins(text: str) -> list[str]:
    """The origins of a text of one per line (blank lines skipped), normalised, each once, in the order given."""
    origins: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            origin = normalize_origin(line)
        except ValueError as problem:
            raise ValidationError(f"Line {number} ({line.strip()!r}): {problem}.", code="origin") from None
        if origin not in origins:
            origins.append(origin)
    return origins


def validate_origins(text: str) -> None:
    """A model field's validator: every line an origin (the error names the line)."""
    parse_origins(text)
