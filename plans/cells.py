"""Cells of the CSV files Partnerplan writes (the plan's exports and the audit export): one rule
for how values are written and for neutralising what a spreadsheet would run as a formula."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

# Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def safe_cell(value: Any) -> str:
    """A CSV cell: numbers written plainly, dates in ISO form, text that a spreadsheet would run as a
    formula prefixed with an apostrophe (shown as text, not evaluated)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if text.lstrip(" ")[:1] in FORMULA_TRIGGERS:
        return "'" + text
    return text
