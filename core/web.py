"""The one place where an application error (``core.errors.DomainError``) becomes a browser answer.

- An error on a submitted form goes onto the form: each field's problems next to that field, the
  message above the form when no field of the form is named (``form_errors``); the view renders the
  form again with the error's status.
- An error that belongs to no form is a page with the status and the message (``refused``), or,
  for an htmx request, the message in the page's status region (``#flash``) while the page stays.
- Function views wrap themselves in ``domain_errors``; class-based pages of a partnership get the
  same from ``alignment.web.PlanView``.

The REST API maps the same errors to problem details in ``api.problems``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import NoReverseMatch
from django_htmx.middleware import HtmxDetails

from .errors import DomainError


class HtmxHttpRequest(HttpRequest):
    """A request as views see it: django-htmx's middleware (in ``MIDDLEWARE``) gives every one ``htmx``."""

    htmx: HtmxDetails


def form_errors(form: forms.BaseForm, error: DomainError, *, aliases: dict[str, str] | None = None) -> None:
    """Put a domain error on the form it came from. ``aliases`` maps a service's field name to the
    form's where they differ (e.g. ``{"name": "organisation"}``)."""
    aliases = aliases or {}
    placed = False
    for name, problems in error.fields.items():
        target = aliases.get(name, name)
        for problem in problems:
            if target in form.fields:
                form.add_error(target, problem)
                placed = True
            else:
                form.add_error(None, problem)
    if not placed:
        form.add_error(None, error.message)


def flash(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    """For htmx: show ``message`` in the page's status region instead of swapping the target."""
    response = render(request, "plan/_flash.html", {"error": message}, status=status)
    response["HX-Retarget"] = "#flash"
    response["HX-Reswap"] = "innerHTML"
    return response


def refused(request: HttpRequest, error: DomainError, *, partnership: Any = None, title: str = "") -> HttpResponse:
    """An error that belongs to no form: in the status region of the page for htmx, else a page."""
    if getattr(request, "htmx", False):
        return flash(request, error.message, status=error.status)
    return render(
        request,
        "errors/refused.html",
        {"error": error, "partnership": partnership, "title": title},
        status=error.status,
    )


def domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn a ``DomainError`` that escapes a function view into ``refused``."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return refused(request, error)

    return wrapper


def login_url(next_url: str) -> str:
    """The sign-in page, coming back to ``next_url`` afterwards."""
    try:
        base = resolve_url(settings.LOGIN_URL)
    except NoReverseMatch:
        base = "/login/"
    return f"{base}?{urlencode({'next': next_url})}"
