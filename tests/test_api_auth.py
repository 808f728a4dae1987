"""Getting in: bearer tokens (issued with e-mail and password, shown once, stored hashed, named,
revocable, last-used time) and the browser's session with CSRF."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from tests import factories as f
from tests.api_support import ApiClient

CSRF_SECRET = "k" * 32


def test_a_token_is_issued_for_email_and_password_and_shown_once(cast):
    anonymous = ApiClient()
    response = anonymous.post("auth/token", {"email": "EDITOR@vendor.test", "password": f.PASSWORD, "name": "CRM sync"})
    assert response.status_code == 201
    body = response.json()
    raw = body["token"]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.name == "CRM sync" and token.user == cast.vendor_editor
    assert token.token_hash == hash_token(raw) and raw not in str(token.__dict__)
    me = ApiClient()
    me.headers["Authorization"] = f"Bearer {raw}"
    assert me.get("me").json()["email"] == "editor@vendor.test"
    listed = me.get("auth/tokens").json()["results"]
    assert {t["name"] for t in listed} == {"CRM sync"} and all("token" not in t for t in listed)


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(cast):
    response = ApiClient().post("auth/token", {"email": "editor@vendor.test", "password": "nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "E-mail address or password is wrong."
    assert response["Content-Type"] == "application/problem+json"
    assert not ApiToken.objects.exists()


@override_settings(API_THROTTLE_RATES={"auth_token": "3/minute"})
def test_obtaining_tokens_is_rate_limited(cast):
    anonymous = ApiClient()
    statuses = [
        anonymous.post("auth/token", {"email": "editor@vendor.test", "password": "guess"}).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = anonymous.post("auth/token", {"email": "editor@vendor.test", "password": f.PASSWORD})
    assert limited.status_code == 429 and "Retry-After" in limited


def test_a_revoked_token_no_longer_works(cast):
    client = ApiClient(cast.vendor_editor)
    token = ApiToken.objects.get(user=cast.vendor_editor)
    response = client.post(f"auth/tokens/{token.pk}/revoke")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert client.get("me").status_code == 401


def test_one_cannot_revoke_someone_elses_token(cast):
    theirs = ApiToken.issue(user=cast.partner_approver, name="theirs")[0]
    assert ApiClient(cast.vendor_editor).post(f"auth/tokens/{theirs.pk}/revoke").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_last_use_is_recorded_at_most_once_a_minute(cast):
    client = ApiClient(cast.vendor_editor)
    token = ApiToken.objects.get(user=cast.vendor_editor)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("me")
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        client.get("me")
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        client.get("me")
    token.refresh_from_db()
    assert token.last_used_at == start + dt.timedelta(seconds=61)


def test_unknown_and_malformed_tokens_get_401(cast):
    for header in ("Bearer pp_nonsense", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"):
        client = ApiClient()
        client.headers["Authorization"] = header
        response = client.get("me")
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_inactive_persons_token_is_refused(cast):
    client = ApiClient(cast.vendor_editor)
    cast.vendor_editor.is_active = False
    cast.vendor_editor.save()
    assert client.get("me").status_code == 401


def test_the_browser_session_works_and_writes_need_the_csrf_token(cast):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.vendor_editor)
    assert browser.get("/api/v1/me").status_code == 200
    body = {"partnership": str(cast.partnership.pk), "title": "From the browser"}
    refused = browser.post("/api/v1/objectives", body, content_type="application/json")
    assert refused.status_code == 403
    # What a page of the app hands the browser: the CSRF cookie, echoed in the X-CSRFToken header.
    browser.cookies["csrftoken"] = CSRF_SECRET
    accepted = browser.post(
        "/api/v1/objectives", body, content_type="application/json", headers={"X-CSRFToken": CSRF_SECRET}
    )
    assert accepted.status_code == 201


def test_anonymous_callers_get_401_with_a_problem_body(cast):
    response = ApiClient().get("goals")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
