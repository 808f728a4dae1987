"""The response renderer: JSON, readable UTF-8 normally; an error that quotes a client's invalid
text (a lone surrogate such as ``"\\ud800"``) is written with ASCII escapes instead of crashing.

A view whose document is large and made of plain JSON values (the change feed) may hand it over as
``FastJSON`` (a list as ``FastJSONList``): it is then written by orjson, byte for byte as the standard
encoder would write it.
"""

from __future__ import annotations

import re
from typing import Any, cast

import orjson
from rest_framework import renderers

# DRF escapes these two (valid JSON, but line ends to a JavaScript parser); so must the fast path.
# One scan of the body finds either (``in`` twice took 2 ms each on a 2.5 MB page of dashes).
LINE_SEPARATORS = re.compile(b"\xe2\x80[\xa8\xa9]")  # U+2028 and U+2029 in UTF-8
ESCAPED = {"\u2028".encode(): b"\\u2028", "\u2029".encode(): b"\\u2029"}


def escape_line_separators(body: bytes) -> bytes:
    if LINE_SEPARATORS.search(body) is None:
        return body
    return LINE_SEPARATORS.sub(lambda match: ESCAPED[match.group()], body)


class FastJSON(dict[str, Any]):
    """A response document that orjson writes exactly as DRF's encoder does.

    Whoever builds one promises it holds only dicts, lists, strings, booleans, None, integers of
    64 bits, UUIDs, datetimes in UTC and floats that are 0 or between 1e-4 and 2**63 in magnitude:
    outside that orjson writes numbers differently (``0.00001`` where Python writes ``1e-05``).
    Anything orjson refuses (a lone surrogate, a ``Decimal``) falls back to the standard encoder.
    """


class FastJSONList(list[Any]):
    """A list whose items make the same promise as ``FastJSON``."""


FAST = (FastJSON, FastJSONList)


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if type(data) in FAST and self.fast_path(accepted_media_type, renderer_context):
            try:
                body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
            except orjson.JSONEncodeError:
                pass
            else:
                return escape_line_separators(body)
        try:
            return cast(bytes, super().render(data, accepted_media_type, renderer_context))
        except UnicodeEncodeError:
            self.ensure_ascii = True  # type: ignore[misc]  # for this instance only; the stubs call it a ClassVar
            return cast(bytes, super().render(data, accepted_media_type, renderer_context))

    def fast_path(self, accepted_media_type: str | None, renderer_context: Any) -> bool:
        """orjson writes compact UTF-8 only: no indent asked for, and the settings' defaults."""
        return (
            self.compact
            and not self.ensure_ascii
            and self.strict
            and self.get_indent(accepted_media_type or "", renderer_context or {}) is None
        )


def exact_json(value: Any) -> bool:
    """Whether orjson read this decoded JSON as the standard library reads it and writes it back as
    DRF's encoder would. Only numbers can differ: orjson reads an integer beyond 64 bits as a float,
    and writes a float below 1e-4 without an exponent (``0.00001``, where Python writes ``1e-05``)."""
    if type(value) is float:
        return value == 0 or 1e-4 <= abs(value) < 2**63
    if type(value) is dict:
        value = value.values()
    elif type(value) is not list:
        return True
    for item in value:
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if not exact_json(item):
            return False
    return True
