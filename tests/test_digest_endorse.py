"""The digest offers an approver the endorsement of a shared vision that waits for their side, with
a signed action link that endorses it for them (goals.actions.endorse_links_many)."""

from __future__ import annotations

import re

import time_machine
from django.core import mail

from alignment import services as plan
from alignment.models import VisionEndorsement
from cadence import digest
from goals import actions
from tests import factories as f
from tests.test_digest_local_time import utc

MONDAY = utc(2027, 7, 5, 8, 5)  # 08:05 in UTC, everyone's zone here
LINK = re.compile(r"http://testserver(/a/[A-Za-z0-9_\-]+/)")


def complete_vision(cast):  # type: ignore[no-untyped-def]
    with time_machine.travel(utc(2027, 7, 1, 9), tick=False):
        plan.vision_update(
            access=cast.access("vendor_editor"),
            why_together="Win together.",
            what_we_hope="Growth for both.",
            how_we_work="Monthly calls.",
        )


def digest_for(person, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with time_machine.travel(MONDAY, tick=False), django_capture_on_commit_callbacks(execute=True):
        digest.sweep_digest(MONDAY)
    return [m for m in mail.outbox if m.to == [person.email]]


def test_an_approver_is_offered_the_vision_and_endorses_it_from_the_digest(
    cast, client, django_capture_on_commit_callbacks
):
    complete_vision(cast)
    [message] = digest_for(cast.partner_approver, django_capture_on_commit_callbacks)
    assert "The shared vision waits for your side’s endorsement:" in message.body
    [path] = LINK.findall(message.body)
    with time_machine.travel(MONDAY, tick=False):
        assert "Win together." in client.get(path).content.decode()
        assert VisionEndorsement.objects.count() == 0  # opening the link changes nothing
        assert client.post(path).status_code == 302
    endorsement = VisionEndorsement.objects.get()
    assert (endorsement.user, endorsement.side) == (cast.partner_approver, "partner")


def test_no_offer_to_a_side_that_endorsed_to_non_approvers_or_for_an_incomplete_vision(cast):
    approver = cast.access("partner_approver")
    accesses = {cast.partnership.pk: approver}
    assert actions.endorse_links_many(cast.partner_approver, accesses) == {}  # no text yet
    complete_vision(cast)
    assert set(actions.endorse_links_many(cast.partner_approver, accesses)) == {cast.partnership.pk}
    editor = {cast.partnership.pk: cast.access("partner_editor")}
    assert actions.endorse_links_many(cast.partner_editor, editor) == {}
    cast.partnership.vision.refresh_from_db()
    plan.vision_endorse(access=approver, revision=cast.partnership.vision.revision)
    assert actions.endorse_links_many(cast.partner_approver, accesses) == {}
    vendor = {cast.partnership.pk: cast.access("vendor_approver")}
    assert set(actions.endorse_links_many(cast.vendor_approver, vendor)) == {cast.partnership.pk}


def test_the_offers_of_many_partnerships_take_the_same_queries(cast, django_assert_num_queries):
    complete_vision(cast)
    person = cast.partner_approver
    accesses = {cast.partnership.pk: cast.access("partner_approver")}
    with django_assert_num_queries(3):  # visions, endorsements, one insert
        actions.endorse_links_many(person, accesses)
    for _ in range(3):
        admin = f.make_user()
        other = f.make_partnership(admin)
        f.add_member(other, person, "partner", "approver")
        plan.vision_update(access=f.access(admin, other), why_together="A", what_we_hope="B", how_we_work="C")
        accesses[other.pk] = f.access(person, other)
    with django_assert_num_queries(3):
        offers = actions.endorse_links_many(person, accesses)
    assert len(offers) == 4
