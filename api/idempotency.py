"""``Idempotency-Key`` on POST: a retried request gets the first response and creates nothing.

The key row is inserted first, in the same transaction as the work. A concurrent duplicate blocks
on the unique constraint until the first transaction ends, then replays its response; if the
first one failed (nothing committed), the duplicate runs. Only successful responses are kept, so
a request refused for bad input can be corrected and retried with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User

from .models import IdempotencyKey
from .problems import IdempotencyKeyReused

HEADER = "Idempotency-Key"
KEPT_HEADERS = ("ETag", "Location")


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 48))


class _Discard(Exception):
    def __init__(self, response: Response):
        self.response = response


def _fingerprint(request: Request, path: str) -> str:
    """What makes two requests the same: method, path and the body's JSON (key order aside)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{request.method} {path}\n{body}".encode()).hexdigest()


def _key_of(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not (1 <= len(key) <= 200) or not key.isprintable() or not key.isascii():
        raise exceptions.ValidationError({HEADER: ["Use 1 to 200 printable ASCII characters (a UUID is ideal)."]})
    return key


def idempotent(request: Request, run: Callable[[], Response]) -> Response:
    """Run a POST once per (user, key); replay the stored response for a retry."""
    key = _key_of(request)
    if key is None:
        return run()
    user = cast(User, request.user)  # the API answers people who are signed in only
    full_path = request.path.rstrip("/")
    body_hash = _fingerprint(request, full_path)
    path = full_path[: IdempotencyKey._meta.get_field("path").max_length]  # shown to people; the hash decides
    for _attempt in range(3):
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        record = IdempotencyKey.objects.create(
                            user=user, key=key, method=cast(str, request.method), path=path, body_hash=body_hash
                        )
                except IntegrityError:
                    record = None
                if record is not None:
                    response = run()
                    if not 200 <= response.status_code < 300:
                        raise _Discard(response)
                    record.status_code = response.status_code
                    record.response_body = response.data
                    record.response_headers = {h: response[h] for h in KEPT_HEADERS if h in response}
                    record.save(update_fields=["status_code", "response_body", "response_headers"])
                    return response
        except _Discard as discarded:
            return discarded.response
        # The key is taken: rows are committed only together with their response.
        stored = IdempotencyKey.objects.filter(user=user, key=key).first()
        if stored is None:
            continue  # the first request failed and released the key meanwhile: run this one
        if (stored.method, stored.path, stored.body_hash) != (request.method, path, body_hash):
            raise IdempotencyKeyReused(
                f"This Idempotency-Key was used on {stored.created_at:%Y-%m-%d %H:%M} UTC for "
                f"{'a different body' if (stored.method, stored.path) == (request.method, path) else 'another request'}"
                "; use a new key for a new request."
            )
        return Response(
            stored.response_body,
            status=stored.status_code,
            headers={**stored.response_headers, "Idempotent-Replayed": "true"},
        )
    raise IdempotencyKeyReused("This Idempotency-Key is in use by a request that keeps failing; retry later.")


def idempotency_keys_prune(*, now: dt.datetime | None = None) -> int:
    """Forget keys older than ``IDEMPOTENCY_KEY_TTL_HOURS`` (48 by default; at least 24 are promised)."""
    cutoff = (now or timezone.now()) - max(ttl(), dt.timedelta(hours=24))
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
