"""Serializer building blocks that keep bad input out: unknown fields are refused, dates and
numbers are bounded, texts have limits (NUL bytes are refused by DRF's CharField)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
MIN_DATETIME = dt.datetime(1900, 1, 2, tzinfo=dt.UTC)
MAX_DATETIME = dt.datetime(2999, 12, 30, tzinfo=dt.UTC)
MAX_INT = 2**31 - 1


class StrictSerializer(serializers.Serializer[Any]):
    """An input serializer that refuses fields it does not know (a typo never passes silently)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(k) for k in set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def require_all(serializer: serializers.Serializer[Any]) -> None:
    """PUT replaces: every writable field must be given (``version`` may come as If-Match)."""
    for name, field in serializer.fields.items():
        if name != "version" and not field.read_only:
            field.required = True


class DateField(serializers.DateField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators += [MinValueValidator(MIN_DATE), MaxValueValidator(MAX_DATE)]


class DateTimeField(serializers.DateTimeField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators += [MinValueValidator(MIN_DATETIME), MaxValueValidator(MAX_DATETIME)]


def text(max_length: int, **kwargs: Any) -> serializers.CharField:
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    return serializers.CharField(max_length=max_length, trim_whitespace=False, **kwargs)


def number(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=4, **kwargs)


def version_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_INT,
        help_text="The version you edited (alternative to If-Match).",
    )


def whole(min_value: int = 0, max_value: int = MAX_INT, **kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=min_value, max_value=max_value, **kwargs)


def drivers(**kwargs: Any) -> serializers.ListField:
    kwargs.setdefault("required", False)
    return serializers.ListField(child=serializers.CharField(max_length=120), max_length=20, **kwargs)


@extend_schema_field(OpenApiTypes.UUID)
class UserIdField(serializers.Field[Any, Any, str, Any]):
    """A person, shown by their public id (never the internal number)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)  # a person may be unset or have left
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return str(value.public_id)


class UUIDField(serializers.UUIDField):
    """A UUID written as text (DRF would also take a bare integer, which no client means)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
