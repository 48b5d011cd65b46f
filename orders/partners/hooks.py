"""Loose hooks: a product saved (the console, an import) is sent to the 3PLs after commit."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save

from inventory.models import Product

SYNC_TASK = "orders.partners.tasks.sync_partner_items"


def product_saved(sender, instance: Product, raw: bool = False, **kwargs) -> None:
    if raw:  # loading fixtures
        return
    from django.utils.module_loading import import_string

    from .models import PartnerConnection

    product_id = instance.pk

    def sync() -> None:
        if PartnerConnection.objects.filter(is_active=True).exists():
            import_string(SYNC_TASK).delay([product_id])

    transaction.on_commit(sync)


def connect() -> None:
    post_save.connect(product_saved, sender=Product, dispatch_uid="partners_product_saved")
