"""The link to an order's status page that every customer email of the order carries.

The token in the link is 32 bytes of HMAC-SHA256, keyed by the site's
SECRET_KEY, of the link's random ``nonce``; the database holds the nonce and
the token's SHA-256, never the token, so neither a copy of the database nor
its backups open a page. The outbox does not hold it either: a customer
message's row carries the mark ``status_page`` and its address is made when
the message is rendered (``message_context``), so a message queued before a
link was revoked goes out with the new one. Deriving the token (rather than keeping it) is what
lets the second, third … email of an order carry the link the first one did.
A SECRET_KEY rotated through SECRET_KEY_FALLBACKS keeps the links working; a
key dropped altogether makes the next email replace the link.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .. import events
from ..exceptions import OrderError
from ..models import Order, OrderStatusLink
from ._common import lock_order

_KEY_SALT = "orders.status_link"


def digest(token: str) -> str:
    """The SHA-256 a link is found by (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _token(nonce: str, secret: str) -> str:
    mac = salted_hmac(_KEY_SALT, nonce, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def page_url(token: str) -> str:
    """The absolute address of the status page of ``token`` (OMS_BASE_URL, where links in emails point)."""
    before, after = _page_url_around(settings.OMS_BASE_URL, get_urlconf(), get_script_prefix())
    return f"{before}{token}{after}"


@functools.cache
def _page_url_around(base_url: str, urlconf: str | None, script_prefix: str) -> tuple[str, str]:
    """What comes before and after the token in a page address: resolved once for each base address, URL
    configuration and script prefix, not once a link (a routing batch makes a hundred)."""
    marker = "TOKEN"
    path = reverse("order_status_page", args=[marker], urlconf=urlconf)
    before, after = path.split(marker)
    return f"{base_url.rstrip('/')}{before}", after


def _new_link(order_id: int) -> tuple[OrderStatusLink, str]:
    nonce = secrets.token_urlsafe(32)
    token = _token(nonce, settings.SECRET_KEY)
    return OrderStatusLink(order_id=order_id, nonce=nonce, token_digest=digest(token)), page_url(token)


def _url_of(link: OrderStatusLink) -> str | None:
    """The link's address, from the current key or a fallback; None when no key the site has made it."""
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        token = _token(link.nonce, secret)
        if digest(token) == link.token_digest:
            return page_url(token)
    return None


def status_url(order: Order) -> str:
    """The address of the order's status page, its link made now if it has none. Call inside the caller's
    transaction (the link is written with the email that carries it)."""
    return status_urls([order.pk]).get(order.pk, "")


def live_status_url(order: Order) -> str:
    """The address of the order's live link, blank when it has none; makes nothing (the console's previews)."""
    link = OrderStatusLink.objects.filter(order=order, revoked_at__isnull=True).first()
    return (_url_of(link) or "") if link else ""


def status_urls(order_ids: Iterable[int]) -> dict[int, str]:
    """The status page addresses of several orders by order id, a link made for each order without one.

    A fixed number of queries whatever the number of orders (a routing batch
    emails many). Call inside the caller's transaction.
    """
    ids = set(order_ids)
    urls = _live_urls(ids)
    missing = sorted(ids - urls.keys())
    if missing:
        # A link another transaction made meanwhile wins (the one-live-link constraint); it is read back below,
        # and the address of each link written here is known without deriving its token again.
        built = [_new_link(pk) for pk in missing]
        OrderStatusLink.objects.bulk_create([link for link, _ in built], ignore_conflicts=True)
        urls.update(_live_urls(set(missing), known={link.token_digest: url for link, url in built}))
    return urls


def _live_urls(ids: set[int], known: dict[str, str] | None = None, *, write: bool = True) -> dict[int, str]:
    """The live links' addresses by order id; ``known``: addresses by token digest already derived. A link no key
    of the site opens is revoked (unless not ``write``) and left out."""
    urls = {}
    for link in OrderStatusLink.objects.filter(order_id__in=ids, revoked_at__isnull=True).only(
        "order_id", "nonce", "token_digest"
    ):
        url = (known or {}).get(link.token_digest) or _url_of(link)
        if url is None:  # made with a SECRET_KEY the site no longer has: revoked, and a new one made
            if write:
                OrderStatusLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
            continue
        urls[link.order_id] = url
    return urls


# The mark a customer message's context carries in place of the address (which holds the token).
MARK = "status_page"


def message_context(messages, *, preview: bool = False) -> dict[int, dict]:
    """``status_url`` for each message marked ``status_page``, by message id: the order's live link, made now
    when the order has none. A fixed number of queries for a batch of messages (the outbox's send-time hook).

    A ``preview`` (the console's message page) makes no link: it shows the order's live link, or none.
    """
    marked = [message for message in messages if message.order_id and message.context.get(MARK)]
    if not marked:
        return {}
    if preview:
        urls = _live_urls({message.order_id for message in marked}, write=False)
    else:
        with transaction.atomic():
            urls = status_urls(message.order_id for message in marked)
    return {message.pk: {"status_url": urls[message.order_id]} for message in marked if message.order_id in urls}


@transaction.atomic(durable=True)
def revoke_status_link(*, order_id: int, actor) -> str:
    """Revoke the order's status page link and make a new one; returns the new address.

    The page answers 404 for the old link from now on; the emails queued
    from now on carry the new link. Writes the timeline entry.
    """
    order = lock_order(order_id)
    link = OrderStatusLink.objects.select_for_update().filter(order=order, revoked_at__isnull=True).first()
    if link is None:
        raise OrderError(f"{order} has no status page link to revoke: no email about it has been sent yet.")
    link.revoked_at = timezone.now()
    link.revoked_by = actor if getattr(actor, "is_authenticated", False) else None
    link.save(update_fields=["revoked_at", "revoked_by"])
    events.status_link_revoked(order, actor=actor)
    return status_url(order)
