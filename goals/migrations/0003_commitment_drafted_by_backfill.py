"""Commitments written before drafting was recorded: fill in who drafted them and whether their side
approved (its own migration: on PostgreSQL the updates' deferred foreign-key checks may not share a
transaction with the index the previous migration creates)."""

from django.db import migrations
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

IN_FORCE = ["agreed", "achieved", "missed", "dropped"]


def backfill(apps, schema_editor):
    """Commitments written before drafting was recorded: the drafter is whoever created the
    commitment (its change event), their side their membership's; the approval flag follows the
    goal's approvals of its current revision (or the goal being in force)."""
    Commitment = apps.get_model("goals", "Commitment")
    Approval = apps.get_model("goals", "Approval")
    ChangeEvent = apps.get_model("alignment", "ChangeEvent")
    PartnershipMember = apps.get_model("alignment", "PartnershipMember")
    approved = Approval.objects.filter(
        goal_id=OuterRef("goal_id"), revision=OuterRef("goal__revision"), side=OuterRef("side")
    )
    in_force = Q(goal__status__in=IN_FORCE, goal__agreed_revision__isnull=False, goal__amendment="")
    ids = Commitment.objects.filter(in_force | Q(Exists(approved))).values("pk")
    Commitment.objects.filter(pk__in=ids).update(own_side_approved=True)
    creator = ChangeEvent.objects.filter(
        object_type="commitment", object_id=OuterRef("pk"), action="create", actor__isnull=False
    ).order_by("seq")
    Commitment.objects.update(drafted_by=Subquery(creator.values("actor")[:1]))
    Goal = apps.get_model("goals", "Goal")
    partnership = Goal.objects.filter(pk=OuterRef(OuterRef("goal_id"))).values("partnership_id")[:1]
    side = PartnershipMember.objects.filter(partnership_id=Subquery(partnership), user_id=OuterRef("drafted_by_id"))
    Commitment.objects.filter(drafted_by__isnull=False).update(
        drafted_by_side=Coalesce(Subquery(side.values("side")[:1]), Value(""))
    )



class Migration(migrations.Migration):

    dependencies = [
        ("goals", "0002_commitment_drafted_by_and_approval"),
        ("alignment", "0008_invitation_confirmation_and_link_request"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
