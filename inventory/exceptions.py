"""The inventory domain's errors, each with a message an operator can act on."""


class InventoryError(Exception):
    """Base class for refusals by the inventory services."""


class InsufficientStock(InventoryError):
    """The change would take on hand below zero or below what is allocated."""


class InvalidCount(InventoryError):
    """A cycle count is not in a state that allows the step."""


class StockChanged(InventoryError):
    """Stock planned without locks was taken by another transaction; plan again."""
