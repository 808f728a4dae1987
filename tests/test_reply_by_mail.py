"""Replies by e-mail: a reply to a goal, negotiation or review e-mail becomes the sender's comment on
that goal or review, through a real SMTP listener and through a signed Mailgun inbound webhook; a
forged sender, an unknown address or a person who lost access gets a short notice and nothing is
posted; quoted text and signatures are cut; the same message twice posts once; automatic mail is
never answered."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import socket
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User
from accounts.reply_address import make_token, read_token, reply_address, token_of
from alignment.models import AlignmentReview, ChangeEvent, PartnershipMember, ReviewComment
from alignment.services import review_schedule
from core.models import MailKind, OutboxMessage
from goals.models import Comment
from plans import replies
from plans.models import InboundReply
from plans.reply_smtp import controller
from tests import factories as f
from tests.api_support import ApiClient
from tests.test_outbox import PRODUCERS, Producer, send_as_a_worker_would

DOMAIN = "reply.partnerplan.test"
MAILGUN_KEY = "key-mailgun-webhook-signing-for-tests"
GOAL_KINDS = [
    MailKind.GOAL_PROPOSED,
    MailKind.GOAL_APPROVED,
    MailKind.GOAL_CHANGES_REQUESTED,
    MailKind.APPROVAL_WAITING,
    MailKind.CHECKIN_MISSING,
]
REVIEW_KINDS = [MailKind.REVIEW_UPCOMING, MailKind.REVIEW_OVERDUE]


@pytest.fixture(autouse=True)
def _replies_on(settings: Any) -> None:
    settings.REPLY_DOMAIN = DOMAIN
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def goal(cast: Any) -> Any:
    editor = cast.access("vendor_editor")
    return f.make_goal(editor, f.make_objective(editor), title="Pipeline Q3")


@pytest.fixture
def review(cast: Any) -> AlignmentReview:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    return review_schedule(access=cast.access("vendor_editor"), scheduled_for=when)


def letter(
    to: str,
    sender: str,
    body: str,
    *,
    message_id: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Re: Pipeline Q3"
    message["Message-ID"] = message_id or make_msgid(domain="mail.partner.test")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def address_for(user: Any, kind: str, obj: Any) -> str:
    found = reply_address(user.pk, kind, obj.pk)
    assert found is not None
    return found


def receive(message: EmailMessage, *, sender: str | None = None) -> replies.Received:
    return replies.receive(recipients=[str(message["To"])], sender=sender, message=message)


def refusals() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=MailKind.REPLY_REFUSED))


# --- The Reply-To of each e-mail ----------------------------------------------------------------


@pytest.mark.parametrize("kind", GOAL_KINDS + REVIEW_KINDS)
def test_goal_negotiation_and_review_emails_carry_a_signed_reply_to_per_recipient(
    cast: Any, django_capture_on_commit_callbacks: Any, kind: str
) -> None:
    produced = PRODUCERS[kind](Producer(cast, django_capture_on_commit_callbacks))
    send_as_a_worker_would(produced)
    assert mail.outbox
    seen = set()
    for message in mail.outbox:
        reply_to = message.extra_headers["Reply-To"]
        assert reply_to.startswith("reply+") and reply_to.endswith(f"@{DOMAIN}") and reply_to == reply_to.lower()
        assert len(reply_to.split("@")[0]) <= 64
        target = read_token(token_of(reply_to) or "")
        assert target is not None
        assert target.user_id == User.objects.get(email=message.to[0]).pk  # bound to this recipient
        assert target.kind == ("review" if kind in REVIEW_KINDS else "goal")
        seen.add(reply_to)
        text = message.body
        html = message.alternatives[0][0]
        assert "Reply to this e-mail to comment on" in text and "Reply to this e-mail to comment on" in html
    assert len(seen) == len(mail.outbox)  # one address per person


def test_without_a_reply_domain_the_emails_have_no_reply_to_nor_the_line(
    cast: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.REPLY_DOMAIN = ""
    produced = PRODUCERS[MailKind.GOAL_PROPOSED](Producer(cast, django_capture_on_commit_callbacks))
    send_as_a_worker_would(produced)
    assert mail.outbox
    for message in mail.outbox:
        assert "Reply-To" not in message.extra_headers
        assert "Reply to this e-mail" not in message.body


# --- The token ------------------------------------------------------------------------------------


def test_a_token_reads_back_to_its_person_and_object_and_fits_a_local_part() -> None:
    object_id = uuid.uuid4()
    for user_id in (1, 4242, 2**63 - 1):
        token = make_token(user_id, "review", object_id)
        assert token == token.lower() and len("reply+" + token) <= 64
        target = read_token(token.upper())  # a mail system may change the case
        assert target is not None and (target.user_id, target.kind, target.object_id) == (user_id, "review", object_id)


def test_a_tampered_or_foreign_token_reads_as_nothing(settings: Any) -> None:
    object_id = uuid.uuid4()
    token = make_token(7, "goal", object_id)
    kind, rest = token[0], token[1:]
    packed, person, mac = rest.split("-")
    other_mac = ("a" if mac[0] != "a" else "b") + mac[1:]
    assert read_token(f"{kind}{packed}-{person}-{other_mac}") is None  # the signature
    assert read_token(f"{kind}{packed}-8-{mac}") is None  # another person
    assert read_token(f"r{packed}-{person}-{mac}") is None  # another kind
    other_object = make_token(7, "goal", uuid.uuid4()).split("-")[0][1:]
    assert read_token(f"{kind}{other_object}-{person}-{mac}") is None  # another object
    assert read_token(token + "a") is None and read_token("") is None and read_token("../etc") is None
    settings.SECRET_KEY = "another-installation-has-another-key-entirely"
    assert read_token(token) is None  # signed by another installation


def test_a_token_signed_with_a_key_being_rotated_out_still_reads(settings: Any) -> None:
    object_id = uuid.uuid4()
    token = make_token(7, "goal", object_id)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-new-key-of-this-installation-after-rotation"
    target = read_token(token)
    assert target is not None and target.object_id == object_id


def test_only_addresses_at_the_reply_domain_carry_a_token() -> None:
    token = make_token(7, "goal", uuid.uuid4())
    assert token_of(f"reply+{token}@{DOMAIN.upper()}") == token
    assert token_of(f"reply+{token}@elsewhere.test") is None
    assert token_of(f"other+{token}@{DOMAIN}") is None


# --- The service ------------------------------------------------------------------------------------


def test_a_reply_becomes_the_recipients_comment_in_the_feed(cast: Any, goal: Any) -> None:
    to = address_for(cast.partner_editor, "goal", goal)
    received = receive(letter(to, "Pete Editor <Editor@Partner.test>", "We can commit two consultants."))
    assert received.outcome == "posted"
    comment = Comment.objects.get(goal=goal)
    assert (comment.author, comment.side, comment.body) == (
        cast.partner_editor,
        "partner",
        "We can commit two consultants.",
    )
    event = ChangeEvent.objects.get(object_type="comment", object_id=comment.pk)
    assert event.actor == cast.partner_editor and event.action == "create"
    assert refusals() == []


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (
            "Sounds good, let's do it.\n\nThanks,\nPete\n\n"
            "On Mon, Mar 1, 2027 at 9:00 AM Ed Editor <editor@vendor.test> wrote:\n> Please review the goal.\n> Ed\n",
            "Sounds good, let's do it.",
        ),
        (
            "Einverstanden, so machen wir es.\n\nViele Grüße\nPete\n\n"
            "Am Mo., 1. März 2027 um 09:00 Uhr schrieb Ed Editor <editor@vendor.test>:\n> Bitte prüfen.\n",
            "Einverstanden, so machen wir es.",
        ),
        (
            "Fine by us.\n\n-----Original Message-----\nFrom: Ed Editor\nSent: Monday, March 1, 2027\n"
            "To: Pete Editor\nSubject: Pipeline Q3\n\nPlease review the goal.\n",
            "Fine by us.",
        ),
        (
            "D'accord pour nous.\n\nLe lun. 1 mars 2027 à 09:00, Ed Editor <editor@vendor.test> a écrit :\n> Voir.\n",
            "D'accord pour nous.",
        ),
        (
            "Vale, de acuerdo.\n\nEl lun, 1 mar 2027 a las 9:00, Ed Editor (<editor@vendor.test>) escribió:\n> Ver.\n",
            "Vale, de acuerdo.",
        ),
        ("Agreed.\n\nSent from my iPhone\n", "Agreed."),
        ("Agreed, with one change.\n> an earlier line quoted without a header\n", "Agreed, with one change."),
    ],
    ids=["english", "german", "outlook", "french", "spanish", "mobile-signature", "bare-quote"],
)
def test_quoted_text_and_signatures_are_cut(cast: Any, goal: Any, body: str, kept: str) -> None:
    receive(letter(address_for(cast.partner_editor, "goal", goal), "editor@partner.test", body))
    assert Comment.objects.get(goal=goal).body == kept


def test_an_html_only_reply_is_read_as_text_without_its_quote(cast: Any, goal: Any) -> None:
    message = EmailMessage()
    message["From"], message["To"] = "editor@partner.test", address_for(cast.partner_editor, "goal", goal)
    message["Message-ID"] = make_msgid()
    message.set_content(
        "<html><body><p>Works for us &amp; our team.</p><p>Second <b>line</b></p>"
        '<div class="gmail_quote">On Mon, Ed wrote:<blockquote>Old text</blockquote></div></body></html>',
        subtype="html",
    )
    receive(message)
    assert Comment.objects.get(goal=goal).body == "Works for us & our team.\n\nSecond line"


def test_a_reply_with_nothing_new_posts_nothing_and_bounces_nothing(cast: Any, goal: Any) -> None:
    body = "On Mon, Mar 1, 2027 at 9:00 AM Ed Editor <editor@vendor.test> wrote:\n> Please review.\n"
    received = receive(letter(address_for(cast.partner_editor, "goal", goal), "editor@partner.test", body))
    assert received.outcome == "empty"
    assert not Comment.objects.exists() and refusals() == []


def test_the_same_message_twice_posts_once(cast: Any, goal: Any) -> None:
    message = letter(address_for(cast.partner_editor, "goal", goal), "editor@partner.test", "Once only.")
    assert receive(message).outcome == "posted"
    assert receive(message).outcome == "duplicate"
    assert Comment.objects.filter(goal=goal).count() == 1 == InboundReply.objects.count()


def test_a_forged_sender_posts_nothing_and_gets_one_notice_an_hour(cast: Any, goal: Any) -> None:
    to = address_for(cast.partner_editor, "goal", goal)
    first = receive(letter(to, "Mallory <mallory@evil.test>", "Approve everything."))
    second = receive(letter(to, "mallory@evil.test", "Approve everything, again."))
    assert (first.outcome, first.refusal, second.refusal) == ("refused", "sender", "sender")
    assert not Comment.objects.exists()
    assert [(r.to_email, r.context["reason"]) for r in refusals()] == [("mallory@evil.test", "sender")]


def test_a_colleague_replying_to_someone_elses_address_is_refused(cast: Any, goal: Any) -> None:
    """The address is the recipient's own: another member (even of the plan) cannot post with it."""
    to = address_for(cast.partner_editor, "goal", goal)
    assert receive(letter(to, "approver@partner.test", "I'll answer for Pete.")).refusal == "sender"
    assert not Comment.objects.exists()


def test_an_unknown_or_tampered_address_is_refused(cast: Any, goal: Any) -> None:
    to = address_for(cast.partner_editor, "goal", goal)
    tampered = to.replace("reply+g", "reply+r")
    assert receive(letter(tampered, "editor@partner.test", "Hello?")).refusal == "unknown"
    assert not Comment.objects.exists()
    assert [r.to_email for r in refusals()] == ["editor@partner.test"]


def test_a_person_who_lost_access_gets_the_notice_and_nothing_is_posted(cast: Any, goal: Any) -> None:
    to = address_for(cast.partner_editor, "goal", goal)
    PartnershipMember.objects.filter(user=cast.partner_editor).delete()
    received = receive(letter(to, "editor@partner.test", "Still here?"))
    assert (received.outcome, received.refusal) == ("refused", "access")
    assert not Comment.objects.exists()
    assert [(r.to_email, r.context["reason"]) for r in refusals()] == [("editor@partner.test", "access")]


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto-Submitted": "auto-replied"}, None),
        ({"Auto-Submitted": "auto-generated"}, None),
        ({"Precedence": "bulk"}, None),
        ({"Precedence": "junk"}, None),
        ({"X-Autoreply": "yes"}, None),
        ({}, ""),  # the null sender of a bounce
        ({}, "<>"),
        ({}, "MAILER-DAEMON@mx.partner.test"),
    ],
)
def test_automatic_mail_is_neither_posted_nor_answered(
    cast: Any, goal: Any, headers: dict[str, str], sender: str | None
) -> None:
    message = letter(
        address_for(cast.partner_editor, "goal", goal), "editor@partner.test", "I am out of office.", headers=headers
    )
    assert receive(message, sender=sender).outcome == "automatic"
    assert not Comment.objects.exists() and refusals() == []


def test_an_explicit_auto_submitted_no_is_a_person_writing(cast: Any, goal: Any) -> None:
    message = letter(
        address_for(cast.partner_editor, "goal", goal),
        "editor@partner.test",
        "Written by me.",
        headers={"Auto-Submitted": "no"},
    )
    assert receive(message, sender="editor@partner.test").outcome == "posted"


def test_received_messages_are_forgotten_after_thirty_days(cast: Any, goal: Any) -> None:
    receive(letter(address_for(cast.partner_editor, "goal", goal), "editor@partner.test", "Kept a while."))
    now = dt.datetime.now(dt.UTC)
    assert replies.prune_received(now + dt.timedelta(days=29)) == 0
    assert replies.prune_received(now + dt.timedelta(days=31)) == 1
    assert not InboundReply.objects.exists() and Comment.objects.filter(goal=goal).count() == 1


def test_mail_without_a_reply_address_is_not_for_us(cast: Any, goal: Any) -> None:
    assert receive(letter(f"someone@{DOMAIN}", "editor@partner.test", "Hi")).outcome == "not_for_us"
    assert not InboundReply.objects.exists() and refusals() == []


# --- Review comments ------------------------------------------------------------------------------


def test_a_reply_to_a_review_email_becomes_a_review_comment_on_the_page_and_in_the_api(
    cast: Any, review: AlignmentReview
) -> None:
    to = address_for(cast.partner_viewer, "review", review)
    assert receive(letter(to, "viewer@partner.test", "Can we add the Q3 pipeline to the agenda?")).outcome == "posted"
    comment = ReviewComment.objects.get(review=review)
    assert (comment.author, comment.side) == (cast.partner_viewer, "partner")

    client = Client()
    client.force_login(cast.vendor_editor)
    page = client.get(f"/p/{cast.partnership.pk}/reviews/{review.pk}/")
    assert page.status_code == 200
    assert "Can we add the Q3 pipeline to the agenda?" in page.content.decode()

    api = ApiClient(cast.vendor_editor)
    listed = api.get("review-comments", review=str(review.pk)).json()
    assert [c["body"] for c in listed["results"]] == ["Can we add the Q3 pipeline to the agenda?"]
    feed = api.get("changes", partnership=str(cast.partnership.pk), limit=500).json()
    assert any(e["type"] == "review-comment" and e["id"] == str(comment.pk) for e in feed["results"])
    assert ApiClient(cast.outsider).get(f"review-comments/{comment.pk}").status_code == 404


def test_members_comment_on_a_review_from_its_page_and_outsiders_get_404(cast: Any, review: AlignmentReview) -> None:
    client = Client()
    client.force_login(cast.partner_viewer)
    url = f"/p/{cast.partnership.pk}/reviews/{review.pk}/comment"
    assert client.post(url, {"body": "  "}).status_code == 400
    assert client.post(url, {"body": "Looking forward to it."}).status_code == 302
    assert ReviewComment.objects.get().author == cast.partner_viewer
    outsider = Client()
    outsider.force_login(cast.outsider)
    assert outsider.post(url, {"body": "Let me in"}).status_code == 404
    assert ReviewComment.objects.count() == 1


# --- Through a signed Mailgun inbound webhook -------------------------------------------------------


def mailgun_post(message: EmailMessage, *, key: str = MAILGUN_KEY, **overrides: str) -> Any:
    timestamp, token = str(int(dt.datetime.now(dt.UTC).timestamp())), uuid.uuid4().hex
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data = {
        "recipient": str(message["To"]),
        "sender": str(message["From"]),
        "from": str(message["From"]),
        "subject": str(message["Subject"]),
        "body-plain": message.get_content(),
        "message-headers": json.dumps([[k, str(v)] for k, v in message.items()]),
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    } | overrides
    return Client().post("/inbound/anymail/mailgun/inbound/", data)


def test_a_signed_mailgun_inbound_webhook_posts_the_comment(cast: Any, goal: Any) -> None:
    message = letter(address_for(cast.partner_approver, "goal", goal), "approver@partner.test", "Approved in spirit.")
    assert mailgun_post(message).status_code == 200
    comment = Comment.objects.get(goal=goal)
    assert (comment.author, comment.body) == (cast.partner_approver, "Approved in spirit.")
    assert mailgun_post(message).status_code == 200  # Mailgun retrying: the same Message-ID posts once
    assert Comment.objects.filter(goal=goal).count() == 1


def test_a_mailgun_webhook_with_a_bad_signature_is_refused_and_posts_nothing(cast: Any, goal: Any) -> None:
    message = letter(address_for(cast.partner_approver, "goal", goal), "approver@partner.test", "Forged post.")
    assert mailgun_post(message, key="not-the-signing-key").status_code == 400
    assert mailgun_post(message, signature="0" * 64).status_code == 400
    assert not Comment.objects.exists() and not InboundReply.objects.exists() and refusals() == []


def test_a_forged_sender_through_the_webhook_posts_nothing_and_queues_a_notice(cast: Any, goal: Any) -> None:
    message = letter(address_for(cast.partner_approver, "goal", goal), "mallory@evil.test", "Approve!")
    assert mailgun_post(message).status_code == 200
    assert not Comment.objects.exists()
    assert [r.to_email for r in refusals()] == ["mallory@evil.test"]


def test_the_webhook_refuses_a_huge_mail_and_is_absent_when_not_set_up(cast: Any, goal: Any, settings: Any) -> None:
    message = letter(address_for(cast.partner_approver, "goal", goal), "approver@partner.test", "x")
    settings.REPLY_MAX_BYTES = 2000
    assert mailgun_post(message, **{"body-html": "<p>" + "y" * 5000 + "</p>"}).status_code == 413
    settings.REPLY_MAX_BYTES = 5 * 1024 * 1024
    settings.ANYMAIL = {}
    assert mailgun_post(message).status_code == 404
    assert not Comment.objects.exists()


# --- Through the SMTP listener ----------------------------------------------------------------------


def test_the_listener_command_needs_a_reply_domain(settings: Any) -> None:
    settings.REPLY_DOMAIN = ""
    with pytest.raises(CommandError, match="REPLY_DOMAIN"):
        call_command("receive_replies", "--port", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_port() -> Any:
    port = free_port()
    server = controller("127.0.0.1", port)
    server.start()
    try:
        yield port
    finally:
        server.stop()


def smtp_send(port: int, message: EmailMessage, *, mail_from: str | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message, from_addr=mail_from)


@pytest.mark.django_db(transaction=True)
def test_end_to_end_through_a_real_smtp_listener(cast: Any, goal: Any, smtp_port: int) -> None:
    to = address_for(cast.partner_editor, "goal", goal)
    quoted = "Let's go.\n\nOn Mon, Mar 1, 2027 at 9:00 AM Ed <editor@vendor.test> wrote:\n> Review it.\n"
    smtp_send(smtp_port, letter(to.upper(), "Pete Editor <editor@partner.test>", quoted))
    comment = Comment.objects.get(goal=goal)
    assert (comment.author, comment.body) == (cast.partner_editor, "Let's go.")

    # A forged From: nothing posted, one notice queued and sent to that address.
    smtp_send(smtp_port, letter(to, "mallory@evil.test", "Approve everything."), mail_from="mallory@evil.test")
    assert Comment.objects.filter(goal=goal).count() == 1
    assert [r.to_email for r in refusals()] == ["mallory@evil.test"]
    bounces = [m for m in mail.outbox if m.to == ["mallory@evil.test"]]
    assert len(bounces) == 1 and "not posted" in bounces[0].subject
    assert bounces[0].extra_headers["Auto-Submitted"] == "auto-replied"


@pytest.mark.django_db(transaction=True)
def test_the_smtp_listener_accepts_only_reply_addresses_and_refuses_huge_mail(
    cast: Any, goal: Any, settings: Any
) -> None:
    settings.REPLY_MAX_BYTES = 4000
    port = free_port()
    server = controller("127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            smtp.mail("someone@partner.test")
            assert smtp.rcpt("someone@elsewhere.test")[0] == 550  # no relaying
            assert smtp.rcpt(address_for(cast.partner_editor, "goal", goal))[0] == 250
            smtp.rset()
        big = letter(address_for(cast.partner_editor, "goal", goal), "editor@partner.test", "z" * 10000)
        with pytest.raises(smtplib.SMTPException) as refused:
            smtp_send(port, big)
        assert "552" in str(refused.value)
    finally:
        server.stop()
    assert not Comment.objects.exists()
