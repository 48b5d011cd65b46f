"""HTTP requests to an address someone typed in (a store's logo, say), that cannot make the OMS ask its own network.

``opener(allow_private=False)`` gives a urllib opener that speaks http(s) only, goes straight to the site (no
proxy), and refuses any connection, a redirect's included, whose peer is not a public address: loopback, private,
link-local (cloud metadata) and multicast addresses are refused on the address actually connected to, so a DNS
answer that changes between the lookup and the connection is caught too. ``allow_private=True`` (development and
the tests, which serve from 127.0.0.1) gives urllib's ordinary opener.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request


def opener(*, allow_private: bool = False) -> urllib.request.OpenerDirector:
    """The opener for a typed-in address: public peers only, unless ``allow_private``."""
    return urllib.request.build_opener() if allow_private else _public_only_opener()


def _public_connection(address: tuple, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None) -> socket.socket:
    """``socket.create_connection``, refusing a peer that is not a public address (the OMS's own network)."""
    sock = socket.create_connection(address, timeout, source_address)
    peer = ipaddress.ip_address(sock.getpeername()[0].split("%")[0])
    peer = getattr(peer, "ipv4_mapped", None) or peer  # ::ffff:127.0.0.1 is 127.0.0.1
    if not peer.is_global or peer.is_multicast:
        sock.close()
        raise OSError(f"{address[0]} is at {peer}, not a public address")
    return sock


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)


def _public_only_opener() -> urllib.request.OpenerDirector:
    """http(s) only, straight to the store's site (no proxy), each connection (a redirect's too) to a public
    address: the address a manager enters cannot make the OMS ask its own network."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _PublicHTTPHandler(),
        _PublicHTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
