"""Warehouses run by a third-party logistics provider (3PL) or an external WMS.

A warehouse with a ``PartnerConnection`` is operated through it: shipments routed there are released to the
partner (``services.releases``), the partner's acknowledgements, ship confirmations, stock snapshots and
receipts come back as inbound messages (``services.inbound``), and every message, both ways, is a
``PartnerMessage`` row: idempotent, retried with backoff, dead-lettered for ops. The wire is a transport
(``transports``): REST with signed webhooks today; a file-drop transport plugs in beside it.
"""
