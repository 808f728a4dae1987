"""Action links in Chromium (issue 14, item 1): the partner approves a goal from the e-mail the
outbox sent, without signing in; the goal's approval is theirs."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from alignment.models import Side
from goals import services as goals
from goals.models import Approval, Goal, GoalStatus
from tests import factories as f
from tests.browser_support import PHONE, browser, live_url, new_page, serious_violations  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", [(1280, 900), PHONE], ids=["desktop", "phone"])
def test_the_partner_approves_from_the_email_without_signing_in(new_page, live_url, cast, size):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), title="Joint pipeline Q1")
    mail.outbox.clear()
    goals.goal_propose(access=editor, goal_id=goal.pk)  # the outbox sends the e-mails as it commits
    [message] = [m for m in mail.outbox if m.to == [cast.partner_approver.email]]
    link = re.search(r"Approve this revision: (http://testserver/a/\S+/)", message.body).group(1)  # type: ignore[union-attr]

    page = new_page(width=size[0], height=size[1])  # signed out
    page.goto(link.replace("http://testserver", live_url))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Joint pipeline Q1")
    expect(page.get_by_text("Certify three consultants")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Approve revision 1 for the partner side").click()

    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("now waits for the vendor side")
    approval = Approval.objects.get(goal=goal, side=Side.PARTNER, revision=1)
    assert approval.user == cast.partner_approver
    assert Goal.objects.get(pk=goal.pk).status == GoalStatus.PROPOSED

    # Back and again: the link was used.
    page.go_back()
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link was used already")
    assert Approval.objects.filter(goal=goal, side=Side.PARTNER).count() == 1
