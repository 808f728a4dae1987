"""Issue 15, item 8: live secrets never reach a log. A run that hits every 4xx answer of the links
that carry a secret — invitations (403, 400, 404, 410, 429), unsubscribe (400, 410), password reset
(403) and sign-up confirmation (400, 404, 429) — is captured from the handlers the settings
configure, and no secret of any link appears in it; the request lines of the development server and
gunicorn's access log (with its Referer) are redacted the same way."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import signup as signups
from accounts.models import ReminderKind, SignupRequest
from accounts.unsubscribe import make_token
from alignment import invitations
from alignment.models import Invitation, Role, Side
from core.redact import MASK, RedactSecrets, redact


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything the configured handlers write (root's console and django.server), in one buffer."""
    buffer = io.StringIO()
    handlers = [
        h
        for name in ("", "django.server")
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and any(isinstance(x, RedactSecrets) for x in h.filters)
    ]
    assert len(handlers) == 2, "the settings put the redaction on the console and django.server handlers"
    old = [h.setStream(buffer) for h in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, old, strict=True):
            handler.setStream(stream)


def invite(cast, email: str) -> tuple[Invitation, str]:  # type: ignore[no-untyped-def]
    return invitations.invitation_create(
        access=cast.access("vendor_admin"), email=email, side=Side.PARTNER, role=Role.APPROVER
    )


def test_no_secret_of_any_link_reaches_the_log_on_any_4xx_answer(
    cast, client, captured, django_capture_on_commit_callbacks
):
    secrets: list[str] = []

    # Invitations: 403 (signed in with another address), 400 (passwords differ), 404 (unknown),
    # 410 (expired), 429 (too many tries).
    _inv, live = invite(cast, "newbie@partner.test")
    secrets.append(live)
    signed_in = Client()
    signed_in.force_login(cast.outsider)
    assert signed_in.post(f"/invite/{live}/accept").status_code == 403
    data = {"full_name": "New Bie", "password": "a-long-and-unusual-pass", "password_again": "another-one-entirely"}
    assert client.post(f"/invite/{live}/accept", data).status_code == 400
    unknown = "Zq9" + live[3:]
    secrets.append(unknown)
    assert client.get(f"/invite/{unknown}/").status_code == 404
    expired, old = invite(cast, "late@partner.test")
    secrets.append(old)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    assert client.get(f"/invite/{old}/").status_code == 410
    statuses = {client.get(f"/invite/{live}/").status_code for _ in range(21)}
    assert 429 in statuses

    # Unsubscribe: 400 (tampered), 410 (expired).
    token = make_token(cast.partner_viewer, ReminderKind.WEEKLY_DIGEST)
    secrets.append(token)
    assert client.get(f"/reminders/unsubscribe/{token[:-2]}xx/").status_code == 400
    with time_machine.travel(timezone.now() + dt.timedelta(days=settings.UNSUBSCRIBE_LINK_MAX_AGE_DAYS + 1)):
        assert client.get(f"/reminders/unsubscribe/{token}/").status_code == 410

    # Password reset: 403 (the CSRF check fails on the reset form).
    user = cast.partner_viewer
    uid, reset = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    secrets.append(reset)
    strict = Client(enforce_csrf_checks=True)
    assert (
        strict.post(f"/accounts/reset/{uid}/{reset}/", {"new_password1": "x", "new_password2": "x"}).status_code == 403
    )

    # Sign-up confirmation: 400 (wrong password, another browser), 404 (unknown), 429.
    with django_capture_on_commit_callbacks(execute=True):
        signups.signup_request(organisation="Newco", email="founder@newco.test", password="a-long-and-unusual-pass")
    link = SignupRequest.objects.get(email="founder@newco.test").link_token()
    secrets.append(link)
    other_browser = Client()
    assert other_browser.post(f"/accounts/signup/confirm/{link}/", {"password": "wrong"}).status_code == 400
    assert other_browser.get(f"/accounts/signup/confirm/{link[:-3]}abc/").status_code == 404
    assert 429 in {other_browser.get(f"/accounts/signup/confirm/{link}/").status_code for _ in range(21)}

    # The development server's request line, as runserver logs it (with a ?next= that names a link).
    logging.getLogger("django.server").warning(
        '"%s" %s %s', f"GET /accounts/login/?next=%2Finvite%2F{live}%2F HTTP/1.1", "404", "179"
    )

    log = captured.getvalue()
    for status in ("Forbidden", "Bad Request", "Not Found", "Gone", "Too Many Requests"):
        assert f"{status}: " in log, f"the run logged a {status} answer"
    assert log.count(MASK) >= 10
    leaked = [s for s in secrets if s in log or s[:16] in log]
    assert leaked == [], log


def test_the_links_are_still_good_after_their_4xx_answers_and_the_log_names_none(cast, client, captured):
    """The probe's finding: after a 403 logged the path, the link still worked. It still does (a
    403 is no reason to burn someone's invitation) but the log no longer holds it."""
    _inv, live = invite(cast, "newbie@partner.test")
    signed_in = Client()
    signed_in.force_login(cast.outsider)
    assert signed_in.post(f"/invite/{live}/accept").status_code == 403
    assert client.get(f"/invite/{live}/").status_code == 200
    assert live not in captured.getvalue() and "Forbidden: /invite/[redacted]/accept" in captured.getvalue()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Forbidden: /invite/AbC123defGhi456jklMno789pqrStu012vwx/accept", "Forbidden: /invite/[redacted]/accept"),
        ("/reminders/unsubscribe/eyJ1IjoiYSJ9:1u2:AbCd0123/", "/reminders/unsubscribe/[redacted]/"),
        ("/accounts/reset/MQ/cbh7x1-0123abcdef4567/", "/accounts/reset/[redacted]/[redacted]/"),
        ("/accounts/signup/confirm/q1W2e3R4t5/", "/accounts/signup/confirm/[redacted]/"),
        ("next=%2Finvite%2FAbC123%2Faccept", "next=%2Finvite%2F[redacted]%2Faccept"),
        # Future links: any long token-like segment or parameter.
        ("/a/Xy12Zw34Ab56Cd78Ef90Gh12Ij/", "/a/[redacted]/"),
        ("/x?token=Xy12Zw34Ab56Cd78Ef90Gh12Ij", "/x?token=[redacted]"),
        # Not secrets: ids, file names, words.
        ("/p/0d1e2f3a-1111-2222-3333-444455556666/goals/", "/p/0d1e2f3a-1111-2222-3333-444455556666/goals/"),
        ("/static/css/app.3f2a1b9c8d7e.css", "/static/css/app.3f2a1b9c8d7e.css"),
        ("/p/quarterly-business-review-of-the-partnership/", "/p/quarterly-business-review-of-the-partnership/"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_gunicorns_access_log_is_redacted_request_line_and_referer_alike() -> None:
    spec = importlib.util.spec_from_file_location("gunicorn_conf", Path(settings.BASE_DIR) / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    logger = object.__new__(conf.logger_class)  # ``atoms`` needs no configuration
    secret = "AbC123defGhi456jklMno789pqrStu012vwx"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/invite/{secret}/",
        "PATH_INFO": f"/invite/{secret}/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://plans.example.com/invite/{secret}/",
        "REMOTE_ADDR": "10.0.0.1",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = logger.atoms(response, request, environ, dt.timedelta(milliseconds=3))
    assert secret not in repr(atoms)
    assert atoms["r"] == "GET /invite/[redacted]/ HTTP/1.1" and atoms["f"].endswith("/invite/[redacted]/")
    assert not re.search(secret, repr(atoms))
