"""``{% url %}`` with the reversals remembered (a template builtin, so every template gets it).

Django's ``reverse`` matches the view's patterns on every call (some 40 to 80 µs); a dashboard reverses
the same few hundred addresses on every load. Here the address of (view, arguments, URLconf,
script prefix) is computed once per process and kept in a bounded LRU. Only arguments whose text
cannot change are remembered (strings, integers, UUIDs); anything else is reversed as before.
Errors are never remembered: a ``NoReverseMatch`` is raised (or ``as var`` gets "") every time.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django import template
from django.conf import settings
from django.template.base import Parser, Token
from django.template.context import Context
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()

_PLAIN = (str, int, uuid.UUID)


@functools.lru_cache(maxsize=20_000)
def _reverse(
    view_name: str,
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
    current_app: str | None,
    urlconf: Any,
    prefix: str,
    root: str,
) -> str:
    return reverse(view_name, args=args, kwargs=dict(kwargs), current_app=current_app, urlconf=urlconf)


def remembered_reverse(view_name: str, args: list[Any], kwargs: dict[str, Any], current_app: str | None = None) -> str:
    """``reverse``, remembered when every argument is plain."""
    values = [*args, *kwargs.values()]
    if not isinstance(view_name, str) or not all(type(v) in _PLAIN for v in values):
        return reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
    return _reverse(
        view_name,
        tuple(args),
        tuple(sorted(kwargs.items())),
        current_app,
        get_urlconf(),
        get_script_prefix(),
        str(settings.ROOT_URLCONF),
    )


class RememberedURLNode(URLNode):
    def render(self, context: Context) -> str:
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app  # type: ignore[attr-defined]
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace  # type: ignore[attr-defined]
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = remembered_reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser: Parser, token: Token) -> RememberedURLNode:
    node = django_url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
