"""The dashboard's partnership rows, kept rendered in the shared cache (``core.fragment_cache``).

A row is rendered from the values ``plans.dashboard`` computes for it (names, sides, health and its
trend, the next review, the goals waiting, the overdue counts), and its key is those values
themselves, with the reader's language and time zone: a row changes in the cache exactly when
something it shows changes, whatever changed it.
"""

from __future__ import annotations

from typing import Any

from django.utils.safestring import SafeString

from core import fragment_cache

ROW_TEMPLATE = "dashboard/_row.html"


def row_state(row: dict[str, Any]) -> tuple[Any, ...]:
    """Everything the row template reads, as plain data."""
    p, access, other = row["partnership"], row["access"], row["other_org"]
    shown = {k: v for k, v in row.items() if k not in ("partnership", "access", "other_org", "html", "cache_key")}
    return (
        (p.pk, p.name, p.partner_type, p.status),
        (access.side, access.role),
        (other.pk, other.name),
        shown,
    )


def attach_html(rows: list[dict[str, Any]]) -> None:
    """Look up the page's rows in one round trip: a row found carries its HTML in ``html``, one
    not found the key it is stored under once rendered."""
    if fragment_cache.seconds() <= 0:
        return
    keys = {fragment_cache.key("dashboard-row", ROW_TEMPLATE, row_state(r)): r for r in rows}
    found = fragment_cache.lookup(list(keys))
    for key, row in keys.items():
        if key in found:
            row["html"] = found[key]
        else:
            row["cache_key"] = key


def render_row(row: dict[str, Any]) -> SafeString:
    return fragment_cache.render(ROW_TEMPLATE, {"r": row}, html=row.get("html", ""), cache_key=row.get("cache_key", ""))
