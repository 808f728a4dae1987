"""Issue 15, item 8: sign-up does not tell whether an address is registered, and the workspace is
usable only once the address is confirmed by e-mail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import signup as signups
from accounts.models import Organisation, OrganisationMembership, SignupRequest, User
from accounts.services import workspace_create
from core.errors import InvalidInput
from tests import factories as f

FORM = {"organisation": "Acme Software", "full_name": "Ada Admin", "password": "a-long-and-unusual-passphrase"}


def sign_up(client: Client, email: str, capture) -> object:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return client.post("/accounts/signup/", FORM | {"email": email})


def confirmation_link(message: object) -> str:
    return re.search(r"http://testserver(/accounts/signup/confirm/\S+/)", message.body)[1]  # type: ignore[attr-defined,index]


def page_text(response: object, *addresses: str) -> str:
    """The page without what differs on every answer anyway (nonces, CSRF tokens) or by the address typed."""
    text = response.content.decode()  # type: ignore[attr-defined]
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', text)
    text = re.sub(r'(csrfmiddlewaretoken" value=|"X-CSRFToken": )"[^"]*"', r'\1""', text)
    for address in addresses:
        text = text.replace(address, "ADDRESS")
    return text


def shape(response: object) -> tuple[object, ...]:
    """What a visitor can observe of an answer: status, where it leads, which cookies it sets."""
    return (
        response.status_code,  # type: ignore[attr-defined]
        response.get("Location"),  # type: ignore[attr-defined]
        sorted(response.cookies.keys()),  # type: ignore[attr-defined]
    )


def test_a_known_and_a_new_address_are_answered_alike(db, django_capture_on_commit_callbacks):
    f.make_user("taken@acme.test", full_name="Tess Taken")
    known, new = Client(), Client()
    answers = [
        sign_up(known, "Taken@Acme.test", django_capture_on_commit_callbacks),
        sign_up(new, "fresh@acme.test", django_capture_on_commit_callbacks),
    ]
    assert shape(answers[0]) == shape(answers[1]) == (302, "/accounts/signup/sent/", ["sessionid"])
    pages = [known.get("/accounts/signup/sent/"), new.get("/accounts/signup/sent/")]
    texts = [page_text(p, "taken@acme.test", "fresh@acme.test") for p in pages]
    assert texts[0] == texts[1]
    assert [p.status_code for p in pages] == [200, 200]

    # Each address gets the e-mail that fits it; nothing usable exists yet for the new one.
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {"taken@acme.test", "fresh@acme.test"}
    assert "tried to sign up" in by_address["taken@acme.test"].subject
    assert "/accounts/password-reset/" in by_address["taken@acme.test"].body
    assert "/accounts/signup/confirm/" not in by_address["taken@acme.test"].body
    assert "/accounts/signup/confirm/" in by_address["fresh@acme.test"].body
    assert not User.objects.filter(email="fresh@acme.test").exists()
    assert not Organisation.objects.filter(name="Acme Software").exists()
    assert User.objects.get(email="taken@acme.test").check_password(f.PASSWORD)  # the account is as it was


def test_both_answers_do_the_same_slow_work(db, monkeypatch):
    """The password is hashed for a known address too, so the answer takes as long."""
    f.make_user("taken@acme.test")
    hashed: list[str] = []
    original = signups.make_password
    monkeypatch.setattr(signups, "make_password", lambda raw: hashed.append(raw) or original(raw))
    signups.signup_request(organisation="A", email="taken@acme.test", password="a-long-and-unusual-passphrase")
    signups.signup_request(organisation="A", email="fresh@acme.test", password="a-long-and-unusual-passphrase")
    assert len(hashed) == 2


def test_form_errors_do_not_depend_on_the_address(db):
    f.make_user("taken@acme.test")
    answers = [
        Client().post("/accounts/signup/", FORM | {"email": e, "password": "12345678901"})
        for e in ("taken@acme.test", "fresh@acme.test")
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert page_text(answers[0], "taken@acme.test") == page_text(answers[1], "fresh@acme.test")


def test_the_link_opened_in_another_browser_asks_for_the_password_chosen_at_sign_up(
    db, django_capture_on_commit_callbacks
):
    """Someone who signs up with another person's address cannot have that person confirm an
    account whose password the sign-up knows."""
    sign_up(Client(), "victim@acme.test", django_capture_on_commit_callbacks)
    link = confirmation_link(mail.outbox[0])
    victim = Client()
    page = victim.get(link)
    assert page.status_code == 200 and "enter the password you chose" in page.content.decode()
    assert victim.post(link).status_code == 400
    assert victim.post(link, {"password": "not-what-they-chose"}).status_code == 400
    assert not User.objects.filter(email="victim@acme.test").exists()
    response = victim.post(link, {"password": FORM["password"]})
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="victim@acme.test")
    assert OrganisationMembership.objects.get(user=user).role == "admin"
    assert user.check_password(FORM["password"])


def test_links_expire_work_once_and_a_second_link_for_the_same_address_finds_the_account(
    db, django_capture_on_commit_callbacks
):
    first, second = Client(), Client()
    sign_up(first, "ada@acme.test", django_capture_on_commit_callbacks)
    sign_up(second, "ada@acme.test", django_capture_on_commit_callbacks)
    links = [confirmation_link(m) for m in mail.outbox]
    assert len(set(links)) == 2
    assert first.post(links[0]).status_code == 302
    assert first.post(links[0]).status_code == 404  # used
    again = second.post(links[1])  # another link of the same address: the account exists now
    assert again.status_code == 302 and again["Location"] == "/accounts/login/"
    assert User.objects.filter(email="ada@acme.test").count() == 1
    assert Organisation.objects.filter(name="Acme Software").count() == 1

    sign_up(Client(), "late@acme.test", django_capture_on_commit_callbacks)
    late = confirmation_link(mail.outbox[-1])
    with time_machine.travel(timezone.now() + signups.LINK_TTL + dt.timedelta(minutes=1)):
        assert Client().get(late).status_code == 404


def test_the_e_mails_to_one_address_are_bounded(db, django_capture_on_commit_callbacks):
    f.make_user("taken@acme.test")
    for _ in range(5):
        sign_up(Client(), "taken@acme.test", django_capture_on_commit_callbacks)
        sign_up(Client(), "fresh@acme.test", django_capture_on_commit_callbacks)
    sent = [m.to[0] for m in mail.outbox]
    assert sent.count("taken@acme.test") == 1  # one note an hour
    assert sent.count("fresh@acme.test") == signups.MAX_REQUESTS_PER_HOUR
    assert SignupRequest.objects.filter(email="fresh@acme.test").count() == signups.MAX_REQUESTS_PER_HOUR


def test_create_workspace_and_the_service_for_it_are_unchanged(db):
    """``manage.py create_workspace`` and the demo vouch for the address themselves."""
    org, user = workspace_create(name="Cmd Co", email="cmd@co.test", password="a-long-and-unusual-passphrase")
    assert user.is_active and OrganisationMembership.objects.filter(user=user, organisation=org, role="admin").exists()


def test_names_with_control_characters_are_refused_on_the_form(db):
    response = Client().post("/accounts/signup/", FORM | {"organisation": "Acme\x1b[31m", "email": "a@b.test"})
    assert response.status_code == 400 and "control character" in response.content.decode()
    with pytest.raises(InvalidInput, match="control character"):
        signups.signup_request(organisation="Acme\x01", email="a@b.test", password=FORM["password"])


def test_old_sign_ups_are_forgotten(db, django_capture_on_commit_callbacks):
    sign_up(Client(), "ada@acme.test", django_capture_on_commit_callbacks)
    assert signups.prune_signup_requests() == 0
    assert signups.prune_signup_requests(now=timezone.now() + signups.LINK_TTL + dt.timedelta(days=2)) == 1
