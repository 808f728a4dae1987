"""A REST client's full sync through the change feed, timed from a process of its own.

Follows ``GET /api/v1/changes?since=<cursor>&limit=<n>`` from the beginning until ``has_more`` is
false, over one keep-alive connection, and prints one JSON line: pages, events, seconds and the
final cursor (the harness uses it for the "incremental sync with no changes" scenario).

``--pipeline``: the client a bulk sync would use. It asks for the next page (the ``Link: <…>;
rel="next"`` header of each answer) as soon as a page's headers arrive, on another of three
connections, while it reads and parses the pages it has (with orjson when it is installed). The server sends a
page's headers once the page's events are read and builds its body after (``StreamedPage``), so
several workers build consecutive pages at once. Still one client, reading pages in the feed's order.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

try:
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # the client needs nothing but Python
    loads = json.loads

NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="next"')


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
    conn.close()
    return outcome(pages, events, started, cursor, max_pages)


def outcome(pages: int, events: int, started: float, cursor: str | None, max_pages: int) -> dict[str, Any]:
    """The JSON line a sync prints."""
    return {
        "pages": pages,
        "events": events,
        "seconds": round(time.perf_counter() - started, 3),
        "cursor": cursor,
        "complete": pages < max_pages,
    }


def pipelined(
    host: str, port: int, token: str, limit: int, since: str | None, max_pages: int, depth: int = 3
) -> dict[str, Any]:
    """``depth`` connections: a fetcher asks for each next page as soon as the page before it has
    sent its headers, on a connection whose last page has been read; this thread reads and parses
    the pages in order."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    free: queue.Queue[http.client.HTTPConnection] = queue.Queue()
    for _ in range(depth):
        free.put(http.client.HTTPConnection(host, port, timeout=60))
    answers: queue.Queue[tuple[http.client.HTTPConnection, http.client.HTTPResponse] | BaseException] = queue.Queue()
    stop = threading.Event()

    def fetcher(path: str | None) -> None:
        try:
            while path and not stop.is_set():
                conn = free.get()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                answers.put((conn, response))
                if response.status != 200:
                    return
                link = NEXT_LINK.search(response.getheader("Link") or "")
                path = link.group(1) if link else None
        except BaseException as exc:  # handed to the reader, which raises it
            answers.put(exc)

    query = {"limit": str(limit)} | ({"since": since} if since else {})
    thread = threading.Thread(target=fetcher, args=("/api/v1/changes?" + urllib.parse.urlencode(query),), daemon=True)
    thread.start()
    cursor = since
    pages = events = 0
    started = time.perf_counter()
    try:
        while pages < max_pages:
            answer = answers.get(timeout=120)
            if isinstance(answer, BaseException):
                raise answer
            conn, response = answer
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"change feed answered {response.status}: {body[:300]!r}")
            free.put(conn)
            page = loads(body)
            pages += 1
            events += len(events_of(page))
            cursor = next_cursor(page) or cursor
            if not page.get("has_more"):
                break
            if not response.getheader("Link"):
                raise SystemExit("a page with has_more answered without a Link to the next page")
    finally:
        stop.set()
        free.put(http.client.HTTPConnection(host, port, timeout=60))  # a fetcher waiting for one ends
    return outcome(pages, events, started, cursor, max_pages) | {"pipelined": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--since", default=None)
    parser.add_argument("--max-pages", type=int, default=100_000, help="a bound, so a broken feed cannot loop forever")
    parser.add_argument("--pipeline", action="store_true", help="ask for the next page on this page's headers")
    parser.add_argument("--depth", type=int, default=3, help="--pipeline's connections (pages asked for at once)")
    args = parser.parse_args()
    if args.pipeline:
        result = pipelined(args.host, args.port, args.token, args.limit, args.since, args.max_pages, args.depth)
    else:
        result = sync(args.host, args.port, args.token, args.limit, args.since, args.max_pages)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
