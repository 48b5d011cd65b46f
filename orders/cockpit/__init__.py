"""The operations cockpit's numbers: key figures and chart series for a period, computed in the database.

    period = Period.last_7_days(channel_id=None, warehouse_id=None)   # or Period.from_query(request.GET)
    kpis = kpis_for(period)        # Kpis: every figure, each with the console list behind it
    charts = charts_for(period)    # {key: Chart}: labels and datasets, .chartjs() and .csv_rows()
    kpis.as_data()                 # JSON-ready

Both are kept ``COCKPIT_CACHE_SECONDS`` (60) in Django's cache per period and
filter; ``fresh=True`` computes again. Definitions: ``kpis`` and ``charts``;
the populations they share: ``facts``; the lists behind the figures: ``links``.
"""

from .charts import Chart, Dataset, charts_for
from .kpis import Amount, Figure, Kpis, Part, Percentiles, Rate, ShippingCost, kpis_for
from .links import ListLink
from .periods import Period, Window

__all__ = [
    "Amount",
    "Chart",
    "Dataset",
    "Figure",
    "Kpis",
    "ListLink",
    "Part",
    "Percentiles",
    "Period",
    "Rate",
    "ShippingCost",
    "Window",
    "charts_for",
    "kpis_for",
]
