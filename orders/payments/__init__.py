"""Payments, credit control and the accounting export.

A Django app nested in ``orders``: gateways (``gateways/``), the payment
transactions on each order's timeline, the credit rules that hold an order
for review, the double-entry journal and its daily export.
"""
