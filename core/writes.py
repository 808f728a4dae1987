"""Small building blocks every service uses to change an object safely, and ``model_update``, the
one way a service changes an existing object."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext, gettext_lazy, ngettext

from .errors import InvalidInput, NotFound, StaleVersion
from .models import PlanObject

M = TypeVar("M", bound=models.Model)
P = TypeVar("P", bound=PlanObject)


def find(queryset: models.QuerySet[M], pk: Any) -> M | None:
    """The row with this primary key, or None (also for an id that is malformed)."""
    try:
        return queryset.filter(pk=pk).first()
    except (ValidationError, ValueError, TypeError):
        return None


def lock(queryset: models.QuerySet[M] | models.Manager[M], pk: Any, what: str = "object") -> M:
    """Reload a row with a row lock for the rest of the transaction (``NotFound`` if gone)."""
    obj = find(queryset.select_for_update(of=("self",)), pk)
    if obj is None:
        raise NotFound(f"No such {what}.")
    return obj


def free_id(model: type[models.Model], value: Any, what: str) -> uuid.UUID:
    """A client-supplied id for a new object: a UUID not used yet."""
    try:
        pk = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"The id of a {what} is a UUID.", fields={"id": ["Not a valid UUID."]}) from exc
    if model._default_manager.filter(pk=pk).exists():
        raise InvalidInput(f"A {what} with this id exists already.", fields={"id": ["Already used."]})
    return pk


def insert(obj: models.Model, what: str) -> None:
    """Insert a new row. A client-chosen id taken meanwhile by a concurrent request is the same
    clear error as one taken before (``free_id`` checks first; the primary key decides the race)."""
    try:
        with transaction.atomic():
            obj.save(force_insert=True)
    except IntegrityError:
        if type(obj)._default_manager.filter(pk=obj.pk).exists():
            raise InvalidInput(f"A {what} with this id exists already.", fields={"id": ["Already used."]}) from None
        raise


# C0 control characters (U+0000 to U+001F) other than tab and line feed: invisible, or terminal
# escapes (U+001B) that rewrite what a log or a shell shows. A carriage return belongs to a line
# break in multi-line text (browsers send CRLF), never to a name.
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x08\x0b-\x1f]")
_CONTROL_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CONTROL_CHARACTERS_MESSAGE = gettext_lazy("Contains a control character (such as U+0001 or U+001B); remove it.")


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """The first control character ``value`` may not contain, as ``U+XXXX``, or None.

    Names, titles and other single-line text refuse every C0 control character but tab and line
    feed; multi-line text also keeps carriage returns. NUL is reported by its own message."""
    found = (_CONTROL_MULTI_LINE if multiline else _CONTROL_SINGLE_LINE).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def refuse_control_characters(value: Any) -> None:
    """A validator for forms' single-line fields (the services check the same in ``text`` and ``validate``)."""
    if isinstance(value, str) and control_character(value):
        raise ValidationError(CONTROL_CHARACTERS_MESSAGE, code="control_character")


def text(value: Any, name: str, *, multiline: bool = False) -> str:
    """A text input, trimmed; None is empty. Anything else, text with NUL characters, or text with
    control characters (``control_character``) is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(
            gettext("%(field)s must be text.") % {"field": _label(name)}, fields={name: [gettext("Expected text.")]}
        )
    if "\x00" in value:
        raise InvalidInput(
            gettext("%(field)s contains a NUL character.") % {"field": _label(name)},
            fields={name: [gettext("Contains a NUL character.")]},
        )
    found = control_character(value, multiline=multiline)
    if found:
        raise InvalidInput(
            gettext("%(field)s contains a control character (%(character)s); remove it.")
            % {"field": _label(name), "character": found},
            fields={name: [str(CONTROL_CHARACTERS_MESSAGE)]},
        )
    return value.strip()


def integer(value: Any, name: str) -> int:
    """A whole number given as a number or as digits (a revision, a version)."""
    if isinstance(value, bool):
        value = None
    try:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"{_label(name)} must be a whole number.", fields={name: ["Expected a whole number."]}
        ) from exc


def convert(field: models.Field[Any, Any], value: Any, name: str) -> Any:
    """An input value turned into the field's Python type (dates from ISO text, and so on)."""
    try:
        return field.to_python(value)
    except ValidationError as exc:
        label = getattr(field, "verbose_name", None) or _label(name)
        raise InvalidInput(f"{label}: {' '.join(exc.messages)}", fields={name: exc.messages}) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{_label(name)} has the wrong type.", fields={name: ["Wrong type."]}) from exc


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def check_version(obj: PlanObject, expected: int | None) -> None:
    """Refuse a write made against an older version (None: the caller did not ask for a check)."""
    if expected is not None and integer(expected, "expected_version") != obj.version:
        raise StaleVersion(
            gettext(
                "This %(thing)s was changed by someone else (you edited version %(expected)s, it is now at "
                "version %(current)s). Review their change and save again."
            )
            % {"thing": obj._meta.verbose_name, "expected": expected, "current": obj.version},
            current=obj,
        )


def apply_changes(obj: models.Model, changes: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Set the given fields, return the ones whose value really changed (name → old value)."""
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"Unknown or read-only field(s): {', '.join(unknown)}.",
            fields={name: ["This field cannot be changed here."] for name in unknown},
        )
    changed: dict[str, Any] = {}
    for name, value in changes.items():
        field = obj._meta.get_field(name)
        attname = field.attname if field.is_relation else name  # type: ignore[union-attr]
        old = getattr(obj, attname)
        new = value.pk if field.is_relation and isinstance(value, models.Model) else value
        if field.is_relation:
            setattr(obj, attname, new)
        else:
            new = convert(field, new, name)  # type: ignore[arg-type]
            setattr(obj, name, new)
        if old != new:
            changed[name] = old
    return changed


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def validate(obj: models.Model, exclude: list[str] | None = None) -> None:
    """Run the model's field validation and turn its errors into one ``InvalidInput``. Text with NUL
    characters is refused here too: PostgreSQL cannot store it."""
    nul = [f.name for f in obj._meta.concrete_fields if _has_nul(getattr(obj, f.attname, None))]
    if nul:
        raise InvalidInput(
            gettext("Text may not contain NUL characters."),
            fields={name: [gettext("Contains a NUL character.")] for name in nul},
        )
    # Single-line text (CharField: names, titles) and multi-line text (TextField) refuse control characters.
    controls = {
        f.name: found
        for f in obj._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField)
        and isinstance(value := getattr(obj, f.attname, None), str)
        and (found := control_character(value, multiline=isinstance(f, models.TextField)))
    }
    if controls:
        raise InvalidInput(
            gettext("Text may not contain control characters: %(fields)s.")
            % {"fields": ", ".join(f"{name} ({found})" for name, found in controls.items())},
            fields={name: [str(CONTROL_CHARACTERS_MESSAGE)] for name in controls},
        )
    # Django checks a TextField's max_length in forms only; the services are the API's and the forms' gate.
    long = {
        f.name: f.max_length
        for f in obj._meta.concrete_fields
        if isinstance(f, models.TextField) and f.max_length and len(str(getattr(obj, f.attname) or "")) > f.max_length
    }
    if long:
        each = [
            ngettext("%(field)s (at most %(n)s character)", "%(field)s (at most %(n)s characters)", n)
            % {"field": name, "n": n}
            for name, n in long.items()
        ]
        raise InvalidInput(
            gettext("Too long: %(fields)s.") % {"fields": ", ".join(each)},
            fields={
                name: [ngettext("At most %(n)s character.", "At most %(n)s characters.", n) % {"n": n}]
                for name, n in long.items()
            },
        )
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        raise InvalidInput(f"Please correct: {summary}", fields=fields) from exc


@dataclass
class Update(Generic[P]):
    """What ``model_update`` did: the object as saved, its record before, and the fields that
    really changed (name → old value; empty when nothing changed and nothing was written)."""

    obj: P
    before: dict[str, Any]
    changed: dict[str, Any]


def model_update(
    obj: P,
    *,
    changes: dict[str, Any],
    allowed: tuple[str, ...],
    expected_version: int | None = None,
    clean: Callable[[P, dict[str, Any]], None] | None = None,
    record: Callable[[P, dict[str, Any], dict[str, Any]], Any] | None = None,
) -> Update[P]:
    """Change an object the caller has locked (``lock``): refuse a write made against an older
    version, set the allowed fields and, if any really changed, let the service check and adjust
    the result (``clean(obj, changed)``, which validates and may refuse or change more), bump the
    version, save, and record the change (``record(obj, before, changed)``, in the same
    transaction).

    A change that changes nothing writes nothing and records nothing."""
    check_version(obj, expected_version)
    before = obj.to_record()
    changed = apply_changes(obj, changes, allowed)
    if not changed:
        return Update(obj, before, changed)
    if clean is not None:
        clean(obj, changed)
    obj.bump()
    obj.save()
    if record is not None:
        record(obj, before, changed)
    return Update(obj, before, changed)
