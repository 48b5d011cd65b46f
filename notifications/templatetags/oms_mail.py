"""Filters for message templates, whose snapshots hold JSON (ISO dates, decimal strings)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone

register = template.Library()

CURRENCY_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@register.filter
def money(value, currency: str = "") -> str:
    """``"1234.5"|money:"USD"`` → ``$1,234.50``; unknown currencies are written after the amount."""
    if value in (None, ""):
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount:,.2f}"
    symbol = CURRENCY_SYMBOLS.get((currency or "").upper())
    if symbol:
        return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"
    return f"{text} {currency}".strip()


@register.filter
def isodate(value):
    """An ISO date or datetime string (as the snapshot stores it) back to a date/datetime for ``|date``."""
    if not value or isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        if len(text) <= 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return value


# Fast English date formats for the default templates (Django's |date is ~10x slower
# and the outbox renders hundreds of messages a second): an ISO string or date in,
# "Sunday, November 29" / "November 29, 2026" / "November 29" out.
@register.filter
def weekday_date(value) -> str:
    day = _as_date(value)
    return f"{day:%A, %B} {day.day}" if day else ""


@register.filter
def long_date(value) -> str:
    day = _as_date(value)
    return f"{day:%B} {day.day}, {day.year}" if day else ""


@register.filter
def short_date(value) -> str:
    day = _as_date(value)
    return f"{day:%B} {day.day}" if day else ""


def _as_date(value) -> dt.date | None:
    value = isodate(value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value if isinstance(value, dt.date) else None
