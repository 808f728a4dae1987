"""Short-term goals agreed by both sides: their revisions, commitments, approvals, check-ins and
comments. State changes go through ``goals.services``; models hold single-object behaviour."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alignment.models import Objective, Partnership, Side, Vision
from core.models import PlanObject, json_value


class GoalStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PROPOSED = "proposed", _("Proposed")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")
    AGREED = "agreed", _("Agreed")
    ACHIEVED = "achieved", _("Achieved")
    MISSED = "missed", _("Missed")
    DROPPED = "dropped", _("Dropped")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# The state of the revision under negotiation: before first agreement it is the goal's status;
# for an agreed goal it is the amendment's.
class RevisionState(models.TextChoices):
    NONE = "", _("None")
    DRAFT = "draft", _("Draft")
    PROPOSED = "proposed", _("Proposed")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")


class Direction(models.TextChoices):
    INCREASE = "increase", _("Increase (higher is better)")
    DECREASE = "decrease", _("Decrease (lower is better)")


NEGOTIABLE = {GoalStatus.DRAFT, GoalStatus.PROPOSED, GoalStatus.CHANGES_REQUESTED}
CLOSED = {GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED, GoalStatus.WITHDRAWN}
# The fields that make a goal's terms: changing one of them needs both sides' approval again.
TERM_FIELDS = (
    "title",
    "description",
    "period_start",
    "period_end",
    "metric_name",
    "metric_unit",
    "baseline",
    "target",
    "direction",
)


class GoalQuerySet(models.QuerySet["Goal"]):
    def open(self) -> GoalQuerySet:
        return self.exclude(status__in=CLOSED)

    def covering(self, day: Any) -> GoalQuerySet:
        return self.filter(period_start__lte=day, period_end__gte=day)


def negotiation_state_of(status: str, amendment: str) -> str:
    """The state of a goal's revision under negotiation ('' when nothing is being negotiated)."""
    if status in NEGOTIABLE:
        return str(status)
    return str(amendment) if status == GoalStatus.AGREED else ""


class Goal(PlanObject):
    """A short-term goal derived from one mutual objective, for a period.

    The fields here and the goal's commitments are the *working* terms (revision ``revision``).
    ``agreed_revision`` is the last revision both sides approved; while an amendment is being
    negotiated it stays in force, readable from its ``GoalRevision`` snapshot.
    """

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="goals")
    objective = models.ForeignKey(Objective, on_delete=models.PROTECT, related_name="goals")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=10000)
    period_start = models.DateField()
    period_end = models.DateField()
    metric_name = models.CharField(max_length=120)
    metric_unit = models.CharField(max_length=40, blank=True)
    baseline = models.DecimalField(max_digits=18, decimal_places=4)
    target = models.DecimalField(max_digits=18, decimal_places=4)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.INCREASE)

    status = models.CharField(max_length=20, choices=GoalStatus.choices, default=GoalStatus.DRAFT)
    revision = models.PositiveIntegerField(default=1)
    # True while the working revision is still being written (not yet proposed); the next edit of a
    # proposed revision opens a new one.
    revision_open = models.BooleanField(default=True)
    agreed_revision = models.PositiveIntegerField(null=True, blank=True)
    amendment = models.CharField(max_length=20, choices=RevisionState.choices, default=RevisionState.NONE, blank=True)
    proposed_by_side = models.CharField(max_length=8, choices=Side.choices, blank=True)
    proposed_at = models.DateTimeField(null=True, blank=True)
    agreed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_note = models.TextField(blank=True, max_length=5000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # The goal's id in a partner's or the vendor's own system (a CRM), so imports and API clients can
    # address it by that id. Not part of the terms: setting it opens no new revision.
    external_key = models.CharField(max_length=100, blank=True, default="")

    objects = GoalQuerySet.as_manager()

    class Meta:
        ordering = ["period_start", "created_at"]
        indexes = [
            models.Index(fields=["partnership", "status"]),
            models.Index(fields=["objective", "period_start"]),
            models.Index(fields=["partnership", "updated_at"]),
            # The API lists goals oldest first (``created_at``, ``id``): a page of a plan's goals,
            # or of a portfolio's by status or not, is read off these in order instead of sorted
            # from all of them (without the first, a plan's page would be looked for in the
            # portfolio's order: through every goal created since the plan's first).
            models.Index(fields=["partnership", "created_at", "id"]),
            models.Index(fields=["status", "created_at", "id"]),
            models.Index(fields=["created_at", "id"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="goal_period_order"),
            models.CheckConstraint(condition=Q(status__in=GoalStatus.values), name="goal_status_valid"),
            models.CheckConstraint(condition=Q(direction__in=Direction.values), name="goal_direction_valid"),
            models.CheckConstraint(
                condition=~Q(status__in=["agreed", "achieved", "missed"]) | Q(agreed_revision__isnull=False),
                name="goal_agreed_has_revision",
            ),
            models.CheckConstraint(
                condition=Q(agreed_revision__isnull=True) | Q(agreed_revision__lte=F("revision")),
                name="goal_agreed_revision_le_revision",
            ),
            models.CheckConstraint(
                condition=Q(status="agreed") | Q(amendment=""), name="goal_amendment_only_when_agreed"
            ),
            models.UniqueConstraint(
                fields=["partnership", "external_key"],
                condition=~Q(external_key=""),
                name="goal_external_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def negotiation_state(self) -> str:
        """State of the revision under negotiation ('' when nothing is being negotiated)."""
        return negotiation_state_of(self.status, self.amendment)

    @property
    def has_pending_amendment(self) -> bool:
        return self.status == GoalStatus.AGREED and bool(self.amendment)

    def terms(self) -> dict[str, Any]:
        return {name: json_value(getattr(self, name)) for name in TERM_FIELDS}

    def progress(self, value: Decimal | None) -> float | None:
        """Share of the way from baseline to target that ``value`` covers, 0..1 (clamped)."""
        return progress_between(self.baseline, self.target, value)


def progress_between(baseline: Decimal | None, target: Decimal | None, value: Decimal | None) -> float | None:
    if value is None or baseline is None or target is None:
        return None
    span = target - baseline
    if span == 0:
        return 1.0 if value == target else 0.0
    share = float((value - baseline) / span)
    return max(0.0, min(1.0, share))


class GoalRevision(models.Model):
    """The terms of a goal as proposed in one revision (immutable once written)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    terms = models.JSONField()
    commitments = models.JSONField(default=list)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    proposed_by_side = models.CharField(max_length=8, choices=Side.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["goal", "number"]
        constraints = [models.UniqueConstraint(fields=["goal", "number"], name="goal_revision_unique")]

    def __str__(self) -> str:
        return f"{self.goal} r{self.number}"

    def to_record(self) -> dict[str, Any]:
        """The revision as the change log records it while it is the agreed revision in force
        beside a pending amendment (an ``agreed-revision`` of the API). Owners by internal id."""
        return {
            "id": str(self.id),
            "goal": str(self.goal_id),
            "number": self.number,
            "terms": self.terms,
            "commitments": self.commitments,
        }


class Commitment(PlanObject):
    """What one side will do for a goal. A goal is agreed only with at least one real commitment
    from each side (the no-quota rule). A derived goal starts with a placeholder slot per side that
    does not count until someone writes what their side will do."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="commitments")
    side = models.CharField(max_length=8, choices=Side.choices)
    text = models.TextField(max_length=5000)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="commitments"
    )
    due_date = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    placeholder = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    # Who wrote the commitment's current terms (either side may draft the other side's commitment
    # as part of proposing terms; that side's approval of the revision is its consent).
    drafted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    drafted_by_side = models.CharField(max_length=8, choices=Side.choices, blank=True)
    # Whether the commitment's own side has approved the revision it belongs to (or the goal is in
    # force on it). Kept current by the goal services (``goals.workflow.sync_commitment_approvals``).
    own_side_approved = models.BooleanField(default=False)

    class Meta:
        ordering = ["side", "position", "created_at"]
        indexes = [models.Index(fields=["goal", "side"]), models.Index(fields=["due_date", "done"])]
        constraints = [
            models.CheckConstraint(condition=Q(side__in=Side.values), name="commitment_side"),
            models.CheckConstraint(condition=Q(done=False) | Q(done_at__isnull=False), name="commitment_done_at"),
            models.CheckConstraint(
                condition=Q(drafted_by_side__in=[*Side.values, ""]), name="commitment_drafted_by_side"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side}: {self.text[:60]}"

    def terms(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "side": self.side,
            "text": self.text,
            "owner": self.owner_id,
            "due_date": json_value(self.due_date),
            "placeholder": self.placeholder,
        }


class Approval(models.Model):
    """One side's approval of one revision of a goal."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="approvals")
    revision = models.PositiveIntegerField()
    side = models.CharField(max_length=8, choices=Side.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["goal", "revision", "side"], name="approval_once_per_side"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="approval_side"),
        ]

    def __str__(self) -> str:
        return f"{self.side} approval of revision {self.revision}"

    def to_record(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "goal": str(self.goal_id),
            "revision": self.revision,
            "side": self.side,
            "user": self.user_id,
            "created_at": json_value(self.created_at),
        }


class CheckInSource(models.TextChoices):
    """Where a check-in came from: the check-in form, the REST API, or an import of actuals."""

    WEB = "web", _("Web")
    API = "api", "API"
    IMPORT = "import", _("Imported")


class CheckInReview(models.TextChoices):
    """Where a figure stands with the side that did not enter it (two-key actuals)."""

    UNCONFIRMED = "unconfirmed", _("Unconfirmed")
    CONFIRMED = "confirmed", _("Confirmed")
    DISPUTED = "disputed", _("Disputed")


class CheckIn(PlanObject):
    """A measured value of a goal's metric on a day, with one side's confidence (1-5).

    Two keys: the side that did not enter the figure confirms it, or disputes it with its own
    number and a note (``review``); a disputed figure keeps both numbers until the sides settle on
    one (``goals.check_ins``). Health and progress never count a disputed figure."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="check_ins")
    side = models.CharField(max_length=8, choices=Side.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    measured_on = models.DateField()
    value = models.DecimalField(max_digits=18, decimal_places=4)
    confidence = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    note = models.TextField(blank=True, max_length=5000)
    source = models.CharField(max_length=8, choices=CheckInSource.choices, default=CheckInSource.WEB)
    review = models.CharField(max_length=12, choices=CheckInReview.choices, default=CheckInReview.UNCONFIRMED)
    # Who of the other side confirmed or disputed the figure, and when (empty while unconfirmed).
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The other side's number and why, while the figure is disputed.
    disputed_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    dispute_note = models.TextField(blank=True, max_length=5000)

    class Meta:
        ordering = ["measured_on", "created_at"]
        indexes = [models.Index(fields=["goal", "measured_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(confidence__gte=1, confidence__lte=5), name="check_in_confidence"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="check_in_side"),
            models.CheckConstraint(condition=Q(source__in=CheckInSource.values), name="check_in_source"),
            models.CheckConstraint(condition=Q(review__in=CheckInReview.values), name="check_in_review"),
            models.CheckConstraint(
                condition=~Q(review=CheckInReview.DISPUTED) | Q(disputed_value__isnull=False),
                name="check_in_dispute_has_value",
            ),
        ]

    @property
    def disputed(self) -> bool:
        return self.review == CheckInReview.DISPUTED

    @property
    def unconfirmed(self) -> bool:
        return self.review == CheckInReview.UNCONFIRMED

    @property
    def settle_choices(self) -> list[Decimal]:
        """The two numbers a disputed figure may settle on: as entered, and the other side's."""
        return [self.value, self.disputed_value] if self.disputed_value is not None else []

    def __str__(self) -> str:
        return f"{self.goal}: {self.value} on {self.measured_on}"


class Comment(PlanObject):
    """A comment on a goal; a change request is a comment of kind ``change_request``."""

    class Kind(models.TextChoices):
        COMMENT = "comment", _("Comment")
        CHANGE_REQUEST = "change_request", _("Change request")

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    side = models.CharField(max_length=8, choices=Side.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.COMMENT)
    revision = models.PositiveIntegerField()
    body = models.TextField(max_length=10000)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["goal", "created_at"])]
        constraints = [models.CheckConstraint(condition=Q(side__in=Side.values), name="comment_side")]

    def __str__(self) -> str:
        return self.body[:60]


class ActualsImport(models.Model):
    """One uploaded file of actuals (check-ins) for a plan: parsed and checked at upload (the
    preview), then committed by ``goals.imports`` in the request or in one background job.

    ``rows`` holds the rows that passed the checks at upload, as plain JSON, so the commit needs no
    stored file; ``errors`` the per-row errors (row number, column, message), those of the commit
    once it ran. ``file_sha256`` tells a person that the same file was imported before."""

    class Status(models.TextChoices):
        PREVIEW = "preview", _("Checked, not imported yet")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="actuals_imports")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    side = models.CharField(max_length=8, choices=Side.choices)
    file_name = models.CharField(max_length=200, blank=True)
    file_sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=4, choices=Format.choices)
    row_count = models.PositiveIntegerField(default=0)
    rows = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    ignored_columns = models.JSONField(default=list)
    # The header text of each column (column → header), so messages name columns as the file does.
    labels = models.JSONField(default=dict)
    to_create = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PREVIEW)
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    failure = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["partnership", "created_at"], name="actuals_import_plan"),
            models.Index(fields=["partnership", "file_sha256"], name="actuals_import_file"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["preview", "queued", "running", "done", "failed"]),
                name="actuals_import_status",
            ),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="actuals_import_side"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name or 'import'} ({self.status})"

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ActionLink(models.Model):
    """A link in an e-mail that lets one person take one action on one revision of a goal (or of
    the vision) without signing in: single use, expiring, stored as the SHA-256 of its random
    token (the raw token is only ever in the e-mail). See ``goals.actions``."""

    class Action(models.TextChoices):
        APPROVE = "approve", _("Approve this revision")
        REQUEST_CHANGES = "request_changes", _("Request changes")
        COMMIT_AND_APPROVE = "commit_approve", _("Add our commitment and approve")
        ENDORSE = "endorse", _("Endorse the vision")
        CONFIRM_FIGURE = "confirm_figure", _("Confirm or dispute a figure")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    vision = models.ForeignKey(Vision, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # A figure to confirm or dispute: ``goal`` is its goal and ``revision`` the figure's version.
    check_in = models.ForeignKey(CheckIn, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    revision = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # What the use of the link did, in words, for its done page (empty until used).
    outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "action", "revision"], name="action_link_person")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["approve", "request_changes", "commit_approve", "endorse", "confirm_figure"]),
                name="action_link_action",
            ),
            models.CheckConstraint(
                condition=(Q(action="endorse") & Q(goal__isnull=True) & Q(vision__isnull=False))
                | (~Q(action="endorse") & Q(goal__isnull=False) & Q(vision__isnull=True)),
                name="action_link_object",
            ),
            models.CheckConstraint(
                condition=Q(action="confirm_figure", check_in__isnull=False)
                | (~Q(action="confirm_figure") & Q(check_in__isnull=True)),
                name="action_link_check_in",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} link r{self.revision}"
