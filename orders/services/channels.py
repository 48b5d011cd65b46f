"""Channel keys. API keys: issued in the console, shown once, kept only as a hash. Publishable keys (pk_…, the
storefront snippet's): public by design, so kept as they are, one per channel, rotated or revoked in the console.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from oms_core.sql import columns, from_row, prepared_cursor

from ..exceptions import OrderError, ReasonRequired
from ..models import Channel, ChannelApiKey

KEY_PREFIX = "oms_"
PUBLISHABLE_KEY_PREFIX = "pk_"
# A key's last use is written at most this often, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic(durable=True)
def issue_api_key(*, channel_id: int, name: str, actor) -> tuple[ChannelApiKey, str]:
    """A new key for the channel; returns the row and the key itself, which is never stored or shown again."""
    name = (name or "").strip()
    if not name:
        raise ReasonRequired("Name the key after where it will be used, e.g. 'storefront production'.")
    channel = Channel.objects.select_for_update().get(pk=channel_id)
    if not channel.is_active:
        raise OrderError(f"Channel {channel} is not active: activate it before issuing keys.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ChannelApiKey.objects.create(
        channel=channel,
        name=name,
        prefix=key[:12],
        key_hash=hash_api_key(key),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return row, key


@transaction.atomic(durable=True)
def revoke_api_key(*, key_id: int, actor) -> ChannelApiKey:
    """Stop a key working at once. Revoking twice is refused, so the first revoker stays on record."""
    row = ChannelApiKey.objects.select_for_update().get(pk=key_id)
    if row.revoked_at is not None:
        raise OrderError(f"Key {row.prefix}… was already revoked on {row.revoked_at:%Y-%m-%d %H:%M}.")
    row.revoked_at = timezone.now()
    row.revoked_by = actor if getattr(actor, "is_authenticated", False) else None
    row.save(update_fields=["revoked_at", "revoked_by"])
    return row


def authenticate_api_key(key: str) -> ChannelApiKey | None:
    """The live key row for a presented key (its channel active), or None. Notes the use now and then."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    row = _live_key(hash_api_key(key))
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ChannelApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


def _live_key(key_hash: str) -> ChannelApiKey | None:
    """The unrevoked key with this hash, its active channel attached: one hand-written read, every request."""
    key_columns, key_names = columns(ChannelApiKey, "k")
    channel_columns, channel_names = columns(Channel, "c")
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {key_columns}, {channel_columns} "
            f"FROM {ChannelApiKey._meta.db_table} AS k JOIN {Channel._meta.db_table} AS c ON c.id = k.channel_id "
            "WHERE k.key_hash = %s AND k.revoked_at IS NULL AND c.is_active",
            [key_hash],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    row = from_row(ChannelApiKey, key_names, found[: len(key_names)])
    row.channel = from_row(Channel, channel_names, found[len(key_names) :])
    return row


def new_publishable_key() -> str:
    """A fresh pk_… key: random, so that a rotated-away key is never issued again."""
    return PUBLISHABLE_KEY_PREFIX + secrets.token_urlsafe(24)


@transaction.atomic(durable=True)
def rotate_publishable_key(*, channel_id: int, actor) -> Channel:
    """Give the channel a new publishable key; the one it had stops working at once. Returns the channel.

    The change is on the channel's history (who, when, from which key to which).
    """
    channel = Channel.objects.select_for_update().get(pk=channel_id)
    if not channel.is_active:
        raise OrderError(f"Channel {channel} is not active: activate it before issuing a publishable key.")
    channel.publishable_key = new_publishable_key()
    channel.publishable_key_issued_at = timezone.now()
    channel._change_reason = "publishable key rotated"
    _attribute(channel, actor)
    channel.save(update_fields=["publishable_key", "publishable_key_issued_at"])
    return channel


@transaction.atomic(durable=True)
def revoke_publishable_key(*, channel_id: int, actor) -> Channel:
    """Take the channel's publishable key away: the store's snippet shows nothing until a new one is issued."""
    channel = Channel.objects.select_for_update().get(pk=channel_id)
    if not channel.publishable_key:
        raise OrderError(f"Channel {channel} has no publishable key to revoke.")
    channel.publishable_key = None
    channel.publishable_key_issued_at = None
    channel._change_reason = "publishable key revoked"
    _attribute(channel, actor)
    channel.save(update_fields=["publishable_key", "publishable_key_issued_at"])
    return channel


def channel_for_publishable_key(key: str) -> Channel | None:
    """The active channel whose publishable key this is, or None (unknown, rotated away, revoked, inactive)."""
    if not key or not key.startswith(PUBLISHABLE_KEY_PREFIX) or len(key) > 40:
        return None
    return Channel.objects.filter(publishable_key=key, is_active=True).first()


def _attribute(channel: Channel, actor) -> None:
    """The channel's history row names the person (a service name, like "seed", has no user row)."""
    if getattr(actor, "is_authenticated", False):
        channel._history_user = actor
