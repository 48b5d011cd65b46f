"""The console list filters behind the cockpit's links that are not the lists' everyday ones.

A ``CockpitFilter`` claims its query parameters (so Django's changelist does
not refuse them), narrows the list with the condition ``facts`` gives, and
shows in the sidebar only while it narrows the list: its title, what it keeps
(selected) and "All" to lift it. A Django list filter without output is not
applied at all, so a filter that should narrow the list must have output
while its parameters are given. A value it cannot read sends the changelist
back with ``?e=1``, as a wrong lookup does.

The order list's filters are in ``orders/admin/cockpit_filters.py``; the one
here the returns list uses too: the order's warehouse.
"""

from __future__ import annotations

import datetime as dt
from abc import ABCMeta, abstractmethod

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q, QuerySet

from inventory.models import Warehouse

from .facts import warehouse_scope
from .periods import Window


class CockpitFilter(admin.ListFilter, metaclass=ABCMeta):
    """A filter of ``parameters`` (each read once), shown only while given; ``condition()`` is what it keeps."""

    parameters: tuple[str, ...] = ()

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1].strip()
        self.keeps: Q | None = None
        self.description = ""
        if self.used_parameters:
            try:
                self.keeps, self.description = self.read(self.used_parameters)
            except (ValueError, KeyError) as error:
                raise IncorrectLookupParameters(f"{self.title}: {error}") from error

    @abstractmethod
    def read(self, values: dict[str, str]) -> tuple[Q, str]:
        """The condition the given values mean and the words that say it; ValueError for a value it cannot read."""

    def has_output(self) -> bool:
        return self.keeps is not None

    def expected_parameters(self) -> list[str]:
        return list(self.parameters)

    def choices(self, changelist):
        yield {
            "selected": False,
            "query_string": changelist.get_query_string(remove=self.expected_parameters()),
            "display": "All",
        }
        yield {"selected": True, "query_string": changelist.get_query_string(), "display": self.description}

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset if self.keeps is None else queryset.filter(self.keeps)


class ChoiceFilter(CockpitFilter):
    """A cockpit filter of one parameter taking one of ``options`` (value -> words)."""

    options: dict[str, str] = {}

    def read(self, values):
        value = values[self.parameters[0]]
        if value not in self.options:
            raise ValueError(f"{value!r} is not one of {', '.join(self.options)}")
        return self.condition(value), self.options[value]

    @abstractmethod
    def condition(self, value: str) -> Q:
        """What the list keeps for ``value`` (one of ``options``)."""


class DaysFilter(CockpitFilter):
    """Local days from ``<name>__range__gte`` to ``<name>__range__lte`` (the date-range filters' names), both
    needed; ``condition(window)`` keeps what happened within them."""

    name = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            cls.parameters = (f"{cls.name}__range__gte", f"{cls.name}__range__lte")

    def read(self, values):
        first, last = (_day(values, parameter) for parameter in self.parameters)
        if last < first:
            raise ValueError(f"{last} is before {first}")
        return self.condition(Window.of_days(first, last)), f"{first.isoformat()} to {last.isoformat()}"

    @abstractmethod
    def condition(self, window: Window) -> Q:
        """What the list keeps for the days of ``window``."""


class WarehouseScopeFilter(CockpitFilter):
    """Orders a warehouse keeps (a shipment from it not cancelled, or stock reserved there), by its id."""

    title = "warehouse (ships or reserves)"
    parameters = ("warehouse",)
    order_ref = "pk"

    def read(self, values):
        value = values[self.parameters[0]]
        if not value.isdigit():
            raise ValueError(f"{value!r} is not a warehouse id")
        code = Warehouse.objects.filter(pk=int(value)).values_list("code", flat=True).first() or f"#{value}"
        return warehouse_scope(int(value), order_ref=self.order_ref), f"Ships from or reserved at {code}"


class OrderWarehouseFilter(WarehouseScopeFilter):
    """For rows of an order (returns): their order is one the warehouse keeps."""

    title = "order's warehouse (ships or reserves)"
    parameters = ("order_warehouse",)
    order_ref = "order_id"


def _day(values: dict[str, str], name: str) -> dt.date:
    value = values.get(name)
    if not value:
        raise ValueError(f"{name} is needed (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
