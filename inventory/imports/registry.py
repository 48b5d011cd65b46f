"""The import handlers by kind. Stock receipts are built in; orders registers its handler when the app is ready."""

from __future__ import annotations

from .base import ImportHandler

_HANDLERS: dict[str, ImportHandler] = {}


class UnknownImportKind(LookupError):
    pass


def register(handler: ImportHandler) -> None:
    """Make a kind of import available (called once per kind, from an AppConfig.ready)."""
    _HANDLERS[handler.kind] = handler


def get_handler(kind: str) -> ImportHandler:
    _load_builtin()
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise UnknownImportKind(f"No import handler for {kind!r}; is its app installed?") from None


def handlers() -> list[ImportHandler]:
    _load_builtin()
    return list(_HANDLERS.values())


def kind_title(kind: str) -> str:
    """A kind's name for people ("orders"), or the kind itself when its app is not installed."""
    _load_builtin()
    handler = _HANDLERS.get(kind)
    return handler.title if handler else kind


def _load_builtin() -> None:
    if "stock_receipt" not in _HANDLERS:
        from .stock_receipts import StockReceiptHandler

        register(StockReceiptHandler())
