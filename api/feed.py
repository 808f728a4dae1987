"""The change feed: every create, update and delete the caller may see, oldest first.

Built on ``alignment.changes.feed_queryset``, whose ``(txid, seq)`` order never lets an event
appear behind a cursor once served (see its docstring). The cursor is that pair, encoded. Pruned
history leaves a watermark; a cursor behind it answers 410 and the client re-syncs from ``/plan``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import gc
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, TextField, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.utils import create_namedtuple_class
from django.utils import timezone
from rest_framework import exceptions

from accounts.models import Organisation, User
from alignment.changes import FEED_BOUNDS, feed_queryset
from alignment.economics import side_only_visible, side_visible
from alignment.models import ChangeEvent
from core.statements import Template

from .models import FeedWatermark
from .problems import CursorExpired, CursorUnknown
from .renderers import exact_json
from .representation import PROJECTIONS, TYPE_NAMES, VERSIONED, Pending, Person, fill, person_of, project

CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,80}")
MAX_POSITION = 2**63 - 1
START = (0, 0)
# People keys of a record of a type the API does not know (an event written by a newer release).
USER_KEYS = (
    "user",
    "owner",
    "author",
    "created_by",
    "invited_by",
    "accepted_by",
    "proposed_by",
    "drafted_by",
    "respondent",
)


URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(position: tuple[int, int]) -> str:
    """``txid.seq`` in URL-safe base64 without padding (a page writes one per event: ``binascii``
    directly, a quarter less than ``base64.urlsafe_b64encode``)."""
    raw = f"{position[0]}.{position[1]}".encode()
    return binascii.b2a_base64(raw, newline=False).translate(URL_SAFE).rstrip(b"=").decode()


def decode_cursor(value: str) -> tuple[int, int]:
    invalid = exceptions.ValidationError({"since": ["Not a cursor of this feed."]})
    if not CURSOR_CHARS.fullmatch(value):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        txid, seq = (int(part) for part in raw.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid from exc
    if not (0 <= txid <= MAX_POSITION and 0 <= seq <= MAX_POSITION) or raw != f"{txid}.{seq}":
        raise invalid
    return (txid, seq)


def watermark() -> tuple[int, int] | None:
    row = FeedWatermark.objects.filter(pk=1).first()
    return row.position if row else None


# The feed's bounds (``FEED_BOUNDS``), the watermark, and whether the event a cursor names exists
# (every cursor this server issues names an event, the start, or the watermark): one row, which
# ``_page_with_bounds`` joins to each of the page's rows.
BOUNDS_AND_WATERMARK = (
    "SELECT bounds.horizon, bounds.own, mark.txid, mark.seq, "  # noqa: S608 - constant SQL
    f"EXISTS (SELECT 1 FROM {ChangeEvent._meta.db_table} WHERE seq = %s AND txid = %s) "
    f"FROM ({FEED_BOUNDS}) bounds LEFT JOIN {FeedWatermark._meta.db_table} mark ON mark.id = 1"
)


@dataclass(frozen=True)
class PageStatement:
    """A page's compiled SQL and what turns its rows into ``values_list(named=True)`` rows."""

    sql: str
    params: list[Any]
    fields: list[str]
    converters: dict[int, Any]
    compiler: Any


def page_statement(qs: Any) -> PageStatement:
    """``qs`` (a ``values_list(named=True)`` of the feed, sliced to a page) compiled."""
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    selected = [(alias, column) for column, _, alias in compiler.select[: compiler.col_count]]
    fields = list(qs._fields)
    expressions = [next(column for alias, column in selected if alias == name) for name in fields]
    return PageStatement(sql, list(params), fields, compiler.get_converters(expressions), compiler)


def _page_with_bounds(page: Any, since: tuple[int, int] | None) -> tuple[tuple[Any, ...], list[Any]]:
    """The row of ``BOUNDS_AND_WATERMARK`` and the rows of ``page`` (a ``PageStatement``, or a
    ``values_list(named=True)`` of the feed sliced to a page) in one statement: the page is joined
    to the one row of the bounds, so an empty page still brings them. PostgreSQL only.

    The page's subquery has no horizon predicate: the planner sees the cursor's plain numbers and
    no subquery to guess a selectivity for, and reads the feed's index in order."""
    statement = page if isinstance(page, PageStatement) else page_statement(page)
    position = since or START
    # The page's columns first, in the order asked (``values`` names each), then the bounds: a
    # row's first ``width`` values are the page's row as ``values_list(named=True)`` gives it.
    wanted = statement.fields
    columns = ", ".join(f"page.{connection.ops.quote_name(name)}" for name in wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            # The page's SQL is Django's, its values in ``params``.
            f"SELECT {columns}, head.* FROM ({BOUNDS_AND_WATERMARK}) head LEFT JOIN ({statement.sql}) page ON TRUE",  # noqa: S608
            [position[1], position[0], *statement.params],
        )
        rows = cursor.fetchall()
    width = len(wanted)
    txid = wanted.index("txid")  # never null in an event; null in the one row of an empty page
    served = [row[:width] for row in rows if row[txid] is not None]
    if statement.converters:
        served = [tuple(row) for row in statement.compiler.apply_converters(served, statement.converters)]
    row_type, new = create_namedtuple_class(*wanted), tuple.__new__
    return rows[0][width:], [new(row_type, row) for row in served]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Build a page without the cyclic garbage collector stepping in.

    A page allocates some 5,000 containers (rows, records, events), none of them in a cycle and
    all still alive while the page is built, so every collection in between finds nothing to free;
    it only promotes them, which soon sets off a full collection of the process's heap (60-80 ms in
    a web worker, about every 12 pages of 1,000 events: over a tenth of a full sync). Paused, the
    page costs one young collection when it is done. A block ends only a pause it started: a
    collector disabled elsewhere stays disabled, and one that threads pause at once is left running.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# What a feed page reads of each event: not ``before``; ``after`` as the stored JSON text, which orjson
# reads several times faster than the ``JSONField`` decoder does; on PostgreSQL the ids as text, which
# the feed shows (psycopg2 would build a ``uuid.UUID`` of each only for the feed to turn it back).
EVENT_FIELDS = (
    "txid",
    "seq",
    "partnership_key",
    "actor_id",
    "actor_label",
    "object_type",
    "object_key",
    "action",
    "summary",
    "after_text",
    "deleted_version",
    "created_at",
)


def page_rows(events: Any, limit: int) -> Any:
    """A page of ``events`` as rows with the fields of ``EVENT_FIELDS`` and ``side_only``, one more
    than ``limit`` to tell whether more follow."""
    uuid_text = (lambda name: Cast(name, output_field=TextField())) if connection.vendor == "postgresql" else F
    return events.annotate(
        after_text=Cast("after", output_field=TextField()),
        # A tombstone carries the deleted object's last version (read only for deletes).
        deleted_version=Case(
            When(action=ChangeEvent.Action.DELETE, then=KT("before__version")), output_field=TextField()
        ),
        partnership_key=uuid_text("partnership_id"),
        object_key=uuid_text("object_id"),
    ).values_list(*EVENT_FIELDS, "side_only", named=True)[: limit + 1]


@dataclass(frozen=True)
class Partnerships:
    """The partnerships a page is of, as ``of(**values)``: their ids, a list or a query of them.
    ``of`` gives the same SQL for values of the same types (a module-level function: lists of ids
    as one parameter each, ``core.statements.among``), so each page's statement is kept compiled
    per connection (``PAGES``) and a request only puts its values in."""

    of: Callable[..., Any]
    values: dict[str, Any]


def one_partnership(*, partnership: Any) -> list[Any]:
    return [partnership]


def _page_of(form: tuple[Any, ...], /, **values: Any) -> tuple[str, list[Any], PageStatement]:
    """The page's statement of one form (page size, with a cursor or not, for every side or a
    reader's, whose partnerships), for ``PAGES``."""
    limit, has_cursor, to_all, of = form
    since = (values.pop("txid"), values.pop("seq")) if has_cursor else None
    events = feed_queryset(after=since, unbounded=True).filter(partnership_id__in=of(**values))
    statement = page_statement(page_rows(events.filter(side_visible(None)) if to_all else events, limit))
    return statement.sql, statement.params, statement


# Building and compiling a page's statement cost more than running it (the incremental sync of a
# client with nothing new: half of the request); kept per connection and form, a request only puts
# its cursor and partnerships in. PostgreSQL: ``_page_with_bounds`` reads it.
PAGES = Template("feed_page", _page_of)


def feed_page(
    *, partnership_ids: Any, since: tuple[int, int] | None, limit: int, reader: Any = None
) -> tuple[list[Any], bool]:
    """Up to ``limit`` events after ``since`` of the given partnerships (a queryset or list of ids, or
    ``Partnerships``), as rows with the attributes of ``EVENT_FIELDS``, and whether more follow. An
    event only one side may see (a private figure's) is served only to a ``reader`` on that side;
    leaving an event out never moves the cursor past one the reader may see, as the cursor is the
    last event served.

    A cursor older than the pruned history is ``CursorExpired``; one that names no event (not issued
    by this server: another installation's, one from before a restore from backup, one made up) is
    ``CursorUnknown``. Both are 410: the client re-reads ``/plan`` and follows the feed from its cursor."""

    def check(mark: tuple[int, int] | None, exists: bool) -> None:
        if mark is not None and (since or START) < mark:
            raise CursorExpired(
                "Changes before this cursor were pruned (history is kept for "
                f"{settings.CHANGE_EVENT_RETENTION_DAYS} days). Fetch GET /api/v1/partnerships/<id>/plan again and "
                "follow the feed from the cursor it returns."
            )
        if since is not None and since not in (START, mark) and not exists:
            raise CursorUnknown(
                "This server never issued this cursor (it names no change here: another installation's, one from "
                "before a restore from backup, or one made up). Fetch GET /api/v1/partnerships/<id>/plan again and "
                "follow the feed from the cursor it returns."
            )

    spec = partnership_ids if isinstance(partnership_ids, Partnerships) else None

    def ids() -> Any:
        return spec.of(**spec.values) if spec is not None else partnership_ids

    def visible_to_all(qs: Any) -> Any:
        return qs.filter(side_visible(None)) if reader is None else qs

    def bounded() -> Any:
        """The events past the cursor the feed serves (``bounds``: read with the page, PostgreSQL)."""
        return feed_queryset(after=since, bounds=bounds).filter(partnership_id__in=ids())

    if connection.vendor == "postgresql":
        # One statement reads the bounds, the watermark, the cursor's check and the page past the
        # cursor without the horizon; only what ``feed_queryset(bounds=...)`` serves is kept: the
        # events below the horizon and the reader's own transaction's. That is the page the bounds
        # in SQL would have read when nothing was left out, or the statement read every event past
        # the cursor, or only events above the horizon were left out (in feed order they follow all
        # those below it; a read has no transaction of its own). Otherwise it is read again.
        page: Any = None
        if spec is not None:
            cursor = {"txid": since[0], "seq": since[1]} if since is not None else {}
            kept = PAGES((limit, since is not None, reader is None, spec.of), **spec.values, **cursor)
            if kept is not None:
                sql, params, statement = kept
                page = replace(statement, sql=sql, params=params)
        if page is None:
            unbounded = feed_queryset(after=since, unbounded=True).filter(partnership_id__in=ids())
            page = page_rows(visible_to_all(unbounded), limit)
        (horizon, own, txid, seq, exists), read = _page_with_bounds(page, since)
        check(None if txid is None else (txid, seq), bool(exists))
        bounds: tuple[int, int | None] | None = (horizon, own)
        rows = [row for row in read if row.txid < horizon or row.txid == own]
        if len(rows) < len(read) and len(read) > limit and own is not None:
            rows = list(page_rows(visible_to_all(bounded()), limit))
    else:
        check(watermark(), since is None or ChangeEvent.objects.filter(txid=since[0], seq=since[1]).exists())
        bounds = None
        rows = list(page_rows(visible_to_all(bounded()), limit))
    if reader is not None and any(row.side_only is not None for row in rows):
        # Events only one side may see are rare (a private figure's changes): the page is read without
        # the filter by side, which costs more to build than the rest of the query, and read again with
        # it only when it holds one. Below the feed's horizon both reads see the same events.
        rows = list(page_rows(bounded().filter(side_only_visible(reader)), limit))
    return rows[:limit], len(rows) > limit


def current_position(partnership_id: Any) -> tuple[int, int]:
    """The feed position of the newest served event of a partnership that both sides see: a cursor
    to follow the feed from after reading its plan (events after it are replayed; replaying is
    harmless).

    Events only one side is served (a private figure's change, a pulse answer) do not move it: the
    cursor is in both sides' ``/plan``, and one that moved with them would tell the other side,
    through the document's bytes and ``ETag``, that something it may not see changed. Nothing is
    skipped for that: every event a reader may see is either older than the cursor (then read into
    the document, as every served event is) or after it (served to them from it); a reader's own
    side's events after the cursor are served again, which is harmless."""
    last = (
        feed_queryset()
        .filter(side_visible(None), partnership_id=partnership_id)
        .order_by("-txid", "-seq")
        .values_list("txid", "seq")
        .first()
    )
    return tuple(last) if last else (watermark() or START)  # type: ignore[return-value]


def _decode(text: str) -> tuple[Any, bool]:
    """A stored record, and whether the page may still be written by orjson (see ``exact_json``)."""
    record = orjson.loads(text)
    if exact_json(record):
        return record, True
    return json.loads(text), False


def represent(events: list[Any]) -> tuple[list[dict[str, Any]], bool]:
    """Rows of ``feed_page`` as the feed shows them, and whether orjson may write them exactly as the
    standard encoder would (``renderers.FastJSON``).

    The hot path of a full sync: one pass decodes each record and projects it to its type's
    representation (``api.representation``), noting the people and organisations it names; one
    query finds the people, one the organisations (only if a partnership changed); then the noted
    places are filled in.
    """
    delete = ChangeEvent.Action.DELETE
    exact = True
    pending = Pending()
    now = timezone.now()
    out: list[dict[str, Any]] = []
    actors: list[tuple[dict[str, Any], int]] = []  # (an event's actor, whose person fills it)
    # A row's fields by position (``EVENT_FIELDS`` first, then whatever its reader added): a
    # namedtuple's attributes cost more than unpacking, some twenty a row.
    for (
        txid,
        seq,
        partnership_key,
        actor_id,
        actor_label,
        object_type,
        object_key,
        action,
        summary,
        after_text,
        deleted_version,
        created_at,
        *_more,
    ) in events:
        api_type = TYPE_NAMES.get(object_type, object_type)
        versioned = api_type in VERSIONED or api_type not in PROJECTIONS
        data = version = None
        if action == delete:
            if versioned:
                version = _whole(deleted_version)
        elif after_text is not None and api_type in PROJECTIONS:
            # Only the values shown are checked (``project``); a record one of them makes
            # inexact is read again by the standard library, and the page written by its encoder.
            record = orjson.loads(after_text)
            if type(record) is dict:
                data, safe = project(api_type, record, created_at, pending, now)
                if not safe:
                    exact = False
                    data, _ = project(api_type, json.loads(after_text), created_at, pending, now)
                if versioned:
                    version = data.get("version")
            else:
                data, safe = _decode(after_text)
                exact = exact and safe
        elif after_text is not None:
            record, safe = _decode(after_text)
            exact = exact and safe
            if isinstance(record, dict):
                data = _unknown(record, pending)
                if versioned:
                    version = data.get("version")
            else:
                data = record
        actor: dict[str, Any] = {"id": None, "name": actor_label}
        if actor_id:
            pending.people.add(actor_id)
            actors.append((actor, actor_id))
        out.append(
            {
                "cursor": encode_cursor((txid, seq)),
                "partnership": str(partnership_key),
                "type": api_type,
                "id": str(object_key),
                "action": action,
                "version": version if type(version) is int else None,
                "at": created_at,
                "actor": actor,
                "summary": summary,
                "data": data,
            }
        )
    people: dict[int, Person] = {}
    if pending.people:
        people = {
            row[0]: person_of(*row[1:])
            for row in User.objects.filter(pk__in=pending.people).values_list(
                "pk", "public_id", "email", "full_name", "first_name", "last_name"
            )
        }
    organisations: dict[str, str] = {}
    if pending.organisations:
        organisations = {
            str(pk): name
            for pk, name in Organisation.objects.filter(pk__in=pending.organisations).values_list("pk", "name")
        }
    fill(pending, people, organisations)
    for actor, pk in actors:
        person = people.get(pk)
        if person is not None:
            actor["id"] = person.public_id
    return out, exact


def _whole(value: Any) -> int | None:
    """A version read from JSON as text (PostgreSQL) or a number (SQLite)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _unknown(record: dict[str, Any], pending: Pending) -> dict[str, Any]:
    """A record of a type this release does not know: as recorded, people by public id."""
    for key in USER_KEYS:
        value = record.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            pending.persons.append((record, key, value))
            pending.people.add(value)
    return record


@transaction.atomic
def change_events_prune(*, now: dt.datetime | None = None) -> int:
    """Delete change events older than ``CHANGE_EVENT_RETENTION_DAYS`` and move the watermark past
    them, so that a client whose cursor is older learns it must re-sync (410)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.CHANGE_EVENT_RETENTION_DAYS)
    old = ChangeEvent.objects.filter(created_at__lt=cutoff)
    last = old.order_by("-txid", "-seq").values_list("txid", "seq").first()
    if last is None:
        return 0
    mark, _ = FeedWatermark.objects.select_for_update().get_or_create(pk=1)
    if tuple(last) > mark.position:
        mark.txid, mark.seq = last
    mark.pruned_at = timezone.now()
    mark.save()
    deleted, _ = old.delete()
    return deleted
