"""The order domain's errors. Each carries a message an operator can act on."""


class OrderError(Exception):
    """Base class for refusals by the order services."""


class InvalidTransition(OrderError):
    """The order's current status does not allow the requested move."""

    def __init__(self, *, order, current: str, target: str):
        from .models import ORDER_TRANSITIONS, OrderStatus

        self.order = order
        self.current = current
        self.target = target
        allowed = sorted(OrderStatus(s).label.lower() for s in ORDER_TRANSITIONS[current])
        allowed_text = ", ".join(allowed) if allowed else "nothing (final status)"
        super().__init__(
            f"Order {order} cannot go from {OrderStatus(current).label.lower()} to "
            f"{OrderStatus(target).label.lower()}; from {OrderStatus(current).label.lower()} "
            f"it can go to: {allowed_text}."
        )


class ReasonRequired(OrderError):
    """An operator action that must be explained was given no reason."""


class IntakeConflict(OrderError):
    """A channel sent a different order under an external id it already used."""

    def __init__(self, *, order, differences: list[dict]):
        self.order = order
        self.differences = differences
        paths = ", ".join(d["path"] for d in differences[:10]) or "the payload"
        super().__init__(f"Order {order} was already placed with this external id and a different {paths}.")


class OrderChanged(OrderError):
    """The order moved on since the caller read it (its version no longer matches): read it again and retry."""


class CancellationRefused(OrderError):
    """A cancellation of some items that cannot be made; ``problems`` names each line at fault (line id → why)."""

    def __init__(self, message: str, *, problems: dict[int, str] | None = None):
        super().__init__(message)
        self.problems = problems or {}


class EditRefused(OrderError):
    """An edit of an order's items or address that cannot be made; ``problems`` names each field at fault
    (``changes[1].quantity`` → why), as the intake's validation errors do."""

    def __init__(self, message: str, *, problems: dict[str, str] | None = None):
        super().__init__(message)
        self.problems = problems or {}


class HoldReleaseRefused(OrderError):
    """The operator may not release a hold of this type (its ``release_<type>_hold`` permission is missing)."""


class ShipmentChangeRefused(OrderError):
    """A shipment cannot be split, merged or moved as asked; the message says why."""


class CustomerRecordError(OrderError):
    """A merge, erasure or note on a customer was refused (an erased customer, the same customer twice)."""
