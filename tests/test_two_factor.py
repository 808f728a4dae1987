"""Issue 15, item 4: two-factor sign-in (TOTP and single-use recovery codes) for password accounts,
an organisation that requires it of its members, and the sessions list with "sign out everywhere"."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
import time_machine
from django.test import Client

from accounts import two_factor
from accounts.models import ApiToken, OrganisationMembership, RecoveryCode, TwoFactorDevice, UserSession
from accounts.sessions import signed_in
from core.errors import NotAllowed, RuleViolation
from tests import factories as f
from tests.api_support import ApiClient

# Near the real time (sessions made outside ``at`` must not have expired), on a step boundary.
T0 = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


def at(minutes: float):  # type: ignore[no-untyped-def]
    """Frozen at T0 + minutes (each TOTP step is half a minute)."""
    return time_machine.travel(T0 + dt.timedelta(minutes=minutes), tick=False)


def code_for(user, minutes: float) -> str:  # type: ignore[no-untyped-def]
    secret = TwoFactorDevice.objects.get(user=user).secret
    return pyotp.TOTP(secret).at(T0 + dt.timedelta(minutes=minutes))


def enrol(user) -> list[str]:  # type: ignore[no-untyped-def]
    """Set up two-factor sign-in for ``user`` at T0, through the settings pages; the recovery codes."""
    client = Client()
    client.force_login(user)
    with at(0):
        assert client.post("/settings/two-factor/start/").status_code == 302
        response = client.post("/settings/two-factor/confirm/", {"code": code_for(user, 0)})
    assert response.status_code == 201
    return re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", response.content.decode())


def password_step(client: Client, email: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    return client.post(
        "/accounts/login/" + (f"?next={next_url}" if next_url else ""), {"username": email, "password": f.PASSWORD}
    )


@pytest.fixture
def person(db):  # type: ignore[no-untyped-def]
    return f.make_user("ada@acme.test", full_name="Ada Admin")


# --- Setting up -------------------------------------------------------------------------------


def test_set_up_shows_a_qr_code_and_turns_on_only_with_a_code_from_the_app(person):
    client = Client()
    client.force_login(person)
    with at(0):
        assert client.post("/settings/two-factor/start/")["Location"] == "/settings/two-factor/"
        page = client.get("/settings/two-factor/").content.decode()
        assert "<svg" in page and "Turn on two-factor sign-in" in page
        secret = TwoFactorDevice.objects.get(user=person).secret
        assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in page
        wrong = client.post("/settings/two-factor/confirm/", {"code": "123456"})
        # No recovery codes exist yet: the message asks for the app's code only.
        assert wrong.status_code == 400 and "shows now.</" in wrong.content.decode()
        assert "recovery code" not in wrong.content.decode().split("Code from your app")[1].split("</form>")[0]
        assert not two_factor.is_enrolled(person)
        response = client.post("/settings/two-factor/confirm/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 201 and response["Cache-Control"].startswith("max-age=0")
    codes = re.findall(r"<code>([a-z2-7-]{19})</code>", response.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert two_factor.is_enrolled(person)
    stored = list(RecoveryCode.objects.filter(user=person).values_list("code_hash", flat=True))
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)
    with at(1):
        assert client.get("/").status_code == 200  # the session that set it up stays signed in


def test_signing_in_asks_for_the_code_after_the_password(person):
    enrol(person)
    client = Client()
    with at(1):
        response = password_step(client, "ada@acme.test", "/settings/")
        assert response["Location"] == "/accounts/login/two-factor/"
        assert "_auth_user_id" not in client.session
        assert client.get("/settings/")["Location"].startswith("/accounts/login/")
        assert client.post("/accounts/login/two-factor/", {"code": "000000"}).status_code == 400
        response = client.post("/accounts/login/two-factor/", {"code": code_for(person, 1)})
        assert response.status_code == 302 and response["Location"] == "/settings/"
        assert client.get("/settings/").status_code == 200


def test_a_code_signs_in_once(person):
    enrol(person)
    first, second = Client(), Client()
    with at(1):
        code = code_for(person, 1)
        password_step(first, "ada@acme.test")
        password_step(second, "ada@acme.test")
        assert first.post("/accounts/login/two-factor/", {"code": code}).status_code == 302
        assert second.post("/accounts/login/two-factor/", {"code": code}).status_code == 400  # replayed
    with at(1.5):
        assert second.post("/accounts/login/two-factor/", {"code": code_for(person, 1.5)}).status_code == 302


def test_a_code_of_the_step_before_or_after_is_accepted_but_not_older(person):
    enrol(person)
    with at(10):
        assert two_factor.verify_app_code(person, code_for(person, 9.5))
    with at(20):
        assert not two_factor.verify_app_code(person, code_for(person, 19))
        assert two_factor.verify_app_code(person, code_for(person, 20.5))


def test_recovery_codes_work_once_each(person):
    codes = enrol(person)
    with at(1):
        client = Client()
        password_step(client, "ada@acme.test")
        response = client.post("/accounts/login/two-factor/", {"code": codes[0].upper().replace("-", " ")})
        assert response.status_code == 302
        assert "9 unused left" in client.get("/").content.decode()
        again = Client()
        password_step(again, "ada@acme.test")
        assert again.post("/accounts/login/two-factor/", {"code": codes[0]}).status_code == 400
    assert two_factor.unused_recovery_codes(person) == 9


def test_new_recovery_codes_replace_the_old_ones_and_need_a_code(person):
    old = enrol(person)
    client = Client()
    with at(1):
        password_step(client, "ada@acme.test")
        client.post("/accounts/login/two-factor/", {"code": code_for(person, 1)})
    with at(2):
        assert client.post("/settings/two-factor/recovery-codes/", {"code": "000000"}).status_code == 400
        response = client.post("/settings/two-factor/recovery-codes/", {"code": code_for(person, 2)})
    new = re.findall(r"<code>([a-z2-7-]{19})</code>", response.content.decode())
    assert response.status_code == 201 and len(new) == 10
    assert not two_factor.use_recovery_code(person, old[1])
    assert two_factor.use_recovery_code(person, new[1])


def test_the_code_page_limits_guesses_per_person(person):
    enrol(person)
    with at(1):
        statuses = []
        for n in range(6):
            client = Client(REMOTE_ADDR=f"192.0.2.{n + 1}")  # another address each time
            password_step(client, "ada@acme.test")
            statuses.append(client.post("/accounts/login/two-factor/", {"code": "000000"}).status_code)
    assert statuses == [400] * 5 + [429]


def test_the_code_page_waits_five_minutes(person):
    enrol(person)
    client = Client()
    with at(1):
        password_step(client, "ada@acme.test")
    with at(7):
        response = client.post("/accounts/login/two-factor/", {"code": code_for(person, 7)})
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_a_session_signed_in_without_the_code_is_signed_out(person):
    enrol(person)
    person.refresh_from_db()
    client = Client()
    client.force_login(person)  # a session that skipped the code page (any way in but the sign-in page)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_turning_it_off_takes_the_password(person):
    enrol(person)
    client = Client()
    with at(1):
        password_step(client, "ada@acme.test")
        client.post("/accounts/login/two-factor/", {"code": code_for(person, 1)})
        assert client.post("/settings/two-factor/disable/", {"password": "wrong"}).status_code == 400
        assert two_factor.is_enrolled(person)
        assert client.post("/settings/two-factor/disable/", {"password": f.PASSWORD}).status_code == 302
    assert not two_factor.is_enrolled(person) and not RecoveryCode.objects.filter(user=person).exists()
    signed_in = Client()
    assert password_step(signed_in, "ada@acme.test")["Location"] == "/"


# --- The organisation's rule -------------------------------------------------------------------------


def test_an_organisation_requires_it_of_its_members(cast):
    admin, member = cast.vendor_admin, f.make_user("colleague@vendor.test")
    org = cast.partnership.vendor
    OrganisationMembership.objects.create(organisation=org, user=member, role="member")
    with pytest.raises(RuleViolation, match="yourself first"):
        two_factor.organisation_require_two_factor(user=admin, organisation_id=org.pk, required=True)
    with pytest.raises(NotAllowed):
        two_factor.organisation_require_two_factor(user=member, organisation_id=org.pk, required=True)
    enrol(admin)
    admin_client = Client()
    with at(1):
        password_step(admin_client, admin.email)
        admin_client.post("/accounts/login/two-factor/", {"code": code_for(admin, 1)})
        response = admin_client.post(f"/settings/organisations/{org.pk}/two-factor/", {"require_two_factor": "on"})
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.require_two_factor

    colleague = Client()
    colleague.force_login(member)
    for url in ("/", f"/p/{cast.partnership.pk}/", "/settings/"):
        response = colleague.get(url)
        assert response.status_code == 302 and response["Location"] == "/settings/two-factor/", url
    htmx = colleague.get("/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == "/settings/two-factor/"
    api = colleague.get("/api/v1/me")
    assert api.status_code == 403 and api.json()["code"] == "two_factor.required"
    with at(2):
        assert colleague.post("/settings/two-factor/start/").status_code == 302
        assert colleague.get("/settings/two-factor/").status_code == 200
        assert colleague.post("/settings/two-factor/confirm/", {"code": code_for(member, 2)}).status_code == 201
        assert colleague.get("/").status_code == 200
        # Required, so it stays on.
        assert colleague.post("/settings/two-factor/disable/", {"password": f.PASSWORD}).status_code == 403
    assert two_factor.is_enrolled(member)


def test_members_of_other_organisations_are_not_held(cast):
    cast.partnership.vendor.require_two_factor = True
    cast.partnership.vendor.save()
    client = Client()
    client.force_login(cast.partner_approver)  # a member of the partnership, not of the vendor organisation
    assert client.get("/").status_code == 200


# --- Sessions -------------------------------------------------------------------------------------


def test_the_sessions_list_and_sign_out_everywhere_else(person):
    laptop, phone = (
        Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"),
        Client(HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/605.1"),
    )
    assert password_step(laptop, "ada@acme.test")["Location"] == "/"
    assert password_step(phone, "ada@acme.test")["Location"] == "/"
    page = laptop.get("/settings/").content.decode()
    assert "Chrome on Linux" in page and "Safari on iPhone" in page and "this browser" in page
    assert UserSession.objects.filter(user=person, ended_at__isnull=True).count() == 2

    response = laptop.post("/settings/sessions/sign-out-others/", follow=True)
    assert "signed out everywhere else (1 other session)" in response.content.decode()
    assert laptop.get("/").status_code == 200
    assert phone.get("/")["Location"].startswith("/accounts/login/")
    page = laptop.get("/settings/").content.decode()
    assert "Safari on iPhone" not in page and "Chrome on Linux" in page


def test_signing_out_ends_the_session_in_the_list(person):
    client = Client()
    password_step(client, "ada@acme.test")
    client.post("/accounts/logout/")
    assert not UserSession.objects.filter(user=person, ended_at__isnull=True).exists()


def test_turning_two_factor_on_signs_out_the_other_sessions(person):
    other = Client()
    password_step(other, "ada@acme.test")
    enrol(person)
    assert other.get("/")["Location"].startswith("/accounts/login/")


def test_a_new_password_ends_the_listed_sessions(person):
    client = Client()
    password_step(client, "ada@acme.test")
    person.set_password("another-long-passphrase")
    person.save()
    assert signed_in(person) == []


def test_what_a_password_alone_may_not_do_is_named_for_the_api(cast, person):
    assert two_factor.password_alone_refusal(person) is None
    enrol(person)
    assert "second factor" in (two_factor.password_alone_refusal(person) or "")
    cast.partnership.vendor.require_two_factor = True
    cast.partnership.vendor.save()
    assert "requires two-factor" in (two_factor.password_alone_refusal(cast.vendor_admin) or "")


def test_the_settings_pages_limit_guessed_codes_and_passwords(person):
    enrol(person)
    client = Client()
    with at(1):
        password_step(client, "ada@acme.test")
        client.post("/accounts/login/two-factor/", {"code": code_for(person, 1)})
        statuses = [
            client.post("/settings/two-factor/recovery-codes/", {"code": "000000"}).status_code for _ in range(5)
        ]
        statuses.append(client.post("/settings/two-factor/disable/", {"password": "guess"}).status_code)
    assert statuses == [400] * 5 + [429]
    assert two_factor.is_enrolled(person)


def test_the_api_token_endpoint_asks_for_more_than_a_password_where_sign_in_does(cast, person):
    def obtain(email: str):  # type: ignore[no-untyped-def]
        return ApiClient().post("auth/token", {"email": email, "password": f.PASSWORD, "name": "CRM sync"})

    enrol(person)
    refused = obtain("ada@acme.test")
    assert refused.status_code == 403 and "second factor" in refused.json()["detail"]
    cast.partnership.vendor.require_two_factor = True
    cast.partnership.vendor.save()
    required = obtain("admin@vendor.test")
    assert required.status_code == 403 and "requires two-factor" in required.json()["detail"]
    assert not ApiToken.objects.filter(name="CRM sync").exists()
    assert obtain("editor@partner.test").status_code == 201  # a partner's organisation does not require it
