"""The order app's console, by subject; importing them registers them with the console."""

from . import business, channels, coverage, customers, delay_notices, holds, orders, shipments  # noqa: F401
