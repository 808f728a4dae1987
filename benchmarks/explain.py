"""Where the time of each hot path goes: SQL per request, repeated query shapes, and query plans.

Runs inside Django on the benchmark database (same environment as the server) and, for every
benchmarked endpoint, makes one request through Django's test client while capturing its SQL. It
prints a Markdown report: status, number of statements, SQL time, query shapes repeated within one
request (the signature of per-row queries), and ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest
statements. For the change feed it also follows a full sync page by page, so a page that gets slower
the further the cursor is shows up as a trend.

    benchmarks/explain.py /tmp/pp_bench/fixture-1x.json > /tmp/pp_bench/explain.md

(``fixture-10x.json``, with ``DATABASE_URL`` naming ``pp_bench_10x``, for the dataset at scale 10.)
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("BENCH_APP_DIR", str(Path(__file__).resolve().parent.parent)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerplan.settings.production")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
SLOWEST = 3


def shape(sql: str) -> str:
    return LITERALS.sub("?", sql)


def explain(sql: str) -> str:
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        # Long IN (...) lists of ids would drown the plan: keep each line short.
        return "\n".join(short(row[0], 200) for row in cur.fetchall())


def short(sql: str, width: int = 260) -> str:
    return sql if len(sql) <= width else sql[: width - 1] + "…"


def profile(client: Client, title: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        wall = time.perf_counter() - started
    statements = [(q["sql"], float(q["time"])) for q in captured.captured_queries]
    shapes = Counter(shape(sql) for sql, _ in statements)
    print(
        f"\n### {title}\n\n`GET {path}` → {response.status_code}, {len(response.content)} bytes, "
        f"{len(statements)} SQL statements, SQL {sum(t for _, t in statements) * 1000:.1f} ms of "
        f"{wall * 1000:.1f} ms in the view (one request, in-process, not under load)\n"
    )
    repeated = [(n, s) for s, n in shapes.most_common() if n > 2]
    if repeated:
        print("Query shapes repeated within this one request (per-row queries):\n")
        for n, s in repeated[:5]:
            print(f"- {n}× `{short(s, 200)}`")
        print()
    slowest = sorted((st for st in statements if st[0].lstrip().upper().startswith("SELECT")), key=lambda st: -st[1])[
        :SLOWEST
    ]
    for sql, seconds in slowest:
        print(f"{seconds * 1000:.1f} ms: `{short(sql)}`\n\n```\n{explain(sql)}\n```\n")
    return {"status": response.status_code, "statements": len(statements), "wall": wall}


def feed_trend(client: Client, headers: dict[str, str], limit: int = 1000, max_pages: int = 1000) -> None:
    print(f"\n### Change feed, full sync page by page (limit={limit})\n")
    since = ""
    rows = []
    for page in range(1, max_pages + 1):
        path = f"/api/v1/changes?limit={limit}" + (f"&since={since}" if since else "")
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            wall = time.perf_counter() - started
        body = response.json()
        sql_time = sum(float(q["time"]) for q in captured.captured_queries)
        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
        rows.append((page, wall, sql_time, len(captured.captured_queries), slowest["sql"]))
        since = body.get("cursor") or body.get("next_cursor") or since
        if not body.get("has_more"):
            break
    print("| page | view ms | SQL ms | statements |\n|---:|---:|---:|---:|")
    picks = sorted({0, 1, len(rows) // 4, len(rows) // 2, (3 * len(rows)) // 4, len(rows) - 1})
    for i in picks:
        page, wall, sql_time, n, _ = rows[i]
        print(f"| {page} | {wall * 1000:.1f} | {sql_time * 1000:.1f} | {n} |")
    total, sql_total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"\n{len(rows)} pages, {total:.2f} s in the views in-process, of which {sql_total:.2f} s in SQL.\n")
    slowest_page = max(rows, key=lambda r: r[2])
    print(
        f"Slowest statement of the page with the most SQL time (page {slowest_page[0]}): "
        f"`{short(slowest_page[4], 2000)}`\n\n```\n{explain(slowest_page[4])}\n```\n"
    )


def main() -> None:
    fixture = json.loads(Path(sys.argv[1]).read_text())
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    p = fixture["partnership"]
    session = {"Cookie": f"sessionid={fixture['session_cookie']}", "Accept": "text/html"}
    token = {"Authorization": f"Bearer {fixture['api_token']}", "Accept": "application/json"}
    client = Client()
    routes = fixture["routes"]
    print("## Where the time goes (benchmarks/explain.py)\n")
    print(
        f"Dataset: vendor admin of {fixture['vendor_partnerships']} partnerships; plan of "
        f"{fixture['partnership_objectives']} objectives and {fixture['partnership_goals']} goals; "
        f"{fixture['total_goals']} goals in all."
    )
    checks = [
        ("dashboard", "Dashboard (first page)", "/", session),
        ("plan_page", "Plan page", f"/p/{p}/", session),
        ("plan_api", "GET /plan", f"/api/v1/partnerships/{p}/plan", token),
        ("goal_list", "Goal list, one partnership, one status", f"/api/v1/goals?partnership={p}&status=agreed", token),
        ("goal_list", "Goal list across the portfolio, one status", "/api/v1/goals?status=agreed", token),
    ]
    for route, title, path, headers in checks:
        if routes.get(route):
            profile(client, title, path, headers)
    if routes.get("changes"):
        feed_trend(client, token)


if __name__ == "__main__":
    main()
