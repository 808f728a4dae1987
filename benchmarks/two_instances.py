"""The reads mix at a fixed rate through two web instances behind a proxy (scripts/stack.py).

    .venv/bin/python benchmarks/two_instances.py                 # pp_bench if seeded, else pp_bench_quick
    .venv/bin/python benchmarks/two_instances.py --rate 40 --seconds 60

Brings up the stack of scripts/stack.py on the benchmark's database: PgBouncer in transaction
pooling, two gunicorn instances (``bench_settings``: production, with the per-user API throttle out
of reach) of ``--web-workers`` sync workers each, nginx round-robin in front, two Celery workers.
Then, as ``benchmarks/run.py`` does (its functions, imported): the fixture of ``prepare.py``, one
full sync through the change feed for the incremental sync's cursor, and the *reads* mix of its
fixed-rate load (10 incremental syncs, 7 goal lists, 1 ``GET /plan``, 1 plan page, 1 dashboard per
20 requests) driven by wrk with ``scenario.lua`` against the proxy for ``--seconds`` at ``--rate``.
Prints p50/p95/p99, errors, the rate achieved and how the proxy spread the requests over the
instances, and writes them as JSON. ``--compare-one`` then sends the same mix at the same rate
straight to one instance (no proxy), in the same minutes. The dataset is seeded by ``make bench`` (``BENCH_ARGS="--quick
--seed-only"`` for the small one); this command never seeds or drops anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import run as harness  # noqa: E402 - benchmarks/run.py, read-only

from scripts.stack import Stack  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"  # its own: run.py uses 7, 11 and 15, the tests 6, 10, 12, 14


def dataset_url(explicit: str) -> tuple[str, dict[str, int]]:
    """The database to measure: the one given, else the full dataset, else the quick one."""
    full, quick = harness.FULL_DATASET, harness.QUICK_DATASET
    if explicit:
        candidates = [(explicit, full), (explicit, quick)]
    else:
        candidates = [(harness.DEFAULT_DATABASE_URL, full), (harness.DEFAULT_DATABASE_URL + "_quick", quick)]
    for url, dataset in candidates:
        try:
            state = harness.dataset_state(url, json.dumps(dataset, sort_keys=True))
        except psycopg2.OperationalError as exc:  # a database that does not exist: try the next
            harness.log(f"{harness.database_name(url)}: {type(exc).__name__}")
            continue
        if state == "same":
            return url, dataset
    raise SystemExit(
        'No seeded benchmark database: run `make bench BENCH_ARGS="--quick --seed-only"` (or without --quick).'
    )


def upstream_counts(access_log: Path, since: int) -> dict[str, int]:
    """How many requests each instance answered, from nginx's access log (its lines after ``since`` bytes)."""
    with access_log.open("rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    # The log format of scripts/stack.py: address [time] method status upstream seconds.
    return dict(Counter(line.split()[-2] for line in lines if len(line.split()) >= 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second, all connections together")
    parser.add_argument("--seconds", type=float, default=45.0, help="how long the fixed rate is held (30-60)")
    parser.add_argument("--connections", type=int, default=4, help="paced wrk connections")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn sync workers per instance")
    parser.add_argument(
        "--compare-one", action="store_true", help="then the same straight to one instance, for comparison"
    )
    parser.add_argument("--var-dir", default="/tmp/pp_bench_two")
    parser.add_argument("--json", default="", help="where to write the numbers (default: in --var-dir)")
    args = parser.parse_args()

    database_url, dataset = dataset_url(args.database_url)
    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    harness.log(f"measuring {harness.database_name(database_url)} ({dataset}) through two instances")
    with Stack(
        database_url=database_url,
        redis_url=args.redis_url,
        var_dir=var_dir / f"stack-{time.strftime('%Y%m%dT%H%M%S')}",
        settings_module="bench_settings",
        pythonpath=[str(HERE)],
        web_workers=args.web_workers,
        migrate=True,  # as run.py does: the schema of the code measured
        flush_redis=True,
        static_root=var_dir / "static",
        extra_env={"BENCH_APP_DIR": str(ROOT)},
    ) as stack:
        port = int(stack.proxy_url.rsplit(":", 1)[1])
        # What run.py's functions read from its own arguments.
        bench = argparse.Namespace(
            port=port, wrk=harness.ensure_wrk(), threads=1, connections=args.connections, feed_limit=5000
        )
        fixture_path = var_dir / "fixture.json"
        subprocess.run(
            [harness.PYTHON, str(HERE / "prepare.py"), str(fixture_path), "2"],
            env=stack.env,
            cwd=ROOT,
            check=True,
            timeout=300,
        )
        fixture = json.loads(fixture_path.read_text())
        scenarios = {s.name: s for s in harness.build_scenarios(fixture)}
        sync = harness.full_sync(bench, fixture)
        harness.log(
            f"full sync through the proxy: {sync['events']} events in {sync['pages']} pages, {sync['seconds']} s"
        )
        scenarios["changes_incremental"].lines = [f"GET\t/api/v1/changes?since={sync['cursor'] or ''}"]

        weights = {n: w for n, w in harness.LOAD_MIXES["reads"].items() if n in scenarios}
        lines = [scenarios[n].lines[k % len(scenarios[n].lines)] for n, w in weights.items() for k in range(w)]
        mix = harness.Scenario("load", "mixed reads", "", lines, auth="both", threads=args.connections)
        for name in weights:  # every kind of request answers 2xx before it is measured
            harness.probe(bench, scenarios[name], fixture)
        paced = {"rate_per_thread": args.rate / args.connections, "connections": args.connections}
        harness.log("warming up (5 s)")
        harness.run_wrk(bench, mix, fixture, 5, **paced)
        access_log = Path(str(stack.var_dir)) / "nginx" / "access.log"
        offset = access_log.stat().st_size
        harness.log(
            f"reads mix at {args.rate} req/s for {args.seconds:.0f} s over {args.connections} paced connections"
        )
        result = harness.run_wrk(bench, mix, fixture, args.seconds, **paced)
        spread = upstream_counts(access_log, offset)
        one = None
        if args.compare_one:
            # The same mix at the same rate straight to one instance (no proxy, half the workers), in the
            # same minutes: on a shared machine only a comparison made side by side means much.
            alone = argparse.Namespace(**{**vars(bench), "port": int(stack.instance_urls[0].rsplit(":", 1)[1])})
            harness.log(f"the same, straight to one instance ({stack.instance_urls[0]})")
            one = harness.run_wrk(alone, mix, fixture, args.seconds, **paced)

    results: dict[str, Any] = {
        "machine": harness.machine(),
        "database": harness.database_name(database_url),
        "dataset": dataset,
        "instances": 2,
        "web_workers_per_instance": args.web_workers,
        "pooler": "pgbouncer, pool_mode = transaction",
        "mix": weights,
        "target_rps": args.rate,
        "seconds": args.seconds,
        "connections": args.connections,
        "full_sync": sync,
        "result": result,
        "requests_per_instance": spread,
        "one_instance": one,
    }
    out = Path(args.json or var_dir / f"two-instances-{time.strftime('%Y%m%dT%H%M%S')}.json")
    out.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(
        f"Two instances ({args.web_workers} workers each) behind nginx, PgBouncer in transaction pooling; "
        f"{results['database']}; reads mix at {args.rate} req/s for {args.seconds:.0f} s"
    )
    print()
    print("| served by | target req/s | achieved | p50 ms | p95 ms | p99 ms | errors | requests per instance |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    rows = [("proxy, two instances", result, ", ".join(f"{k}: {v}" for k, v in sorted(spread.items())))]
    if one is not None:
        rows.append(("one instance, no proxy", one, "all"))
    for served_by, measured, per_instance in rows:
        print(
            f"| {served_by} | {args.rate:.1f} | {measured['rps']:.1f} | {measured['p50']:.1f} | "
            f"{measured['p95']:.1f} | {measured['p99']:.1f} | {measured['errors']} | {per_instance} |"
        )
    harness.log(f"all numbers: {out}")


if __name__ == "__main__":
    main()
