"""Rendered pieces of pages in the shared cache, under a key that names everything they are made of.

A piece (a goal card of the plan page, a partnership row of the dashboard) is rendered from one
value by a template that reads nothing else. Its key is a digest of:

- the state it shows, as the caller names it (plain values only: see ``plain``);
- who reads it in which language and time zone (words, number and date formats, local times);
- the code that renders it: the template's source and the modules the caller names, so a new
  release never serves the old markup.

The pieces of one page are looked up in one round trip (``lookup``); a piece not found is
rendered and stored (``render``), all those a request rendered in one round trip when its view is
done (``StoredTogether``). ``HEALTH_CACHE_SECONDS = 0`` turns it off (rendered every time).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe

_SCALARS = (str, int, float, bool, type(None), decimal.Decimal, dt.date, dt.datetime, uuid.UUID)


def seconds() -> int:
    return int(getattr(settings, "HEALTH_CACHE_SECONDS", 3600))


@functools.cache
def code_version(template_name: str, *modules: ModuleType) -> str:
    """A digest of the template's source and of the modules' sources."""
    template = get_template(template_name)
    sources = [getattr(getattr(template, "template", template), "source", "")]
    sources += [Path(m.__file__ or "").read_text() for m in modules]
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()[:16]


def plain(value: Any) -> Any:
    """``value`` as plain data for a key: scalars, lazy text as text, lists and mappings of those.
    Anything else is refused, so a value whose text could change without changing the key (a
    model object, say) never goes into one by accident: name its fields instead."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), plain(v)) for k, v in value.items()))
    raise TypeError(f"{type(value).__name__} is not plain data for a cache key")


def key(prefix: str, template_name: str, state: Any, *modules: ModuleType) -> str:
    """The key of the piece rendered by ``template_name`` from ``state`` for the current reader."""
    full = (
        code_version(template_name, *modules),
        translation.get_language(),
        timezone.get_current_timezone_name(),
        plain(state),
    )
    return f"{prefix}:" + hashlib.sha256(repr(full).encode()).hexdigest()[:40]


def lookup(keys: list[str]) -> dict[str, str]:
    """The pieces found under ``keys``, in one round trip."""
    return cache.get_many(keys) if keys else {}


def render(template_name: str, context: dict[str, Any], *, html: str = "", cache_key: str = "") -> SafeString:
    """The piece: ``html`` when it was found, else rendered from ``context`` alone and stored under
    ``cache_key`` (when there is one)."""
    if html:
        return mark_safe(html)  # noqa: S308 - rendered (and escaped) by the template before it was stored
    rendered = render_to_string(template_name, context)
    if cache_key:
        pending = _pending.get()
        if pending is None:
            cache.set(cache_key, rendered, seconds())
        else:
            pending[cache_key] = str(rendered)
    return rendered


# The pieces rendered inside ``stored_together``, not stored yet.
_pending: ContextVar[dict[str, str] | None] = ContextVar("fragment_cache_pending", default=None)


@contextlib.contextmanager
def stored_together() -> Iterator[None]:
    """Store the pieces rendered inside in one round trip when it ends (``set_many``), instead of
    one ``SET`` each: a cold dashboard renders its 20 rows, a plan page up to hundreds of cards.
    Until then another request that wants one renders it too, as when it was never stored."""
    pending: dict[str, str] = {}
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        if pending:
            cache.set_many(pending, seconds())


class StoredTogether:
    """Middleware: the pieces a view renders are stored together when it is done."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with stored_together():
            return self.get_response(request)
