"""Chat notifications (plans.chat): Slack and Microsoft Teams incoming-webhook channels of one side
of a partnership, the messages' shape and words, retries, redelivery, turning off with one e-mail to
the owner, SSRF refusals, and scope.

A real HTTP receiver runs in a thread on 127.0.0.1 (allowed through
``WEBHOOK_ALLOW_PRIVATE_TARGETS``, which also lets an internal receiver stand in for Slack or Teams).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from alignment.models import AlignmentReview, Partnership, PartnershipMember
from core.errors import InvalidInput, NotAllowed, NotFound
from core.models import MailKind, OutboxMessage
from goals import services as goals
from plans import chat
from plans.models import ChatAttempt, ChatChannel, ChatDelivery
from tests import factories as f
from tests.test_webhooks import Receiver, fake_dns, receiver  # noqa: F401 - the receiver fixture

Status = ChatDelivery.Status
GOAL_KINDS = ["goal.approved", "goal.changes_requested", "goal.proposed"]


def add_channel(cast: Any, url: str, *, kind: str = "slack", user: Any = None, **kw: Any) -> ChatChannel:
    kw.setdefault("event_kinds", [*GOAL_KINDS, "review.upcoming"])
    return chat.channel_create(
        user=user or cast.vendor_approver,
        partnership_id=cast.partnership.pk,
        kind=kind,
        name=kw.pop("name", "#acme-plan"),
        url=url,
        **kw,
    )


def send_due(now: dt.datetime | None = None) -> int:
    return sum(chat.deliver(pk, now=now) is not None for pk in chat.due_ids(now))


def bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in receiver.requests]


def negotiate(cast: Any, partnership: Partnership | None = None) -> Any:
    """Vendor proposes, the partner asks for changes, the vendor proposes again, the partner approves."""
    vendor = f.access(cast.vendor_approver, cast.partnership)
    partner = f.access(cast.partner_approver, cast.partnership)
    goal = f.make_goal(vendor, f.make_objective(vendor), title="Ten joint wins")
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goals.goal_request_changes(access=partner, goal_id=goal.pk, comment="A higher target, please")
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goal.refresh_from_db()
    goals.goal_approve(access=partner, goal_id=goal.pk, revision=goal.revision)
    return goal


def first_text(body: dict[str, Any]) -> str:
    return str(body["text"]) if "text" in body else json.dumps(body)


# --- Messages ------------------------------------------------------------------------------------


def test_slack_receives_the_workflow_steps_with_the_right_words(cast: Any, receiver: Receiver) -> None:
    add_channel(cast, receiver.url)
    goal = negotiate(cast)
    assert chat.chat_sweep() == 4
    assert send_due() == 4
    assert receiver.requests[0]["headers"]["Content-Type"].startswith("application/json")
    texts = [b["text"] for b in bodies(receiver)]
    vendor_name, partner_name = cast.partnership.vendor.name, cast.partnership.partner.name
    assert sorted(texts) == sorted(
        [
            f"Acme × Northwind: {vendor_name} (vendor side) proposed the goal “Ten joint wins” (Ava Approver).",
            f"Acme × Northwind: {partner_name} (partner side) asked for changes to the goal “Ten joint wins” "
            "(Pat Partner).",
            f"Acme × Northwind: {vendor_name} (vendor side) proposed the goal “Ten joint wins” (Ava Approver).",
            f"Acme × Northwind: {partner_name} (partner side) approved the goal “Ten joint wins” (Pat Partner).",
        ]
    )
    body = bodies(receiver)[-1]
    assert [block["type"] for block in body["blocks"]] == ["section", "context"]
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert body["blocks"][0]["text"]["text"].startswith("*Acme × Northwind*\n")
    link = reverse("goal_detail", args=[cast.partnership.pk, goal.pk])
    assert f"{link}|Open in Partnerplan>" in body["blocks"][1]["elements"][0]["text"]
    assert set(ChatDelivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    attempt = ChatAttempt.objects.first()
    assert attempt is not None and attempt.succeeded and attempt.request_excerpt.startswith("{")


def test_teams_receives_an_adaptive_card(cast: Any, receiver: Receiver) -> None:
    add_channel(cast, receiver.url, kind="teams", event_kinds=["goal.proposed"])
    vendor = f.access(cast.vendor_approver, cast.partnership)
    goal = f.make_goal(vendor, f.make_objective(vendor), title="A joint webinar")
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    chat.chat_sweep()
    send_due()
    [body] = bodies(receiver)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Acme × Northwind"
    assert card["body"][1]["text"] == (
        f"{cast.partnership.vendor.name} (vendor side) proposed the goal “A joint webinar” (Ava Approver)."
    )
    [action] = card["actions"]
    assert action["type"] == "Action.OpenUrl"
    assert action["url"].endswith(reverse("goal_detail", args=[cast.partnership.pk, goal.pk]))


def test_only_the_chosen_kinds_are_sent_and_each_once(cast: Any, receiver: Receiver) -> None:
    add_channel(cast, receiver.url, event_kinds=["goal.approved"])
    negotiate(cast)
    assert chat.chat_sweep() == 1
    assert chat.chat_sweep() == 0  # the mark moved on
    channel = ChatChannel.objects.get()
    ChatChannel.objects.filter(pk=channel.pk).update(after_txid=0, after_seq=0)  # a sweep that runs again
    assert chat.chat_sweep() == 0  # unique per (channel, event)
    send_due()
    assert [b["text"] for b in bodies(receiver)] == [
        f"Acme × Northwind: {cast.partnership.partner.name} (partner side) approved the goal “Ten joint wins” "
        "(Pat Partner)."
    ]


def test_a_new_channel_starts_with_the_next_step(cast: Any, receiver: Receiver) -> None:
    negotiate(cast)
    add_channel(cast, receiver.url)
    assert chat.chat_sweep() == 0


def test_a_review_coming_up_is_told_once_in_the_partnerships_time_zone(
    cast: Any,
    receiver: Receiver,
) -> None:
    Partnership.objects.filter(pk=cast.partnership.pk).update(timezone="Europe/Berlin", reminder_offsets_days=[3, 1])
    add_channel(cast, receiver.url, event_kinds=["review.upcoming"])
    now = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
    soon = AlignmentReview.objects.create(
        partnership=cast.partnership,
        title="Q1 business review",
        scheduled_for=dt.datetime(2026, 3, 22, 9, 0, tzinfo=dt.UTC),  # 10:00 in Berlin (CET)
        occurrence=dt.datetime(2026, 3, 22, 9, 0, tzinfo=dt.UTC),
    )
    AlignmentReview.objects.create(  # beyond the three days' lead
        partnership=cast.partnership, scheduled_for=dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)
    )
    assert chat.chat_reviews_upcoming(now=now) == 1
    assert chat.chat_reviews_upcoming(now=now + dt.timedelta(hours=1)) == 0  # once per occurrence
    # Moved an hour later, it is the same occurrence: not told again.
    AlignmentReview.objects.filter(pk=soon.pk).update(scheduled_for=dt.datetime(2026, 3, 22, 10, 0, tzinfo=dt.UTC))
    assert chat.chat_reviews_upcoming(now=now + dt.timedelta(hours=2)) == 0
    send_due(now=timezone.now())
    [body] = bodies(receiver)
    assert body["text"] == (
        "Acme × Northwind: Q1 business review is coming up on Sunday 22 March 2026, 10:00 (Europe/Berlin)."
    )
    assert reverse("reviews:detail", args=[cast.partnership.pk, soon.pk]) in json.dumps(body)


def test_the_default_lead_is_two_days(cast: Any) -> None:
    assert chat.lead_time(Partnership(reminder_offsets_days=[])) == dt.timedelta(days=2)
    assert chat.lead_time(Partnership(reminder_offsets_days=[7, 1])) == dt.timedelta(days=7)


def test_slack_special_characters_are_escaped(cast: Any) -> None:
    notice = chat.Notice("goal.proposed", "A & B", "<b>bold</b> & co", "https://pp.example/p/1")
    block = chat.slack_payload(notice)["blocks"][0]["text"]["text"]
    assert block == "*A &amp; B*\n&lt;b&gt;bold&lt;/b&gt; &amp; co"


# --- Retries, redelivery, turning off ----------------------------------------------------------


def one_delivery(cast: Any, receiver: Receiver) -> ChatDelivery:
    add_channel(cast, receiver.url, event_kinds=["goal.proposed"])
    vendor = f.access(cast.vendor_approver, cast.partnership)
    goals.goal_propose(access=vendor, goal_id=f.make_goal(vendor, f.make_objective(vendor)).pk)
    chat.chat_sweep()
    return ChatDelivery.objects.get()


def test_a_5xx_answer_is_retried_on_the_schedule(cast: Any, receiver: Receiver) -> None:
    delivery = one_delivery(cast, receiver)
    receiver.answers = [(500, {})] * 8
    now = timezone.now()
    for step, seconds in enumerate([60, 300, 1800, 7200, 18000, 36000, 36000], start=1):
        assert chat.deliver(delivery.pk, now=now) is not None
        delivery.refresh_from_db()
        assert delivery.attempts == step and delivery.status == Status.PENDING
        assert delivery.next_attempt_at == now + dt.timedelta(seconds=seconds)
        assert chat.deliver(delivery.pk, now=now) is None  # not due yet
        now = delivery.next_attempt_at
    chat.deliver(delivery.pk, now=now)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and delivery.attempts == 8 and delivery.last_status_code == 500
    assert len(receiver.requests) == 8


def test_a_timeout_is_retried_and_retry_after_is_honoured(
    cast: Any,
    receiver: Receiver,
    settings: Any,
) -> None:
    settings.WEBHOOK_TIMEOUT = 0.5
    delivery = one_delivery(cast, receiver)
    receiver.delay = 2.0
    now = timezone.now()
    outcome = chat.deliver(delivery.pk, now=now)
    assert outcome is not None and outcome.status is None and "Timed out" in outcome.error
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING and delivery.next_attempt_at == now + dt.timedelta(seconds=60)
    receiver.delay = 0
    receiver.answers = [(429, {"Retry-After": "900"})]
    now = delivery.next_attempt_at
    chat.deliver(delivery.pk, now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + dt.timedelta(seconds=900)


def test_redelivery_from_the_log_page(
    cast: Any,
    receiver: Receiver,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    delivery = one_delivery(cast, receiver)
    send_due()
    client.force_login(cast.vendor_approver)
    url = reverse("chat_redeliver", args=[cast.partnership.pk, delivery.channel_id, delivery.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    assert len(receiver.requests) == 2 and receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert ChatAttempt.objects.filter(delivery=delivery, redelivery=True).count() == 1
    page = client.get(reverse("chat_channel", args=[cast.partnership.pk, delivery.channel_id]))
    assert page.status_code == 200 and "redelivered" in page.content.decode()


def test_turned_off_after_n_failures_with_one_email_to_the_owner(
    cast: Any,
    receiver: Receiver,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    channel = add_channel(cast, receiver.url, event_kinds=["goal.proposed"])
    vendor = f.access(cast.vendor_approver, cast.partnership)
    objective = f.make_objective(vendor)
    for n in range(4):
        goals.goal_propose(access=vendor, goal_id=f.make_goal(vendor, objective, title=f"Goal {n}").pk)
    assert chat.chat_sweep() == 4
    receiver.answers = [(500, {})] * 10
    with django_capture_on_commit_callbacks(execute=True):
        send_due()
    channel.refresh_from_db()
    assert not channel.is_active and "3 messages in a row" in channel.disabled_reason
    assert len(receiver.requests) == 3  # the fourth was not sent: the channel is off
    rows = OutboxMessage.objects.filter(kind=MailKind.CHAT_CHANNEL_DISABLED, subject_type="chat-channel")
    assert list(rows.values_list("recipient__email", flat=True)) == ["approver@vendor.test"]
    assert [m.to for m in mail.outbox] == [["approver@vendor.test"]]
    assert "chat channel of Acme × Northwind was turned off" in mail.outbox[0].subject
    assert "#acme-plan" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        assert not chat.disable(channel.pk, reason="again", now=timezone.now())
    assert len(mail.outbox) == 1
    # Turned on again, its failures are cleared.
    chat.channel_update(
        user=cast.vendor_approver,
        partnership_id=cast.partnership.pk,
        channel_id=channel.pk,
        name="#acme-plan",
        event_kinds=["goal.proposed"],
        is_active=True,
    )
    channel.refresh_from_db()
    assert channel.is_active and channel.consecutive_failures == 0


def test_a_success_clears_the_failures(cast: Any, receiver: Receiver) -> None:
    delivery = one_delivery(cast, receiver)
    receiver.answers = [(500, {})]
    now = timezone.now()
    chat.deliver(delivery.pk, now=now)
    chat.deliver(delivery.pk, now=now + dt.timedelta(minutes=2))
    channel = ChatChannel.objects.get()
    assert channel.consecutive_failures == 0 and channel.failing_since is None


# --- URLs and SSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("slack", "https://hooks.slack.com/services/T000/B000/XXXX"),
        ("teams", "https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi"),
        ("teams", "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"),
    ],
)
def test_real_incoming_webhook_urls_are_accepted(cast: Any, monkeypatch: Any, kind: str, url: str) -> None:
    host = url.split("/")[2].split(":")[0]
    fake_dns(monkeypatch, {host: "52.95.110.1"})
    channel = add_channel(cast, url, kind=kind)
    assert channel.url == url
    assert chat.masked_url(channel.url) == f"{host}/…{url[-4:]}"


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("slack", "http://hooks.slack.com/services/T000/B000/XXXX"),  # not https
        ("slack", "https://hooks.slack.com.evil.example/services/T0/B0/X"),
        ("slack", "https://example.com/services/T0/B0/X"),
        ("teams", "https://webhook.office.com/webhookb2/abc"),  # no tenant
        ("teams", "https://contoso.webhook.office.com.evil.example/x"),
        ("teams", "ftp://contoso.webhook.office.com/x"),
    ],
)
def test_other_urls_are_refused(cast: Any, monkeypatch: Any, kind: str, url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        add_channel(cast, url, kind=kind)
    assert "url" in refused.value.fields
    assert not ChatChannel.objects.exists()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"])
def test_a_chat_host_that_resolves_to_a_private_address_is_refused(cast: Any, monkeypatch: Any, address: str) -> None:
    fake_dns(monkeypatch, {"hooks.slack.com": address, "contoso.webhook.office.com": address})
    with pytest.raises(InvalidInput) as refused:
        add_channel(cast, "https://hooks.slack.com/services/T0/B0/X")
    assert f"resolves to {address}" in refused.value.message
    with pytest.raises(InvalidInput):
        add_channel(cast, "https://contoso.webhook.office.com/webhookb2/x", kind="teams")
    assert not ChatChannel.objects.exists()


def test_refused_at_delivery_when_the_name_moves_to_a_private_address(
    cast: Any,
    monkeypatch: Any,
    receiver: Receiver,
) -> None:
    delivery = one_delivery(cast, receiver)
    ChatChannel.objects.filter(pk=delivery.channel_id).update(url="https://hooks.slack.com/services/T0/B0/X")
    fake_dns(monkeypatch, {"hooks.slack.com": "169.254.169.254"})
    outcome = chat.deliver(delivery.pk)
    assert outcome is not None and "cannot be sent" in outcome.error
    assert receiver.requests == []


def test_the_page_refuses_a_bad_url_with_a_message(cast: Any, client: Any) -> None:
    client.force_login(cast.vendor_approver)
    response = client.post(
        reverse("chat_channels", args=[cast.partnership.pk]),
        {"kind": "slack", "name": "#x", "url": "http://169.254.169.254/", "event_kinds": ["goal.proposed"]},
    )
    assert response.status_code == 400
    assert "hooks.slack.com/services/" in response.content.decode()
    assert not ChatChannel.objects.exists()


# --- Scope ---------------------------------------------------------------------------------------


def test_another_partnerships_people_get_404(cast: Any, receiver: Receiver, client: Any) -> None:
    channel = add_channel(cast, receiver.url)
    pid = cast.partnership.pk
    client.force_login(cast.outsider)
    assert client.get(reverse("chat_channels", args=[pid])).status_code == 404
    assert client.get(reverse("chat_channel", args=[pid, channel.pk])).status_code == 404
    other = cast.outsider_partnership.pk
    assert client.get(reverse("chat_channel", args=[other, channel.pk])).status_code == 404
    assert client.post(reverse("chat_channel_delete", args=[other, channel.pk])).status_code == 404
    # The other side of the same partnership does not see the vendor side's channel either.
    client.force_login(cast.partner_approver)
    assert client.get(reverse("chat_channel", args=[pid, channel.pk])).status_code == 404
    assert client.post(reverse("chat_channel_delete", args=[pid, channel.pk])).status_code == 404
    assert ChatChannel.objects.filter(pk=channel.pk).exists()


def test_a_viewer_cannot_add_or_change_channels(cast: Any, receiver: Receiver, client: Any) -> None:
    channel = add_channel(cast, receiver.url)
    with pytest.raises(NotAllowed):
        add_channel(cast, receiver.url, user=cast.vendor_viewer)
    with pytest.raises(NotAllowed):
        add_channel(cast, receiver.url, user=cast.vendor_editor)
    with pytest.raises(NotFound):
        add_channel(cast, receiver.url, user=cast.outsider)
    client.force_login(cast.vendor_viewer)
    page = client.get(reverse("chat_channels", args=[cast.partnership.pk]))
    assert page.status_code == 200 and "Add a channel" not in page.content.decode()
    assert receiver.url not in page.content.decode()
    data = {"kind": "slack", "name": "#x", "url": receiver.url, "event_kinds": ["goal.proposed"]}
    assert client.post(reverse("chat_channels", args=[cast.partnership.pk]), data).status_code == 403
    assert client.post(reverse("chat_channel_delete", args=[cast.partnership.pk, channel.pk])).status_code == 403
    assert ChatChannel.objects.count() == 1


def test_the_organisations_admin_may_add_a_channel(cast: Any, receiver: Receiver) -> None:
    channel = add_channel(cast, receiver.url, user=cast.vendor_admin)
    assert channel.side == "vendor" and channel.owner == cast.vendor_admin


def test_events_of_a_partnership_never_reach_anothers_channel(cast: Any, receiver: Receiver) -> None:
    outsider = f.access(cast.outsider, cast.outsider_partnership)
    chat.channel_create(
        user=cast.outsider,
        partnership_id=cast.outsider_partnership.pk,
        kind="slack",
        name="#other",
        url=receiver.url,
        event_kinds=GOAL_KINDS,
    )
    negotiate(cast)
    assert chat.chat_sweep() == 0
    goal = f.make_goal(outsider, f.make_objective(outsider), title="Theirs")
    goals.goal_propose(access=outsider, goal_id=goal.pk)
    assert chat.chat_sweep() == 1
    send_due()
    assert [b["text"] for b in bodies(receiver)] == [
        f"Other × Elsewhere: {cast.outsider_partnership.vendor.name} (vendor side) proposed the goal “Theirs” "
        "(Otto Outsider)."
    ]


def test_the_page_shows_the_url_masked_and_adds_a_channel(cast: Any, receiver: Receiver, client: Any) -> None:
    client.force_login(cast.vendor_approver)
    data = {"kind": "teams", "name": "#partners", "url": receiver.url, "event_kinds": ["goal.proposed"]}
    response = client.post(reverse("chat_channels", args=[cast.partnership.pk]), data)
    assert response.status_code == 302
    channel = ChatChannel.objects.get()
    assert channel.kind == "teams" and channel.owner == cast.vendor_approver and channel.side == "vendor"
    page = client.get(response["Location"]).content.decode()
    assert receiver.url not in page and f"127.0.0.1/…{receiver.url[-4:]}" in page
    settings_page = client.get(reverse("partnership_settings", args=[cast.partnership.pk])).content.decode()
    assert reverse("chat_channels", args=[cast.partnership.pk]) in settings_page


def test_pages_run_a_constant_number_of_queries(
    cast: Any,
    receiver: Receiver,
    client: Any,
    django_assert_max_num_queries: Any,
) -> None:
    channel = add_channel(cast, receiver.url, event_kinds=["goal.proposed"])
    vendor = f.access(cast.vendor_approver, cast.partnership)
    objective = f.make_objective(vendor)
    for n in range(5):
        goals.goal_propose(access=vendor, goal_id=f.make_goal(vendor, objective, title=f"Goal {n}").pk)
    add_channel(cast, receiver.url, name="#second")
    chat.chat_sweep()
    send_due()
    client.force_login(cast.vendor_approver)
    with django_assert_max_num_queries(25):
        assert client.get(reverse("chat_channels", args=[cast.partnership.pk])).status_code == 200
    with django_assert_max_num_queries(25):
        assert client.get(reverse("chat_channel", args=[cast.partnership.pk, channel.pk])).status_code == 200


def test_when_the_owner_left_the_side_its_admins_are_told(cast: Any, receiver: Receiver) -> None:
    channel = add_channel(cast, receiver.url)
    PartnershipMember.objects.filter(partnership=cast.partnership, user=cast.vendor_approver).delete()
    assert chat.disable(channel.pk, reason="Failing.", now=timezone.now())
    rows = OutboxMessage.objects.filter(kind=MailKind.CHAT_CHANNEL_DISABLED, subject_type="chat-channel")
    assert list(rows.values_list("recipient__email", flat=True)) == ["admin@vendor.test"]
