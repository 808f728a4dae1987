"""What the clock keeps: the daily alignment health of each partnership (its trend), and what is
asked at each review: the relationship pulse of both sides."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from alignment.models import AlignmentReview, Partnership, Side
from core.models import PlanObject


class HealthSnapshot(models.Model):
    """The alignment health of a partnership on one day: the trend and a cache of the score."""

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="health_snapshots")
    day = models.DateField()
    score = models.PositiveSmallIntegerField()
    components = models.JSONField(default=list)

    class Meta:
        db_table = "alignment_healthsnapshot"  # the table it had when health lived in alignment
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "day"], name="health_snapshot_unique"),
            models.CheckConstraint(condition=Q(score__lte=100), name="health_snapshot_range"),
        ]

    def __str__(self) -> str:
        return f"Health {self.score} on {self.day}"


class PartnershipAttention(models.Model):
    """What needs attention in one partnership, stored so that a portfolio can be sorted, filtered
    and added up in SQL (the dashboard): goals waiting for each side, overdue commitments of each
    side, the next review, the health score and the goal totals.

    Computed only by ``cadence.attention.store`` from the one home of each rule (``goals.rules``,
    ``alignment.reviews``, ``cadence.health``, ``cadence.agenda``); kept current by every change
    recorded in the change log (``alignment.changes``) and, for what turns with time (overdue by
    the day, health decay, reviews), by the hourly beat task."""

    partnership = models.OneToOneField(
        Partnership, on_delete=models.CASCADE, primary_key=True, related_name="attention"
    )
    # The partnership's organisations and name, copied with every store (``attention.stored_rows``;
    # the organisations never change): the dashboard reads whom a row is visible to, on which side,
    # and its order of names from this table alone. At 10,000 partnerships its totals took 11.3 ms
    # joined to the partnerships and 5.0 alone, its ranked page 13.4 and 7.5 (EXPLAIN ANALYZE).
    vendor = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+", null=True)
    partner = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+", null=True)
    name = models.CharField(max_length=200, default="")
    waiting_vendor = models.PositiveIntegerField(default=0)
    waiting_partner = models.PositiveIntegerField(default=0)
    overdue_vendor = models.PositiveIntegerField(default=0)
    overdue_partner = models.PositiveIntegerField(default=0)
    # When the first goal waiting for each side was proposed, and the first due date among each
    # side's overdue commitments: the dashboard's inbox shows the first few across a portfolio, and
    # those lie in the few partnerships whose first is earliest (``plans.dashboard._inbox``).
    first_waiting_vendor = models.DateTimeField(null=True, blank=True)
    first_waiting_partner = models.DateTimeField(null=True, blank=True)
    first_overdue_vendor = models.DateField(null=True, blank=True)
    first_overdue_partner = models.DateField(null=True, blank=True)
    next_review = models.DateTimeField(null=True, blank=True)
    health = models.PositiveSmallIntegerField(default=0)
    started = models.BooleanField(default=False)  # ``cadence.health.has_started``
    agreed_goals = models.PositiveIntegerField(default=0)  # agreed and in force, any period
    current_goals = models.PositiveIntegerField(default=0)  # of those, in this period
    on_track_goals = models.PositiveIntegerField(default=0)  # of those, not off track
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(health__lte=100), name="attention_health_range")]
        # The dashboard's soonest reviews are read off the next review's index, in order, until a
        # few visible ones are found (``plans.dashboard._soonest_reviews``). Its ranked page is read
        # off an index in the page's order when sorted by name, health or next review (PostgreSQL,
        # ``cadence 0008``: each then by name in "C" and id); in the default order, which depends
        # on the reader's side and the time of the request, it keeps the best 20 of the rows the
        # person sees (a top-N sort).
        # The inbox's first waiting goals and overdue commitments are searched in the few
        # partnerships whose stored first is earliest, per side (``plans.dashboard._first_partnerships``):
        # read off these in order, only rows where something waits for that side.
        indexes = [
            models.Index(fields=["next_review"]),
            *(
                models.Index(
                    fields=[f"first_{kind}_{side}", "partnership"],
                    condition=Q(**{f"{kind}_{side}__gt": 0}),
                    name=f"attn_first_{kind}_{side}",
                )
                for kind in ("waiting", "overdue")
                for side in ("vendor", "partner")
            ),
        ]

    def __str__(self) -> str:
        return f"Attention of {self.partnership_id}"


class PulseAnswer(PlanObject):
    """One person's relationship pulse at one alignment review: five questions, each 1 to 5, and an
    optional note (``cadence.pulse``). One per person per review; the side is the side the person
    was on when they answered, so a later change of membership does not move their answer."""

    QUESTIONS = ("trust", "fairness", "value", "responsiveness", "ease")
    LOWEST, HIGHEST = 1, 5

    review = models.ForeignKey(AlignmentReview, on_delete=models.CASCADE, related_name="pulse_answers")
    respondent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=8, choices=Side.choices)
    trust = models.PositiveSmallIntegerField()
    fairness = models.PositiveSmallIntegerField()
    value = models.PositiveSmallIntegerField()
    responsiveness = models.PositiveSmallIntegerField()
    ease = models.PositiveSmallIntegerField()
    note = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["review", "respondent"], name="pulse_answer_once"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="pulse_answer_side"),
            *(
                models.CheckConstraint(condition=Q(**{f"{q}__gte": 1, f"{q}__lte": 5}), name=f"pulse_{q}_range")
                for q in ("trust", "fairness", "value", "responsiveness", "ease")
            ),
        ]
        indexes = [models.Index(fields=["review", "side"], name="pulse_answer_review_side")]

    def __str__(self) -> str:
        return f"Pulse of {self.respondent_id} at {self.review_id}"

    def scores(self) -> list[int]:
        return [getattr(self, q) for q in self.QUESTIONS]
