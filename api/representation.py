"""One representation per object type: the change feed's ``data`` is the object exactly as its REST
resource and ``/plan`` show it.

The change log keeps each object's state in its own format (``to_record``: people by internal id,
numbers and times as Python writes them, a few internal fields), because the history, live updates
and the audit trail read it. The feed projects each record to the representation of the type's
output serializer (``api.serializers``), key for key and in the same formats:

- decimals with the column's decimal places (``"8.0000"``, never ``"8"``), as DRF's ``DecimalField``;
- date-times in UTC with ``Z``, as DRF's ``DateTimeField``;
- people by their public id, a partnership's organisations as ``{id, name}``, a member's ``name``
  and ``email`` as they are now;
- computed fields (a goal's ``negotiation_state``, an invitation's ``state``) computed alike.

A projection is derived from the serializer's fields, so a field added to a serializer is in the
feed too, or ``tests/test_api_representation.py`` fails. The work is a few dictionary operations
per event: a full sync of 300,000 events stays a matter of seconds (docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from django.utils import timezone
from rest_framework import serializers

from accounts.models import display_name_of
from goals.models import negotiation_state_of

from . import serializers as out
from .fields import UserIdField
from .renderers import exact_json

# How the change log names objects (``object_type``) → the API's ``type``.
TYPE_NAMES = {
    "partnership": "partnership",
    "vision": "vision",
    "visionendorsement": "endorsement",
    "partnershipmember": "member",
    "objective": "objective",
    "goal": "goal",
    "goalrevision": "agreed-revision",
    "approval": "approval",
    "commitment": "commitment",
    "checkin": "check-in",
    "comment": "comment",
    "alignmentreview": "review",
    "reviewcomment": "review-comment",
    "pulseanswer": "pulse-answer",
    "invitation": "invitation",
    "driver": "driver",
    "driverfigure": "driver-figure",
}

PLAIN, DATETIME, DECIMAL, PERSON, ORGANISATION, PEOPLE, COMPUTED, OWNERS, NESTED = range(9)


def utc_text(value: Any) -> Any:
    """A recorded date-time as DRF writes it: ISO 8601 in UTC with ``Z``."""
    if not isinstance(value, str):
        return value
    if value.endswith("+00:00"):
        return value[:-6] + "Z"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    text = parsed.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def decimal_text(value: Any, field: serializers.DecimalField) -> Any:
    """A recorded decimal as DRF's ``DecimalField`` writes it (``"8"`` → ``"8.0000"``). Zero has no
    sign in the database, so ``-0`` is written as the column gives it back."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii():
        # The common cases without ``Decimal``: "150", "1.5", "-2.25" → padded to the column's places.
        head, dot, tail = value.partition(".")
        digits = head[1:] if head.startswith("-") else head
        places = field.decimal_places or 0
        canonical = digits.isdigit() and (digits == "0" or not digits.startswith("0"))
        if canonical and (not dot or tail.isdigit()) and len(tail) <= places:
            if head.startswith("-") and not digits.strip("0") and not tail.strip("0"):
                head = digits  # -0 is 0
            return f"{head}.{tail}{'0' * (places - len(tail))}" if places else head
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        return value
    if number.is_zero():
        number = abs(number)
    return field.to_representation(number)


def _invitation_state(record: dict[str, Any], now: dt.datetime) -> str:
    """``Invitation.state`` from a record (accepted, revoked, declined, awaiting, expired, pending)."""
    if record.get("accepted_at"):
        return "accepted"
    if record.get("revoked_at"):
        return "revoked"
    if record.get("declined_at"):
        return "declined"
    if record.get("needs_confirmation") and not record.get("confirmed_at"):
        return "awaiting"
    expires = record.get("expires_at")
    try:
        if expires and dt.datetime.fromisoformat(expires) <= now:
            return "expired"
    except (TypeError, ValueError):
        pass
    return "pending"


def _negotiation_state(record: dict[str, Any], now: dt.datetime) -> str:
    return negotiation_state_of(str(record.get("status") or ""), str(record.get("amendment") or ""))


@dataclass
class Projection:
    """How the records of one object type become its representation: one step per output field."""

    type: str
    steps: list[tuple[str, int, Any]] = field(default_factory=list)
    has_version: bool = False


COMPUTED_FIELDS: dict[tuple[str, str], Callable[[dict[str, Any], dt.datetime], Any]] = {
    ("goal", "negotiation_state"): _negotiation_state,
    ("invitation", "state"): _invitation_state,
}


def projection_of(api_type: str, serializer_class: type[serializers.Serializer[Any]]) -> Projection:
    """The steps that turn a record into ``serializer_class``'s representation, in its order of keys."""
    projection = Projection(api_type)
    for name, f in serializer_class().fields.items():
        if (api_type, name) in COMPUTED_FIELDS:
            projection.steps.append((name, COMPUTED, COMPUTED_FIELDS[(api_type, name)]))
        elif api_type == "member" and name in ("email", "name"):
            projection.steps.append((name, PLAIN, None))  # filled in with the people
        elif name == "attendees":
            projection.steps.append((name, PEOPLE, None))
        elif api_type == "agreed-revision" and name == "commitments":
            projection.steps.append((name, OWNERS, None))
        elif isinstance(f, UserIdField):
            projection.steps.append((name, PERSON, None))
        elif isinstance(f, out.OrganisationOut):
            projection.steps.append((name, ORGANISATION, None))
        elif isinstance(f, serializers.Serializer):
            projection.steps.append((name, NESTED, projection_of(f"{api_type}.{name}", type(f))))
        elif isinstance(f, serializers.DateTimeField):
            projection.steps.append((name, DATETIME, None))
        elif isinstance(f, serializers.DecimalField):
            projection.steps.append((name, DECIMAL, f))
        else:
            projection.steps.append((name, PLAIN, None))
        if name == "version":
            projection.has_version = True
    return projection


def nested(projection: Projection, value: Any) -> Any:
    """A nested document without people or computed fields (an agreed revision's terms)."""
    if not isinstance(value, dict):
        return value
    data: dict[str, Any] = {}
    for name, kind, arg in projection.steps:
        item = value.get(name)
        if kind == DECIMAL:
            item = decimal_text(item, arg)
        elif kind == DATETIME:
            item = utc_text(item)
        data[name] = item
    return data


AGREED_TERMS = projection_of("agreed-revision.terms", out.AgreedTermsOut)
AGREED_COMMITMENT = projection_of("agreed-revision.commitment", out.AgreedCommitmentOut)


def agreed_terms(terms: Any) -> Any:
    """An agreed revision's stored terms as ``AgreedTermsOut`` writes them (``"100"`` → ``"100.0000"``)."""
    return nested(AGREED_TERMS, terms)


def agreed_commitment(commitment: Any) -> Any:
    """A commitment of an agreed revision's snapshot, in ``AgreedCommitmentOut``'s keys and order."""
    return nested(AGREED_COMMITMENT, commitment)


SERIALIZERS: dict[str, type[serializers.Serializer[Any]]] = {
    "partnership": out.PartnershipOut,
    "vision": out.VisionOut,
    "endorsement": out.VisionEndorsementOut,
    "member": out.MemberOut,
    "objective": out.ObjectiveOut,
    "goal": out.GoalOut,
    "agreed-revision": out.AgreedRevisionOut,
    "approval": out.ApprovalOut,
    "commitment": out.CommitmentOut,
    "check-in": out.CheckInOut,
    "comment": out.CommentOut,
    "review": out.ReviewOut,
    "review-comment": out.ReviewCommentOut,
    "invitation": out.InvitationOut,
    "driver": out.DriverOut,
    "driver-figure": out.DriverFigureOut,
}
PROJECTIONS = {api_type: projection_of(api_type, s) for api_type, s in SERIALIZERS.items()}
# Fields added after events were recorded: a record written before lacks them and stands for the
# value the migration gave the rows that existed (a check-in made in the browser, a goal without a key).
ADDED_LATER: dict[tuple[str, str], Any] = {
    ("check-in", "source"): "web",
    ("check-in", "review"): "confirmed",  # figures recorded before two-key actuals were accepted as they were
    ("check-in", "dispute_note"): "",
    ("goal", "external_key"): "",
}
VERSIONED = frozenset(t for t, p in PROJECTIONS.items() if p.has_version)


@dataclass
class Pending:
    """What a page's projections still need from the database: people and organisations."""

    people: set[int] = field(default_factory=set)
    organisations: set[str] = field(default_factory=set)
    persons: list[tuple[dict[str, Any], str, int]] = field(default_factory=list)  # (data, key, user id)
    lists: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (data, key) of people lists
    owners: list[list[Any]] = field(default_factory=list)  # commitments of agreed revisions
    orgs: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)  # (data, key, organisation id)
    members: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (data, user id)


def project(
    api_type: str, record: dict[str, Any], at: Any, pending: Pending, now: dt.datetime | None = None
) -> tuple[dict[str, Any], bool]:
    """The representation of one recorded state (people and organisations are noted in ``pending``
    and filled in by ``fill`` with one query each for a whole page), and whether what it took over
    from ``record`` as it was (plain values, nested documents, a decimal recorded as a number) holds
    no number orjson reads or writes otherwise than the standard library (``renderers.exact_json``):
    only the values shown can make a page inexact."""
    return COMPILED[api_type](record, at, pending, now)


Projected = Callable[[dict[str, Any], Any, Pending, "dt.datetime | None"], tuple[dict[str, Any], bool]]


def compiled(projection: Projection) -> Projected:
    """``projection`` as one Python function of straight-line code, a statement or two per field.

    The hot path of a full sync (some 3,000,000 records at the benchmark's 10x): a loop over the
    steps that dispatched on each step's kind cost more than the steps' own work. The source is built
    from the serializer's field names (``repr``) and the helpers below, nothing else."""
    api_type = projection.type
    names: dict[str, Any] = {
        "utc_text": utc_text,
        "decimal_text": decimal_text,
        "nested": nested,
        "agreed_commitment": agreed_commitment,
        "timezone": timezone,
        "exact_json": exact_json,
    }
    lines = ["def projected(record, at, pending, now):", "    get = record.get", "    data = {}", "    exact = True"]
    # A value taken over as it was is checked unless it is of a kind orjson and json read alike.
    check = (
        "    if type(value) is float or type(value) is list or type(value) is dict:\n"
        "        exact = exact and exact_json(value)"
    )
    for i, (name, kind, arg) in enumerate(projection.steps):
        key = repr(name)
        if kind == PLAIN:
            if (api_type, name) in ADDED_LATER:
                names[f"added_{i}"] = ADDED_LATER[(api_type, name)]
                lines.append(f"    data[{key}] = value = get({key}, added_{i})")
            else:
                lines.append(f"    data[{key}] = value = get({key})")
            lines.append(check)
        elif kind == DATETIME:
            lines.append(f"    value = get({key})")
            if name == "created_at":  # recorded before the record kept it: the event's own time
                lines.append(f"    if value is None and {key} not in record:")
                lines.append("        value = at")
            lines.append("    utc = type(value) is str and value.endswith('+00:00')")  # utc_text's common case
            lines.append(f"    data[{key}] = value[:-6] + 'Z' if utc else utc_text(value)")
        elif kind == DECIMAL:
            names[f"field_{i}"] = arg
            lines.append(f"    value = get({key})")
            lines.append(check)
            lines.append(f"    data[{key}] = None if value is None else decimal_text(value, field_{i})")
        elif kind == PERSON:
            lines += [
                f"    value = get({key})",
                f"    data[{key}] = None",
                "    if type(value) is int:",
                f"        pending.persons.append((data, {key}, value))",
                "        pending.people.add(value)",
            ]
        elif kind == PEOPLE:
            lines += [
                f"    value = get({key})",
                "    people = [u for u in value if type(u) is int] if isinstance(value, list) else []",
                f"    data[{key}] = people",
                "    pending.people.update(people)",
                f"    pending.lists.append((data, {key}))",
            ]
        elif kind == ORGANISATION:
            lines += [
                f"    value = get({key})",
                f"    data[{key}] = None",
                "    if isinstance(value, str):",
                f"        pending.orgs.append((data, {key}, value))",
                "        pending.organisations.add(value)",
            ]
        elif kind == NESTED:
            names[f"nested_{i}"] = arg
            lines.append(f"    data[{key}] = value = nested(nested_{i}, get({key}))")
            lines.append(check)
        elif kind == OWNERS:
            lines += [
                f"    value = get({key})",
                "    commitments = [agreed_commitment(c) for c in value] if isinstance(value, list) else []",
                f"    data[{key}] = commitments",
                "    exact = exact and exact_json(commitments)",
                "    for c in commitments:",
                "        if isinstance(c, dict) and type(c.get('owner')) is int:",
                "            pending.people.add(c['owner'])",
                "    pending.owners.append(commitments)",
            ]
        else:  # COMPUTED
            names[f"computed_{i}"] = arg
            lines.append(f"    data[{key}] = computed_{i}(record, now or timezone.now())")
    if api_type == "member":
        lines += ["    user = get('user')", "    if type(user) is int:", "        pending.members.append((data, user))"]
    lines.append("    return data, exact")
    exec("\n".join(lines), names)  # noqa: S102 - source built above from field names and constants
    return cast(Projected, names["projected"])


COMPILED = {api_type: compiled(projection) for api_type, projection in PROJECTIONS.items()}


@dataclass
class Person:
    public_id: str
    email: str
    name: str


def fill(pending: Pending, people: dict[int, Person], organisations: dict[str, str]) -> None:
    """Put the people and organisations a page's projections need in their places."""
    for data, key, pk in pending.persons:
        person = people.get(pk)
        data[key] = person.public_id if person else None
    for data, key in pending.lists:
        data[key] = sorted(people[u].public_id for u in data[key] if u in people)
    for commitments in pending.owners:
        for c in commitments:
            if isinstance(c, dict) and isinstance(c.get("owner"), int):
                person = people.get(c["owner"])
                c["owner"] = person.public_id if person else None
    for data, key, org in pending.orgs:
        data[key] = {"id": org, "name": organisations.get(org, "")}
    for data, pk in pending.members:
        person = people.get(pk)
        if person is not None:
            data["email"], data["name"] = person.email, person.name


def person_of(public_id: Any, email: str, full_name: str, first_name: str, last_name: str) -> Person:
    return Person(str(public_id), email, display_name_of(full_name, first_name, last_name, email))
