"""The goals app's Celery tasks (autodiscovery finds them here). Each lives beside the service it
calls: the actuals import's job in ``goals.imports``."""

from __future__ import annotations

from .imports import run_actuals_import

__all__ = ["run_actuals_import"]
