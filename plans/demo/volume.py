"""Volume data for benchmarks, written in bulk (see ``alignment.demo``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Organisation, OrganisationMembership, User
from alignment.changes import PG_TXID, object_type_of
from alignment.models import (
    AlignmentReview,
    ChangeEvent,
    Objective,
    Partnership,
    PartnershipMember,
    Role,
    Side,
    Vision,
    VisionEndorsement,
)
from alignment.schedule import next_slot
from cadence.attention import store_all as store_attention_of_all
from goals.models import (
    Approval,
    CheckIn,
    Comment,
    Commitment,
    Direction,
    Goal,
    GoalRevision,
    GoalStatus,
    RevisionState,
)

from .common import (
    DEMO_PASSWORD,
    VOLUME_MANAGER_EMAIL,
    VOLUME_PARTNER_DOMAIN,
    Login,
    demo_id,
    ensure_vendor,
    health_trend,
    person,
    quarters,
    serialise_seeds,
)

# --- Volume data for benchmarks ---------------------------------------------------------------

# The mix of goal states, by goal number (every state appears within the first nine goals).
STATE_CYCLE = (
    GoalStatus.AGREED,
    GoalStatus.DRAFT,
    GoalStatus.PROPOSED,
    GoalStatus.CHANGES_REQUESTED,
    "amended",
    GoalStatus.ACHIEVED,
    GoalStatus.MISSED,
    GoalStatus.DROPPED,
    GoalStatus.WITHDRAWN,
    GoalStatus.AGREED,
    GoalStatus.AGREED,
    GoalStatus.DRAFT,
    GoalStatus.PROPOSED,
    GoalStatus.AGREED,
    GoalStatus.ACHIEVED,
    GoalStatus.CHANGES_REQUESTED,
    GoalStatus.AGREED,
    "amended",
    GoalStatus.DRAFT,
    GoalStatus.AGREED,
)
# States whose goals were agreed at some point and so can carry check-ins.
CHECKED_IN = {GoalStatus.AGREED, "amended", GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED}
PARTNER_TYPES = ("consulting", "reseller", "referral", "technology", "consulting", "reseller")
DRIVERS = {
    "consulting": ["services revenue", "consultant utilisation", "billable rate"],
    "reseller": ["recurring margin", "seats under management", "less discounting"],
    "referral": ["referral fees", "customer satisfaction"],
    "technology": ["joint customers", "integration usage"],
}
VENDOR_DRIVERS = ["licence revenue", "active users", "enterprise logos", "net retention"]
NAME_PARTS = (
    ("North", "Blue", "Silver", "Bright", "Oak", "Granite", "Harbour", "Summit", "Cedar", "Iron", "Lake", "Stone"),
    ("wind", "peak", "line", "field", "bridge", "gate", "works", "point", "ridge", "stream", "hill", "way"),
)
METRICS = (
    ("Joint pipeline", "EUR k", 400, 1800),
    ("Certified consultants", "people", 4, 24),
    ("Active seats", "seats", 500, 4000),
    ("Joint customers live", "customers", 10, 60),
    ("Average renewal discount", "%", 18, 8),
)


@dataclass
class VolumeRequest:
    partnerships: int
    goals: int  # in total, spread over the partnerships
    check_ins: int  # in total, spread over the goals that were agreed

    def goals_of(self, i: int) -> int:
        return self.goals // self.partnerships + (1 if i < self.goals % self.partnerships else 0)

    def first_goal_of(self, i: int) -> int:
        base, extra = divmod(self.goals, self.partnerships)
        return base * i + min(i, extra)

    def eligible_goals(self, first: int, count: int) -> int:
        """How many of goal numbers ``first`` .. ``first + count - 1`` can carry check-ins."""
        full = count // len(STATE_CYCLE)
        n = full * sum(1 for s in STATE_CYCLE if s in CHECKED_IN)
        return n + sum(
            1
            for k in range(first + full * len(STATE_CYCLE), first + count)
            if STATE_CYCLE[k % len(STATE_CYCLE)] in CHECKED_IN
        )

    def check_ins_per_goal(self) -> Callable[[int], int]:
        """Check-ins of the k-th goal that can carry them (by its rank among those goals)."""
        eligible = self.eligible_goals(0, self.goals)
        if eligible == 0:
            return lambda rank: 0
        base, extra = divmod(self.check_ins, eligible)
        return lambda rank: base + (1 if rank < extra else 0)


def volume_partnership_id(i: int) -> uuid.UUID:
    return demo_id(f"volume/partnership/{i}")


def volume_partner_email(i: int) -> str:
    return f"partner-{i + 1:04d}@{VOLUME_PARTNER_DOMAIN}"


def missing_volume(indices: Iterable[int]) -> list[int]:
    """The volume partnerships (by number) that do not exist yet."""
    wanted = {volume_partnership_id(i): i for i in indices}
    found: set[uuid.UUID] = set()
    ids = list(wanted)
    for k in range(0, len(ids), 1000):
        found.update(Partnership.objects.filter(pk__in=ids[k : k + 1000]).values_list("pk", flat=True))
    return sorted(i for pid, i in wanted.items() if pid not in found)


def _txid() -> int:
    """The id of the current transaction on PostgreSQL (what ``record_change`` stores), else 0."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {PG_TXID}")
        return int(cursor.fetchone()[0])


class VolumeBatch:
    """Rows for a group of partnerships, written together in one transaction."""

    ORDER = (
        Organisation,
        Partnership,
        OrganisationMembership,
        PartnershipMember,
        Vision,
        VisionEndorsement,
        Objective,
        Goal,
        GoalRevision,
        Commitment,
        Approval,
        Comment,
        CheckIn,
        AlignmentReview,
    )

    def __init__(self, actor: User) -> None:
        self.actor = actor
        self.rows: dict[type, list[Any]] = {model: [] for model in self.ORDER}
        self.events: list[tuple[Any, Any, str]] = []  # (partnership id, object, summary)

    def add(self, obj: Any, partnership_id: Any = None, summary: str = "") -> Any:
        self.rows[type(obj)].append(obj)
        if partnership_id is not None:
            self.events.append((partnership_id, obj, summary))
        return obj

    def write(self) -> None:
        """Insert every row and one create event per plan object (inside the caller's transaction)."""
        for model in self.ORDER:
            insert_rows(model, self.rows[model])
        txid, now, label = _txid(), timezone.now(), self.actor.display_name[:200]
        insert_rows(
            ChangeEvent,
            [
                ChangeEvent(
                    txid=txid,
                    partnership_id=pid,
                    actor=self.actor,
                    actor_label=label,
                    object_type=object_type_of(obj),
                    object_id=obj.pk,
                    action=ChangeEvent.Action.CREATE,
                    summary=summary[:300],
                    after=obj.to_record(),
                    created_at=now,
                )
                for pid, obj, summary in self.events
            ],
        )


def insert_rows(model: type[Any], objects: list[Any]) -> None:
    """Insert model instances in bulk: with ``COPY`` on PostgreSQL, else with ``bulk_create``.

    ``COPY`` writes the same row ``bulk_create`` would (every concrete column from the instance, the
    database numbering an automatic primary key) without compiling an ``INSERT`` of tens of thousands
    of parameters. Instances do not learn an automatic primary key, so only rows nothing else refers
    to may have one (membership rows, change events).
    """
    if not objects:
        return
    columns = _copy_columns(model)
    if connection.vendor != "postgresql" or columns is None:
        model.objects.bulk_create(objects, batch_size=2000)
        return
    for obj in objects:
        obj._state.adding = False  # as bulk_create leaves them: saved
    names = ", ".join(connection.ops.quote_name(column) for column, _, _, _ in columns)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
    for start in range(0, len(objects), COPY_ROWS):
        buffer = io.StringIO()
        buffer.writelines(_copy_row(obj, columns) for obj in objects[start : start + COPY_ROWS])
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(statement, buffer)


COPY_ROWS = 20000
# column, attribute, is JSON, JSON encoder
CopyColumn = tuple[str, str, bool, Any]
_COPY_COLUMNS: dict[type, list[CopyColumn] | None] = {}
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_ISO_TYPES = (dt.datetime, dt.date, dt.time)
_PLAIN_TYPES = (int, Decimal, uuid.UUID)


def _copy_columns(model: type[Any]) -> list[CopyColumn] | None:
    """The columns ``COPY`` writes, or None when a field computes its value on save (``auto_now``)."""
    if model not in _COPY_COLUMNS:
        fields = [
            f for f in model._meta.local_concrete_fields if not isinstance(f, models.AutoField | models.BigAutoField)
        ]
        computed = any(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in fields)
        _COPY_COLUMNS[model] = (
            None
            if computed
            else [(f.column, f.attname, isinstance(f, models.JSONField), getattr(f, "encoder", None)) for f in fields]
        )
    return _COPY_COLUMNS[model]


def _copy_row(obj: Any, columns: list[CopyColumn]) -> str:
    """One row in ``COPY``'s text format."""
    out = []
    for _, attname, is_json, encoder in columns:
        value = getattr(obj, attname)
        if value is None:
            out.append("\\N")
        elif is_json:
            out.append(json.dumps(value, cls=encoder).translate(_COPY_ESCAPES))
        elif isinstance(value, bool):
            out.append("t" if value else "f")
        elif isinstance(value, str):
            out.append(str(value).translate(_COPY_ESCAPES))
        elif isinstance(value, _ISO_TYPES):
            out.append(value.isoformat())
        elif isinstance(value, _PLAIN_TYPES):
            out.append(str(value))
        else:
            raise TypeError(f"no COPY text for {type(obj).__name__}.{attname}: {type(value).__name__}")
    return "\t".join(out) + "\n"


def build_volume(
    request: VolumeRequest,
    *,
    today: dt.date | None = None,
    batch_rows: int = 40000,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Build the volume partnerships that do not exist yet, in bulk. Returns what was created."""
    today = today or timezone.localdate()
    with transaction.atomic():
        serialise_seeds()
        org, _admin = ensure_vendor()
        manager = person(VOLUME_MANAGER_EMAIL, "Morgan Volume")
        OrganisationMembership.objects.get_or_create(organisation=org, user=manager)
    missing = missing_volume(range(request.partnerships))
    password = make_password(DEMO_PASSWORD)
    per_goal = request.check_ins_per_goal()
    created = {"partnerships": 0, "goals": 0, "check_ins": 0}
    done, analyse_at = 0, 1
    for group in _groups(missing, request, batch_rows):
        with transaction.atomic():
            serialise_seeds()
            group = missing_volume(group)  # a concurrent seed may have built some meanwhile
            # The partners' approvers sign in; users have integer ids, so they are inserted first.
            users = User.objects.bulk_create(
                [
                    User(email=volume_partner_email(i), password=password, full_name=f"Partner lead {i + 1}")
                    for i in group
                ],
                batch_size=2000,
            )
            batch = VolumeBatch(manager)
            for i, partner_user in zip(group, users, strict=True):
                counts = _volume_partnership(batch, request, i, org, manager, partner_user, per_goal, today)
                for key, value in counts.items():
                    created[key] += value
            batch.write()
            health_trend([volume_partnership_id(i) for i in group], today)
        done += len(group)
        if done >= analyse_at and connection.vendor == "postgresql":
            # Fresh statistics each time the plans written double: autovacuum may be off or lag
            # behind a bulk load, and with the statistics of an emptier database the health queries
            # of later groups scanned whole tables (10,000 plans slowed from ~400 to ~60 a minute).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            analyse_at = done * 2
        if progress and group:
            progress(f"{done} of {len(missing)} partnerships written")
    if missing:
        # Written in bulk, not through the services: the dashboard's stored numbers are computed once.
        store_attention_of_all()
    return created


def _groups(indices: list[int], request: VolumeRequest, rows: int) -> Iterable[list[int]]:
    """Partnerships grouped so that each transaction writes roughly ``rows`` rows."""
    per_check_in = request.check_ins / max(1, request.eligible_goals(0, request.goals))
    group: list[int] = []
    size = 0.0
    for i in indices:
        goals = request.goals_of(i)
        size += 12 + goals * 7 + request.eligible_goals(request.first_goal_of(i), goals) * per_check_in * 2
        group.append(i)
        if size >= rows:
            yield group
            group, size = [], 0.0
    if group:
        yield group


def _volume_partnership(
    batch: VolumeBatch,
    request: VolumeRequest,
    i: int,
    org: Organisation,
    manager: User,
    partner_user: User,
    per_goal: Callable[[int], int],
    today: dt.date,
) -> dict[str, int]:
    rng = random.Random(i)
    now = timezone.now()
    kind = PARTNER_TYPES[i % len(PARTNER_TYPES)]
    name = f"{NAME_PARTS[0][i % 12]}{NAME_PARTS[1][(i // 12) % 12]} {kind.title()} {i + 1}"
    partner_org = batch.add(Organisation(name=name))
    pid = volume_partnership_id(i)
    p = batch.add(
        Partnership(
            id=pid,
            vendor=org,
            partner=partner_org,
            name=f"{org.name} × {name}",
            partner_type=kind,
            vendor_drivers=VENDOR_DRIVERS[:3],
            partner_drivers=DRIVERS.get(kind, DRIVERS["consulting"]),
            review_cadence=("quarterly", "monthly")[i % 2],
            reminder_offsets_days=[7, 1],
            created_at=now,
            updated_at=now,
            margin_percent=Decimal("20") if kind == "reseller" else None,
            referral_fee_percent=Decimal("10") if kind == "referral" else None,
        ),
        pid,
        f"started the partnership {org.name} × {name}",
    )
    batch.add(
        OrganisationMembership(organisation=partner_org, user=partner_user, role=OrganisationMembership.Role.ADMIN)
    )
    for user, side in ((manager, Side.VENDOR), (partner_user, Side.PARTNER)):
        batch.add(
            PartnershipMember(partnership=p, user=user, side=side, role=Role.APPROVER),
            pid,
            f"added {user.display_name} as {side} approver",
        )
    vision = batch.add(
        Vision(
            partnership=p,
            why_together=f"Customers of {name} need what Acme Cloud builds.",
            what_we_hope="A joint practice that grows both businesses.",
            how_we_work="Quarterly planning, shared pipeline, commitments on both sides.",
            horizon=today + relativedelta(years=3),
        ),
        pid,
        "created the vision",
    )
    endorsed = (Side.VENDOR, Side.PARTNER) if i % 5 < 3 else (Side.VENDOR,) if i % 5 == 3 else ()
    for side in endorsed:
        batch.add(
            VisionEndorsement(
                vision=vision, revision=1, side=side, user=manager if side == Side.VENDOR else partner_user
            ),
            pid,
            f"endorsed the vision for the {side} side",
        )

    goal_count = request.goals_of(i)
    first = request.first_goal_of(i)
    q = quarters(today)
    objectives = []
    for k in range(max(1, math.ceil(goal_count / 10))):
        metric, unit, baseline, target = METRICS[k % len(METRICS)]
        objectives.append(
            batch.add(
                Objective(
                    partnership=p,
                    title=f"{metric}: {target} {unit} together ({k + 1})",
                    position=k + 1,
                    vendor_gain="More licence revenue and active users.",
                    partner_gain="More services and recurring margin.",
                    vendor_drivers=VENDOR_DRIVERS[:1],
                    partner_drivers=p.partner_drivers[:1],
                    success_measure=metric,
                    metric_name=metric,
                    metric_unit=unit,
                    baseline=Decimal(baseline),
                    target=Decimal(target),
                    baseline_date=q["last"][0],
                    target_date=q["last"][0] + relativedelta(years=2),
                ),
                pid,
                f"added the objective {metric}",
            )
        )

    rank = request.eligible_goals(0, first)
    check_ins = 0
    people: dict[str, User] = {Side.VENDOR: manager, Side.PARTNER: partner_user}
    for j in range(goal_count):
        number = first + j
        state = STATE_CYCLE[number % len(STATE_CYCLE)]
        objective = objectives[j % len(objectives)]
        wanted = per_goal(rank) if state in CHECKED_IN else 0
        rank += state in CHECKED_IN
        check_ins += _volume_goal(batch, p, objective, state, q, today, now, people, wanted, rng, j)

    held = dt.datetime.combine(today - dt.timedelta(days=20 + i % 30), dt.time(9, 0), tzinfo=dt.UTC)
    batch.add(
        AlignmentReview(
            partnership=p,
            title="Alignment review",
            scheduled_for=held,
            status=AlignmentReview.Status.HELD,
            held_on=held.date(),
            notes="Walked through the goals; both sides updated their check-ins.",
            decisions="Keep the plan; revisit the pipeline target next quarter.",
        ),
        pid,
        "recorded a review",
    )
    upcoming = next_slot(p, now=now, last=None)
    batch.add(
        AlignmentReview(
            partnership=p,
            title="Alignment review",
            scheduled_for=upcoming.scheduled_for,
            occurrence=upcoming.occurrence,
        ),
        pid,
        f"scheduled a review for {upcoming.scheduled_for:%Y-%m-%d %H:%M} UTC",
    )
    return {"partnerships": 1, "goals": goal_count, "check_ins": check_ins}


def _volume_goal(
    batch: VolumeBatch,
    p: Partnership,
    objective: Objective,
    state: str,
    q: dict[str, tuple[dt.date, dt.date]],
    today: dt.date,
    now: dt.datetime,
    people: dict[str, User],
    wanted_check_ins: int,
    rng: random.Random,
    j: int,
) -> int:
    """One goal in ``state`` with the rows the workflow would have left behind. Returns its check-ins."""
    pid = p.pk
    closed_past = state in (GoalStatus.ACHIEVED, GoalStatus.MISSED)
    start, end = q["last"] if closed_past else q["half"] if state in CHECKED_IN else q["this"]
    baseline = objective.baseline or Decimal(0)
    step = (objective.target or Decimal(1)) - baseline
    target = baseline + step / 4 * (1 + j % 3)
    direction = Direction.INCREASE if target > baseline else Direction.DECREASE
    agreed = state in CHECKED_IN
    proposed = state != GoalStatus.DRAFT
    close_notes: dict[str, str] = {
        GoalStatus.MISSED: "Fell short; the pipeline slipped into the next quarter.",
        GoalStatus.DROPPED: "The campaign behind this goal was cancelled.",
        GoalStatus.WITHDRAWN: "Replaced by a better goal.",
    }
    goal = Goal(
        partnership=p,
        objective=objective,
        title=f"{objective.metric_name}: {target.normalize():f} by {end:%-d %b %Y}",
        period_start=start,
        period_end=end,
        metric_name=objective.metric_name,
        metric_unit=objective.metric_unit,
        baseline=baseline,
        target=target,
        direction=direction,
        created_by=people[Side.VENDOR],
        revision_open=not proposed,
        proposed_by_side=Side.VENDOR if proposed else "",
        proposed_at=now if proposed else None,
        agreed_revision=1 if agreed else None,
        agreed_at=now if agreed else None,
        status=GoalStatus.AGREED if state == "amended" else state,
        closed_at=now
        if state in (GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED, GoalStatus.WITHDRAWN)
        else None,
        close_note=close_notes.get(state, ""),
    )
    commitments = [
        Commitment(
            goal=goal,
            side=Side.VENDOR,
            text="Fund joint enablement and co-selling",
            owner=people[Side.VENDOR],
            due_date=start + dt.timedelta(days=30),
            position=1,
        )
    ]
    if state == GoalStatus.DRAFT:
        commitments.append(
            Commitment(
                goal=goal,
                side=Side.PARTNER,
                placeholder=True,
                position=1,
                text="What will the partner do to get there? (suggested slot)",
            )
        )
    else:
        commitments.append(
            Commitment(
                goal=goal,
                side=Side.PARTNER,
                text="Staff certified people on joint deals",
                owner=people[Side.PARTNER],
                due_date=start + dt.timedelta(days=45),
                position=1,
            )
        )
    if agreed:
        for c in commitments:
            if c.due_date and c.due_date < today and rng.random() < 0.7:
                c.done, c.done_at = True, now
    terms, commitment_terms = goal.terms(), [c.terms() for c in commitments]
    if state == "amended":
        goal.revision, goal.amendment = 2, RevisionState.PROPOSED
        goal.target = target + step / 8
    batch.add(goal, pid, f"added the goal “{goal.title}”")
    for c in commitments:
        batch.add(c, pid, f"added a {c.side} commitment")
    if proposed:
        batch.add(
            GoalRevision(
                goal=goal,
                number=1,
                terms=terms,
                commitments=commitment_terms,
                proposed_by=people[Side.VENDOR],
                proposed_by_side=Side.VENDOR,
            )
        )
    approvals: list[tuple[int, str]] = (
        [(1, Side.VENDOR), (1, Side.PARTNER)] if agreed else [(1, Side.VENDOR)] if state == "proposed" else []
    )
    if state == "amended":
        batch.add(
            GoalRevision(
                goal=goal,
                number=2,
                terms=goal.terms(),
                commitments=commitment_terms,
                proposed_by=people[Side.VENDOR],
                proposed_by_side=Side.VENDOR,
            )
        )
        approvals.append((2, Side.VENDOR))
    for revision, side in approvals:
        batch.add(
            Approval(goal=goal, revision=revision, side=side, user=people[side]),
            pid,
            f"approved revision {revision} for the {side} side",
        )
    if state == GoalStatus.CHANGES_REQUESTED:
        batch.add(
            Comment(
                goal=goal,
                author=people[Side.PARTNER],
                side=Side.PARTNER,
                revision=1,
                kind=Comment.Kind.CHANGE_REQUEST,
                body="The target is too tight for one quarter.",
            ),
            pid,
            "requested changes",
        )
    last = min(end, today)
    span_days = max(0, (last - start).days)
    for k in range(wanted_check_ins):
        side = Side.values[k % 2]
        share = (k + 1) / wanted_check_ins
        value = baseline + (target - baseline) * Decimal(str(round(share * rng.uniform(0.6, 1.1), 3)))
        batch.add(
            CheckIn(
                goal=goal,
                side=side,
                author=people[side],
                measured_on=start + dt.timedelta(days=span_days * (k + 1) // wanted_check_ins),
                value=value.quantize(Decimal("0.01")),
                confidence=rng.randint(2, 5),
            ),
            pid,
            "checked in",
        )
    return wanted_check_ins


def volume_logins(request: VolumeRequest) -> list[Login]:
    logins = [
        Login(VOLUME_MANAGER_EMAIL, f"Morgan Volume, vendor approver in all {request.partnerships} volume partnerships")
    ]
    if request.partnerships:
        last = volume_partner_email(request.partnerships - 1)
        logins.append(Login(volume_partner_email(0), f"partner approver of volume partnership 1 (… up to {last})"))
    return logins
