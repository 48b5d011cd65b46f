"""The signature both sides of a 3PL connection put on a message: HMAC-SHA256 over the timestamp and the body.

``X-OMS-Timestamp`` is the time of sending in whole seconds since the epoch; ``X-OMS-Signature`` is
``sha256=`` and the hex HMAC-SHA256, keyed with the connection's shared secret, of ``<timestamp>.<body>``
(the raw bytes). The timestamp is signed so that a captured message cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-OMS-Signature"
TIMESTAMP_HEADER = "X-OMS-Timestamp"
MESSAGE_ID_HEADER = "X-OMS-Message-Id"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, *, message_id: str, now: float | None = None) -> dict[str, str]:
    """The headers of a signed message: content type, message id, timestamp, signature."""
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        MESSAGE_ID_HEADER: message_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verification_problem(
    secret: str, body: bytes, *, timestamp: str, received: str, max_skew_seconds: int, now: float | None = None
) -> str | None:
    """Why a signed message is refused (bad signature, stale or missing timestamp), or None when it is good."""
    expected = signature(secret or "no secret matches", timestamp, body)
    if not (secret and hmac.compare_digest(expected.encode(), received.strip().encode("latin-1", "replace"))):
        return "the signature does not match the connection's secret"
    try:
        sent = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} must be whole seconds since the epoch"
    skew = abs((now if now is not None else time.time()) - sent)
    if skew > max_skew_seconds:
        return f"the timestamp is {int(skew)} s from the OMS's clock, more than {max_skew_seconds} s"
    return None
