"""Secrets the OMS must read back (a storefront's webhook secret), encrypted at rest with keys from the environment.

Keys: ``OMS_SECRET_KEYS``, comma-separated Fernet keys, newest first (a
Django setting of that name wins over the environment variable). The newest
key encrypts; every key decrypts, so a key is rotated by putting a new one
in front, running ``manage.py rotate_secrets`` (every secret re-encrypted
with the newest key), then dropping the old one. Without it, as in the
embedded shape, the key is derived from ``SECRET_KEY``; keys derived from
``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` always decrypt too, so moving to
``OMS_SECRET_KEYS`` (or rotating ``SECRET_KEY`` the Django way) leaves every
stored secret readable until ``rotate_secrets`` moves it to the newest key.

Fernet is AES-128-CBC with an HMAC-SHA256 over it: a token cannot be read
or altered without the key. ``EncryptedTextField`` encrypts on the way to
the database and decrypts on the way back; code reads and assigns plain
text. A stored value that no key opens reads as an ``UnreadableSecret``
(empty, so nothing can use it) and is written back unchanged, never lost.
"""

from __future__ import annotations

import base64
import functools
import os
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models.functions import Cast

SETTING = "OMS_SECRET_KEYS"


class UnreadableSecret(str):
    """A stored secret that no configured key opens: empty to whoever reads it, written back as it was."""

    token: str

    def __new__(cls, token: str = ""):
        secret = super().__new__(cls, "")
        secret.token = token
        return secret

    def __repr__(self) -> str:
        return "UnreadableSecret()"


def generate_key() -> str:
    """A new random key for the front of OMS_SECRET_KEYS."""
    return Fernet.generate_key().decode()


def configured_keys() -> tuple[str, ...]:
    """OMS_SECRET_KEYS as given, newest first (empty: the key is derived from SECRET_KEY)."""
    value = getattr(settings, SETTING, None)
    if value is None:
        value = os.environ.get(SETTING, "")
    if isinstance(value, str):
        value = value.split(",")
    return tuple(key.strip() for key in value if key and key.strip())


@functools.lru_cache(maxsize=8)
def _derived_key(secret_key: str) -> str:
    """A Fernet key derived from a Django SECRET_KEY (HKDF-SHA256, its own salt: no other use shares it)."""
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"oms-secrets-at-rest", info=b"fernet").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(material).decode()


def _key_ring() -> tuple[str, ...]:
    """Every key that decrypts, the one that encrypts first."""
    derived = [
        _derived_key(key) for key in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())) if key
    ]
    ring = [*configured_keys(), *derived]
    return tuple(dict.fromkeys(ring))  # in order, once each


@functools.lru_cache(maxsize=8)
def _fernets(ring: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    if not ring:
        raise ImproperlyConfigured(f"No key to encrypt secrets with: set {SETTING} or SECRET_KEY.")
    fernets = []
    for position, key in enumerate(ring, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError:
            raise ImproperlyConfigured(
                f"{SETTING}: key {position} is not a Fernet key (32 bytes in url-safe base64, 44 characters); "
                "make one with `manage.py rotate_secrets --new-key`."
            ) from None
    return MultiFernet(fernets), fernets[0]


def encrypt(text: str) -> str:
    """``text`` encrypted with the newest key, as ASCII."""
    ring, _ = _fernets(_key_ring())
    return ring.encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    """The text of a token made by ``encrypt`` under any key of the ring; raises InvalidToken otherwise."""
    ring, _ = _fernets(_key_ring())
    return ring.decrypt(token.encode()).decode()


def reveal(token: str) -> str:
    """The token's text, or an UnreadableSecret holding the token when no key opens it."""
    try:
        return decrypt(token)
    except InvalidToken:
        return UnreadableSecret(token)


def is_current(token: str) -> bool:
    """Whether the newest key made this token (nothing for rotate_secrets to do)."""
    _, newest = _fernets(_key_ring())
    try:
        newest.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database (``OMS_SECRET_KEYS``); the model reads and assigns it in clear.

    Empty stays empty (no secret is no secret). It cannot be searched:
    each save encrypts anew, so equal secrets never look alike.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return reveal(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if isinstance(value, UnreadableSecret):
            return value.token  # written back as it was: a key put back makes it readable again
        if not value:
            return value
        return encrypt(value)


@dataclass
class Rotation:
    """What ``rotate_encrypted_fields`` did for one field: rows moved to the newest key, already on it, unreadable."""

    label: str  # "orders.Channel.webhook_secret"
    rotated: int = 0
    current: int = 0
    unreadable: list = field(default_factory=list)  # primary keys


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every EncryptedTextField of the installed models."""
    return [
        (model, model_field)
        for model in apps.get_models()
        for model_field in model._meta.concrete_fields
        if isinstance(model_field, EncryptedTextField)
    ]


def rotate_encrypted_fields(*, dry_run: bool = False) -> list[Rotation]:
    """Re-encrypt with the newest key every stored secret another key made; one transaction per field.

    Rows are locked in key order while their field is rewritten. A value no
    key opens is left as it is and listed. With ``dry_run``, only counts.
    """
    _, newest = _fernets(_key_ring())
    done = []
    for model, model_field in encrypted_fields():
        rotation = Rotation(f"{model._meta.label}.{model_field.name}")
        with transaction.atomic():
            rows = (
                model._default_manager.select_for_update()
                .exclude(**{model_field.name: ""})
                .exclude(**{f"{model_field.name}__isnull": True})
                .annotate(stored_token=Cast(model_field.name, output_field=models.TextField()))
                .order_by("pk")
                .values_list("pk", "stored_token")
            )
            for pk, token in rows:
                try:
                    newest.decrypt(token.encode())
                except InvalidToken:
                    pass
                else:
                    rotation.current += 1
                    continue
                text = reveal(token)
                if isinstance(text, UnreadableSecret):
                    rotation.unreadable.append(pk)
                    continue
                if not dry_run:  # the field encrypts on the way in, with the newest key
                    model._default_manager.filter(pk=pk).update(**{model_field.name: text})
                rotation.rotated += 1
        done.append(rotation)
    return done
