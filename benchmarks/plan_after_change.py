"""The first ``GET /plan`` after a one-field change, in-process, against a full rebuild.

Runs inside Django on a benchmark database (same environment as the server; ``benchmarks/run.py``
prepares it and writes the fixture) and, ``--rounds`` times: changes the title of one of the plan's
draft goals through the API (``PATCH`` with ``If-Match``), then times the next ``GET /plan``,
which updates the cached document for what changed (``api.plan_updates``). For comparison it then
empties the cache and the process's kept documents and times a ``GET /plan`` that builds the
document whole. Prints the medians and
their ratio; the budget of the scale work is 25 ms for the first ``/plan`` after a change.

A ``GET /plan`` is served as a WSGI server serves it: the handler is called, the body is read to
its last byte (the time the client waits for), then the response is closed, which runs what was
left for after the answer (sharing a new document through the cache): both times are printed.

    benchmarks/plan_after_change.py /tmp/pp_bench/fixture-1x.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_APP_DIR", str(Path(__file__).resolve().parent.parent)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerplan.settings.production")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402

from api import plan_updates  # noqa: E402

HANDLER = WSGIHandler()


def timed_get(path: str, headers: dict[str, str]) -> tuple[float, float]:
    """Milliseconds until the body's last byte and until the response was closed. The database
    connection is kept between requests, as the test client keeps it."""
    environ = RequestFactory().get(path, headers=headers, secure=True).environ
    statuses: list[str] = []
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        started = time.perf_counter()
        response = HANDLER(environ, lambda status, _headers: statuses.append(status))
        body = b"".join(response)
        sent = time.perf_counter()
        response.close()
        closed = time.perf_counter()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    if not statuses[0].startswith("200"):
        raise SystemExit(f"GET {path} answered {statuses[0]}: {body[:300]!r}")
    return (sent - started) * 1000, (closed - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixture", type=Path)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    fixture = json.loads(args.fixture.read_text())
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    token = {"Authorization": f"Bearer {fixture['api_token']}", "Accept": "application/json"}
    plan = f"/api/v1/partnerships/{fixture['partnership']}/plan"
    goal = f"/api/v1/goals/{fixture['patch_goals'][0]}"
    timed_get(plan, token)  # the document is cached, as on a running server
    after_change: list[tuple[float, float]] = []
    rebuild: list[tuple[float, float]] = []
    for n in range(args.rounds):
        current = client.get(goal, headers=token, secure=True)
        changed = client.patch(
            goal,
            data=json.dumps({"title": f"Pipeline review round {n} {time.time_ns()}"}),
            content_type="application/json",
            headers=token | {"If-Match": current.headers["ETag"]},
            secure=True,
        )
        if changed.status_code != 200:
            raise SystemExit(f"PATCH {goal} answered {changed.status_code}: {changed.content[:300]!r}")
        after_change.append(timed_get(plan, token))
        cache.clear()
        plan_updates.forget()  # and this process's own copies: the next document is built whole
        rebuild.append(timed_get(plan, token))
    first, whole = (statistics.median(sent for sent, _ in runs) for runs in (after_change, rebuild))
    first_closed, whole_closed = (statistics.median(closed for _, closed in runs) for runs in (after_change, rebuild))
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "plan_after_one_field_change_ms": round(first, 1),
                "plan_rebuilt_whole_ms": round(whole, 1),
                "closed_after_change_ms": round(first_closed, 1),
                "closed_rebuilt_whole_ms": round(whole_closed, 1),
                "ratio": round(first / whole, 2),
                "loadavg": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
