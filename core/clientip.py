"""The client's address, from one configured source: every rate limit keys on it.

Behind nothing (the embedded default, or a deployment where clients connect to the app server
directly) the client is the socket's peer, ``REMOTE_ADDR``. ``X-Forwarded-For`` is then ignored:
any client can send it, and a limiter that believed it would give each request a fresh address
(the attacker's probe of issue 15 guessed passwords with a new ``X-Forwarded-For`` per attempt).

Behind reverse proxies, say which of two ways the proxy reports the client (``docs/deployment.md``):

- ``TRUSTED_PROXY_COUNT = N``: N proxies each append the address they saw to ``X-Forwarded-For``;
  the client is the N-th address from the right (the one the outermost trusted proxy saw).
  Whatever the client sent itself stands further left and is never read.
- ``CLIENT_IP_META_KEY`` (environment variable ``RATELIMIT_IP_META_KEY``): the ``request.META``
  key of a header the proxy sets and overwrites, e.g. ``HTTP_X_REAL_IP``.

django-ratelimit's ``key="ip"`` reads this function (``RATELIMIT_IP_META_KEY`` in the settings
names it) and so do the REST API's throttles (``api.authentication``), so browser and API limits
agree. A value that is not an IP address falls back to ``REMOTE_ADDR``: a broken or forged header
can only put its sender in the proxy's bucket, never in a bucket of its own.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _valid(value: str) -> str | None:
    candidate = value.strip()
    if candidate.startswith("[") and "]" in candidate:  # "[2001:db8::1]:443"
        candidate = candidate[1 : candidate.index("]")]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def client_ip(request: Any) -> str:
    """The address of the client that sent ``request``, from the one configured source."""
    meta = request.META
    peer = str(meta.get("REMOTE_ADDR") or "")
    meta_key = getattr(settings, "CLIENT_IP_META_KEY", "") or ""
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    reported: str | None = None
    if meta_key:
        reported = str(meta.get(meta_key) or "")
    elif proxies > 0:
        hops = [hop for hop in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
        # Fewer hops than proxies: the request did not come through all of them; trust only the peer.
        reported = hops[-proxies] if len(hops) >= proxies else None
    address = _valid(reported) if reported else None
    if address is not None:
        return address
    fallback = _valid(peer)
    if fallback is None:
        raise ImproperlyConfigured(
            "REMOTE_ADDR is empty or not an IP address (a proxy connecting over a Unix socket?): set "
            "TRUSTED_PROXY_COUNT or RATELIMIT_IP_META_KEY, see docs/deployment.md."
        )
    return fallback
