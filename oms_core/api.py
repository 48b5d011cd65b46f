"""What every HTTP API of the OMS takes and answers alike: plain text, and errors that name their field.

``PlainText`` is the rule for every text the API reads, from a body, a path or
a query: control characters other than tab and newline (CR LF) are refused, and
so are lone surrogates (a JSON ``\\ud800`` that is no character). NUL above all:
PostgreSQL text cannot hold it, so it would fail the write (a 500) where SQLite
kept it. Use it in an ``Annotated`` type, after any ``StringConstraints``::

    Sku = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), PlainText]

The OpenAPI schema shows the rule as the string's ``pattern``.

``Money`` is an amount as the API takes it: a JSON string of digits with at
most two decimals (``"24.00"``, ``"24"``), never a JSON number (a float on the
way); ``MoneyOut`` is one as it answers it (``"24.00"``). Both are strings with
a ``pattern`` in the schema.

``field_error(loc, msg)`` is one error as every API answers it: ``loc``, where
(``["body", "lines", 1, "sku"]``, ``["query", "sku", 0]``, ``["path", "number"]``),
``path``, the same as the client wrote it (``lines[1].sku``, ``sku[0]``,
``number``), and ``msg``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

# C0 controls but tab, LF and CR; DEL; C1 controls.
_CONTROLS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
# And surrogates, which are no characters (UTF-8 has none): JSON text cannot carry them, so the schema's pattern
# leaves them out (a range of them there makes generators ignore the whole pattern).
_FIND_REFUSED = re.compile(f"[{_CONTROLS}\\ud800-\\udfff]")
# The rule as a JSON Schema (ECMA-262) pattern, for the OpenAPI schema.
PLAIN_TEXT_PATTERN = f"^[^{_CONTROLS}]*$"


def control_character_problem(value: str) -> str | None:
    """Why ``value`` is not plain text (its first refused character and where), or None when it is."""
    found = _FIND_REFUSED.search(value)
    if found is None:
        return None
    code, position = ord(found.group()), found.start() + 1
    if 0xD800 <= code <= 0xDFFF:
        return f"contains a lone surrogate (U+{code:04X}) at position {position}, which is no character"
    return f"contains a control character (U+{code:04X}) at position {position}; only tab and newline are allowed"


def _plain_text(value: Any) -> Any:
    if isinstance(value, str):
        problem = control_character_problem(value)
        if problem is not None:
            raise PydanticCustomError("control_character", problem)
    return value


class _PlainText:
    """Pydantic metadata: the text is refused when it holds a control character; the schema shows the pattern."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Checked before the string's own constraints, so the position is where the client put the character.
        return core_schema.no_info_before_validator_function(_plain_text, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        json_schema = handler(schema)
        if json_schema.get("type") == "string" and "pattern" not in json_schema:
            json_schema["pattern"] = PLAIN_TEXT_PATTERN
        return json_schema

    def __repr__(self) -> str:
        return "PlainText"


PlainText = _PlainText()

# Order amounts are stored as 12 digits with 2 decimals: at most 10 before the point.
MONEY_PATTERN = r"^\d{1,10}(\.\d{1,2})?$"
MONEY_OUT_PATTERN = r"^\d+\.\d{2}$"
_MONEY = re.compile(MONEY_PATTERN.removeprefix("^").removesuffix("$"), re.ASCII)  # \d as JSON Schema reads it


def _money(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise PydanticCustomError("money_type", 'must be the amount as a string, e.g. "24.00", not a JSON number')
    if not _MONEY.fullmatch(value):
        raise PydanticCustomError(
            "money", 'must be an amount of at most 10 digits and 2 decimals, not negative, e.g. "24.00"'
        )
    return Decimal(value)


Money = Annotated[
    Decimal,
    PlainValidator(_money, json_schema_input_type=str),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["24.00"]}, mode="validation"),
]
MoneyOut = Annotated[str, WithJsonSchema({"type": "string", "pattern": MONEY_OUT_PATTERN, "examples": ["24.00"]})]

# Where a ``loc`` starts: the part of the request, not a name the client wrote.
_PARTS = {"body", "query", "path", "header", "cookie", "form"}


def format_path(loc: tuple | list) -> str:
    """``("lines", 1, "sku")`` as ``lines[1].sku``; the request's part (``body``, ``query``...) left out."""
    parts = list(loc)
    if parts and parts[0] in _PARTS:
        del parts[0]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def field_error(loc: tuple | list, msg: str) -> dict:
    """One error as the API answers it: ``loc``, ``path`` as the client wrote it, and ``msg``."""
    return {"loc": list(loc), "path": format_path(loc), "msg": msg}


class FieldErrorOut(BaseModel):
    loc: list[str | int] = Field(description='Where, as a list: `["body", "lines", 1, "sku"]`, `["path", "number"]`.')
    path: str = Field(
        description="The same as the client wrote it: `lines[1].sku`, `number`, `sku[0]`; empty for the whole body."
    )
    msg: str


class FieldErrorsOut(BaseModel):
    """Every error of the request at once, each naming its field."""

    detail: list[FieldErrorOut]
