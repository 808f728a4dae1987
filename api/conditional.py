"""Conditional requests: ``version`` as a strong ETag, ``If-Match`` required on PUT/PATCH/DELETE
(missing → 428, stale → 412 from the service's version check), ``If-None-Match`` on GET."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from .problems import PreconditionRequired

STRONG = re.compile(r'"(\d{1,10})"')
NEVER_MATCHES = 0  # no object has version 0: the service answers 412 with the current state


def etag(version: int) -> str:
    return f'"{version}"'


def _parse_if_match(header: str) -> int:
    header = header.strip()
    if header == "*":
        raise PreconditionRequired("If-Match: * does not say which version you edited; send the object's ETag.")
    match = STRONG.fullmatch(header)
    if match:
        return int(match.group(1))
    if header.startswith("W/") and STRONG.fullmatch(header[2:]):
        return NEVER_MATCHES  # a weak tag never matches in If-Match (RFC 9110 §13.1.1)
    raise exceptions.ValidationError({"If-Match": ['Send one ETag in quotes, as in If-Match: "3".']})


def expected_version(request: Request, data: dict[str, Any] | None = None, *, required: bool = True) -> int | None:
    """The version the client edited, from If-Match or the body's ``version`` (popped from ``data``)."""
    body_version = data.pop("version", None) if data is not None else None
    header = request.headers.get("If-Match")
    if header is not None:
        version = _parse_if_match(header)
        if body_version is not None and version != NEVER_MATCHES and body_version != version:
            raise exceptions.ValidationError({"version": [f"Disagrees with If-Match ({version}); send one of them."]})
        return version
    if body_version is not None:
        return int(body_version)
    if required:
        raise PreconditionRequired()
    return None


def not_modified(request: Request, version: int) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag(version) in tags
