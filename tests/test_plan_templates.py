"""Plan templates by partner type (``plans.template_library``, ``plans.templates_service``): the
shipped content is valid and concrete, applying creates drafts only and nothing twice, saving and
cloning carry structure only, and who may do what."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import OrganisationMembership
from alignment import economics
from alignment import services as plan_services
from alignment.models import ChangeEvent, Driver, DriverFigure, Objective, Partnership, Side, Vision
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation, StaleVersion
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalStatus
from plans import template_library as library
from plans import templates_service as templates
from plans.demo import build_showcase
from plans.models import AppliedTemplateItem, PlanTemplate, TemplateApplication, TemplateType
from tests import factories as f

TODAY = dt.date(2027, 2, 10)


def empty_plan(cast, **fields):  # type: ignore[no-untyped-def]
    """A new partnership of the cast's vendor, with no drivers and no objectives."""
    p = f.make_partnership(cast.vendor_admin, vendor_drivers=[], partner_drivers=[], **fields)
    return f.access(cast.vendor_admin, p)


def plan_counts(p: Partnership) -> dict[str, int]:
    return {
        "objectives": Objective.objects.filter(partnership=p).count(),
        "goals": Goal.objects.filter(partnership=p).count(),
        "commitments": Commitment.objects.filter(goal__partnership=p).count(),
        "drivers": Driver.objects.filter(partnership=p).count(),
        "events": ChangeEvent.objects.filter(partnership=p).count(),
    }


# --- The shipped library --------------------------------------------------------------------------


def test_every_partner_type_but_other_has_a_shipped_template():
    kinds = {t.partner_type for t in library.SHIPPED.values()}
    assert kinds == set(TemplateType.values) - {TemplateType.OTHER}
    assert set(Partnership.PartnerType.values) - {"other"} <= kinds


@pytest.mark.parametrize("key", list(library.SHIPPED))
def test_shipped_template_is_valid_and_concrete(key):
    structure = library.clean_structure(library.SHIPPED[key].structure)
    assert 3 <= len(structure["objectives"]) <= 6
    assert all("?" in structure["vision_prompts"][k] for k in library.VISION_PROMPTS)
    for side in Side.values:
        assert any(d["side"] == side for d in structure["drivers"])
    for item in structure["objectives"]:
        assert item["vendor_gain"] and item["partner_gain"] and item["metric_name"] and item["metric_unit"]
        assert item["partner_drivers"] and item["vendor_drivers"], item["key"]
        assert item["vendor_commitment"] and item["partner_commitment"]
        assert item["trajectory"] and 1 <= item["trajectory"]["periods"] <= library.MAX_PERIODS


def test_shipped_templates_speak_each_partners_economics():
    def partner_text(key: str) -> str:
        s = library.resolved(library.SHIPPED[key].structure)
        return " ".join(o["partner_gain"] + " " + " ".join(o["partner_drivers"]) for o in s["objectives"]).lower()

    for word in ("utilisation", "day rate", "services revenue", "deals sourced"):
        assert word in partner_text("consulting")
    for word in ("subscription", "active users", "products per customer", "discount"):
        assert word in partner_text("reseller")
    for word in ("referral fees", "introductions"):
        assert word in partner_text("referral")
    for word in ("co-sell revenue", "integrations", "attach rate"):
        assert word in partner_text("technology")
    for word in ("recurring managed revenue", "seats under management", "churn"):
        assert word in partner_text("msp")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s.update(extra=1), "template"),
        (lambda s: s["objectives"].append(dict(s["objectives"][0])), "is used twice"),
        (lambda s: s["objectives"][0].update(title=""), "title"),
        (lambda s: s["objectives"][0].update(title="x" * 201), "title"),
        (lambda s: s["objectives"][0].update(partner_drivers=["no such driver"]), "partner_drivers"),
        (lambda s: s["objectives"][0]["trajectory"].update(periods=99), "periods"),
        (lambda s: s["objectives"][0]["trajectory"].update(target="4"), "differ"),
        (lambda s: s["objectives"][0]["trajectory"].update(baseline="lots"), "baseline"),
        (lambda s: s["objectives"][0]["trajectory"].update(length="fortnight"), "length"),
        (lambda s: s["drivers"].append({"side": "both", "name": "x", "unit": ""}), "side"),
        (lambda s: s["vision_prompts"].update(why_together="bad\x00text"), "why_together"),
        (lambda s: s.update(objectives="many"), "objectives"),
    ],
)
def test_a_broken_structure_is_refused_saying_where(change, where):
    structure = library.resolved(library.SHIPPED["consulting"].structure)
    change(structure)
    with pytest.raises(InvalidInput) as error:
        library.clean_structure(structure)
    assert where in error.value.fields["structure"][0]


# --- Applying ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(library.SHIPPED))
def test_applying_a_shipped_template_twice_creates_nothing_twice(cast, key):
    access = empty_plan(cast)
    template = templates.shipped(key)
    first = templates.template_apply(access=access, template=template, today=TODAY)
    structure = template.structure
    assert len(first.objectives) == len(structure["objectives"])
    assert len(first.drivers) == len(structure["drivers"])
    assert len(first.goals) == sum(o["trajectory"]["periods"] for o in structure["objectives"])
    after_first = plan_counts(access.partnership)

    second = templates.template_apply(access=access, template=template, today=TODAY)

    assert not second.created_anything
    assert second.skipped == [o["key"] for o in structure["objectives"]]
    assert plan_counts(access.partnership) == after_first


def test_applying_creates_drafts_only_and_writes_no_vision(cast):
    access = empty_plan(cast)
    templates.template_apply(access=access, template=templates.shipped("consulting"), today=TODAY)
    p = access.partnership
    assert set(Goal.objects.filter(partnership=p).values_list("status", flat=True)) == {GoalStatus.DRAFT}
    assert not Approval.objects.filter(goal__partnership=p).exists()
    # Suggested commitments are slots, never a side's commitment.
    assert Commitment.objects.filter(goal__partnership=p).exists()
    assert not Commitment.objects.filter(goal__partnership=p, placeholder=False).exists()
    vision = Vision.objects.get(partnership=p)
    assert vision.why_together == vision.what_we_hope == vision.how_we_work == ""
    prompts = TemplateApplication.objects.get(partnership=p).vision_prompts
    assert prompts["why_together"].startswith("Which customer problem")
    assert set(Objective.objects.filter(partnership=p).values_list("status", flat=True)) == {"active"}


def test_the_goals_ramp_from_baseline_to_target_quarter_by_quarter(cast):
    access = empty_plan(cast)
    templates.template_apply(access=access, template=templates.shipped("consulting"), today=TODAY)
    objective = Objective.objects.get(partnership=access.partnership, metric_name="Certified consultants")
    goals = list(Goal.objects.filter(objective=objective).order_by("period_start"))
    assert [(g.period_start, g.period_end) for g in goals] == [
        (dt.date(2027, 1, 1), dt.date(2027, 3, 31)),
        (dt.date(2027, 4, 1), dt.date(2027, 6, 30)),
        (dt.date(2027, 7, 1), dt.date(2027, 9, 30)),
        (dt.date(2027, 10, 1), dt.date(2027, 12, 31)),
    ]
    assert [(g.baseline, g.target) for g in goals] == [
        (Decimal(4), Decimal(6)),
        (Decimal(6), Decimal(8)),
        (Decimal(8), Decimal(10)),
        (Decimal(10), Decimal(12)),
    ]
    assert objective.baseline == 4 and objective.target == 12 and objective.target_date == dt.date(2027, 12, 31)


def test_the_objectives_link_each_sides_drivers_with_their_units(cast):
    access = empty_plan(cast)
    templates.template_apply(access=access, template=templates.shipped("reseller"), today=TODAY)
    p = access.partnership
    discount = Driver.objects.get(partnership=p, side=Side.PARTNER, name="average discount")
    assert discount.unit == "%"
    objective = Objective.objects.get(partnership=p, metric_name="Average discount")
    assert discount in objective.drivers.all()
    assert objective.partner_drivers == ["average discount"]


def test_every_created_object_has_one_change_event(cast):
    access = empty_plan(cast)
    before = ChangeEvent.objects.filter(partnership=access.partnership).count()
    result = templates.template_apply(access=access, template=templates.shipped("msp"), today=TODAY)
    created = [*result.objectives, *result.goals, *result.drivers]
    commitments = list(Commitment.objects.filter(goal__partnership=access.partnership))
    events = ChangeEvent.objects.filter(partnership=access.partnership, action=ChangeEvent.Action.CREATE)
    for obj in [*created, *commitments]:
        assert events.filter(object_id=obj.pk).count() == 1, obj
    assert ChangeEvent.objects.filter(partnership=access.partnership).count() > before


def test_the_organisations_copy_of_a_shipped_template_adds_nothing_it_already_added(cast):
    access = empty_plan(cast)
    templates.template_apply(access=access, template=templates.shipped("consulting"), today=TODAY)
    counts = plan_counts(access.partnership)
    copy = templates.template_customise(
        user=cast.vendor_admin, organisation_id=access.partnership.vendor_id, key="consulting"
    )
    again = templates.template_apply(
        access=access, template=templates.template_for(cast.vendor_admin, str(copy.pk)), today=TODAY
    )
    assert not again.created_anything
    assert plan_counts(access.partnership) == counts


def test_a_plan_with_objectives_of_its_own_is_not_started_from_a_template(cast):
    access = f.access(cast.vendor_editor, cast.partnership)
    f.make_objective(access)
    counts = plan_counts(cast.partnership)
    with pytest.raises(RuleViolation) as error:
        templates.template_apply(access=access, template=templates.shipped("consulting"), today=TODAY)
    assert error.value.code == "template.plan_not_empty"
    assert plan_counts(cast.partnership) == counts


def test_viewers_may_not_apply_and_outsiders_do_not_see_the_plan(cast):
    viewer = f.access(cast.partner_viewer, cast.partnership)
    with pytest.raises(NotAllowed):
        templates.template_apply(access=viewer, template=templates.shipped("consulting"), today=TODAY)
    outsider_plan = f.access(cast.outsider, cast.outsider_partnership)
    with pytest.raises(NotFound):
        templates.template_clone_structure(access=outsider_plan, target_partnership_id=cast.partnership.pk)


def test_another_organisations_template_is_no_template_for_me(cast):
    theirs = templates.template_customise(
        user=cast.outsider, organisation_id=cast.outsider_partnership.vendor_id, key="referral"
    )
    with pytest.raises(InvalidInput) as error:
        templates.template_for(cast.vendor_admin, str(theirs.pk))
    assert "template" in error.value.fields
    with pytest.raises(NotFound):
        templates.own_template(cast.vendor_admin, cast.outsider_partnership.vendor_id, theirs.pk)
    with pytest.raises(NotFound):
        templates.template_delete(
            user=cast.vendor_admin, organisation_id=cast.outsider_partnership.vendor_id, template_id=theirs.pk
        )
    assert PlanTemplate.objects.filter(pk=theirs.pk).exists()


# --- Saving and cloning: structure only -------------------------------------------------------------


def written_plan(cast):  # type: ignore[no-untyped-def]
    """The cast's plan with everything a plan has: an agreed goal with commitments and approvals,
    check-ins, comments, figures of both sides."""
    vendor = f.access(cast.vendor_approver, cast.partnership)
    partner = f.access(cast.partner_approver, cast.partnership)
    plan_services.vision_update(
        access=vendor, why_together="SECRET-WHY", what_we_hope="Forty joint customers", how_we_work="Monthly"
    )
    objective = f.make_objective(vendor, vendor_drivers=["licence revenue"], partner_drivers=["utilisation"])
    goal = f.agree(f.make_goal(vendor, objective, title="Agreed goal"), vendor, partner)
    goal_check_ins.check_in_create(access=vendor, goal_id=goal.pk, value=Decimal("150"), note="CHECKIN-NOTE")
    goal_comments.comment_create(access=partner, goal_id=goal.pk, body="COMMENT-BODY")
    for access, driver_name in ((vendor, "licence revenue"), (partner, "utilisation")):
        driver = Driver.objects.get(partnership=cast.partnership, side=access.side, name=driver_name)
        economics.figure_record(
            access=access,
            driver_id=driver.pk,
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 3, 31),
            value=Decimal("777"),
            note="FIGURE-NOTE",
        )
    return vendor, objective


def test_save_from_a_plan_keeps_structure_and_strips_people_commitments_approvals_figures(cast):
    vendor, objective = written_plan(cast)
    OrganisationMembership.objects.get_or_create(organisation=cast.partnership.vendor, user=cast.vendor_approver)
    saved = templates.template_save_from_plan(access=vendor, name="Our consulting playbook")
    assert saved.organisation_id == cast.partnership.vendor_id
    assert saved.partner_type == cast.partnership.partner_type
    text = str(saved.structure)
    for leak in ("CHECKIN-NOTE", "COMMENT-BODY", "FIGURE-NOTE", "777", "Fund two joint workshops", "Certify three"):
        assert leak not in text
    for person in (cast.vendor_approver, cast.partner_approver):
        assert person.email not in text and person.display_name not in text
    (item,) = saved.structure["objectives"]
    assert item["title"] == objective.title
    assert item["vendor_commitment"] == item["partner_commitment"] == ""
    assert item["trajectory"] == {"baseline": "100", "target": "500", "length": "quarter", "periods": 1}
    # The vision's texts are the template's prompts: shown, never written.
    assert saved.structure["vision_prompts"]["why_together"] == "SECRET-WHY"


def test_saving_needs_a_member_of_the_sides_organisation(cast):
    editor = f.access(cast.partner_editor, cast.partnership)
    with pytest.raises(NotAllowed):
        templates.template_save_from_plan(access=editor, name="Mine")
    viewer = f.access(cast.vendor_viewer, cast.partnership)
    with pytest.raises(NotAllowed):
        templates.template_save_from_plan(access=viewer, name="Mine")


def test_a_cloned_plan_carries_no_people_commitments_approvals_or_figures(cast):
    _vendor, objective = written_plan(cast)
    target = empty_plan(cast)
    members_before = set(target.partnership.members.values_list("user_id", flat=True))
    _access, applied = templates.template_clone_structure(
        access=f.access(cast.vendor_admin, cast.partnership), target_partnership_id=target.partnership.pk, today=TODAY
    )
    p = target.partnership
    assert [o.title for o in applied.objectives] == [objective.title]
    assert set(p.members.values_list("user_id", flat=True)) == members_before
    assert not Commitment.objects.filter(goal__partnership=p).exists()
    assert not Approval.objects.filter(goal__partnership=p).exists()
    assert not CheckIn.objects.filter(goal__partnership=p).exists()
    assert not Comment.objects.filter(goal__partnership=p).exists()
    assert not DriverFigure.objects.filter(driver__partnership=p).exists()
    assert set(Goal.objects.filter(partnership=p).values_list("status", flat=True)) == {GoalStatus.DRAFT}
    vision = Vision.objects.get(partnership=p)
    assert vision.why_together == "" and vision.revision == 1
    assert not vision.endorsements.exists()
    # The drivers' names and units travel; cloning again adds nothing.
    assert set(Driver.objects.filter(partnership=p).values_list("side", "name")) >= {
        (Side.VENDOR, "licence revenue"),
        (Side.PARTNER, "utilisation"),
    }
    counts = plan_counts(p)
    _access, again = templates.template_clone_structure(
        access=f.access(cast.vendor_admin, cast.partnership), target_partnership_id=p.pk, today=TODAY
    )
    assert not again.created_anything and plan_counts(p) == counts


def test_cloning_onto_a_plan_one_cannot_see_is_not_found(cast):
    with pytest.raises(NotFound):
        templates.template_clone_structure(
            access=f.access(cast.vendor_admin, cast.partnership), target_partnership_id=cast.outsider_partnership.pk
        )
    with pytest.raises(NotFound):
        templates.template_clone_structure(
            access=f.access(cast.vendor_admin, cast.partnership), target_partnership_id="not-a-uuid"
        )


# --- An organisation's own templates ----------------------------------------------------------------


def test_admins_customise_edit_and_delete_members_may_not(cast):
    org = cast.partnership.vendor_id
    copy = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="technology")
    assert copy.based_on == "technology" and copy.version == 1
    second = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="technology")
    assert second.name == f"{copy.name} (2)"
    structure = dict(copy.structure)
    structure["objectives"] = structure["objectives"][:1]
    edited = templates.template_update(
        user=cast.vendor_admin, organisation_id=org, template_id=copy.pk, expected_version=1, structure=structure
    )
    assert edited.version == 2 and len(edited.structure["objectives"]) == 1
    with pytest.raises(StaleVersion) as stale:
        templates.template_update(
            user=cast.vendor_admin, organisation_id=org, template_id=copy.pk, expected_version=1, name="Late"
        )
    assert stale.value.current.version == 2
    with pytest.raises(InvalidInput):
        templates.template_update(user=cast.vendor_admin, organisation_id=org, template_id=copy.pk, name=second.name)
    OrganisationMembership.objects.create(organisation_id=org, user=cast.vendor_editor)
    with pytest.raises(NotAllowed):
        templates.template_delete(user=cast.vendor_editor, organisation_id=org, template_id=copy.pk)
    assert any(t.ref == str(copy.pk) for t in templates.templates_for(cast.vendor_editor))
    templates.template_delete(user=cast.vendor_admin, organisation_id=org, template_id=copy.pk)
    assert not PlanTemplate.objects.filter(pk=copy.pk).exists()


def test_two_applications_record_each_item_once(cast):
    access = empty_plan(cast)
    template = templates.shipped("referral")
    templates.template_apply(access=access, template=template, today=TODAY)
    templates.template_apply(access=access, template=template, today=TODAY)
    keys = list(AppliedTemplateItem.objects.filter(partnership=access.partnership).values_list("key", flat=True))
    assert len(keys) == len(set(keys)) == 2 * len(template.structure["objectives"])


def test_the_showcase_plans_start_from_their_partner_types_templates(db):
    northwind, brightline = build_showcase()
    refs = dict(
        TemplateApplication.objects.filter(partnership__in=[northwind, brightline]).values_list(
            "partnership_id", "template_ref"
        )
    )
    assert refs == {northwind.pk: "consulting", brightline.pk: "reseller"}
    assert Objective.objects.filter(partnership=northwind, title="Keep certified consultants billable").exists()
    assert Objective.objects.filter(partnership=brightline, title="More of our products per customer").exists()
    # Their plans are written: a template no longer starts them.
    assert templates.plan_refusal(northwind)


# --- No stacking: one lineage per plan ----------------------------------------------------------------


def test_a_template_of_another_lineage_is_refused_on_a_plan_another_filled(cast):
    access = empty_plan(cast)
    templates.template_apply(access=access, template=templates.shipped("consulting"), today=TODAY)
    counts = plan_counts(access.partnership)
    with pytest.raises(RuleViolation) as error:
        templates.template_apply(access=access, template=templates.shipped("reseller"), today=TODAY)
    assert error.value.code == "template.plan_not_empty"
    assert "Consulting house" in error.value.message
    assert plan_counts(access.partnership) == counts
    assert list(TemplateApplication.objects.filter(partnership=access.partnership).values_list("template_ref")) == [
        ("consulting",)
    ]
    preview = templates.template_preview(access=access, template=templates.shipped("reseller"), today=TODAY)
    assert preview.blocked
    assert not templates.template_preview(access=access, template=templates.shipped("consulting")).blocked


def test_an_organisation_template_of_another_lineage_is_refused_too(cast):
    source = empty_plan(cast)
    f.make_objective(source, title="Our own objective")
    saved = templates.template_save_from_plan(access=source, name="Our way")
    assert saved.lineage == f"plan:{source.partnership.pk}"
    target = empty_plan(cast)
    templates.template_apply(access=target, template=templates.shipped("msp"), today=TODAY)
    with pytest.raises(RuleViolation) as error:
        templates.template_apply(
            access=target, template=templates.template_for(cast.vendor_admin, str(saved.pk)), today=TODAY
        )
    assert error.value.code == "template.plan_not_empty"


def test_the_customised_copy_adds_only_the_objectives_the_plan_lacks(cast):
    access = empty_plan(cast)
    org = access.partnership.vendor_id
    templates.template_apply(access=access, template=templates.shipped("referral"), today=TODAY)
    copy = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="referral")
    assert copy.lineage == "referral"
    structure = copy.structure
    structure["objectives"].append({**structure["objectives"][0], "key": "", "title": "Referrals from events"})
    copy = templates.template_update(
        user=cast.vendor_admin, organisation_id=org, template_id=copy.pk, expected_version=1, structure=structure
    )
    assert copy.structure["objectives"][-1]["key"] == "referrals-from-events"  # keyed by its title
    counts = plan_counts(access.partnership)

    result = templates.template_apply(
        access=access, template=templates.template_for(cast.vendor_admin, str(copy.pk)), today=TODAY
    )

    assert [o.title for o in result.objectives] == ["Referrals from events"]
    assert result.skipped == [o["key"] for o in structure["objectives"][:-1]]
    assert plan_counts(access.partnership)["objectives"] == counts["objectives"] + 1


def test_a_plan_emptied_takes_another_lineage_whose_keys_are_the_same(cast):
    """Two lineages' items never collide: the second template's objective with the first one's key
    is created, not skipped as "there already"."""
    access = empty_plan(cast)
    org = access.partnership.vendor_id
    first = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="referral")
    structure = {
        "vision_prompts": {},
        "drivers": [],
        "objectives": [{"key": "pipeline", "title": "First pipeline", "trajectory": None}],
    }
    first = templates.template_update(
        user=cast.vendor_admin, organisation_id=org, template_id=first.pk, structure=structure
    )
    other_source = empty_plan(cast)
    f.make_objective(other_source, title="Seed")
    second = templates.template_save_from_plan(access=other_source, name="Second")
    second = templates.template_update(
        user=cast.vendor_admin,
        organisation_id=org,
        template_id=second.pk,
        structure=structure | {"objectives": [{"key": "pipeline", "title": "Second pipeline", "trajectory": None}]},
    )
    made = templates.template_apply(access=access, template=templates.as_template(first), today=TODAY)
    plan_services.objective_delete(access=access, objective_id=made.objectives[0].pk)

    again = templates.template_apply(access=access, template=templates.as_template(second), today=TODAY)

    assert [o.title for o in again.objectives] == ["Second pipeline"]
    keys = set(AppliedTemplateItem.objects.filter(partnership=access.partnership).values_list("lineage", "key"))
    assert keys == {("referral", "objective:pipeline"), (second.lineage, "objective:pipeline")}


def test_cloning_onto_a_plan_with_objectives_is_refused(cast):
    source = f.access(cast.vendor_admin, cast.partnership)
    f.make_objective(source, title="Certify the practice")
    written = empty_plan(cast)
    f.make_objective(written, title="Its own")
    filled = empty_plan(cast)
    templates.template_apply(access=filled, template=templates.shipped("consulting"), today=TODAY)
    for target in (written, filled):
        counts = plan_counts(target.partnership)
        with pytest.raises(RuleViolation) as error:
            templates.template_clone_structure(access=source, target_partnership_id=target.partnership.pk, today=TODAY)
        assert error.value.code == "template.plan_not_empty"
        assert plan_counts(target.partnership) == counts


def test_a_structure_taken_from_a_plan_stays_in_the_plans_lineage(cast):
    """Saved or cloned from a plan a template filled, the structure keeps that template's keys and
    lineage: it adds to a plan of the same lineage only what that plan lacks."""
    source = empty_plan(cast)
    templates.template_apply(access=source, template=templates.shipped("consulting"), today=TODAY, only=["utilisation"])
    own = f.make_objective(source, title="A workshop a quarter")
    saved = templates.template_save_from_plan(access=source, name="Consulting, our way")
    assert saved.lineage == "consulting"
    assert [o["key"] for o in saved.structure["objectives"]] == ["utilisation", str(own.pk)]

    sibling = empty_plan(cast)
    templates.template_apply(access=sibling, template=templates.shipped("consulting"), today=TODAY)
    added = templates.template_apply(
        access=sibling, template=templates.template_for(cast.vendor_admin, str(saved.pk)), today=TODAY
    )
    assert [o.title for o in added.objectives] == ["A workshop a quarter"]
    _target, cloned = templates.template_clone_structure(
        access=source, target_partnership_id=sibling.partnership.pk, today=TODAY
    )
    assert not cloned.objectives  # the same objectives, by the same keys

    stranger = empty_plan(cast)
    templates.template_apply(access=stranger, template=templates.shipped("reseller"), today=TODAY)
    with pytest.raises(RuleViolation):
        templates.template_apply(
            access=stranger, template=templates.template_for(cast.vendor_admin, str(saved.pk)), today=TODAY
        )


def test_a_partial_structure_change_keeps_the_rest(cast):
    org = cast.partnership.vendor_id
    copy = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="msp")
    before = copy.structure
    changed = templates.template_update(
        user=cast.vendor_admin,
        organisation_id=org,
        template_id=copy.pk,
        expected_version=1,
        structure={"vision_prompts": {"how_we_work": "Weekly stand-up?"}},
        merge_structure=True,
    )
    assert changed.structure["vision_prompts"]["how_we_work"] == "Weekly stand-up?"
    assert changed.structure["vision_prompts"]["why_together"] == before["vision_prompts"]["why_together"]
    assert changed.structure["objectives"] == before["objectives"] and changed.version == 2
    unchanged = templates.template_update(user=cast.vendor_admin, organisation_id=org, template_id=copy.pk)
    assert unchanged.version == 2  # nothing given: no new version


def test_shipped_templates_are_changed_by_nobody_and_members_change_nothing(cast):
    with pytest.raises(NotAllowed) as error:
        templates.template_to_change(cast.vendor_admin, "consulting")
    assert error.value.code == "template.shipped_read_only"
    org = cast.partnership.vendor_id
    copy = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="msp")
    OrganisationMembership.objects.create(organisation_id=org, user=cast.vendor_editor)
    assert templates.template_get(cast.vendor_editor, str(copy.pk)).row == copy
    with pytest.raises(NotAllowed):
        templates.template_to_change(cast.vendor_editor, str(copy.pk))
    for ref in (str(copy.pk), "not-a-template"):
        with pytest.raises(NotFound):
            templates.template_to_change(cast.outsider, ref)
    with pytest.raises(StaleVersion):
        templates.template_delete(user=cast.vendor_admin, organisation_id=org, template_id=copy.pk, expected_version=7)
    assert PlanTemplate.objects.filter(pk=copy.pk).exists()
