"""Actuals import: check-ins for a plan from a CSV or XLSX file, or from the API's bulk endpoint.

Partner teams keep their numbers in CRMs and spreadsheets. A file (or a JSON list) of rows, each a
goal (its id or its external key), a date, a value and optionally a confidence and a note, becomes
check-ins of the importer's side, by the same rules as a check-in made by hand
(``goals.check_ins``): editors and approvers check in, on agreed goals, on days the check-in rules
allow. Every row is checked on its own; a bad row is reported (row number, column, message) and
never stops the good ones. Reading files and their cells is ``goals.import_files``.

**Rows, not files, decide what is new.** A row is a *duplicate* when the importer's side already
has a check-in on the same goal with the same date, value and note (made by hand, by the API or
by any earlier import), or when an identical row came earlier in the same file. Importing a file
again therefore creates nothing, and a CRM's cumulative export adds only its new rows. The file's
sha256 is kept only to tell people that this very file was imported before.

**Preview, then commit.** An upload is read and checked at once and stored as an
``ActualsImport`` (the rows that passed, as JSON, and the errors); no check-in is written. The
commit checks every stored row again (goals may have closed meanwhile) with the goals locked, so
two commits of overlapping files cannot both create a row. A file of up to
``ACTUALS_IMPORT_SYNC_ROWS`` rows commits in the request; a bigger one in one background job
(``run_actuals_import``), whose progress the import's page shows.

**Queries per file are constant**: the goals in one query (by id and key), the existing check-ins
for the duplicate check in one, the check-ins and their change events in bulk inserts
(``alignment.changes.record_creations``: one ``create`` event per check-in, as ``check_in_create``
records, in the same transaction).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from alignment.access import Access, resolve
from alignment.changes import record_creations
from core.errors import DomainError, NotFound
from core.taskbase import TransactionAwareTask
from core.writes import find

from .check_ins import date_refusal, goal_refusal
from .import_files import (
    LABELS,
    PLACES,
    CellError,
    RowError,
    parse_confidence,
    parse_date,
    parse_note,
    parse_value,
    read_upload,
    reference,
)
from .models import ActualsImport, CheckIn, CheckInSource, Goal

log = logging.getLogger(__name__)

Status = ActualsImport.Status
CREATE, DUPLICATE, ERROR = "created", "duplicate", "error"


def sync_rows() -> int:
    return int(getattr(settings, "ACTUALS_IMPORT_SYNC_ROWS", 500))


# --- Checking rows against the plan -------------------------------------------------------------------


@dataclass
class Row:
    """A row whose cells are good and whose goal is known (what an import keeps until its commit)."""

    row: int
    goal: uuid.UUID
    measured_on: dt.date
    value: Decimal
    confidence: int
    note: str

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "goal": str(self.goal),
            "measured_on": self.measured_on.isoformat(),
            "value": str(self.value),
            "confidence": self.confidence,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(
            row=int(data["row"]),
            goal=uuid.UUID(data["goal"]),
            measured_on=dt.date.fromisoformat(data["measured_on"]),
            value=Decimal(data["value"]),
            confidence=int(data["confidence"]),
            note=str(data["note"]),
        )

    def identity(self) -> tuple[uuid.UUID, dt.date, Decimal, str]:
        return (self.goal, self.measured_on, self.value.quantize(PLACES), self.note.strip())


@dataclass
class Outcome:
    """What became (or would become) of one row."""

    row: int
    status: str  # created, duplicate, error
    errors: list[RowError] = field(default_factory=list)
    check_in: CheckIn | None = None


def _goals(access: Access, ids: set[uuid.UUID], keys: set[str], *, lock: bool = False) -> list[Goal]:
    """The plan's goals named by id or external key, in one query (locked for a commit)."""
    if not ids and not keys:
        return []
    qs = Goal.objects.filter(partnership=access.partnership).filter(Q(pk__in=ids) | Q(external_key__in=keys))
    if lock:
        qs = qs.select_for_update(of=("self",))
    return list(qs)


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _named(ref: str, by_id: dict[uuid.UUID, Goal], by_key: dict[str, Goal]) -> Goal | None:
    """The goal a "goal" cell names: by its id first, else by its external key."""
    pk = _as_uuid(ref)
    return (by_id.get(pk) if pk is not None else None) or by_key.get(ref)


def check_cells(
    access: Access, rows: list[tuple[int, dict[str, Any]]], labels: dict[str, str], *, lock: bool = False
) -> tuple[list[Row], list[RowError], dict[uuid.UUID, Goal]]:
    """Turn cells into ``Row``s: every cell checked, every goal looked up in the plan (one query).
    A goal of another plan, or none at all, is an unknown goal: nothing tells them apart."""
    refs: list[tuple[str, str]] = [
        (reference(cells.get("goal")), reference(cells.get("external_key"))) for _number, cells in rows
    ]
    ids = {u for goal_ref, _key in refs if goal_ref and (u := _as_uuid(goal_ref)) is not None}
    keys = {goal_ref for goal_ref, _key in refs if goal_ref} | {key for _goal_ref, key in refs if key}
    goals = _goals(access, ids, {k for k in keys if len(k) <= 100}, lock=lock)
    by_id = {g.pk: g for g in goals}
    by_key = {g.external_key: g for g in goals if g.external_key}
    good: list[Row] = []
    errors: list[RowError] = []
    goal_label = labels.get("goal") or labels.get("external_key") or "goal"
    for (number, cells), (goal_ref, key) in zip(rows, refs, strict=True):
        row_errors: list[RowError] = []
        goal: Goal | None = None
        if not goal_ref and not key:
            row_errors.append(RowError(number, goal_label, "Unknown goal: name it by its id or its external key."))
        else:
            by_ref = _named(goal_ref, by_id, by_key) if goal_ref else None
            by_external = by_key.get(key) if key else None
            if goal_ref and by_ref is None:
                row_errors.append(
                    RowError(number, labels.get("goal", "goal"), f"Unknown goal “{goal_ref[:60]}” in this plan.")
                )
            elif key and by_external is None:
                row_errors.append(
                    RowError(
                        number,
                        labels.get("external_key", "external key"),
                        f"Unknown goal: no goal of this plan has the external key “{key[:60]}”.",
                    )
                )
            elif by_ref is not None and by_external is not None and by_ref.pk != by_external.pk:
                row_errors.append(
                    RowError(number, goal_label, "The goal id and the external key name two different goals.")
                )
            else:
                goal = by_ref or by_external
        values: dict[str, Any] = {}
        for column, parse in (
            ("measured_on", parse_date),
            ("value", parse_value),
            ("confidence", parse_confidence),
            ("note", parse_note),
        ):
            try:
                values[column] = parse(cells.get(column))
            except CellError as exc:
                row_errors.append(RowError(number, labels.get(column, LABELS[column]), str(exc)))
        if row_errors or goal is None:
            errors.extend(row_errors)
            continue
        good.append(Row(row=number, goal=goal.pk, **values))
    return good, errors, by_id | {g.pk: g for g in goals}


def check_rules(access: Access, rows: list[Row], goals: dict[uuid.UUID, Goal], labels: dict[str, str]) -> list[Outcome]:
    """Apply the check-in rules and the duplicate rule to good rows (one query for the duplicates)."""
    outcomes: list[Outcome] = []
    today = timezone.localdate()
    goal_label = labels.get("goal") or labels.get("external_key") or "goal"
    date_label = labels.get("measured_on", "date")
    if not access.can_edit:
        message = f"No permission: your role ({access.role}) may not check in; editors and approvers may."
        return [Outcome(r.row, ERROR, [RowError(r.row, "", message)]) for r in rows]
    existing: set[tuple[uuid.UUID, dt.date, Decimal, str]] = set()
    if rows:
        dates = [r.measured_on for r in rows]
        existing = {
            (goal_id, day, value.quantize(PLACES), note.strip())
            for goal_id, day, value, note in CheckIn.objects.filter(
                goal_id__in={r.goal for r in rows},
                side=access.side,
                measured_on__gte=min(dates),
                measured_on__lte=max(dates),
            ).values_list("goal_id", "measured_on", "value", "note")
        }
    for r in rows:
        goal = goals.get(r.goal)
        if goal is None:
            outcomes.append(Outcome(r.row, ERROR, [RowError(r.row, goal_label, "Unknown goal: it is gone.")]))
            continue
        refusal = goal_refusal(goal)
        if refusal is not None:
            message = f"Goal not open for check-ins: “{goal.title[:60]}” is {goal.get_status_display().lower()}."
            outcomes.append(Outcome(r.row, ERROR, [RowError(r.row, goal_label, message)]))
            continue
        date_error = date_refusal(goal, r.measured_on, today)
        if date_error is not None:
            outcomes.append(
                Outcome(r.row, ERROR, [RowError(r.row, date_label, f"Date not allowed: {date_error.message}")])
            )
            continue
        identity = r.identity()
        if identity in existing:
            outcomes.append(Outcome(r.row, DUPLICATE))
            continue
        existing.add(identity)
        outcomes.append(Outcome(r.row, CREATE))
    return outcomes


def write_check_ins(access: Access, rows: list[Row], outcomes: list[Outcome], goals: dict[uuid.UUID, Goal]) -> int:
    """Insert the check-ins of the rows to create and one change event each (bulk, constant queries)."""
    now = timezone.now()
    by_row = {r.row: r for r in rows}
    new: list[tuple[CheckIn, Outcome]] = []
    for outcome in outcomes:
        if outcome.status != CREATE:
            continue
        r = by_row[outcome.row]
        ci = CheckIn(
            goal_id=r.goal,
            side=access.side,
            author=access.user,
            measured_on=r.measured_on,
            value=r.value,
            confidence=r.confidence,
            note=r.note,
            source=CheckInSource.IMPORT,
            created_at=now,
            updated_at=now,
        )
        outcome.check_in = ci
        new.append((ci, outcome))
    if not new:
        return 0
    CheckIn.objects.bulk_create([ci for ci, _ in new], batch_size=2000)
    record_creations(
        actor=access.user,
        partnership=access.partnership,
        created=[(ci, f"checked in {ci.value} on “{goals[ci.goal_id].title}” (imported)") for ci, _ in new],
    )
    return len(new)


# --- The API's bulk check-ins --------------------------------------------------------------------------


API_FIELDS = {"goal", "external_key", "measured_on", "value", "confidence", "note"}
API_LABELS = {column: column for column in API_FIELDS}


@transaction.atomic
def check_ins_bulk(*, access: Access, rows: list[dict[str, Any]]) -> list[Outcome]:
    """Check in many rows at once (the API's bulk endpoint), each row by the rules of an import:
    a row is created, a duplicate (nothing written) or an error. Rows are numbered from 0."""
    access.require_edit("check in")
    table = [(index, {k: v for k, v in row.items() if k in API_FIELDS}) for index, row in enumerate(rows)]
    good, errors, goals = check_cells(access, table, API_LABELS, lock=True)
    outcomes = check_rules(access, good, goals, API_LABELS)
    write_check_ins(access, good, outcomes, goals)
    by_row: dict[int, Outcome] = {o.row: o for o in outcomes}
    for error in errors:
        by_row.setdefault(error.row, Outcome(error.row, ERROR)).errors.append(error)
    return [by_row[index] for index in range(len(rows))]


# --- Imports of files: preview, commit, the background job ---------------------------------------------


@transaction.atomic
def actuals_import_preview(*, access: Access, file_name: str, stream: IO[bytes]) -> ActualsImport:
    """Read and check an uploaded file; store what passed and the errors. Writes no check-in."""
    access.require_edit("import check-ins")
    table, digest = read_upload(file_name, stream)
    good, errors, goals = check_cells(access, table.rows, table.labels)
    outcomes = check_rules(access, good, goals, table.labels)
    kept = {o.row for o in outcomes if o.status != ERROR}
    errors += [e for o in outcomes for e in o.errors]
    return ActualsImport.objects.create(
        partnership=access.partnership,
        uploaded_by=access.user,
        side=access.side,
        file_name=file_name[-200:],
        file_sha256=digest,
        format=table.format,
        row_count=len(table.rows),
        rows=[r.as_json() for r in good if r.row in kept],
        errors=[e.as_json() for e in sorted(errors, key=lambda e: e.row)],
        ignored_columns=table.ignored,
        labels=table.labels,
        to_create=sum(1 for o in outcomes if o.status == CREATE),
        duplicates=sum(1 for o in outcomes if o.status == DUPLICATE),
    )


def import_of(access: Access, import_id: Any) -> ActualsImport:
    """One import of the plan (``NotFound`` for any other id)."""
    found = find(ActualsImport.objects.filter(partnership=access.partnership).select_related("uploaded_by"), import_id)
    if found is None:
        raise NotFound("No such import.")
    return found


def imports_of(access: Access, limit: int = 20) -> list[ActualsImport]:
    """The plan's newest imports, without their rows and errors (a list shows only their counts)."""
    qs = ActualsImport.objects.filter(partnership=access.partnership).select_related("uploaded_by")
    return list(qs.defer("rows", "errors", "labels")[:limit])


def imported_before(imp: ActualsImport) -> ActualsImport | None:
    """An earlier import of the very same file into this plan that was committed, if any."""
    return (
        ActualsImport.objects.filter(partnership_id=imp.partnership_id, file_sha256=imp.file_sha256, status=Status.DONE)
        .exclude(pk=imp.pk)
        .select_related("uploaded_by")
        .order_by("-created_at")
        .first()
    )


def actuals_import_commit(*, access: Access, import_id: Any) -> ActualsImport:
    """Import the checked rows: in this request for a small file, else in one background job.
    Committing an import that is no longer a preview (a second click) does nothing."""
    access.require_edit("import check-ins")
    imp = import_of(access, import_id)
    if imp.status != Status.PREVIEW:
        return imp
    if len(imp.rows) > sync_rows():
        with transaction.atomic():
            if ActualsImport.objects.filter(pk=imp.pk, status=Status.PREVIEW).update(status=Status.QUEUED):
                run_actuals_import.apply_async_on_commit(args=[str(imp.pk)])
    elif ActualsImport.objects.filter(pk=imp.pk, status=Status.PREVIEW).update(
        status=Status.RUNNING, started_at=timezone.now()
    ):
        actuals_import_run(imp.pk, access=access)
    imp.refresh_from_db()
    return imp


def actuals_import_run(import_id: Any, *, access: Access | None = None) -> str:
    """Commit one import's rows (the job's work; the request's for a small file). The background job
    claims a queued import first (queued → running, one conditional UPDATE), so a duplicate delivery
    does nothing; it resolves the uploader's access again, as it may have changed since the upload."""
    if access is None:
        claimed = ActualsImport.objects.filter(pk=import_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        if not claimed:
            return "not_claimed"
    imp = ActualsImport.objects.select_related("uploaded_by").get(pk=import_id)
    rows = [Row.from_json(r) for r in imp.rows]
    try:
        if access is None:
            access = _uploader_access(imp)
        with transaction.atomic():
            if access is None:
                message = "No permission: the person who uploaded the file may no longer check in on this plan."
                outcomes = [Outcome(r.row, ERROR, [RowError(r.row, "", message)]) for r in rows]
            else:
                goals = {g.pk: g for g in _goals(access, {r.goal for r in rows}, set(), lock=True)}
                outcomes = check_rules(access, rows, goals, imp.labels)
                write_check_ins(access, rows, outcomes, goals)
    except Exception as exc:  # recorded on the import, for the person to see
        log.exception("actuals import %s failed", import_id)
        message = exc.message if isinstance(exc, DomainError) else "The import failed; nothing was imported."
        ActualsImport.objects.filter(pk=import_id).update(
            status=Status.FAILED, finished_at=timezone.now(), failure=message[:300]
        )
        return Status.FAILED
    commit_errors = [e.as_json() for o in outcomes for e in o.errors]
    errors = sorted([*imp.errors, *commit_errors], key=lambda e: int(e["row"]))
    ActualsImport.objects.filter(pk=import_id).update(
        status=Status.DONE,
        finished_at=timezone.now(),
        created_count=sum(1 for o in outcomes if o.status == CREATE),
        skipped_count=sum(1 for o in outcomes if o.status == DUPLICATE),
        error_count=len({e["row"] for e in errors}),
        errors=errors,
    )
    return Status.DONE


def _uploader_access(imp: ActualsImport) -> Access | None:
    user: User | None = imp.uploaded_by
    if user is None:
        return None
    try:
        access = resolve(user, imp.partnership_id)
    except NotFound:
        return None
    return access if access.can_edit and access.side == imp.side else None


@shared_task(name="goals.run_actuals_import", base=TransactionAwareTask, acks_late=True)  # type: ignore[untyped-decorator]
def run_actuals_import(import_id: str) -> str:
    return actuals_import_run(import_id)
