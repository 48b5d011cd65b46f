"""Filters the order list takes so that every number on the cockpit links to the list behind it.

``COCKPIT_ORDER_FILTERS`` joins the order list's ``list_filter`` (order_list.py).
"""

COCKPIT_ORDER_FILTERS: tuple = ()
