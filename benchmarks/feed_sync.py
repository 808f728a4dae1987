"""A REST client's full sync through the change feed, timed from a process of its own.

Follows ``GET /api/v1/changes?since=<cursor>&limit=<n>`` from the beginning until ``has_more`` is
false, over one keep-alive connection, and prints one JSON line: pages, events, seconds and the
final cursor (the harness uses it for the "incremental sync with no changes" scenario).
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
import urllib.parse
from typing import Any


def next_cursor(page: dict[str, Any]) -> str | None:
    for key in ("cursor", "next_cursor", "next"):
        if page.get(key):
            return str(page[key])
    return None


def events_of(page: dict[str, Any]) -> list[Any]:
    for key in ("results", "changes", "events", "items", "data"):
        if isinstance(page.get(key), list):
            return page[key]
    return []


def sync(host: str, port: int, token: str, limit: int, since: str | None, max_pages: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    cursor = since
    pages = events = 0
    started = time.perf_counter()
    while pages < max_pages:
        query = {"limit": str(limit)}
        if cursor:
            query["since"] = cursor
        conn.request("GET", "/api/v1/changes?" + urllib.parse.urlencode(query), headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"change feed answered {response.status}: {body[:300]!r}")
        page = json.loads(body)
        pages += 1
        events += len(events_of(page))
        cursor = next_cursor(page) or cursor
        if not page.get("has_more"):
            break
    seconds = time.perf_counter() - started
    conn.close()
    return {
        "pages": pages,
        "events": events,
        "seconds": round(seconds, 3),
        "cursor": cursor,
        "complete": pages < max_pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--since", default=None)
    parser.add_argument("--max-pages", type=int, default=100_000, help="a bound, so a broken feed cannot loop forever")
    args = parser.parse_args()
    print(json.dumps(sync(args.host, args.port, args.token, args.limit, args.since, args.max_pages)))


if __name__ == "__main__":
    main()
