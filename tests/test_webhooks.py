"""Outbound webhooks (plans.webhooks): signed per the Standard Webhooks spec, the feed's event
shape, retries with backoff, redelivery, turning off, SSRF refusals, scope and secret rotation.

A real HTTP receiver runs in a thread on 127.0.0.1 (allowed through
``WEBHOOK_ALLOW_PRIVATE_TARGETS``) and verifies signatures with the ``standardwebhooks`` library.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from accounts.models import OrganisationMembership
from alignment.models import ChangeEvent
from api.representation import TYPE_NAMES
from api.webhook_feed import load_events
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.models import MailKind, OutboxMessage
from goals import services as goals
from plans import webhook_delivery, webhooks
from plans.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests import factories as f
from tests.api_support import ApiClient

Status = WebhookDelivery.Status


class Receiver:
    """An HTTP server that records each request and answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []  # popped per request; then 204
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers.items()), "body": body, "path": self.path})
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, headers = receiver.answers.pop(0) if receiver.answers else (204, {})
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/partnerplan"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def verified(self, secret: str, index: int = -1) -> dict[str, Any]:
        request = self.requests[index]
        return dict(Webhook(secret).verify(request["body"], request["headers"]))


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_JITTER = 0
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def vendor_org(cast: Any) -> Any:
    return cast.partnership.vendor


def subscribe(cast: Any, url: str, **kw: Any) -> tuple[WebhookSubscription, str]:
    return webhooks.webhook_create(user=cast.vendor_admin, organisation_id=vendor_org(cast).pk, url=url, **kw)


def sweep() -> int:
    return webhooks.webhooks_sweep(load=load_events)


def send_due(now: dt.datetime | None = None) -> int:
    sent = 0
    for pk in webhook_delivery.due_ids(now):
        sent += webhook_delivery.deliver(pk, now=now) is not None
    return sent


def edit_objective(cast: Any, title: str = "Grow the joint pipeline") -> Any:
    access = f.access(cast.vendor_editor, cast.partnership)
    return f.make_objective(access, title=title)


# --- Signed events in the feed's shape -----------------------------------------------------------


def test_an_edit_arrives_signed_with_the_feeds_shape(cast: Any, receiver: Receiver) -> None:
    subscription, secret = subscribe(cast, receiver.url)
    objective = edit_objective(cast)
    assert sweep() == 1
    assert send_due() == 1
    payload = receiver.verified(secret)
    assert payload["event"] == "objective.created"
    assert payload["type"] == "objective" and payload["id"] == str(objective.pk) and payload["action"] == "create"
    # The same event as GET /api/v1/changes shows it, key for key.
    feed = ApiClient(cast.vendor_admin).get("changes", partnership=str(cast.partnership.pk)).json()["results"]
    served = next(e for e in feed if e["id"] == str(objective.pk))
    assert {k: v for k, v in payload.items() if k != "event"} == served
    request = receiver.requests[-1]
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert request["headers"]["webhook-id"] == str(delivery.pk)
    assert request["path"] == "/hooks/partnerplan"
    assert delivery.status == Status.DELIVERED
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.succeeded and attempt.status_code == 204 and attempt.request_excerpt.startswith("{")
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request["body"], request["headers"])


def test_workflow_steps_are_events_of_their_own(cast: Any, receiver: Receiver) -> None:
    _subscription, secret = subscribe(
        cast, receiver.url, event_types=["goal.proposed", "goal.approved", "goal.agreed", "goal.changes_requested"]
    )
    vendor, partner = (
        f.access(cast.vendor_approver, cast.partnership),
        f.access(cast.partner_approver, cast.partnership),
    )
    goal = f.make_goal(vendor, f.make_objective(vendor))
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goals.goal_request_changes(access=partner, goal_id=goal.pk, comment="A higher target, please")
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goal.refresh_from_db()
    goals.goal_approve(access=vendor, goal_id=goal.pk, revision=goal.revision)
    goals.goal_approve(access=partner, goal_id=goal.pk, revision=goal.revision)
    sweep()
    send_due()
    events = [receiver.verified(secret, i)["event"] for i in range(len(receiver.requests))]
    assert sorted(events) == sorted(
        ["goal.proposed", "goal.changes_requested", "goal.proposed", "goal.approved", "goal.approved", "goal.agreed"]
    )


def test_event_types_cover_every_type_of_the_feed() -> None:
    assert set(webhooks.FEED_TYPES) == set(TYPE_NAMES.values())


def test_the_sweep_makes_each_delivery_once_and_skips_nothing(cast: Any, receiver: Receiver) -> None:
    subscription, _secret = subscribe(cast, receiver.url)
    for n in range(5):
        edit_objective(cast, title=f"Objective {n}")
    assert webhooks.webhooks_sweep(load=load_events, batch=2) == 5  # in batches of 2: none skipped
    assert sweep() == 0  # the high-water mark moved past them
    start = subscription.position
    WebhookSubscription.objects.filter(pk=subscription.pk).update(after_txid=start[0], after_seq=start[1])
    assert sweep() == 0  # a sweep that goes over them again inserts none twice
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 5


def test_a_quiet_organisations_mark_follows_the_feeds_end(cast: Any, receiver: Receiver) -> None:
    subscription, secret = subscribe(cast, receiver.url)
    outsider = f.access(cast.outsider, cast.outsider_partnership)
    for n in range(3):
        f.make_objective(outsider, title=f"Elsewhere {n}")
    assert sweep() == 0
    subscription.refresh_from_db()
    newest = ChangeEvent.objects.order_by("-txid", "-seq").first()
    assert newest is not None and subscription.position == (newest.txid, newest.seq)
    edit_objective(cast, title="Ours again")
    assert sweep() == 1
    send_due()
    assert receiver.verified(secret)["data"]["title"] == "Ours again"


def test_a_committed_change_is_sent_at_once_when_cheap(
    cast: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    _subscription, secret = subscribe(cast, receiver.url)
    sweep()  # the periodic sweep knows a webhook is on
    with django_capture_on_commit_callbacks(execute=True):
        edit_objective(cast, title="Sent at once")
    assert receiver.verified(secret)["data"]["title"] == "Sent at once"
    # Another change within the same second does not sweep again: the periodic sweep brings it.
    with django_capture_on_commit_callbacks(execute=True):
        edit_objective(cast, title="Next sweep")
    assert len(receiver.requests) == 1
    sweep()
    send_due()
    assert receiver.verified(secret)["data"]["title"] == "Next sweep"


def test_no_sweep_is_asked_for_while_no_webhook_is_on(cast: Any) -> None:
    assert not webhooks.sweep_wanted()
    sweep()
    assert not webhooks.sweep_wanted()


def test_a_new_subscription_starts_with_the_next_change(cast: Any, receiver: Receiver) -> None:
    edit_objective(cast, title="Before the webhook")
    subscribe(cast, receiver.url)
    assert sweep() == 0


# --- Retries and backoff -------------------------------------------------------------------------


def test_a_5xx_answer_is_retried_on_the_backoff_schedule(cast: Any, receiver: Receiver, settings: Any) -> None:
    subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    delivery = WebhookDelivery.objects.get()
    receiver.answers = [(500, {})] * 8
    now = timezone.now()
    expected = [60, 300, 1800, 7200, 18000, 36000, 36000]
    for step, seconds in enumerate(expected, start=1):
        assert webhook_delivery.deliver(delivery.pk, now=now) is not None
        delivery.refresh_from_db()
        assert delivery.attempts == step and delivery.status == Status.PENDING
        assert delivery.next_attempt_at == now + dt.timedelta(seconds=seconds)
        assert webhook_delivery.deliver(delivery.pk, now=now) is None  # not due yet
        now = delivery.next_attempt_at
    webhook_delivery.deliver(delivery.pk, now=now)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and delivery.next_attempt_at is None and delivery.attempts == 8
    assert delivery.last_status_code == 500
    assert len(receiver.requests) == 8
    assert WebhookAttempt.objects.filter(delivery=delivery, succeeded=False).count() == 8


def test_jitter_spreads_each_wait_within_its_share(settings: Any) -> None:
    settings.WEBHOOK_RETRY_JITTER = 0.1
    assert webhook_delivery.retry_delay(1, rand=lambda: 0.0) == dt.timedelta(seconds=54)
    assert webhook_delivery.retry_delay(1, rand=lambda: 1.0) == dt.timedelta(seconds=66)
    assert webhook_delivery.retry_delay(4, rand=lambda: 0.5) == dt.timedelta(hours=2)
    assert webhook_delivery.retry_delay(8) is None


def test_a_timeout_is_a_failed_attempt_that_is_retried(cast: Any, receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT = 0.5
    subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    receiver.delay = 2.0
    now = timezone.now()
    outcome = webhook_delivery.deliver(WebhookDelivery.objects.get().pk, now=now)
    assert outcome is not None and outcome.status is None and "Timed out" in outcome.error
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING and delivery.next_attempt_at == now + dt.timedelta(seconds=60)
    assert "Timed out" in WebhookAttempt.objects.get().error


def test_retry_after_on_429_is_honoured_within_the_schedule(cast: Any, receiver: Receiver) -> None:
    subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    delivery = WebhookDelivery.objects.get()
    receiver.answers = [(429, {"Retry-After": "600"}), (503, {"Retry-After": "999999"})]
    now = timezone.now()
    webhook_delivery.deliver(delivery.pk, now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + dt.timedelta(seconds=600)  # longer than the schedule's 1 min
    now = delivery.next_attempt_at
    webhook_delivery.deliver(delivery.pk, now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + dt.timedelta(hours=10)  # never past the longest step


def test_a_redirect_is_not_followed(cast: Any, receiver: Receiver) -> None:
    subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    receiver.answers = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"})]
    send_due()
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == Status.PENDING
    assert WebhookAttempt.objects.get().status_code == 302


def test_settled_deliveries_are_forgotten_after_the_retention(cast: Any, receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_LOG_RETENTION_DAYS = 30
    subscribe(cast, receiver.url)
    edit_objective(cast, title="Delivered")
    edit_objective(cast, title="Waiting")
    sweep()
    receiver.answers = [(204, {}), (500, {})]
    send_due()
    assert WebhookDelivery.objects.filter(status=Status.PENDING).count() == 1
    later = timezone.now() + dt.timedelta(days=31)
    assert webhook_delivery.webhook_deliveries_prune(now=later) > 0
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == [Status.PENDING]
    assert WebhookAttempt.objects.count() == 1  # the waiting delivery's attempt


# --- Redelivery ----------------------------------------------------------------------------------


def test_redelivery_from_the_log_page_sends_the_same_webhook_id(
    cast: Any, receiver: Receiver, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription, secret = subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    send_due()
    delivery = WebhookDelivery.objects.get()
    client.force_login(cast.vendor_admin)
    url = reverse("webhook_redeliver", args=[vendor_org(cast).pk, subscription.pk, delivery.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == str(delivery.pk)
    assert first["body"] == second["body"]
    assert receiver.verified(secret)["event"] == "objective.created"
    assert WebhookAttempt.objects.filter(delivery=delivery, redelivery=True).count() == 1
    page = client.get(reverse("webhook_detail", args=[vendor_org(cast).pk, subscription.pk]))
    assert page.status_code == 200 and "redelivered" in page.content.decode()


def test_outsiders_cannot_redeliver(cast: Any, receiver: Receiver, client: Any) -> None:
    subscription, _secret = subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    delivery = WebhookDelivery.objects.get()
    client.force_login(cast.outsider)
    response = client.post(reverse("webhook_redeliver", args=[vendor_org(cast).pk, subscription.pk, delivery.pk]))
    assert response.status_code == 404
    outsider_org = cast.outsider_partnership.vendor
    response = client.post(reverse("webhook_redeliver", args=[outsider_org.pk, subscription.pk, delivery.pk]))
    assert response.status_code == 404
    assert receiver.requests == []


# --- Turning off ---------------------------------------------------------------------------------


def test_turned_off_after_n_failures_with_one_email_to_the_admins(
    cast: Any, receiver: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    second_admin = f.make_user("second.admin@vendor.test")
    OrganisationMembership.objects.create(organisation=vendor_org(cast), user=second_admin, role="admin")
    subscription, _secret = subscribe(cast, receiver.url)
    for n in range(4):
        edit_objective(cast, title=f"Objective {n}")
    sweep()
    receiver.answers = [(500, {})] * 10
    with django_capture_on_commit_callbacks(execute=True):
        send_due()
    subscription.refresh_from_db()
    assert not subscription.is_active and "3 deliveries in a row failed" in subscription.disabled_reason
    assert len(receiver.requests) == 3  # the fourth was not sent: the webhook is off
    rows = OutboxMessage.objects.filter(kind=MailKind.WEBHOOK_DISABLED)
    assert sorted(rows.values_list("recipient__email", flat=True)) == ["admin@vendor.test", "second.admin@vendor.test"]
    assert len(mail.outbox) == 2
    assert {m.to[0] for m in mail.outbox} == {"admin@vendor.test", "second.admin@vendor.test"}
    assert "was turned off" in mail.outbox[0].subject
    # Failing again changes nothing: it is off once, and told once.
    with django_capture_on_commit_callbacks(execute=True):
        assert not webhook_delivery.disable(subscription.pk, reason="again", now=timezone.now())
    assert len(mail.outbox) == 2
    # Turned on again, it resumes: the waiting deliveries go out.
    webhooks.webhook_update(
        user=cast.vendor_admin,
        organisation_id=vendor_org(cast).pk,
        subscription_id=subscription.pk,
        url=receiver.url,
        is_active=True,
    )
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0


def test_turned_off_after_days_of_failures(cast: Any, receiver: Receiver, settings: Any) -> None:
    subscription, _secret = subscribe(cast, receiver.url)
    edit_objective(cast)
    sweep()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - dt.timedelta(days=3, minutes=1), consecutive_failures=5
    )
    receiver.answers = [(500, {})]
    send_due()
    subscription.refresh_from_db()
    assert not subscription.is_active and "3 days" in subscription.disabled_reason
    assert OutboxMessage.objects.filter(kind=MailKind.WEBHOOK_DISABLED).count() == 1


def test_a_success_clears_the_failures(cast: Any, receiver: Receiver) -> None:
    subscription, _secret = subscribe(cast, receiver.url)
    edit_objective(cast)
    edit_objective(cast, title="Second")
    sweep()
    receiver.answers = [(500, {}), (200, {})]
    send_due()
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0 and subscription.failing_since is None


# --- SSRF ----------------------------------------------------------------------------------------

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_private_targets_are_refused_at_save(cast: Any, url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        subscribe(cast, url)
    assert "cannot be sent" in refused.value.fields["url"][0]
    assert not WebhookSubscription.objects.exists()


def fake_dns(monkeypatch: Any, answers: dict[str, str]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            address = answers[host]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"])
def test_a_name_that_resolves_to_a_private_address_is_refused(cast: Any, monkeypatch: Any, address: str) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": address})
    with pytest.raises(InvalidInput) as refused:
        subscribe(cast, "https://hooks.example.com/partnerplan")
    assert f"resolves to {address}" in refused.value.message


def test_an_admin_allowed_network_passes(cast: Any, settings: Any, monkeypatch: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = ["10.20.0.0/16"]
    fake_dns(monkeypatch, {"crm.internal": "10.20.1.5"})
    subscription, _ = subscribe(cast, "http://crm.internal/hooks")
    assert subscription.url == "http://crm.internal/hooks"
    with pytest.raises(InvalidInput):
        subscribe(cast, "http://10.21.0.1/hooks")  # outside the allowed network


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "file:///etc/passwd", "https://user:pw@example.com/", "https:///nohost", ""]
)
def test_only_plain_http_and_https_urls(cast: Any, url: str) -> None:
    with pytest.raises(InvalidInput):
        subscribe(cast, url)


def test_a_url_is_stored_with_its_scheme_in_lower_case(cast: Any) -> None:
    subscription, _ = subscribe(cast, "HTTPS://93.184.216.34/Hooks?Key=A")
    assert subscription.url == "https://93.184.216.34/Hooks?Key=A"
    with pytest.raises(InvalidInput):
        subscribe(cast, "https://93.184.216.34/a hook")


def test_refused_at_delivery_when_the_name_moves_to_a_private_address(
    cast: Any, receiver: Receiver, settings: Any, monkeypatch: Any
) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": "93.184.216.34"})
    subscribe(cast, f"http://hooks.example.com:{receiver.port}/hook")
    edit_objective(cast)
    sweep()
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = []
    fake_dns(monkeypatch, {"hooks.example.com": "127.0.0.1"})  # DNS rebinding after the check at save
    send_due()
    attempt = WebhookAttempt.objects.get()
    assert not attempt.succeeded and "loopback" in attempt.error and attempt.status_code is None
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().status == Status.PENDING  # retried later


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    cast: Any, receiver: Receiver, monkeypatch: Any
) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": "127.0.0.1"})
    subscribe(cast, f"http://hooks.example.com:{receiver.port}/hook")
    edit_objective(cast)
    sweep()
    send_due()
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.example.com:{receiver.port}"


def test_https_connects_to_the_checked_address_with_the_name_for_sni(
    cast: Any, receiver: Receiver, monkeypatch: Any
) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": "127.0.0.1"})
    subscribe(cast, f"https://hooks.example.com:{receiver.port}/hook")
    edit_objective(cast)
    sweep()
    seen: list[tuple[Any, Any]] = []

    def wrap_socket(self: Any, sock: Any, server_hostname: Any = None, **kwargs: Any) -> Any:
        seen.append((sock.getpeername()[0], server_hostname))
        raise ssl.SSLCertVerificationError("certificate verify failed (in this test)")

    monkeypatch.setattr(ssl.SSLContext, "wrap_socket", wrap_socket)
    send_due()
    assert seen == [("127.0.0.1", "hooks.example.com")]
    assert "TLS error" in WebhookAttempt.objects.get().error


def test_the_page_refuses_a_private_target_with_a_message(cast: Any, client: Any) -> None:
    client.force_login(cast.vendor_admin)
    response = client.post(
        reverse("webhooks", args=[vendor_org(cast).pk]), {"url": "http://169.254.169.254/latest/", "description": "x"}
    )
    assert response.status_code == 400
    assert "link-local" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


# --- Scope ---------------------------------------------------------------------------------------


def test_only_events_of_partnerships_the_organisation_is_a_side_of(cast: Any, receiver: Receiver) -> None:
    _subscription, secret = subscribe(cast, receiver.url)
    outsider = f.access(cast.outsider, cast.outsider_partnership)
    f.make_objective(outsider, title="Not yours")
    edit_objective(cast, title="Yours")
    sweep()
    send_due()
    assert len(receiver.requests) == 1
    payload = receiver.verified(secret)
    assert payload["partnership"] == str(cast.partnership.pk) and payload["data"]["title"] == "Yours"


def test_the_partner_organisations_webhook_receives_its_partnerships_events(cast: Any, receiver: Receiver) -> None:
    partner_org = cast.partnership.partner
    OrganisationMembership.objects.create(organisation=partner_org, user=cast.partner_approver, role="admin")
    _subscription, secret = webhooks.webhook_create(
        user=cast.partner_approver, organisation_id=partner_org.pk, url=receiver.url
    )
    edit_objective(cast, title="Seen by the partner")
    sweep()
    send_due()
    assert receiver.verified(secret)["data"]["title"] == "Seen by the partner"


def test_another_organisations_admin_gets_404(cast: Any, receiver: Receiver, client: Any) -> None:
    subscription, _secret = subscribe(cast, receiver.url)
    org = vendor_org(cast)
    client.force_login(cast.outsider)
    assert client.get(reverse("webhooks", args=[org.pk])).status_code == 404
    assert client.get(reverse("webhook_detail", args=[org.pk, subscription.pk])).status_code == 404
    outsider_org = cast.outsider_partnership.vendor
    assert client.get(reverse("webhook_detail", args=[outsider_org.pk, subscription.pk])).status_code == 404
    assert client.post(reverse("webhook_delete", args=[outsider_org.pk, subscription.pk])).status_code == 404
    assert client.post(reverse("webhook_rotate", args=[outsider_org.pk, subscription.pk])).status_code == 404
    assert WebhookSubscription.objects.filter(pk=subscription.pk).exists()


def test_members_who_are_no_admins_cannot_manage_webhooks(cast: Any, receiver: Receiver, client: Any) -> None:
    subscription, _secret = subscribe(cast, receiver.url)
    org = vendor_org(cast)
    OrganisationMembership.objects.create(organisation=org, user=cast.vendor_editor, role="member")
    client.force_login(cast.vendor_editor)
    assert client.get(reverse("webhooks", args=[org.pk])).status_code == 403
    assert client.get(reverse("webhook_detail", args=[org.pk, subscription.pk])).status_code == 403
    assert client.post(reverse("webhook_delete", args=[org.pk, subscription.pk])).status_code == 403
    with pytest.raises(NotAllowed):
        webhooks.webhook_create(user=cast.vendor_editor, organisation_id=org.pk, url=receiver.url)
    with pytest.raises(NotFound):
        webhooks.webhook_create(user=cast.partner_editor, organisation_id=org.pk, url=receiver.url)
    client.force_login(cast.vendor_viewer)  # a partnership member, not in the organisation
    assert client.get(reverse("webhooks", args=[org.pk])).status_code == 404


# --- Secret rotation -----------------------------------------------------------------------------


def test_both_secrets_sign_during_the_rotation_window(cast: Any, receiver: Receiver) -> None:
    subscription, old = subscribe(cast, receiver.url)
    subscription, new = webhooks.webhook_rotate_secret(
        user=cast.vendor_admin, organisation_id=vendor_org(cast).pk, subscription_id=subscription.pk
    )
    assert new != old and new.startswith("whsec_")
    edit_objective(cast)
    sweep()
    send_due()
    signature = receiver.requests[-1]["headers"]["webhook-signature"]
    assert len(signature.split(" ")) == 2 and all(s.startswith("v1,") for s in signature.split(" "))
    assert receiver.verified(old)["type"] == receiver.verified(new)["type"] == "objective"
    # After the window only the new secret signs.
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        previous_secret_until=timezone.now() - dt.timedelta(seconds=1)
    )
    edit_objective(cast, title="After the window")
    sweep()
    send_due()
    assert len(receiver.requests[-1]["headers"]["webhook-signature"].split(" ")) == 1
    receiver.verified(new)
    with pytest.raises(WebhookVerificationError):
        receiver.verified(old)


# --- Pages ---------------------------------------------------------------------------------------


def test_the_secret_is_shown_once_at_creation(cast: Any, client: Any) -> None:
    client.force_login(cast.vendor_admin)
    url = reverse("webhooks", args=[vendor_org(cast).pk])
    response = client.post(
        url, {"url": "https://93.184.216.34/hooks", "description": "CRM", "workflow_events": ["goal.agreed"]}
    )
    assert response.status_code == 201 and "no-store" in response["Cache-Control"]
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in response.content.decode()
    assert subscription.event_types == ["goal.agreed"]
    assert subscription.secret not in client.get(url).content.decode()
    detail = client.get(reverse("webhook_detail", args=[vendor_org(cast).pk, subscription.pk])).content.decode()
    assert subscription.secret not in detail


def test_editing_and_deleting_a_webhook(cast: Any, client: Any) -> None:
    client.force_login(cast.vendor_admin)
    org = vendor_org(cast)
    subscription, _ = subscribe(cast, "https://93.184.216.34/hooks")
    detail = reverse("webhook_detail", args=[org.pk, subscription.pk])
    bad = client.post(detail, {"url": "http://10.0.0.1/", "description": "Kept", "is_active": "on"})
    assert bad.status_code == 400 and "Kept" in bad.content.decode()
    response = client.post(detail, {"url": "https://93.184.216.35/hooks", "change_events": ["goal.updated"]})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.url == "https://93.184.216.35/hooks" and not subscription.is_active
    assert subscription.event_types == ["goal.updated"]
    assert client.post(reverse("webhook_delete", args=[org.pk, subscription.pk])).status_code == 302
    assert not WebhookSubscription.objects.exists()


def test_at_most_so_many_webhooks(cast: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(webhooks, "MAX_SUBSCRIPTIONS", 2)
    subscribe(cast, "https://93.184.216.34/a")
    subscribe(cast, "https://93.184.216.34/b")
    with pytest.raises(RuleViolation):
        subscribe(cast, "https://93.184.216.34/c")


def _log(cast: Any, subscription: WebhookSubscription, n: int) -> None:
    for i in range(n):
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event_seq=10_000 + i, event_type="goal.updated", payload=json.dumps({"n": i})
        )
        WebhookAttempt.objects.create(
            delivery=delivery, subscription=subscription, number=1, status_code=500, error="The receiver answered 500."
        )


@pytest.mark.parametrize("n", [1, 12])
def test_pages_run_a_constant_number_of_queries(
    cast: Any, client: Any, n: int, django_assert_max_num_queries: Any
) -> None:
    client.force_login(cast.vendor_admin)
    org = vendor_org(cast)
    subscriptions = [subscribe(cast, f"https://93.184.216.34/{i}")[0] for i in range(min(n, 5))]
    _log(cast, subscriptions[0], n)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("webhooks", args=[org.pk])).status_code == 200
    with django_assert_max_num_queries(12):
        page = client.get(reverse("webhook_detail", args=[org.pk, subscriptions[0].pk]))
    assert page.status_code == 200 and page.content.decode().count("Redeliver<") == n
