"""Issue 15, item 3: single sign-on with each organisation's own OpenID Connect provider.

Two real providers (django-oauth-toolkit, RS256, each a Django server in a subprocess with its own
SQLite database and RSA key) stand for the vendor's and the partner's identity providers. The
flow runs as a browser would: Partnerplan through the Django test client, the provider through
``requests`` (its sign-in form, then its redirect back with the code)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts import sso, two_factor
from accounts.models import (
    IdentityProvider,
    Organisation,
    OrganisationDomain,
    OrganisationMembership,
    TwoFactorDevice,
    User,
)
from accounts.sessions import signed_in
from alignment import invitations
from alignment.access import visible_partnerships
from alignment.models import Role, Side
from tests import factories as f
from tests.oidc_provider.harness import Provider, at_provider, launch, local, ready

VENDOR_PEOPLE = {
    "new.person@vendor.test": {"name": "Nina New"},
    "editor@vendor.test": {},
    "mallory@elsewhere.test": {},  # the vendor's provider vouches for an address that is not the vendor's
    "unverified@vendor.test": {"email_verified": False},
    "approver@partner.test": {},  # … or for one of the partner's
}
PARTNER_PEOPLE = {
    "approver@partner.test": {"name": "Pat Partner"},
    "newbie@partner.test": {"name": "Nico Newbie"},
}


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Provider]]:
    base = tmp_path_factory.mktemp("oidc")
    started = {
        "vendor": launch(base / "vendor", client_id="partnerplan-vendor", people=VENDOR_PEOPLE),
        "partner": launch(base / "partner", client_id="partnerplan-partner", people=PARTNER_PEOPLE),
    }
    running: dict[str, Provider] = {}
    try:
        for name, (process, secret) in started.items():
            running[name] = ready(process, client_id=f"partnerplan-{name}", secret=secret)
        yield running
    finally:
        for name, (process, _) in started.items():
            if name in running:
                running[name].stop()
            else:
                process.kill()


@pytest.fixture
def orgs(cast, providers):  # type: ignore[no-untyped-def]
    """The vendor and the partner of the cast's partnership, each with its own provider switched on:
    the vendor's admin adds the domain of their own address; the operator confirms the partner's."""
    vendor, partner = cast.partnership.vendor, cast.partnership.partner
    sso.domain_add(user=cast.vendor_admin, organisation_id=vendor.pk, domain="vendor.test")
    _switch_on(cast.vendor_admin, vendor, providers["vendor"])
    OrganisationMembership.objects.create(organisation=partner, user=cast.partner_approver, role="admin")
    call_command("sso_confirm_domain", str(partner.pk), "partner.test")
    _switch_on(cast.partner_approver, partner, providers["partner"])
    return vendor, partner


def _switch_on(admin: User, org: Organisation, provider: Provider, **extra: bool) -> IdentityProvider:
    return sso.provider_save(
        user=admin,
        organisation_id=org.pk,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        enabled=True,
        require_sso=extra.get("require_sso", False),
    )


def start(client: Client, email: str) -> str:
    """Type the address on the sign-in page and press the single sign-on button."""
    answer = client.post("/accounts/login/", {"username": email, "password": ""})
    assert answer.status_code == 200  # the password button without a password: nothing happens
    answer = client.post("/accounts/login/sso/", {"username": email, "password": ""})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    return str(answer["Location"])


def sso_sign_in(client: Client, email: str, *, typed: str | None = None):  # type: ignore[no-untyped-def]
    """The whole flow: start with ``typed`` (default: the same address), sign in at the provider as
    ``email``, come back to the callback."""
    back = at_provider(start(client, typed or email), email)
    return client.get(local(back))


def _signed_in_as(client: Client) -> User | None:
    user = client.get("/").wsgi_request.user
    return user if user.is_authenticated else None  # type: ignore[return-value]


# --- Signing in -------------------------------------------------------------------------------------


def test_new_person_becomes_a_member_not_an_admin_and_sees_no_partnership(orgs, providers) -> None:
    vendor, _ = orgs
    client = Client()
    answer = sso_sign_in(client, "new.person@vendor.test")
    assert answer.status_code == 302 and answer["Location"] == "/"
    user = User.objects.get(email="new.person@vendor.test")
    assert user.full_name == "Nina New" and not user.has_usable_password()
    assert list(OrganisationMembership.objects.filter(user=user).values_list("organisation_id", "role")) == [
        (vendor.pk, "member")
    ]
    assert not visible_partnerships(user).exists()
    # A normal signed-in session: listed with the person's sessions, and no code is asked for.
    assert _signed_in_as(client) == user
    assert client.get("/").status_code == 200
    assert len(signed_in(user)) == 1
    assert client.session[two_factor.VERIFIED] is True
    assert client.session[sso.SIGNED_IN_WITH] == str(vendor.pk)


def test_existing_person_is_signed_in_keeps_their_partnerships_and_becomes_a_member(cast, orgs) -> None:
    vendor, _ = orgs
    people = User.objects.count()
    client = Client()
    assert sso_sign_in(client, "editor@vendor.test").status_code == 302
    assert _signed_in_as(client) == cast.vendor_editor
    assert User.objects.count() == people
    assert OrganisationMembership.objects.get(user=cast.vendor_editor, organisation=vendor).role == "member"
    assert list(visible_partnerships(cast.vendor_editor)) == [cast.partnership]
    # A second sign-in changes nothing (one membership, still a member).
    client2 = Client()
    assert sso_sign_in(client2, "editor@vendor.test").status_code == 302
    assert OrganisationMembership.objects.filter(user=cast.vendor_editor).count() == 1


def test_address_outside_the_organisations_domains_is_refused_and_nobody_is_made(orgs) -> None:
    people = User.objects.count()
    client = Client()
    answer = sso_sign_in(client, "mallory@elsewhere.test", typed="someone@vendor.test")
    assert answer.status_code == 403
    assert "is not at a domain of" in answer.content.decode()
    assert User.objects.count() == people and not User.objects.filter(email="mallory@elsewhere.test").exists()
    assert _signed_in_as(client) is None


def test_unverified_address_is_refused(orgs) -> None:
    client = Client()
    answer = sso_sign_in(client, "unverified@vendor.test")
    assert answer.status_code == 403
    assert "has not verified your e-mail address" in answer.content.decode()
    assert not User.objects.filter(email="unverified@vendor.test").exists()
    assert _signed_in_as(client) is None


def test_partner_people_go_to_the_partners_provider_and_the_vendors_cannot_sign_them_in(cast, orgs, providers) -> None:
    _, partner = orgs
    to = start(Client(), "approver@partner.test")
    assert to.startswith(providers["partner"].issuer + "/authorize/")
    assert parse_qs(urlsplit(to).query)["client_id"] == ["partnerplan-partner"]
    assert start(Client(), "editor@vendor.test").startswith(providers["vendor"].issuer + "/authorize/")
    # The vendor's provider vouching for a partner address is refused: it is not the vendor's domain.
    client = Client()
    refused = sso_sign_in(client, "approver@partner.test", typed="someone@vendor.test")
    assert refused.status_code == 403 and _signed_in_as(client) is None
    assert not OrganisationMembership.objects.filter(user=cast.partner_approver, organisation=cast.partnership.vendor)
    # Through the partner's own provider, they are in (and already the partner organisation's admin).
    assert sso_sign_in(client, "approver@partner.test").status_code == 302
    assert _signed_in_as(client) == cast.partner_approver
    assert OrganisationMembership.objects.get(user=cast.partner_approver, organisation=partner).role == "admin"


def test_invited_person_signing_in_with_sso_sees_exactly_their_invitations_partnerships(cast, orgs) -> None:
    _, partner = orgs
    Organisation.objects.filter(pk=partner.pk).update(vendors_invite_directly=True)
    _, raw = invitations.invitation_create(
        access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.EDITOR
    )
    client = Client()
    assert sso_sign_in(client, "newbie@partner.test").status_code == 302
    newbie = User.objects.get(email="newbie@partner.test")
    assert OrganisationMembership.objects.get(user=newbie).organisation == partner
    assert not visible_partnerships(newbie).exists()  # SSO grants no partnership
    assert cast.partnership.name not in client.get("/").content.decode()
    # The invitation link, opened signed in, gives its partnership and nothing else.
    invitations.invitation_accept(raw_token=raw, user=newbie)
    assert list(visible_partnerships(newbie)) == [cast.partnership]
    page = client.get("/").content.decode()
    assert cast.partnership.name in page and cast.outsider_partnership.name not in page


def test_an_invitee_at_a_domain_that_requires_sso_accepts_after_signing_in_there(cast, orgs, providers) -> None:
    _, partner = orgs
    _switch_on(cast.partner_approver, partner, providers["partner"], require_sso=True)
    _, raw = invitations.invitation_create(
        access=cast.access("partner_approver"), email="newbie@partner.test", side=Side.PARTNER, role=Role.EDITOR
    )
    client = Client()
    page = client.get(f"/invite/{raw}/").content.decode()
    # No password form: the page sends the invitee to their provider and back to this link.
    assert "Choose a password" not in page and "signs its people in with its own identity provider" in page
    assert "/accounts/login/sso/?email=newbie%40partner.test&amp;next=%2Finvite%2F" in page
    refused = client.post(
        f"/invite/{raw}/accept", {"full_name": "Nina", "password": f.PASSWORD, "password_again": f.PASSWORD}
    )
    assert refused.status_code == 403 and not User.objects.filter(email="newbie@partner.test").exists()
    assert sso_sign_in(client, "newbie@partner.test").status_code == 302
    assert "Accept and join" in client.get(f"/invite/{raw}/").content.decode()
    assert client.post(f"/invite/{raw}/accept").status_code == 302
    assert list(visible_partnerships(User.objects.get(email="newbie@partner.test"))) == [cast.partnership]


# --- The flow's own checks -----------------------------------------------------------------------


def test_tampered_state_is_refused(orgs) -> None:
    client = Client()
    back = at_provider(start(client, "editor@vendor.test"), "editor@vendor.test")
    query = parse_qs(urlsplit(back).query)
    tampered = {"code": query["code"][0], "state": query["state"][0][:-2] + "xx"}
    answer = client.get("/accounts/login/sso/callback/?" + urlencode(tampered))
    assert answer.status_code == 403
    assert "did not start in this browser" in answer.content.decode()
    assert _signed_in_as(client) is None


def test_replayed_callback_is_refused_in_the_same_and_in_another_browser(cast, orgs) -> None:
    client = Client()
    back = at_provider(start(client, "editor@vendor.test"), "editor@vendor.test")
    assert client.get(local(back)).status_code == 302
    client.post("/accounts/logout/")
    assert client.get(local(back)).status_code == 403
    assert _signed_in_as(client) is None
    other = Client()
    assert other.get(local(back)).status_code == 403
    assert _signed_in_as(other) is None


def test_a_different_nonce_fails_the_id_token_check(orgs, providers, caplog) -> None:
    client = Client()
    back = at_provider(start(client, "editor@vendor.test"), "editor@vendor.test")
    session = client.session
    state = parse_qs(urlsplit(back).query)["state"][0]
    session[sso.PENDING][state]["nonce"] = "not-the-nonce-that-was-sent"
    session.save()
    answer = client.get(local(back))
    assert answer.status_code == 403
    assert "did not pass Partnerplan&#x27;s checks" in answer.content.decode()
    assert _signed_in_as(client) is None
    assert "InvalidClaimError" in caplog.text and providers["vendor"].client_secret not in caplog.text


def test_provider_error_is_refused_with_a_clear_page(orgs) -> None:
    client = Client()
    state = parse_qs(urlsplit(start(client, "editor@vendor.test")).query)["state"][0]
    answer = client.get(
        "/accounts/login/sso/callback/?"
        + urlencode({"error": "access_denied", "error_description": "The person said no", "state": state})
    )
    assert answer.status_code == 403
    assert "Your identity provider did not sign you in: The person said no" in answer.content.decode()
    assert _signed_in_as(client) is None


def test_callback_without_a_flow_is_refused(db) -> None:
    answer = Client().get("/accounts/login/sso/callback/?code=abc&state=def")
    assert answer.status_code == 403
    assert "Start again" in answer.content.decode()


def test_domain_without_sso_says_so_on_the_form(orgs) -> None:
    answer = Client().post("/accounts/login/sso/", {"email": "someone@nowhere.test"})
    assert answer.status_code == 403
    assert "No organisation signs in addresses at nowhere.test" in answer.content.decode()
    assert Client().get("/accounts/login/sso/").status_code == 200


def test_switched_off_provider_signs_nobody_in(cast, orgs, providers) -> None:
    vendor, _ = orgs
    client = Client()
    back = at_provider(start(client, "editor@vendor.test"), "editor@vendor.test")
    IdentityProvider.objects.filter(organisation=vendor).update(enabled=False)
    assert client.get(local(back)).status_code == 403
    assert _signed_in_as(client) is None
    assert Client().post("/accounts/login/sso/", {"email": "editor@vendor.test"}).status_code == 403


# --- Two-factor and password sign-in ----------------------------------------------------------


def test_sso_counts_as_strong_sign_in_for_a_person_with_two_factor(cast, orgs) -> None:
    TwoFactorDevice.objects.create(
        user=cast.vendor_editor, secret="JBSWY3DPEHPK3PXP", confirmed_at=cast.partnership.created_at
    )
    vendor, _ = orgs
    Organisation.objects.filter(pk=vendor.pk).update(require_two_factor=True)
    client = Client()
    assert sso_sign_in(client, "editor@vendor.test").status_code == 302
    answer = client.get("/")
    assert answer.status_code == 200 and answer.wsgi_request.user == cast.vendor_editor


def test_password_sign_in_is_refused_where_sso_is_required(cast, orgs, providers) -> None:
    vendor, _ = orgs
    _switch_on(cast.vendor_admin, vendor, providers["vendor"], require_sso=True)
    client = Client()
    answer = client.post("/accounts/login/", {"username": "editor@vendor.test", "password": f.PASSWORD})
    assert answer.status_code == 200
    assert "signs its people in with its own identity provider" in answer.content.decode()
    assert _signed_in_as(client) is None
    # Other domains still sign in with a password; the required domain with SSO.
    assert (
        Client().post("/accounts/login/", {"username": "outsider@other.test", "password": f.PASSWORD}).status_code
        == 302
    )
    assert sso_sign_in(client, "editor@vendor.test").status_code == 302
    assert _signed_in_as(client) == cast.vendor_editor


# --- Settings ---------------------------------------------------------------------------------------


def test_admin_saves_the_provider_and_the_secret_is_never_shown_again(cast, providers) -> None:
    vendor = cast.partnership.vendor
    client = Client()
    client.force_login(cast.vendor_admin)
    url = f"/settings/organisations/{vendor.pk}/sso/"
    assert client.get("/settings/").content.decode().count(url) == 1
    assert client.post(url + "domains/", {"domain": "Vendor.TEST"}).status_code == 302
    secret = providers["vendor"].client_secret
    form = {"issuer": providers["vendor"].issuer + "/", "client_id": "partnerplan-vendor", "client_secret": secret}
    assert client.post(url, form | {"enabled": "on"}).status_code == 302
    saved = IdentityProvider.objects.get(organisation=vendor)
    assert saved.enabled and saved.issuer == providers["vendor"].issuer  # as discovery names it
    assert secret not in saved.client_secret_encrypted and sso.decrypt_secret(saved.client_secret_encrypted) == secret
    page = client.get(url).content.decode()
    assert secret not in page and "A secret is set" in page
    assert "http://testserver/accounts/login/sso/callback/" in page
    # Saving again without a secret keeps it.
    assert (
        client.post(url, {k: v for k, v in form.items() if k != "client_secret"} | {"enabled": "on"}).status_code == 302
    )
    assert sso.decrypt_secret(IdentityProvider.objects.get(organisation=vendor).client_secret_encrypted) == secret


def test_switching_on_needs_a_provider_that_answers_a_secret_and_a_domain(cast, providers) -> None:
    vendor = cast.partnership.vendor
    client = Client()
    client.force_login(cast.vendor_admin)
    url = f"/settings/organisations/{vendor.pk}/sso/"
    form = {"issuer": providers["vendor"].issuer, "client_id": "partnerplan-vendor", "client_secret": "s3cret-value"}
    no_domain = client.post(url, form | {"enabled": "on"})
    assert no_domain.status_code == 409 and "Add a domain your organisation owns first" in no_domain.content.decode()
    sso.domain_add(user=cast.vendor_admin, organisation_id=vendor.pk, domain="vendor.test")
    nowhere = client.post(url, form | {"issuer": "http://127.0.0.1:9/nothing", "enabled": "on"})
    assert nowhere.status_code == 400 and "did not answer its discovery address" in nowhere.content.decode()
    assert "s3cret-value" not in nowhere.content.decode()
    plain = client.post(url, form | {"issuer": "http://idp.example.com", "enabled": "on"})
    assert plain.status_code == 400 and "https://" in plain.content.decode()
    required_off = client.post(url, form | {"require_sso": "on"})
    assert required_off.status_code == 400 and "Switch single sign-on on to require it" in required_off.content.decode()
    assert not IdentityProvider.objects.filter(organisation=vendor).exists()
    # Saved switched off: no discovery needed.
    assert client.post(url, form).status_code == 302
    assert not IdentityProvider.objects.get(organisation=vendor).enabled


def test_domains_an_admin_may_add_and_remove(cast, providers) -> None:
    vendor = cast.partnership.vendor
    client = Client()
    client.force_login(cast.vendor_admin)
    url = f"/settings/organisations/{vendor.pk}/sso/domains/"
    not_theirs = client.post(url, {"domain": "partner.test"})
    assert not_theirs.status_code == 409 and "the domain of your own address" in not_theirs.content.decode()
    assert client.post(url, {"domain": "not a domain"}).status_code == 400
    # A shared mail provider's domain, or one taken by another organisation, is nobody's to add.
    gmail = f.make_user("boss@gmail.com")
    other = f.make_org("Other", gmail)
    with pytest.raises(Exception, match="shared mail provider"):
        sso.domain_add(user=gmail, organisation_id=other.pk, domain="gmail.com")
    call_command("sso_confirm_domain", str(other.pk), "vendor.test")
    taken = client.post(url, {"domain": "vendor.test"})
    assert taken.status_code == 409 and "already belongs to an organisation" in taken.content.decode()
    OrganisationDomain.objects.filter(domain="vendor.test").delete()
    assert client.post(url, {"domain": "vendor.test"}).status_code == 302
    domain = OrganisationDomain.objects.get(domain="vendor.test")
    assert domain.organisation == vendor and domain.verified_by == "admin_address"
    _switch_on(cast.vendor_admin, vendor, providers["vendor"])
    # The last domain stays while single sign-on is on.
    client.post(f"{url}{domain.pk}/remove/")
    assert OrganisationDomain.objects.filter(pk=domain.pk).exists()
    IdentityProvider.objects.filter(organisation=vendor).update(enabled=False)
    assert client.post(f"{url}{domain.pk}/remove/").status_code == 302
    assert not OrganisationDomain.objects.filter(pk=domain.pk).exists()


def test_only_the_organisations_admins_open_its_settings(cast) -> None:
    vendor = cast.partnership.vendor
    url = f"/settings/organisations/{vendor.pk}/sso/"
    member = Client()
    OrganisationMembership.objects.create(organisation=vendor, user=cast.vendor_editor, role="member")
    member.force_login(cast.vendor_editor)
    assert member.get(url).status_code == 403
    assert member.post(url + "domains/", {"domain": "vendor.test"}).status_code == 403
    outsider = Client()
    outsider.force_login(cast.outsider)
    assert outsider.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to sign in
    assert not OrganisationDomain.objects.exists()


def test_operator_command_refuses_unknown_organisations_and_public_domains(cast) -> None:
    with pytest.raises(CommandError, match="No organisation"):
        call_command("sso_confirm_domain", "not-an-id", "example.com")
    with pytest.raises(CommandError, match="shared mail provider"):
        call_command("sso_confirm_domain", str(cast.partnership.vendor.pk), "outlook.com")


def test_operator_accounts_are_not_signed_in_by_an_organisations_provider(cast, orgs) -> None:
    User.objects.filter(pk=cast.vendor_editor.pk).update(is_staff=True)
    client = Client()
    answer = sso_sign_in(client, "editor@vendor.test")
    assert (
        answer.status_code == 403 and "Operators of Partnerplan sign in with their password" in answer.content.decode()
    )
    assert _signed_in_as(client) is None


def test_sign_up_is_refused_at_a_domain_that_requires_sso(cast, orgs, providers) -> None:
    vendor, _ = orgs
    _switch_on(cast.vendor_admin, vendor, providers["vendor"], require_sso=True)
    form = {"organisation": "Side Project", "full_name": "Sam Side", "password": "a-long-demo-password-1"}
    answer = Client().post("/accounts/signup/", form | {"email": "sam@vendor.test"})
    assert answer.status_code == 400
    assert "signs its people in with its own identity provider" in answer.content.decode()
    assert Client().post("/accounts/signup/", form | {"email": "sam@elsewhere.test"}).status_code == 302
