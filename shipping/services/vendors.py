"""A vendor's tracking webhook token: issued from the console, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

from ..models import Vendor


def hash_token(token: str) -> str:
    """How a webhook token is stored, and looked up when a carrier sends it."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_vendor_token(vendor: Vendor) -> str:
    """A new webhook token for the vendor (the old one stops working); shown once, stored hashed."""
    token = secrets.token_urlsafe(32)
    Vendor.objects.filter(pk=vendor.pk).update(webhook_token_hash=hash_token(token))
    return token
