"""The order app's HTTP entry points, one module per caller.

- ``channels``: the sales channels' API (``/api/v1/orders``, stock), signed in with a channel key.
- ``carriers``: the carriers' tracking webhook (``/api/v1/tracking``), signed in with a vendor token.
- ``shopify``: Shopify's ``orders/create`` webhook, verified by the channel's HMAC secret.

``oms_site/api.py`` mounts their routers under ``/api/v1/``.
"""
