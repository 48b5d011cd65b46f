"""The cockpit's figures as plain data a page, a JSON view or a CSV writer can take as they are."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal


def plain(value):
    """Dataclasses as dicts (with what their ``as_data`` adds), Decimals as strings, dates in ISO form."""
    if hasattr(value, "as_data"):
        return value.as_data()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def fields_as_data(instance, *extra: str) -> dict:
    """A dataclass's fields, and the properties named in ``extra``, as plain data."""
    data = {field.name: plain(getattr(instance, field.name)) for field in dataclasses.fields(instance)}
    data.update({name: plain(getattr(instance, name)) for name in extra})
    return data
