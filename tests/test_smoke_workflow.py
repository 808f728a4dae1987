from goals.models import GoalStatus
from tests import factories as f


def test_goal_is_agreed_when_both_sides_approve_the_same_revision(cast):
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    objective = f.make_objective(cast.access("vendor_editor"))
    goal = f.make_goal(cast.access("vendor_editor"), objective)
    goal = f.agree(goal, vendor, partner)
    assert goal.status == GoalStatus.AGREED
    assert goal.agreed_revision == goal.revision == 1
