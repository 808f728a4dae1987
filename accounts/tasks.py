"""The accounts app's periodic work."""

from __future__ import annotations

from celery import shared_task

from .signup import prune_signup_requests as prune


@shared_task(name="accounts.prune_signup_requests")  # type: ignore[untyped-decorator]
def prune_signup_requests() -> int:
    return prune()
