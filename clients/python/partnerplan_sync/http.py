"""HTTP with the retries a sync client needs, on one keep-alive connection.

- 429: wait as long as ``Retry-After`` says (or the ``RateLimit`` header's reset), then retry.
- 5xx and connection errors (the server restarting, a proxy dropping the connection): retry with
  exponential backoff and jitter, a bounded number of times. Every request this client retries is
  safe to repeat: reads are, ``PUT``/``PATCH``/``DELETE`` carry ``If-Match`` (a repeat answers 412
  if the first one went through, which the caller resolves by re-reading) and ``POST`` carries an
  ``Idempotency-Key`` (a repeat replays the first answer).
- Anything else (2xx, 304, 4xx) is the answer: the caller decides.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RETRIED_STATUSES = frozenset({500, 502, 503, 504})


class ApiError(Exception):
    """An answer the client cannot use: a problem (RFC 9457) or a server that kept failing."""

    def __init__(self, status: int, problem: dict[str, Any] | None, message: str = "") -> None:
        self.status = status
        self.problem = problem or {}
        self.code = str(self.problem.get("code", ""))
        super().__init__(message or f"{status} {self.code}: {self.problem.get('detail', '')}".strip())


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Http:
    """``Authorization: Bearer <token>`` requests to one Partnerplan, retried as the module says."""

    base_url: str
    token: str
    timeout: float = 30.0
    max_attempts: int = 10
    backoff: float = 0.25  # first wait after a 5xx or a broken connection, doubled each time
    max_backoff: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    stats: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        url = urllib.parse.urlsplit(self.base_url)
        self._scheme, self._host, self._port = url.scheme, url.hostname or "localhost", url.port
        self._prefix = url.path.rstrip("/")
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        target = self._prefix + path + ("?" + urllib.parse.urlencode(params) if params else "")
        payload = json.dumps(body).encode() if body is not None else None
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        wait = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._send(method, target, payload, sent)
            except (OSError, http.client.HTTPException):
                self.stats["connection_errors"] += 1
                self._close()
                if attempt == self.max_attempts:
                    raise
                wait = self._pause(wait)
                continue
            if response.status == 429:
                self.stats["throttled"] += 1
                self.sleep(_retry_after(response))
                continue
            if response.status in RETRIED_STATUSES:
                self.stats["server_errors"] += 1
                if attempt == self.max_attempts:
                    raise ApiError(response.status, _problem(response), "the server kept failing")
                wait = self._pause(wait)
                continue
            self.stats[f"status_{response.status}"] += 1
            return response
        raise ApiError(429, None, "still throttled after every attempt")

    def _send(self, method: str, target: str, payload: bytes | None, headers: dict[str, str]) -> Response:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._connection = cls(self._host, self._port, timeout=self.timeout)
        self._connection.request(method, target, body=payload, headers=headers)
        answer = self._connection.getresponse()
        data = answer.read()
        received = {k.lower(): v for k, v in answer.getheaders()}
        if received.get("connection", "").lower() == "close":
            self._close()
        return Response(answer.status, received, data)

    def _pause(self, wait: float) -> float:
        self.sleep(wait * (0.5 + random.random()))
        return min(wait * 2, self.max_backoff)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        self._close()


def _retry_after(response: Response) -> float:
    """Seconds to wait: ``Retry-After``, else the ``RateLimit`` header's ``t=``, else one second."""
    value = response.header("retry-after")
    if value and value.strip().isdigit():
        return max(1.0, float(value))
    for part in (response.header("ratelimit") or "").split(";"):
        if part.strip().startswith("t=") and part.strip()[2:].isdigit():
            return max(1.0, float(part.strip()[2:]))
    return 1.0


def _problem(response: Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
