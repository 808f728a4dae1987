"""Small building blocks every service uses to change an object safely."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models

from .base import PlanObject
from .errors import InvalidInput, NotFound, StaleVersion

M = TypeVar("M", bound=models.Model)


def lock(queryset: models.QuerySet[M], pk: Any, what: str = "object") -> M:
    """Reload a row with a row lock for the rest of the transaction (``NotFound`` if gone)."""
    obj = queryset.select_for_update(of=("self",)).filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"No such {what}.")
    return obj


def check_version(obj: PlanObject, expected: int | None) -> None:
    """Refuse a write made against an older version (None: the caller did not ask for a check)."""
    if expected is not None and int(expected) != obj.version:
        raise StaleVersion(
            f"This {obj._meta.verbose_name} was changed by someone else (you edited version {expected}, "
            f"it is now at version {obj.version}). Review their change and save again.",
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
            setattr(obj, name, new)
            try:
                new = field.to_python(new)  # type: ignore[union-attr]
            except ValidationError as exc:
                raise InvalidInput(f"{field.verbose_name}: {' '.join(exc.messages)}",
                                   fields={name: exc.messages}) from exc
            setattr(obj, name, new)
        if old != new:
            changed[name] = old
    return changed


def validate(obj: models.Model, exclude: list[str] | None = None) -> None:
    """Run the model's field validation and turn its errors into one ``InvalidInput``."""
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        raise InvalidInput(f"Please correct: {summary}", fields=fields) from exc
