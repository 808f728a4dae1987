"""Issue 15, item 8: every limiter takes the client's address from one configured source
(``core.clientip``). A client that sends a new ``X-Forwarded-For`` with every request is still
limited (the attacker's probe guessed passwords for the token endpoint that way); behind a
configured proxy, the address the proxy reports is used, and only that one."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from accounts import two_factor
from accounts.models import ApiToken
from alignment import invitations
from alignment.models import Invitation, Role, Side
from core.clientip import client_ip
from tests import factories as f

_counter = itertools.count(1)


def rotating() -> Iterator[str]:
    """A new forged address for every request: 198.51.100.1, .2, …"""
    for n in _counter:
        yield f"198.51.100.{n % 250 + 1}, 203.0.113.{n % 250 + 1}"


def hits(client: Client, method: str, url: str, data: dict[str, object] | None, times: int, **extra: str) -> list[int]:
    forged = rotating()
    send: Callable[..., object] = getattr(client, method)
    return [
        send(url, data or {}, HTTP_X_FORWARDED_FOR=next(forged), **extra).status_code  # type: ignore[attr-defined]
        for _ in range(times)
    ]


# --- Every limiter, with a forged X-Forwarded-For on every request -----------------------------------


def test_sign_in_is_limited_whatever_x_forwarded_for_says(client, db):
    f.make_user("pat@partner.test")
    statuses = hits(client, "post", "/accounts/login/", {"username": "pat@partner.test", "password": "guess"}, 21)
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_sign_up_is_limited_whatever_x_forwarded_for_says(client, db):
    data = {"organisation": "", "full_name": "", "email": "x@example.test", "password": "x"}
    statuses = hits(client, "post", "/accounts/signup/", data, 21)
    assert statuses[:20] == [400] * 20 and statuses[20] == 429


def test_password_reset_is_limited_whatever_x_forwarded_for_says(client, db):
    statuses = hits(client, "post", "/accounts/password-reset/", {"email": "nobody@example.test"}, 21)
    assert statuses[:20] == [302] * 20 and statuses[20] == 429


def test_sign_up_confirmation_links_are_limited_whatever_x_forwarded_for_says(client, db):
    statuses = hits(client, "get", "/accounts/signup/confirm/not-a-real-token/", None, 21)
    assert statuses[:20] == [404] * 20 and statuses[20] == 429


def test_the_second_factor_page_is_limited_per_address_whatever_x_forwarded_for_says(client, db):
    # Each guess comes from a new person half-way through signing in, so only the address limit counts.
    statuses = []
    forged = rotating()
    for n in range(21):
        user = f.make_user(f"two-factor-{n}@vendor.test")
        device = two_factor.setup_begin(user)
        device.confirmed_at = device.created_at
        device.save()
        session = client.session
        session[two_factor.PENDING] = {"user": user.pk, "backend": "x", "next": "/", "at": 9e12}
        session.save()
        statuses.append(
            client.post(
                "/accounts/login/two-factor/", {"code": "000000"}, HTTP_X_FORWARDED_FOR=next(forged)
            ).status_code
        )
    assert statuses[:20] == [400] * 20 and statuses[20] == 429


@pytest.fixture
def invitation_token(cast) -> str:
    _invitation, raw = invitations.invitation_create(
        access=cast.access("vendor_admin"), email="new@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    return raw


def test_invitation_links_are_limited_whatever_x_forwarded_for_says(client, invitation_token):
    statuses = hits(client, "get", f"/invite/{invitation_token}/", None, 21)
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_asking_for_a_new_invitation_link_is_limited_whatever_x_forwarded_for_says(client, invitation_token):
    Invitation.objects.update(expires_at="2000-01-01T00:00:00Z")
    statuses = hits(client, "post", f"/invite/{invitation_token}/new-link", None, 11)
    assert statuses[:10] == [302] * 10 and statuses[10] == 429


def test_the_token_endpoint_is_limited_whatever_x_forwarded_for_says_and_then_issues_no_token(client, db):
    """The probe's finding: twelve wrong passwords, each with another X-Forwarded-For."""
    f.make_user("pat@partner.test")
    body = {"email": "pat@partner.test", "password": "guess", "name": "x"}
    statuses = hits(client, "post", "/api/v1/auth/token", body, 12, content_type="application/json")
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    right = {"email": "pat@partner.test", "password": f.PASSWORD, "name": "x"}
    assert hits(client, "post", "/api/v1/auth/token", right, 1, content_type="application/json") == [429]
    assert not ApiToken.objects.exists()


def test_the_anonymous_api_limit_holds_whatever_x_forwarded_for_says(client, db, settings):
    settings.API_THROTTLE_RATES = {"anon": "5/minute"}
    statuses = hits(client, "get", "/api/v1/no-such-thing", None, 6)
    assert statuses[:5] == [404] * 5 and statuses[5] == 429


# --- The one source -----------------------------------------------------------------------------------


def request(remote: str = "10.0.0.7", forwarded: str | None = None, **meta: str):  # type: ignore[no-untyped-def]
    extra = {"REMOTE_ADDR": remote} | meta
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_by_default_the_client_is_the_socket_peer_and_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT, settings.CLIENT_IP_META_KEY = 0, ""
    assert client_ip(request("10.0.0.7", "198.51.100.9")) == "10.0.0.7"


@pytest.mark.parametrize(
    ("forwarded", "proxies", "expected"),
    [
        ("198.51.100.9", 1, "198.51.100.9"),  # client → proxy → app
        ("6.6.6.6, 198.51.100.9", 1, "198.51.100.9"),  # a forged first hop is never read
        ("6.6.6.6, 198.51.100.9, 10.0.0.2", 2, "198.51.100.9"),  # two proxies
        ("198.51.100.9", 2, "10.0.0.7"),  # fewer hops than proxies: did not come through them
        ("not-an-address", 1, "10.0.0.7"),  # garbage lands in the proxy's bucket
        ("[2001:db8::5]:443", 1, "2001:db8::5"),
    ],
)
def test_behind_a_counted_proxy_the_address_it_saw_is_the_client(settings, forwarded, proxies, expected):
    settings.TRUSTED_PROXY_COUNT, settings.CLIENT_IP_META_KEY = proxies, ""
    assert client_ip(request("10.0.0.7", forwarded)) == expected


def test_behind_a_proxy_that_sets_its_own_header_that_header_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT, settings.CLIENT_IP_META_KEY = 0, "HTTP_X_REAL_IP"
    assert client_ip(request("10.0.0.7", "6.6.6.6", HTTP_X_REAL_IP="198.51.100.9")) == "198.51.100.9"
    assert client_ip(request("10.0.0.7", "6.6.6.6")) == "10.0.0.7"


def test_without_a_peer_address_the_configuration_is_named(settings):
    settings.TRUSTED_PROXY_COUNT, settings.CLIENT_IP_META_KEY = 0, ""
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_COUNT"):
        client_ip(request(""))


def test_with_a_counted_proxy_each_client_gets_its_own_bucket(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    f.make_user("pat@partner.test")
    data = {"username": "pat@partner.test", "password": "guess"}
    for _ in range(20):
        client.post("/accounts/login/", data, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client.post("/accounts/login/", data, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    assert client.post("/accounts/login/", data, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200


def test_drf_is_told_how_many_proxies_to_trust(settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.TRUSTED_PROXY_COUNT == 0
    assert settings.RATELIMIT_IP_META_KEY == "core.clientip.client_ip"
