"""The shared vision: endorsed when both sides' approvers endorsed its current revision; an edit of
its texts makes a new revision that must be endorsed again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from alignment import services as plan
from alignment.models import Side, Vision, VisionEndorsement
from core.errors import InvalidInput, NotAllowed, RuleViolation, StaleVersion

TEXTS = {
    "why_together": "Customers need licences and the people to roll them out.",
    "what_we_hope": "Twice the joint pipeline in two years.",
    "how_we_work": "Monthly pipeline calls, quarterly reviews, one shared plan.",
}


@contextmanager
def refused(code: str) -> Iterator[pytest.ExceptionInfo[RuleViolation]]:
    with pytest.raises(RuleViolation) as exc:
        yield exc
    assert exc.value.code == code, f"refused as {exc.value.code}: {exc.value.message}"


@pytest.fixture
def vision(cast) -> Vision:
    return plan.vision_update(access=cast.access("vendor_editor"), **TEXTS)


def endorsed_sides(vision: Vision) -> set[str]:
    return plan.vision_endorsed_sides(Vision.objects.get(pk=vision.pk))


def test_a_new_partnership_has_an_empty_vision_at_revision_one(cast):
    vision = Vision.objects.get(partnership=cast.partnership)
    assert (vision.revision, vision.why_together, vision.horizon) == (1, "", None)


def test_writing_the_vision_makes_a_new_revision(vision):
    assert vision.revision == 2
    assert vision.version == 2


def test_the_vision_is_endorsed_when_both_sides_endorse_its_current_revision(cast, vision):
    plan.vision_endorse(access=cast.access("vendor_approver"), revision=vision.revision)
    assert endorsed_sides(vision) == {Side.VENDOR}

    endorsement = plan.vision_endorse(access=cast.access("partner_approver"), revision=vision.revision)
    assert (endorsement.side, endorsement.revision, endorsement.user) == (Side.PARTNER, 2, cast.partner_approver)
    assert endorsed_sides(vision) == {Side.VENDOR, Side.PARTNER}


def test_an_edit_after_endorsement_clears_it(cast, vision):
    for who in ("vendor_approver", "partner_approver"):
        plan.vision_endorse(access=cast.access(who), revision=vision.revision)

    edited = plan.vision_update(access=cast.access("partner_editor"), how_we_work="Weekly calls instead.")

    assert edited.revision == vision.revision + 1
    assert endorsed_sides(vision) == set()
    # The old endorsements stay as history of what was endorsed.
    assert VisionEndorsement.objects.filter(vision=vision, revision=vision.revision).count() == 2


def test_changing_only_the_horizon_keeps_the_revision_and_its_endorsements(cast, vision):
    for who in ("vendor_approver", "partner_approver"):
        plan.vision_endorse(access=cast.access(who), revision=vision.revision)

    edited = plan.vision_update(access=cast.access("vendor_editor"), horizon="2028-12-31")

    assert edited.horizon == dt.date(2028, 12, 31)
    assert edited.revision == vision.revision
    assert edited.version == vision.version + 1
    assert endorsed_sides(vision) == {Side.VENDOR, Side.PARTNER}


def test_saving_the_same_text_changes_nothing(cast, vision):
    again = plan.vision_update(access=cast.access("vendor_editor"), **TEXTS)
    assert (again.revision, again.version) == (vision.revision, vision.version)


def test_endorsing_an_older_revision_is_refused(cast, vision):
    plan.vision_update(access=cast.access("vendor_editor"), what_we_hope="Three times the pipeline.")
    with refused("vision.stale_revision") as exc:
        plan.vision_endorse(access=cast.access("partner_approver"), revision=vision.revision)
    assert f"now at revision {vision.revision + 1}" in exc.value.message
    assert not VisionEndorsement.objects.exists()


def test_an_incomplete_vision_cannot_be_endorsed(cast):
    vision = plan.vision_update(access=cast.access("vendor_editor"), why_together="Because.", what_we_hope="Growth.")
    with refused("vision.incomplete"):
        plan.vision_endorse(access=cast.access("vendor_approver"), revision=vision.revision)


def test_a_blank_text_counts_as_missing(cast):
    vision = plan.vision_update(access=cast.access("vendor_editor"), **(TEXTS | {"how_we_work": "   "}))
    with refused("vision.incomplete"):
        plan.vision_endorse(access=cast.access("vendor_approver"), revision=vision.revision)


def test_a_side_endorses_a_revision_once(cast, vision):
    plan.vision_endorse(access=cast.access("vendor_approver"), revision=vision.revision)
    with refused("vision.already_endorsed"):
        plan.vision_endorse(access=cast.access("vendor_admin"), revision=vision.revision)
    assert VisionEndorsement.objects.count() == 1


@pytest.mark.parametrize("who", ["vendor_editor", "partner_editor", "partner_viewer"])
def test_only_approvers_endorse(cast, vision, who):
    with pytest.raises(NotAllowed):
        plan.vision_endorse(access=cast.access(who), revision=vision.revision)


@pytest.mark.parametrize("who", ["vendor_viewer", "partner_viewer"])
def test_viewers_cannot_edit_the_vision(cast, vision, who):
    with pytest.raises(NotAllowed):
        plan.vision_update(access=cast.access(who), why_together="Mine now.")
    assert Vision.objects.get(pk=vision.pk).why_together == TEXTS["why_together"]


def test_an_edit_made_against_an_old_version_is_refused(cast, vision):
    plan.vision_update(access=cast.access("partner_editor"), expected_version=vision.version, how_we_work="Theirs")
    with pytest.raises(StaleVersion) as exc:
        plan.vision_update(access=cast.access("vendor_editor"), expected_version=vision.version, how_we_work="Mine")
    assert exc.value.current.how_we_work == "Theirs"


def test_unknown_fields_and_bad_dates_are_refused_without_a_change(cast, vision):
    with pytest.raises(InvalidInput, check=lambda e: "revision" in e.fields):
        plan.vision_update(access=cast.access("vendor_editor"), revision=1)
    with pytest.raises(InvalidInput, check=lambda e: "horizon" in e.fields):
        plan.vision_update(access=cast.access("vendor_editor"), horizon="the year after next")
    fresh = Vision.objects.get(pk=vision.pk)
    assert (fresh.revision, fresh.version, fresh.horizon) == (vision.revision, vision.version, None)
