"""REST: each outbound message is a signed JSON POST to ``<endpoint>/messages``; inbound ones arrive at the webhook.

The body is the envelope ``{"message_id", "type", "sent_at", "payload"}``; the headers carry the message id
and the signature (``orders.partners.signing``). 2xx: delivered (409 too: the partner already has this
message id). Other 4xx: refused as it is. 5xx, a timeout or no connection: try again later.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from ..signing import signed_headers
from . import Delivered, Envelope, PermanentFailure, TemporaryFailure, Transport


class RestTransport(Transport):
    pushes_inbound = True

    def url(self) -> str:
        return self.connection.endpoint.rstrip("/") + "/messages"

    def send(self, envelope: Envelope) -> Delivered:
        body = json.dumps(envelope.as_data(), cls=DjangoJSONEncoder, sort_keys=True).encode()
        headers = signed_headers(self.connection.secret, body, message_id=envelope.message_id)
        try:
            request = urllib.request.Request(self.url(), data=body, headers=headers, method="POST")  # noqa: S310
        except ValueError as error:  # not a URL at all: no retry can help until the connection is fixed
            raise PermanentFailure(f"The endpoint {self.connection.endpoint!r} is not a URL: {error}") from error
        try:
            with urllib.request.urlopen(request, timeout=settings.PARTNER_TIMEOUT_SECONDS) as response:  # noqa: S310
                return Delivered(detail=f"HTTP {response.status}", answer=_json(response.read()))
        except ValueError as error:  # a scheme urllib does not speak (ftp://...)
            raise PermanentFailure(f"The endpoint {self.url()!r} cannot be called: {error}") from error
        except urllib.error.HTTPError as error:
            text = error.read()[:500].decode("utf-8", "replace")
            if error.code == 409:
                return Delivered(detail="HTTP 409: the partner already has this message", duplicate=True)
            if 400 <= error.code < 500 and error.code not in (408, 429):
                raise PermanentFailure(f"HTTP {error.code} from {self.url()}: {text}") from error
            raise TemporaryFailure(f"HTTP {error.code} from {self.url()}: {text}") from error
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise TemporaryFailure(f"{self.url()}: {reason or type(error).__name__}") from error


def _json(raw: bytes) -> dict:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
