"""The dashboard's partnership rows, kept rendered in the shared cache (``core.fragment_cache``).

A row shows a partnership's names, the reader's side and role, its health and trend, the next
review, the goals waiting for the reader's side and the overdue commitments. Its key names:

- the plan's generation (renewed by every change to the plan: the goals waiting, the health and
  whether the plan has started all come from its data) and the hour (health decays and a daily
  snapshot adds to the trend: a row is rendered again at least every hour), as the attention
  numbers of ``cadence.attention`` are cached;
- what the row shows that no plan change renews: the partnership's and both organisations' names,
  its type and status, the reader's side and role, and the attention numbers the page sorted by
  (next review, overdue or not, counts);
- the reader's language and time zone, and the code that renders it.

A page whose rows are all in the cache loads none of their data: the generations are read first,
then only the rows not found are loaded (``plans.dashboard._page_rows``), rendered and stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils.safestring import SafeString

from alignment.access import Access
from alignment.changes import cache_hour, plan_generations
from alignment.models import Partnership
from core import fragment_cache

ROW_TEMPLATE = "dashboard/_row.html"

Rows = Callable[[list[dict[str, Any]], dict[Any, Access]], list[dict[str, Any]]]


def _key(k: dict[str, Any], p: Partnership, access: Access, generation: str, now: dt.datetime) -> str:
    state = (
        generation,
        cache_hour(now),
        (p.name, p.status, p.partner_type, p.vendor.name, p.partner.name),
        (access.side, access.role),
        k,
    )
    return fragment_cache.key("dashboard-row", ROW_TEMPLATE, state)


def page_rows(
    keys: list[dict[str, Any]],
    partnerships: dict[Any, Partnership],
    accesses: dict[Any, Access],
    now: dt.datetime,
    load: Rows,
) -> list[dict[str, Any]]:
    """The page's rows in the order of ``keys`` (the sort values of each partnership): from the
    cache (the sort values, the partnership as listed, and ``html``), or loaded with ``load`` and
    carrying the key to store them under."""
    if fragment_cache.seconds() <= 0 or not keys:
        return load(keys, accesses)
    generations = plan_generations([k["pk"] for k in keys])  # before any of the rows' data is read
    wanted = {k["pk"]: _key(k, partnerships[k["pk"]], accesses[k["pk"]], generations[k["pk"]], now) for k in keys}
    found = fragment_cache.lookup(list(wanted.values()))
    missing = [k for k in keys if wanted[k["pk"]] not in found]
    loaded = {r["pk"]: r | {"cache_key": wanted[r["pk"]]} for r in load(missing, accesses)} if missing else {}
    return [
        loaded[k["pk"]]
        if k["pk"] in loaded
        else k | {"partnership": partnerships[k["pk"]], "html": found[wanted[k["pk"]]]}
        for k in keys
    ]


def render_row(row: dict[str, Any]) -> SafeString:
    return fragment_cache.render(ROW_TEMPLATE, {"r": row}, html=row.get("html", ""), cache_key=row.get("cache_key", ""))
