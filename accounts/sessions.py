"""The browsers a person is signed in with, and "sign out everywhere".

Each sign-in records a ``UserSession`` (Django's ``user_logged_in`` signal is the one place every
sign-in passes: the sign-in page, the second-factor step, a confirmed sign-up, an accepted
invitation, single sign-on); signing out ends it. The record names the session by a hash of its key, and keeps
a digest of the session's authentication hash: when the password changes or the person signs out
everywhere, that hash changes and the record no longer counts as signed in, whatever the
session store (database, cache or Redis) did with the session itself.

"Sign out everywhere" raises ``User.sessions_epoch``: every session signed in before is refused
on its next request (``User.get_session_auth_hash``). The browser that asked stays signed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from core.clientip import client_ip

from .models import User, UserSession


def _key_hash(session_key: str | None) -> str:
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def _auth_digest(user: User) -> str:
    return hashlib.sha256(user.get_session_auth_hash().encode()).hexdigest()[:16]


def _client(request: Any) -> tuple[str, str | None]:
    meta = getattr(request, "META", {}) or {}
    agent = str(meta.get("HTTP_USER_AGENT") or "")[:300]
    try:
        address: str | None = client_ip(request) if meta.get("REMOTE_ADDR") else None
    except Exception:  # an odd proxy set-up must never stop a sign-in
        address = None
    return agent, address


def record_sign_in(request: HttpRequest, user: User) -> None:
    """Record the session ``request`` was just signed in with (after Django cycled its key)."""
    session = getattr(request, "session", None)
    if session is None:
        return
    if session.session_key is None:
        session.save()
    agent, address = _client(request)
    UserSession.objects.update_or_create(
        key_hash=_key_hash(session.session_key),
        defaults={
            "user": user,
            "user_agent": agent,
            "ip_address": address,
            "auth_digest": _auth_digest(user),
            "created_at": timezone.now(),
            "ended_at": None,
        },
    )


def record_sign_out(request: HttpRequest) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        UserSession.objects.filter(key_hash=_key_hash(session.session_key), ended_at__isnull=True).update(
            ended_at=timezone.now()
        )


def signed_in_receiver(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    if request is not None and isinstance(user, User):
        record_sign_in(request, user)


def signed_out_receiver(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None:
        record_sign_out(request)


def current_key_hash(request: HttpRequest) -> str:
    return _key_hash(request.session.session_key)


def signed_in(user: User, *, now: dt.datetime | None = None) -> list[UserSession]:
    """The person's sessions that still count as signed in, most recent first."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    rows = UserSession.objects.filter(user=user, ended_at__isnull=True, created_at__gte=since).order_by("-created_at")
    digest = _auth_digest(user)
    return [row for row in rows if row.auth_digest == digest]


@transaction.atomic
def sign_out_everywhere_else(request: HttpRequest, user: User) -> int:
    """Sign out every other session of ``user``; this one stays. Returns how many were listed."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    others = [row for row in signed_in(locked) if row.key_hash != current_key_hash(request)]
    locked.sessions_epoch += 1
    locked.save(update_fields=["sessions_epoch"])
    user.sessions_epoch = locked.sessions_epoch
    now = timezone.now()
    UserSession.objects.filter(user=user, ended_at__isnull=True).exclude(key_hash=current_key_hash(request)).update(
        ended_at=now
    )
    keep_this_session(request, user)
    return len(others)


def keep_this_session(request: HttpRequest, user: User) -> None:
    """After the person's authentication hash changed (sign out everywhere, two-factor turned on),
    keep the browser that did it signed in: Django stores the new hash and gives the session a new
    key, and its record follows."""
    old_key = current_key_hash(request)
    update_session_auth_hash(request, user)
    UserSession.objects.filter(key_hash=old_key).update(
        key_hash=current_key_hash(request), auth_digest=_auth_digest(user)
    )


def describe_agent(agent: str) -> str:
    """A browser and system in a few words, from the User-Agent (enough to recognise one's own)."""
    text = agent or ""
    browser = next(
        (name for key, name in BROWSERS if key in text),
        "A browser" if text else "Unknown browser",
    )
    system = next((name for key, name in SYSTEMS if key in text), "")
    return f"{browser} on {system}" if system else browser


# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome", "Chromium (headless)"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
