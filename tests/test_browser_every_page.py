"""Every page of the product passes axe (no serious or critical violation) and fits a phone (390 px
without sideways scroll), at 1280 and 390 px, as each person who sees it (issue 12, "Must show").

The pages are ``tests.every_page.PAGES``, the list ``make screenshots`` walks on the demo too; here
they are looked at on a plan written for the test cast. One test per page names it when it fails;
the pages are looked at once, by the first of these tests that runs (one browser page per person
and width, reused from page to page), and each test reads its own page's outcome. A failing page
leaves ``artifacts/screenshots/every-page-<who>-<page>-<width>.png``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test.signals import template_rendered
from django.utils import timezone

from alignment import services as plan
from alignment.models import Vision
from cadence import services as review_services
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goals
from goals.derive import goals_derive
from tests import factories as f
from tests.browser_support import browser, live_url, new_page, screenshot, serious_violations  # noqa: F401
from tests.every_page import PAGES, WHO, WIDTHS, Page, open_page, prepare, sideways

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@dataclass
class Outcome:
    status: int = 0
    violations: list[str] = field(default_factory=list)
    sideways: int = 0
    error: str = ""

    def problems(self, page: Page, width: int) -> list[str]:
        found = [f"{width}px: {v}" for v in self.violations]
        if self.sideways:
            found.append(f"{width}px: scrolls sideways by {self.sideways} px")
        if self.error:
            found.append(f"{width}px: {self.error}")
        elif self.status != page.status:
            found.append(f"{width}px: status {self.status}, expected {page.status}")
        return found


# The outcome of every page looked at in this run, by (page key, width), and the templates rendered.
LOOKED_AT: dict[tuple[str, int], Outcome] = {}
RENDERED: set[str] = set()
BROKEN: list[str] = []  # why writing the plan failed, so that the other tests fail at once too
# Pages only a POST or a half-finished sign-in reaches, which a page's address cannot: the second
# step of a two-factor sign-in and the recovery codes shown once after set-up. tests/test_two_factor.py
# renders both through the Django client.
NOT_YET_ON_THE_LIST = {
    "registration/two_factor.html",
    "settings/recovery_codes.html",
}
# A page of its own: it extends the layout (the sign-in pages extend it through their own).
LAYOUT = re.compile(r'\{% extends "(base\.html|registration/_auth_page\.html)" %\}')


def write_the_plan(cast: Any) -> None:
    """A plan in every state the pages show: an endorsed vision, objectives, goals agreed (with
    check-ins, comments and an overdue commitment), proposed, sent back, amended, achieved and
    derived, a review held and the next one scheduled."""
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    today = timezone.localdate()
    plan.vision_update(
        access=editor,
        why_together="Mid-market manufacturers need our platform and your services.",
        what_we_hope="A certified practice of 24 consultants.",
        how_we_work="Quarterly reviews, a shared pipeline.",
    )
    revision = Vision.objects.get(partnership=cast.partnership).revision
    plan.vision_endorse(access=vendor, revision=revision)
    plan.vision_endorse(access=partner, revision=revision)
    practice = f.make_objective(
        editor,
        title="Certified practice",
        metric_name="Certified consultants",
        metric_unit="people",
        baseline=Decimal("4"),
        target=Decimal("24"),
    )
    pipeline = f.make_objective(editor, title="Joint pipeline", metric_unit="EUR k")
    agreed = f.agree(
        f.make_goal(editor, practice, title="Certify 12 consultants", baseline=Decimal("8"), target=Decimal("12")),
        vendor,
        partner,
    )
    goal_check_ins.check_in_create(access=partner, goal_id=agreed.pk, value=Decimal("10.8"), confidence=4)
    goal_check_ins.check_in_create(access=editor, goal_id=agreed.pk, value=Decimal("10"), confidence=2)
    goal_comments.comment_create(access=partner, goal_id=agreed.pk, body="Two trainees moved to a customer project.")
    for c in agreed.commitments.all()[:1]:
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=today - dt.timedelta(days=4))
    waiting = f.make_goal(editor, pipeline, title="Joint pipeline of 1.2M EUR", target=Decimal("1200"))
    goals.goal_propose(access=editor, goal_id=waiting.pk)
    goals.goal_approve(access=vendor, goal_id=waiting.pk, revision=1)
    sent_back = f.make_goal(
        editor,
        pipeline,
        title="Five mid-market logos",
        metric_name="New logos",
        baseline=Decimal("0"),
        target=Decimal("5"),
    )
    goals.goal_propose(access=editor, goal_id=sent_back.pk)
    goals.goal_request_changes(access=partner, goal_id=sent_back.pk, comment="Three is realistic this quarter.")
    amended = f.agree(
        f.make_goal(editor, pipeline, title="Pipeline of 700k EUR", target=Decimal("700")), vendor, partner
    )
    goals.goal_update(access=partner, goal_id=amended.pk, target=Decimal("900"))
    goals.goal_propose(access=partner, goal_id=amended.pk)
    goals.goal_approve(access=partner, goal_id=amended.pk, revision=2)
    achieved = f.agree(
        f.make_goal(
            editor,
            practice,
            title="Certify 8 consultants",
            period_start=today - dt.timedelta(days=120),
            period_end=today - dt.timedelta(days=30),
            baseline=Decimal("4"),
            target=Decimal("8"),
        ),
        vendor,
        partner,
    )
    goals.goal_close(access=vendor, goal_id=achieved.pk, outcome="achieved", note="Nine certified.", today=today)
    goals_derive(access=editor, objective_id=practice.pk, length="quarter", count=2)
    past = timezone.now() - dt.timedelta(days=20)
    held = plan.review_schedule(access=editor, scheduled_for=past, title="Quarterly business review")
    review_services.review_hold(
        access=vendor,
        review_id=held.pk,
        held_on=past.date(),
        attendees=[cast.vendor_approver, cast.partner_approver],
        notes="Pipeline behind; certification ahead.",
        decisions="Raise the pipeline target after the round-tables.",
        schedule_next=False,
    )
    plan.review_schedule(access=editor, scheduled_for=timezone.now() + dt.timedelta(days=9))


def look_at(pages: list[Page], new_page: Any, cast: Any, ids: dict[str, str]) -> None:
    """Open every page at both widths as its person, one browser page per person and width."""
    people = {
        "admin": cast.vendor_admin,
        "manager": cast.vendor_approver,
        "partner": cast.partner_approver,
        "viewer": cast.partner_viewer,
        "anonymous": None,
    }
    for who in WHO:
        theirs = [p for p in pages if p.who == who]
        for width, height in WIDTHS if theirs else ():
            page = new_page(people[who], width=width, height=height)
            for spec in theirs:
                outcome = Outcome()
                try:
                    outcome.status = open_page(page, spec, ids)
                    outcome.sideways = sideways(page)
                    outcome.violations = serious_violations(page)
                except Exception as exc:  # one broken page must not hide the others
                    outcome.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                if outcome.problems(spec, width):
                    screenshot(page, f"every-page-{spec.key}-{width}")
                LOOKED_AT[(spec.key, width)] = outcome


def selected_pages(request: pytest.FixtureRequest) -> list[Page]:
    """The pages of this run's selected tests (all of them when the list's own test runs)."""
    mine = [item for item in request.session.items if item.module is request.module]
    if any(item.name == test_the_list_has_every_page_of_the_product.__name__ for item in mine):
        return PAGES
    return [
        item.callspec.params["page"] for item in mine if hasattr(item, "callspec") and "page" in item.callspec.params
    ]


def remember_template(sender: Any, template: Any, **kwargs: Any) -> None:
    RENDERED.add(str(template.name))


@pytest.fixture
def looked_at(request: pytest.FixtureRequest) -> dict[tuple[str, int], Outcome]:
    """Every selected page's outcome; the first test that asks looks at them all."""
    if BROKEN:
        pytest.fail(f"writing the plan failed: {BROKEN[0]}", pytrace=False)
    if not LOOKED_AT:
        selected = selected_pages(request)
        cast = request.getfixturevalue("cast")
        try:
            write_the_plan(cast)
            ids = prepare(
                partnership=cast.partnership,
                admin=cast.vendor_admin,
                manager=cast.vendor_approver,
                partner=cast.partner_approver,
            )
        except Exception as exc:
            BROKEN.append(f"{type(exc).__name__}: {exc}")
            raise
        # The test environment instruments template rendering, in the live server's thread too.
        template_rendered.connect(remember_template)
        try:
            look_at(selected, request.getfixturevalue("new_page"), cast, ids)
        finally:
            template_rendered.disconnect(remember_template)
    return LOOKED_AT


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_the_page_passes_axe_and_fits_a_phone(page: Page, looked_at: dict[tuple[str, int], Outcome]) -> None:
    problems = [
        problem
        for width, _height in WIDTHS
        for problem in looked_at.get((page.key, width), Outcome(error="not looked at")).problems(page, width)
    ]
    assert not problems, f"{page.key} ({page.path}):\n" + "\n".join(problems)


def test_the_list_has_every_page_of_the_product(looked_at: dict[tuple[str, int], Outcome]) -> None:
    """Every full-page template (one that extends the layout) was rendered while the list was
    looked at: a new page that is not on the list fails here."""
    templates = Path(settings.BASE_DIR) / "templates"
    pages = {
        str(t.relative_to(templates))
        for t in templates.rglob("*.html")
        if LAYOUT.search(t.read_text()) and not t.name.startswith("_")
    }
    assert pages, "no page template found"
    missing = pages - RENDERED - NOT_YET_ON_THE_LIST
    assert not missing, f"pages no test looks at (add them to tests/every_page.py): {sorted(missing)}"
