"""The ``/plan`` document kept up to date with what changed, instead of built again whole.

Built from rows (``api.plan_document``), the document of a plan of 500 goals still costs some 90 ms:
20 queries that read every goal, check-in and commitment, the plan's health over all of it, and
rendering 3 MB. A plan being co-edited changes a goal at a time, and the first request after each
change paid all of it. So each process keeps, per plan and side, the last document it built as a
``PlanState``: every key of the document rendered on its own, the long lists of a goal's objects
(goals, approvals, commitments, check-ins, comments) row by row with each row's place in the list,
the facts of the plan's health (``cadence.health.HealthState``) and the feed position the document
was read at (its ``cursor``).

The next request after a change reads the plan's change events after that position (the change
log says what changed: the object's type and id, and for a goal's objects the goal in the record)
and reads again only the goals' rows in the lists their events touch (a goal event: the goal; a
check-in event: the goal's check-ins; ...), with the very column lists of the full build; it drops
those rows and puts the rows read back in their places by the
lists' order (the same ``order_by`` as the full build, made total by the id). Deletions remove. The
health is patched for the same goals (their facts and parts, ``cadence.health.patch_state``) and its
kept parts added up again; the attention is worked out for those goals' rows alone and taken from
and added to the document's counts (``_attention``); the cursor is computed again. Those reads of
a few goals go through statements kept compiled per connection (``core.kept_reads``), and the
lists the change did not touch are copied from the previous document's body at once
(``PlanState.spans``). The give/get balance is counted again when a commitment changed or a
goal's status, close, objective or agreed revision did (3 queries); the pulse of the held reviews
is read again after a pulse answer, the figures the side sees after a change of a figure (1 query
each). The result is byte for byte the document a full build gives at that position
(``tests/test_plan_updates.py`` checks it after random sequences of changes).

Anything else is built whole: a change of the vision, the objectives, the reviews, the members,
the drivers or the partnership, an object type this module does not know (a new list added to the
document is therefore safe: its type builds whole), more than ``MAX_EVENTS`` events or ``MAX_GOALS`` goals, a
document that orjson does not write as the standard encoder would, and the first request of each
hour (the key the document is cached under turns with the hour: what changes without an event, a
person's name, is as fresh as before).

Two positions are kept: the newest event of the plan the state has read (of either side), which
the next update reads changes after, and the document's cursor (``current_position``: the newest
event both sides see, so that one side's private changes never move the other side's document).
A change of a figure only the other side sees is passed over in a side's own document: it shows
nothing of it.

Why the feed position is safe to resume from: ``current_position`` is the newest event of the plan
below the feed's horizon that both sides see, taken before anything is read. A change committed
while the document was read has its event after that position, so it is read again at the next update; reading a row
again is harmless. Events come in the feed's order, the horizon holds back any that could still
commit behind the position. Committed events the horizon still holds back are read too (their
rows are in the document, as a full build would read them) without moving the position past them:
the generation they gave the plan does not change again when the feed serves them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import connection, models
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation

from alignment.access import Access
from alignment.changes import feed_queryset
from alignment.models import ChangeEvent
from cadence import health as plan_health
from cadence.attention import plan_attention
from core.kept_reads import KeptRows
from core.statements import among
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalStatus, negotiation_state_of

from . import plan_document as document_rows
from .feed import decode_cursor, encode_cursor
from .renderers import JSONRenderer, escape_line_separators, exact_json
from .views.pulse import held_pulses_out

# How a private figure reads in the rendered document (``DriverFigureOut``'s ``visibility``).
PRIVATE_FIGURE = b'"visibility":"private"'
# More changes than these since a document was built: building it whole is as quick and simpler.
MAX_EVENTS = 200
MAX_GOALS = 40
# What one process keeps (the rendered rows of the plans it served last; a plan of 500 goals ~3 MB).
KEEP_BYTES = 96 * 2**20


@dataclass(frozen=True)
class Spliced:
    """A list of the document read by goal: its query for some goals, the order of its rows (the
    full build's ``order_by``: the model's ordering and the id), and which of a row's values the
    plan's attention needs (``cadence.attention.plan_attention``; None: none)."""

    rows: Callable[[Any, list[str]], list[dict[str, Any]]]
    order: Callable[[dict[str, Any]], tuple[Any, ...]]
    goal: str
    attention: tuple[str, ...] | None = None


def _by_goal(
    model: type[models.Model], columns: document_rows.Columns, order: tuple[str, ...], *, goal: str = "goal_id"
) -> Callable[[Any, list[str]], list[dict[str, Any]]]:
    """The rows of some goals of the plan in one list of the document (the full build's columns
    and order), read by a statement kept compiled per connection on PostgreSQL (``KeptRows``:
    building the columns' casts cost more than the read). Elsewhere ``Rows`` reads them (it writes
    SQLite's decimals as the document shows them)."""
    plan = "partnership_id" if goal == "pk" else "goal__partnership_id"

    def rows(partnership: Any, ids: list[str]) -> document_rows.Rows:
        qs = model._default_manager.filter(among(goal, ids), **{plan: partnership}).order_by(*order)
        return document_rows.Rows(qs, columns)

    kept = KeptRows(f"plan_{model._meta.model_name}_rows", lambda _form, *, p, goals: rows(p, goals).qs)
    keys = [key for key, _ in columns]

    def read(partnership: Any, ids: list[str]) -> list[dict[str, Any]]:
        if connection.vendor != "postgresql":
            return rows(partnership.pk, ids).dicts()
        return [dict(zip(keys, row, strict=True)) for row in kept(None, p=partnership.pk, goals=ids)]

    return read


_goal_rows = _by_goal(Goal, document_rows.GOAL, document_rows.GOAL_ORDER, goal="pk")


def _goals(partnership: Any, ids: list[str]) -> list[dict[str, Any]]:
    rows = _goal_rows(partnership, ids)
    for goal in rows:
        goal["negotiation_state"] = negotiation_state_of(goal["status"], goal["amendment"])
    return rows


SPLICED: dict[str, Spliced] = {
    "goals": Spliced(
        _goals,
        lambda r: (r["period_start"], r["created_at"], str(r["id"])),
        "id",
        ("id", "status", "amendment", "revision", "proposed_by_side", "closed_at", "objective", "agreed_revision"),
    ),
    "approvals": Spliced(
        _by_goal(Approval, document_rows.APPROVAL, document_rows.APPROVAL_ORDER),
        lambda r: (r["created_at"], str(r["id"])),
        "goal",
        ("goal", "revision", "side"),
    ),
    "commitments": Spliced(
        _by_goal(Commitment, document_rows.COMMITMENT, document_rows.COMMITMENT_ORDER),
        lambda r: (r["side"], r["position"], r["created_at"], str(r["id"])),
        "goal",
        ("goal", "side", "done", "placeholder", "due_date"),
    ),
    "check_ins": Spliced(
        _by_goal(CheckIn, document_rows.CHECK_IN, document_rows.CHECK_IN_ORDER),
        lambda r: (r["measured_on"], r["created_at"], str(r["id"])),
        "goal",
    ),
    "comments": Spliced(
        _by_goal(Comment, document_rows.COMMENT, document_rows.COMMENT_ORDER),
        lambda r: (r["created_at"], str(r["id"])),
        "goal",
    ),
}


# The changes a document is updated for (the types of objects in the change log) and what each
# makes read again, by goal: its list's rows, the goal's facts of health (``cadence.health``: goals,
# commitments and check-ins), the agreed revision shown while a goal is amended. The change log has
# an event for every object a service writes (deleting a goal writes one for each of its objects).
LISTS_OF: dict[str, tuple[str, ...]] = {
    "goal": ("goals", "health"),
    "approval": ("approvals",),
    "commitment": ("commitments", "health"),
    "checkin": ("check_ins", "health"),
    "comment": ("comments",),
    "goalrevision": ("revisions",),
}
# Changes of objects that are not a goal's, and the part of the document each makes read again.
PARTS_OF: dict[str, str] = {"pulseanswer": "pulse", "driverfigure": "driver_figures"}
# What the give/get balance reads of a goal (``cadence.balance``), besides its commitments.
BALANCE_FACTS = ("status", "closed_at", "objective", "agreed_revision")


class NotWritable(Exception):
    """A value orjson does not write as the standard encoder would: the document is built whole."""


def render(value: Any) -> bytes:
    """One value of the document as ``renderers.FastJSON`` writes it inside the whole."""
    try:
        body = orjson.dumps(value, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError as exc:
        raise NotWritable from exc
    return escape_line_separators(body)


@dataclass
class Rendered:
    """A spliced list: each row's place, goal, bytes and what attention needs of it, in order."""

    places: list[tuple[Any, ...]] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)
    rows: list[bytes] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0  # of the rows
    private: int = 0  # rows that show a private figure (``PRIVATE_FIGURE``)

    @classmethod
    def of(cls, spec: Spliced, rows: Iterable[dict[str, Any]]) -> Rendered:
        made = cls()
        for row in rows:
            made.places.append(spec.order(row))
            made.goals.append(str(row[spec.goal]))
            body = render(row)
            made.rows.append(body)
            made.digests.append(row_digest(body))
            made.size += len(body)
            made.private += PRIVATE_FIGURE in body
            if spec.attention:
                made.facts.append({key: row[key] for key in spec.attention})
        return made

    def without(self, goals: set[str]) -> Rendered:
        """A copy without the rows of these goals (the kept state is never changed in place)."""
        dropped = {i for i, goal in enumerate(self.goals) if goal in goals}
        keep = [i for i in range(len(self.goals)) if i not in dropped] if dropped else range(len(self.goals))
        return Rendered(
            [self.places[i] for i in keep],
            [self.goals[i] for i in keep],
            [self.rows[i] for i in keep],
            [self.digests[i] for i in keep],
            [self.facts[i] for i in keep] if self.facts else [],
            self.size - sum(len(self.rows[i]) for i in dropped),
            self.private - sum(PRIVATE_FIGURE in self.rows[i] for i in dropped),
        )

    def insert(self, spec: Spliced, row: dict[str, Any]) -> None:
        place = spec.order(row)
        # Places are unique (they end with the id): the row goes where the full build puts it.
        i = bisect_left(self.places, place)
        self.places.insert(i, place)
        self.goals.insert(i, str(row[spec.goal]))
        body = render(row)
        self.rows.insert(i, body)
        self.digests.insert(i, row_digest(body))
        self.size += len(body)
        self.private += PRIVATE_FIGURE in body
        if spec.attention:
            self.facts.insert(i, {key: row[key] for key in spec.attention})


@dataclass
class PlanState:
    """A document as it was built at ``position``, kept to be updated (see the module's doc)."""

    position: tuple[int, int]  # the newest change read, of either side
    cursor: tuple[int, int]  # the document's (the newest change both sides see)
    hour: str
    parts: dict[str, bytes]  # every key of the document, in its order; b"" for a spliced list
    lists: dict[str, Rendered]
    amended: dict[str, int]  # goals with a pending amendment: the number of their agreed revision
    reviews: list[dict[str, Any]]  # the reviews' status and time (attention)
    health: plan_health.HealthState
    attention: dict[str, Any]  # the document's, as ``plan_attention`` gave it
    # What the document's ``partnership`` was rendered from (``partnership_facts``).
    partnership: tuple[Any, ...] = ()
    body: bytes = b""
    digest: str = ""
    private: bool = False  # whether ``body`` shows a private figure (``PRIVATE_FIGURE``)
    # Where each spliced list's rows are in ``body`` (from, to): the next document copies them from there.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    generation: str | None = None  # the plan's generation it was made for
    bytes: int = 0  # what it holds in memory, about

    def finish(self, previous: PlanState | None = None) -> PlanState:
        """Render the whole document from its parts and take its digest (the ETag's). A list that
        is the very one of the ``previous`` document is copied from its body at once (where it is,
        ``spans``), not gathered again row by row."""
        pieces: list[bytes | memoryview] = [b"{"]
        length = 1
        digest = hashlib.blake2b(digest_size=16)
        for key, value in self.parts.items():
            name = render(key)
            pieces.append(b"%s%s:" % (b"," if len(pieces) > 1 else b"", name))
            length += len(pieces[-1])
            if key in self.lists:
                rendered = self.lists[key]
                pieces.append(b"[")
                start = length + 1
                if previous is not None and previous.lists.get(key) is rendered and key in previous.spans:
                    was, end = previous.spans[key]
                    pieces.append(memoryview(previous.body)[was:end])
                elif rendered.rows:
                    # The rows between commas, joined with the rest at once: one copy of some 3 MB, not two.
                    spaced = [b","] * (2 * len(rendered.rows) - 1)
                    spaced[::2] = rendered.rows
                    pieces += spaced
                length = start + (rendered.size + len(rendered.rows) - 1 if rendered.rows else 0)
                self.spans[key] = (start, length)
                pieces.append(b"]")
                length += 1
                digest.update(b"%d%s[" % (len(name), name))
                digest.update(b"".join(rendered.digests))
                digest.update(b"]")
            else:
                pieces.append(value)
                length += len(value)
                digest.update(b"%d%s%d:%s" % (len(name), name, len(value), value))
        pieces.append(b"}")
        self.body = b"".join(pieces)
        # Looked for in each part and row as it was rendered (the document's keys and the commas
        # between rows are no part of it): not in the 3 MB again.
        self.private = any(
            PRIVATE_FIGURE in value for key, value in self.parts.items() if key not in self.lists
        ) or any(rendered.private for rendered in self.lists.values())
        self.bytes = len(self.body) + sum(rendered.size for rendered in self.lists.values())
        # Of the document's parts, its long lists by the digest of each row: a function of the bytes
        # (the same document always has the same parts and rows) that costs little to take again.
        self.digest = "t" + digest.hexdigest()
        return self


_states: OrderedDict[str, PlanState] = OrderedDict()
_lock = threading.Lock()


def _keep(key: str, state: PlanState) -> None:
    with _lock:
        _states[key] = state
        _states.move_to_end(key)
        total = sum(s.bytes for s in _states.values())
        while total > KEEP_BYTES and len(_states) > 1:
            _oldest, dropped = _states.popitem(last=False)
            total -= dropped.bytes


# Documents this process read from the shared cache (another process made them), by the same keys,
# with the generation and hour they are of: the next request for one here reads no 3 MB from Redis.
_copies: OrderedDict[str, tuple[str, str, bytes, str]] = OrderedDict()
COPY_BYTES = 32 * 2**20


def keep_copy(key: str, generation: str, hour: str, body: bytes, digest: str) -> None:
    """Keep a document read from the shared cache, for ``current``."""
    with _lock:
        _copies[key] = (generation, hour, body, digest)
        _copies.move_to_end(key)
        total = sum(len(copy[2]) for copy in _copies.values())
        while total > COPY_BYTES and len(_copies) > 1:
            _oldest, dropped = _copies.popitem(last=False)
            total -= len(dropped[2])


def forget(key: str | None = None) -> None:
    """Drop what this process keeps (of one document, or all)."""
    with _lock:
        if key is None:
            _states.clear()
            _copies.clear()
        else:
            _states.pop(key, None)
            _copies.pop(key, None)


def shared_digest(body: bytes) -> str:
    """The digest of a rendered document (in its ``ETag``: it changes exactly when the bytes do);
    ``PlanState.finish`` takes it from its parts instead ("t"), this one of the bytes whole ("b")."""
    return "b" + hashlib.blake2b(body, digest_size=16).hexdigest()


def row_digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=8).digest()


def plan_json(
    access: Access,
    key: str,
    generation: str | None,
    hour: str,
    *,
    side: str | None = None,
    later: list[Callable[[], object]] | None = None,
) -> tuple[bytes, str]:
    """The document without the caller's ``access`` (the ``key`` of the kept one: plan and side),
    and its digest: the kept one updated for what changed since it was built, or built whole.
    ``side``: the document is that side's own (it holds its private figures), not both sides'.
    ``later``: where to put what may wait until the answer is sent (an updated document's health
    put where the dashboard finds it); without it, that is done at once."""
    now = timezone.now()
    with _lock:
        kept = _states.get(key)
    state, positions = (
        update(kept, access, generation, now, side, later) if kept is not None and kept.hour == hour else (None, None)
    )
    if state is None:
        built = build(access, generation, hour, now, positions)
        if isinstance(built, bytes):
            forget(key)
            return built, shared_digest(built)
        state = built
    state.generation = generation
    _keep(key, state)
    return state.body, state.digest


def shows_private_figure(key: str, body: bytes) -> bool:
    """Whether the document ``body`` shows a private figure: known of the one this process keeps
    under ``key`` (``PlanState.private``), else looked for in its bytes."""
    with _lock:
        state = _states.get(key)
    if state is not None and state.body is body:
        return state.private
    return PRIVATE_FIGURE in body


def current(key: str, generation: str, hour: str) -> tuple[bytes, str] | None:
    """The document of the plan's current generation and hour, if this process made it or read it
    from the shared cache before (``keep_copy``): what the shared cache holds under that key,
    without reading 3 MB from it."""
    with _lock:
        state = _states.get(key)
        copy = _copies.get(key)
    if state is not None and state.generation == generation and state.hour == hour:
        return state.body, state.digest
    if copy is not None and copy[0] == generation and copy[1] == hour:
        return copy[2], copy[3]
    return None


def build(
    access: Access,
    generation: str | None,
    hour: str,
    now: dt.datetime,
    positions: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> PlanState | bytes:
    """The document built whole (``plan_document.shared_document``), kept as a ``PlanState``; only
    rendered (by the standard encoder) when orjson does not write it exactly. ``positions``: the
    plan's newest change and the cursor, when an update that gave up just read them (no query more)."""
    p = access.partnership
    # Taken before anything is read: every later change is read again at the next update.
    position, cursor = positions or document_rows.plan_positions(p.pk)
    loaded: list[plan_health.HealthState] = []

    def health() -> plan_health.HealthReport:
        # Read after the cursor was taken, like every other part of the document.
        loaded.append(plan_health.load_state(p.pk, now))
        report = plan_health.state_report(loaded[0], now)
        if generation:
            plan_health.remember_health(p.pk, generation, now, report)
        return report

    document, exact = document_rows.shared_document(access, generation, health=health, position=cursor)
    try:
        if not exact:
            raise NotWritable
        lists = {key: Rendered.of(spec, document[key]) for key, spec in SPLICED.items()}
        parts = {key: b"" if key in lists else render(value) for key, value in document.items()}
    except NotWritable:
        return JSONRenderer().render(document)
    amended = {
        str(g["id"]): g["agreed_revision"]
        for g in document["goals"]
        if g["status"] == GoalStatus.AGREED and g["amendment"]
    }
    return PlanState(
        position=position,
        cursor=decode_cursor(document["cursor"]),
        hour=hour,
        parts=parts,
        lists=lists,
        amended=amended,
        reviews=[{"status": r["status"], "scheduled_for": r["scheduled_for"]} for r in document["reviews"]],
        health=loaded[0],
        attention=document["attention"],
        partnership=partnership_facts(p),
    ).finish()


Positions = tuple[tuple[int, int], tuple[int, int]]


def changes_since(
    partnership_id: Any, position: tuple[int, int], cursor: tuple[int, int], side: str | None = None
) -> tuple[dict[str, set[str]] | None, Positions | None]:
    """What changed after ``position``: for each spliced list (and ``"health"``: the goals whose
    facts of health changed; ``"revisions"``: goals with a changed revision) the goals whose rows in
    it changed, and under ``"parts"`` the other parts to read again (``PARTS_OF``); None when
    something else changed (or too much). And the positions of the plan's newest change the feed
    serves and of the newest both sides see (the cursor, else still ``cursor``), when they were
    read (None: no change served, or more than were read).

    Every committed event is read, also those the feed still holds back behind its horizon (a
    transaction with a smaller id is still open): their rows are read now, since the generation
    they gave the plan will not change again when the feed serves them. The positions (the
    document's cursor) only move to what the feed serves, so they are replayed and read again.
    In a document of one ``side`` alone, a figure only the other side sees changes nothing."""
    events = EVENTS(
        MAX_EVENTS + 1, partnership=uuid.UUID(str(partnership_id)), txid=int(position[0]), seq=int(position[1])
    )
    if len(events) > MAX_EVENTS:
        return None, None
    served = [event for event in events if event[-1]]
    shared = [event for event in served if event[-2] is None]
    positions = (
        ((served[-1][0], served[-1][1]), max(cursor, (shared[-1][0], shared[-1][1])) if shared else cursor)
        if served
        else None
    )
    changed: dict[str, set[str]] = {key: set() for key in (*SPLICED, "health", "revisions", "parts")}
    for _txid, _seq, kind, object_id, action, after_goal, before_goal, side_only, _served in events:
        if kind == "driverfigure" and side is not None and side_only not in (None, side):
            continue
        if kind in PARTS_OF:
            changed["parts"].add(PARTS_OF[kind])
            continue
        if kind not in LISTS_OF:
            return None, positions
        goal = str(object_id if kind == "goal" else (after_goal or before_goal or ""))
        if not goal:
            return None, positions
        # A deleted goal takes its objects with it: each list drops its rows.
        for key in SPLICED if kind == "goal" and action == "delete" else LISTS_OF[kind]:
            changed[key].add(goal)
    if len(set().union(*(goals for key, goals in changed.items() if key != "parts"))) > MAX_GOALS:
        return None, positions
    return changed, positions


def _events(limit: int, /, *, partnership: Any, txid: int, seq: int) -> models.QuerySet[ChangeEvent, Any]:
    """The plan's first ``limit`` committed events after ``(txid, seq)``, with what ``changes_since`` reads."""
    return (
        _events_after((txid, seq))
        .filter(partnership_id=partnership)
        .annotate(served=_served_by_feed())
        .values_list(
            "txid",
            "seq",
            "object_type",
            "object_id",
            "action",
            "after__goal",
            "before__goal",
            "side_only",
            "served",
        )[:limit]
    )


# Built and compiled once per connection: building it cost more than reading the one or two events.
EVENTS = KeptRows("plan_update_events", _events)


def _events_after(position: tuple[int, int]) -> models.QuerySet[ChangeEvent]:
    """Every committed event after ``position``, in feed order."""
    qs: models.QuerySet[ChangeEvent] = ChangeEvent.objects.extra(  # constant SQL, the position as parameters
        where=['("alignment_changeevent"."txid", "alignment_changeevent"."seq") > (%s, %s)'],
        params=[int(position[0]), int(position[1])],
    )
    return qs.order_by("txid", "seq")


def _served_by_feed() -> Exists:
    """Whether the feed serves an event already: below its horizon, or the reader's own
    (``alignment.changes.feed_queryset``)."""
    if connection.vendor == "postgresql":
        return Exists(feed_queryset().filter(pk=OuterRef("pk")))
    return Exists(ChangeEvent.objects.filter(pk=OuterRef("pk")))


def update(
    state: PlanState,
    access: Access,
    generation: str | None,
    now: dt.datetime,
    side: str | None = None,
    later: list[Callable[[], object]] | None = None,
) -> tuple[PlanState | None, Positions | None]:
    """``state`` brought up to the plan's latest change (None when it must be built whole), and the
    positions of that change and of the cursor when they were read."""
    p = access.partnership
    changed, positions = changes_since(p.pk, state.position, state.cursor, side)
    if changed is None:
        return None, positions
    # No event after the state's: its transaction is still open (or nothing changed), the
    # positions are what a full build takes.
    state_or_none = _updated(
        state, access, generation, now, changed, positions or document_rows.plan_positions(p.pk), later
    )
    return state_or_none, positions


def partnership_facts(partnership: Any) -> tuple[Any, ...]:
    """What the document's ``partnership`` is made of: the partnership's columns and the names of its
    vendor and partner. Equal facts render equal bytes, so an update renders it only when they moved
    (a change of the partnership builds the document whole anyway; a rename of an organisation
    writes no event of the plan)."""
    columns = tuple(getattr(partnership, f.attname) for f in partnership._meta.concrete_fields)
    return (columns, partnership.vendor.name, partnership.partner.name)


def _balance_moved(before: Rendered, goals: set[str], rows: list[dict[str, Any]]) -> bool:
    """Whether what the give/get balance reads of these goals changed (or one came or went)."""
    old = {str(g["id"]): tuple(g[key] for key in BALANCE_FACTS) for g in before.facts if str(g["id"]) in goals}
    new = {str(g["id"]): tuple(g[key] for key in BALANCE_FACTS) for g in rows}
    return old != new


def _updated(
    state: PlanState,
    access: Access,
    generation: str | None,
    now: dt.datetime,
    changed: dict[str, set[str]],
    positions: Positions,
    later: list[Callable[[], object]] | None = None,
) -> PlanState | None:
    p = access.partnership
    position, cursor = positions
    health_state = state.health
    if changed["health"]:
        patched = plan_health.patch_state(state.health, p.pk, now, goals=changed["health"])
        if patched is None:
            return None
        health_state = patched
    lists = dict(state.lists)
    amended = dict(state.amended)
    parts = dict(state.parts)
    recount = bool(changed["commitments"])
    try:
        for key, spec in SPLICED.items():
            goals = changed[key]
            if not goals:
                continue
            rows = spec.rows(p, sorted(goals))
            if key == "goals" and not recount:
                recount = _balance_moved(lists[key], goals, rows)
            rendered = lists[key].without(goals)
            for row in rows:
                rendered.insert(spec, row)
            lists[key] = rendered
            if key == "goals":
                for goal in goals:
                    if amended.pop(goal, None) is not None:
                        changed["revisions"].add(goal)
                for g in rows:
                    if g["status"] == GoalStatus.AGREED and g["amendment"]:  # Goal.has_pending_amendment
                        amended[str(g["id"])] = g["agreed_revision"]
                        changed["revisions"].add(str(g["id"]))
        if any(goal in amended or goal in state.amended for goal in changed["revisions"]):
            revisions = document_rows.revisions_in_force(amended)
            if not exact_json(revisions):
                return None
            parts["agreed_revisions"] = render(revisions)
        report = plan_health.state_report(health_state, now)
        if generation:
            remember = _remembering(p.pk, generation, now, report)
            if later is None:
                remember()
            else:
                later.append(remember)
        health = document_rows.document_of_health(report)
        if not exact_json(health):
            return None
        facts = partnership_facts(p)
        if facts != state.partnership:
            partnership = document_rows.partnership_document(p)
            if not exact_json(dict(partnership)):
                return None
            parts["partnership"] = render(partnership)
        if recount:
            balance = document_rows.plan_balance(p.pk, now)
            if not exact_json(balance):
                return None
            parts["balance"] = render(balance)
        if "driver_figures" in changed["parts"]:
            figures = document_rows.Rows(document_rows.visible_figures_in_order(access), document_rows.DRIVER_FIGURE)
            parts["driver_figures"] = render(figures.dicts())
        if "pulse" in changed["parts"]:
            pulse = held_pulses_out(p.pk)
            if not exact_json(pulse):
                return None
            parts["pulse"] = render(pulse)
        parts["cursor"] = render(encode_cursor(cursor))
        parts["health"] = render(health)
        attention = _attention(state, lists, changed["goals"] | changed["approvals"] | changed["commitments"], now)
        parts["attention"] = render(attention)
    except NotWritable:
        return None
    return PlanState(
        position=position,
        cursor=cursor,
        hour=state.hour,
        parts=parts,
        lists=lists,
        amended=amended,
        reviews=state.reviews,
        health=health_state,
        attention=attention,
        partnership=facts,
    ).finish(state)


def _attention(state: PlanState, lists: dict[str, Rendered], goals: set[str], now: dt.datetime) -> dict[str, Any]:
    """The document's ``attention`` after the rows of these goals changed, without going over the
    whole plan again: ``plan_attention`` over the goals' rows as they were, and as they are (with
    the reviews, for the next review), taken from and added to the counts the document had.

    ``plan_attention`` (and ``goals.rules`` under it) stays the one home of what waits and what is
    overdue: a goal waits by its own row and approvals, a commitment is overdue by its own row and
    its goal's status, so the plan's counts are the sums of its goals' and its waiting goals those
    of its goals, in the goals' order. The kept counts are of the same day: a document is kept for
    its hour (the date in UTC, ``timezone.localdate`` here)."""
    today = timezone.localdate(now)

    def of(lists: dict[str, Rendered], reviews: list[dict[str, Any]]) -> dict[str, Any]:
        rows = {key: _rows_of(lists[key], goals) for key in ("goals", "approvals", "commitments")}
        return plan_attention(rows["goals"], rows["approvals"], rows["commitments"], reviews, now, today)

    after = of(lists, state.reviews)
    if not goals:
        return {**after, **{key: state.attention[key] for key in ("waiting", "waiting_goals", "overdue")}}
    kept, before = state.attention, of(state.lists, [])
    overdue = {side: n - before["overdue"][side] + after["overdue"][side] for side, n in kept["overdue"].items()}
    waiting = {
        side: (set(ids) - goals) | set(after["waiting_goals"][side]) for side, ids in kept["waiting_goals"].items()
    }
    order = lists["goals"].goals
    waiting_goals = {side: [goal for goal in order if goal in ids] for side, ids in waiting.items()}
    return {
        **after,
        "waiting": {side: len(ids) for side, ids in waiting_goals.items()},
        "waiting_goals": waiting_goals,
        "overdue": overdue,
    }


def _rows_of(rendered: Rendered, goals: set[str]) -> list[dict[str, Any]]:
    """What attention needs of the rows of these goals (``Spliced.attention``)."""
    if not goals:
        return []
    return [facts for goal, facts in zip(rendered.goals, rendered.facts, strict=True) if goal in goals]


def _remembering(pid: Any, generation: str, now: dt.datetime, report: plan_health.HealthReport) -> Callable[[], None]:
    """``remember_health`` of a report, in the language it was written in (it is cached per language)."""
    language = translation.get_language()

    def remember() -> None:
        with translation.override(language):
            plan_health.remember_health(pid, generation, now, report)

    return remember
