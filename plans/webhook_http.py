"""Where a webhook may be sent, and the one HTTP request that sends it.

SSRF: a webhook's URL is chosen by a customer, and the request leaves from inside our network, so
a URL must never reach an address that is not on the public internet: loopback, private ranges,
link-local (169.254.0.0/16, which holds the cloud metadata service 169.254.169.254), unique-local
and loopback IPv6, multicast, unspecified and other reserved addresses (``refusal_of``). The host
is resolved once per request, every address it resolves to is checked (a name that resolves to a
public and a private address is refused), and the connection goes to the checked address: a DNS
answer that changes between the check and the connection (DNS rebinding) cannot move it. The
``Host`` header and, for https, the TLS server name (SNI) and certificate check still use the
name from the URL. The check runs when a subscription is saved and again before every request.
``WEBHOOK_ALLOW_PRIVATE_TARGETS`` (CIDRs) lets an operator allow internal receivers.

The request: http or https only, no credentials in the URL, no redirects followed (the standard
library's ``http.client`` never follows one; a 3xx is a failed attempt), no proxy from the
environment, a connect timeout of ``WEBHOOK_CONNECT_TIMEOUT`` seconds and a hard deadline of
``WEBHOOK_TIMEOUT`` seconds for the whole exchange (a timer closes the socket when it passes, so
a receiver that trickles its answer cannot hold a worker), and at most 64 kB of the answer read.
``http.client`` rather than a client library: none is a runtime dependency, and pinning the
connection to the checked address while keeping the name for ``Host`` and SNI takes two small
overrides here.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESPONSE_READ_LIMIT = 64 * 1024
EXCERPT_BYTES = 1024


def excerpt(data: bytes | str, limit: int = EXCERPT_BYTES) -> str:
    """The first ``limit`` bytes of a body, as text (invalid UTF-8 replaced), marked when cut."""
    raw = data.encode() if isinstance(data, str) else data
    text = raw[:limit].decode("utf-8", errors="replace")
    return text + (" …" if len(raw) > limit else "")


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``WEBHOOK_ALLOW_PRIVATE_TARGETS`` as networks; ``ImproperlyConfigured`` names a wrong entry."""
    networks = []
    for cidr in settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"WEBHOOK_ALLOW_PRIVATE_TARGETS: {cidr!r} is not a network (CIDR).") from exc
    return networks


def refusal_of(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``address``, or None if it may."""
    if any(address in network for network in allowed_networks()):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_of(address.ipv4_mapped)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (such as a cloud metadata service)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "an address that is not on the public internet"
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: the connection goes to ``address``; ``host`` names it in ``Host`` and SNI."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _refused(message: str) -> InvalidInput:
    return InvalidInput(message, fields={"url": [message]})


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refused("This is not a valid URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refused("Only http and https URLs can receive webhooks.")
    if not parts.hostname:
        raise _refused("The URL needs a host name.")
    if parts.username is not None or parts.password is not None:
        raise _refused("Leave credentials out of the URL: verify the webhook's signature instead.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def resolve_target(url: str) -> Target:
    """Check ``url`` and resolve its host once; ``InvalidInput`` (on the ``url`` field) says why
    it is refused."""
    scheme, host, port, path = _parse(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise _refused(f"The host {host} could not be resolved.") from exc
        addresses = []
        for info in infos:
            try:
                addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise _refused(f"The host {host} could not be resolved.")
    for address in addresses:
        reason = refusal_of(address)
        if reason is not None:
            raise _refused(
                f"Webhooks cannot be sent to {reason} ({host})."
                if literal is not None
                else f"Webhooks cannot be sent to {reason}: {host} resolves to {address}."
            )
    return Target(scheme, host, port, path, str(addresses[0]))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; ``Host`` still names the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; SNI and the certificate check use the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


@dataclass
class Outcome:
    """What one request came to: a status code and the start of the answer, or an error."""

    status: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: int = 0
    retry_after: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to ``url`` under the rules of this module; never raises for the receiver's faults."""
    started = time.monotonic()
    outcome = Outcome()
    try:
        target = resolve_target(url)
    except InvalidInput as exc:
        outcome.error = exc.message[:300]
        return outcome
    total = float(settings.WEBHOOK_TIMEOUT)
    connect_timeout = min(float(settings.WEBHOOK_CONNECT_TIMEOUT), total)
    connection_class: Any = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout=connect_timeout)
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(total, cut_off)
    timer.daemon = True
    timer.start()
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(max(total - (time.monotonic() - started), 0.05))
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        outcome.status = response.status
        outcome.retry_after = response.getheader("Retry-After")
        outcome.body = excerpt(response.read(RESPONSE_READ_LIMIT))
    except (TimeoutError, socket.timeout):  # noqa: UP041 - socket.timeout is TimeoutError's alias, named for readers
        outcome.error = f"Timed out (no complete answer within {total:g} s)."
    except ssl.SSLError as exc:
        outcome.error = f"TLS error: {getattr(exc, 'reason', None) or exc}"[:300]
    except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: http.client's InvalidURL
        if expired.is_set():
            outcome.error = f"Timed out (no complete answer within {total:g} s)."
        else:
            outcome.error = f"Connection failed: {exc.__class__.__name__}: {exc}"[:300]
    finally:
        timer.cancel()
        connection.close()
    if expired.is_set() and outcome.status is not None and not outcome.error:
        outcome.error = f"Timed out reading the answer (after {total:g} s)."
        outcome.status = None
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome
