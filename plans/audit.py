"""Audit export: an organisation admin downloads the change history (``ChangeEvent``) of chosen
partnerships as CSV or JSON — who, when, what, before and after — built in the background.

Scope, in one place (``exportable``): the partnerships the access resolver shows the person
*as an admin of their side's organisation* (``Access.is_org_admin``), and every event of exactly
those. The history page shows the same events to a partnership's members; the export is for
admins, who answer an auditor for their organisation. It is checked three times: when asked for
(an outsider's id is ``NotFound``, a member who is no admin ``NotAllowed``), when built (someone
who lost admin rights meanwhile gets nothing), and when downloaded (only by the person who asked,
until the file expires, and only while they still administer every partnership in it).

Building: ``audit_export_request`` stores the request and enqueues ``build_audit_export`` with its
id after the transaction commits; the task claims the row (pending → building, one conditional
UPDATE, so a duplicate delivery does nothing) and streams the events, oldest first, into a file of
the ``audit_exports`` storage (``STORAGES``: a directory under ``var/`` by default; on several
machines, a shared volume or an object store). Memory stays flat whatever the history's size.
Files expire after ``AUDIT_EXPORT_TTL_HOURS``; ``prune_audit_exports`` (beat) deletes them.

CSV cells that a spreadsheet would run as a formula are neutralised (``plans.cells.safe_cell``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from alignment.access import resolve, resolve_many, visible_partnerships
from alignment.economics import side_only_visible
from alignment.models import ChangeEvent, Partnership
from core.errors import InvalidInput, NotAllowed, NotFound
from core.taskbase import TransactionAwareTask
from core.writes import find

from .cells import safe_cell
from .models import AuditExport

log = logging.getLogger(__name__)

Status = AuditExport.Status
MAX_PARTNERSHIPS = 500
CSV_HEAD = [
    "when (UTC)",
    "partnership",
    "partnership id",
    "who",
    "who (e-mail)",
    "action",
    "object type",
    "object id",
    "summary",
    "before",
    "after",
    "sequence",
]


def storage() -> Storage:
    return storages["audit_exports"]


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=int(getattr(settings, "AUDIT_EXPORT_TTL_HOURS", 72)))


# --- Scope ------------------------------------------------------------------------------------


def exportable(user: User | Any) -> list[Partnership]:
    """The partnerships whose history ``user`` may export: where the resolver makes them an admin of
    their side's organisation. Three queries, whatever the number."""
    partnerships = list(visible_partnerships(user).select_related("vendor", "partner").order_by("name"))
    accesses = resolve_many(user, partnerships)
    return [p for p in partnerships if p.pk in accesses and accesses[p.pk].is_org_admin]


def events_of(partnership_ids: Iterable[Any], reader: User | Any) -> Iterator[ChangeEvent]:
    """Every change event of these partnerships the ``reader`` may see (not the other side's private
    figures), oldest first, fetched in chunks."""
    return (
        ChangeEvent.objects.filter(side_only_visible(reader), partnership_id__in=list(partnership_ids))
        .select_related("actor")
        .order_by("created_at", "seq")
        .iterator(chunk_size=2000)
    )


def _check_all(user: User, ids: list[Any]) -> list[Partnership]:
    """The partnerships of ``ids``, each one exportable by ``user`` (else the resolver's error)."""
    chosen = []
    for pid in ids:
        access = resolve(user, pid)  # NotFound for an outsider
        if not access.is_org_admin:
            raise NotAllowed(
                f"Only admins of your organisation export the change history of {access.partnership.name}."
            )
        chosen.append(access.partnership)
    return chosen


# --- Asking -----------------------------------------------------------------------------------


@transaction.atomic
def audit_export_request(*, user: User, partnership_ids: Iterable[Any], fmt: str) -> AuditExport:
    """Ask for an export; it is built in the background (``build_audit_export``)."""
    if fmt not in AuditExport.Format.values:
        raise InvalidInput("Choose CSV or JSON.", fields={"format": ["Choose CSV or JSON."]})
    ids = list(dict.fromkeys(str(pid) for pid in partnership_ids))
    if not ids:
        raise InvalidInput(
            "Choose at least one partnership.", fields={"partnerships": ["Choose at least one partnership."]}
        )
    if len(ids) > MAX_PARTNERSHIPS:
        raise InvalidInput(f"Choose at most {MAX_PARTNERSHIPS} partnerships at once.")
    chosen = _check_all(user, ids)
    now = timezone.now()
    export = AuditExport.objects.create(
        requested_by=user,
        partnership_ids=[str(p.pk) for p in chosen],
        format=fmt,
        created_at=now,
        expires_at=now + ttl(),
    )
    build_audit_export.apply_async_on_commit(args=[str(export.pk)])
    return export


def exports_of(user: User) -> list[AuditExport]:
    """The person's exports that have not expired yet, newest first."""
    return list(AuditExport.objects.filter(requested_by=user, expires_at__gt=timezone.now())[:20])


# --- Building ---------------------------------------------------------------------------------


def audit_export_build(export_id: Any) -> str:
    """Build one export if this caller claims it; safe to call any number of times."""
    claimed = AuditExport.objects.filter(pk=export_id, status=Status.PENDING).update(
        status=Status.BUILDING, started_at=timezone.now()
    )
    if claimed != 1:
        return "not_claimed"
    export = AuditExport.objects.select_related("requested_by").get(pk=export_id)
    try:
        partnerships = {str(p.pk): p for p in exportable(export.requested_by)}
        ids = [pid for pid in export.partnership_ids if pid in partnerships]
        if not ids:
            raise NotAllowed("You no longer administer any of the partnerships of this export.")
        name = f"{export.pk}.{export.format}"
        with tempfile.TemporaryFile("w+b") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write = _write_csv if export.format == AuditExport.Format.CSV else _write_json
            count = write(text, [partnerships[pid] for pid in ids], export)
            text.flush()
            raw.seek(0)
            storage().delete(name)
            saved = storage().save(name, File(raw, name=name))
            text.detach()
    except Exception as exc:  # recorded on the row, for the person to see
        log.exception("audit export %s failed", export_id)
        AuditExport.objects.filter(pk=export_id).update(
            status=Status.FAILED, finished_at=timezone.now(), error=str(exc)[:300]
        )
        return Status.FAILED
    AuditExport.objects.filter(pk=export_id).update(
        status=Status.READY, finished_at=timezone.now(), file_name=saved, event_count=count
    )
    return Status.READY


def _actor(event: ChangeEvent) -> tuple[str, str]:
    actor = event.actor
    return (event.actor_label or (actor.display_name if actor else "system"), actor.email if actor else "")


def _write_csv(out: io.TextIOWrapper, partnerships: list[Partnership], export: AuditExport) -> int:
    names = {p.pk: p.name for p in partnerships}
    writer = csv.writer(out)
    out.write("\ufeff")  # spreadsheet programs read the file as UTF-8
    writer.writerow(CSV_HEAD)
    count = 0
    for event in events_of(names, export.requested_by):
        who, email = _actor(event)
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    event.created_at,
                    names.get(event.partnership_id, ""),
                    str(event.partnership_id),
                    who,
                    email,
                    event.action,
                    event.object_type,
                    str(event.object_id),
                    event.summary,
                    _json_cell(event.before),
                    _json_cell(event.after),
                    event.seq,
                )
            ]
        )
        count += 1
    return count


def _json_cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


def _write_json(out: io.TextIOWrapper, partnerships: list[Partnership], export: AuditExport) -> int:
    """One JSON document, written event by event (never held in memory whole)."""
    names = {p.pk: p.name for p in partnerships}
    head = {
        "export": str(export.pk),
        "exported_at": timezone.now(),
        "requested_by": export.requested_by.email,
        "partnerships": [{"id": str(p.pk), "name": p.name} for p in partnerships],
    }
    head_text = json.dumps(head, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    out.write(head_text[: head_text.rfind("}")].rstrip() + ',\n  "events": [')
    count = 0
    for event in events_of(names, export.requested_by):
        who, email = _actor(event)
        record = {
            "sequence": event.seq,
            "at": event.created_at,
            "partnership": {"id": str(event.partnership_id), "name": names.get(event.partnership_id, "")},
            "actor": {"name": who, "email": email or None},
            "action": event.action,
            "object": {"type": event.object_type, "id": str(event.object_id)},
            "summary": event.summary,
            "before": event.before,
            "after": event.after,
        }
        out.write(
            ("\n    " if count == 0 else ",\n    ") + json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False)
        )
        count += 1
    out.write(("\n  " if count else "") + "],\n" + f'  "event_count": {count}\n}}\n')
    return count


@shared_task(name="plans.build_audit_export", base=TransactionAwareTask, acks_late=True)  # type: ignore[untyped-decorator]
def build_audit_export(export_id: str) -> str:
    return audit_export_build(export_id)


# --- Downloading and expiry ---------------------------------------------------------------------


def downloadable(*, user: User, export_id: Any) -> AuditExport:
    """The export, for the person who asked for it, while it is ready, unexpired and still in their
    scope; ``NotFound`` for everyone and everything else (an id tells nothing)."""
    export = find(AuditExport.objects.filter(requested_by=user, status=Status.READY), export_id)
    if export is None or not export.is_downloadable:
        raise NotFound("No such export (it may have expired).")
    still = {str(p.pk) for p in exportable(user)}
    if not set(export.partnership_ids) <= still:
        raise NotFound("No such export (it may have expired).")
    return export


def prune_expired(*, now: dt.datetime | None = None) -> int:
    """Delete expired exports and their files (a beat task, hourly)."""
    now = now or timezone.now()
    expired = list(AuditExport.objects.filter(expires_at__lte=now).values_list("pk", "file_name")[:1000])
    for _pk, name in expired:
        if name:
            storage().delete(name)
    AuditExport.objects.filter(pk__in=[pk for pk, _name in expired]).delete()
    return len(expired)


@shared_task(name="plans.prune_audit_exports")  # type: ignore[untyped-decorator]
def prune_audit_exports() -> int:
    return prune_expired()
