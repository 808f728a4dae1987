"""The one application error type. Services raise these; the browser and the API map them to
HTTP in one place each (``code`` is stable and machine-readable, ``message`` is for people)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class InvalidInput(DomainError):
    """The input breaks a rule of its own (a field value, a date order)."""

    status = 400
    code = "invalid"


class RuleViolation(DomainError):
    """A workflow rule forbids this transition now; ``code`` names the rule."""

    status = 409
    code = "rule_violation"


class NotAllowed(DomainError):
    """The person may see the partnership but their side or role may not do this."""

    status = 403
    code = "permission_denied"


class NotFound(DomainError):
    """Not there, or not visible to this person (never tells which)."""

    status = 404
    code = "not_found"


class StaleVersion(DomainError):
    """The write was made against an older version of the object."""

    status = 412
    code = "stale_version"

    def __init__(self, message: str, *, current: Any):
        super().__init__(message)
        self.current = current


class RateLimited(DomainError):
    """Too many attempts in a short time; try again later."""

    status = 429
    code = "rate_limited"
