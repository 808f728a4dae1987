"""Partnerplan's benchmark harness: ``make bench`` (or ``benchmarks/run.py --help``).

1. Creates (or reuses) a PostgreSQL database, migrates it and seeds a large dataset with
   ``seed_demo``'s volume options. Seeding is skipped when the database already holds the dataset
   for the same seed parameters (recorded in the table ``benchmark_dataset``).
2. Starts the app under gunicorn with the production settings (``benchmarks/bench_settings.py``
   only raises the per-user API throttle), sync workers, two per core, on loopback only, with
   Redis as cache and broker.
3. Drives it from separate processes: wrk (Debian's ``wrk``, installed with apt when missing) with
   ``benchmarks/scenario.lua`` for the latency scenarios, ``benchmarks/feed_sync.py`` for a client's
   full sync through the change feed, and ``benchmarks/sweep.py`` for the reminder sweep.
4. Prints a table — scenario, requests, p50, p95, p99 (ms), throughput, errors and the ratio of p50
   to the floor (``/healthz`` measured in the same run) — as the median of ``--runs`` runs, then a
   fixed-rate load, and writes every number as JSON.

Everything it starts is stopped when it ends, also on Ctrl-C. Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/pp_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"

# What "realistic" means for issue 7, and a small dataset for trying the harness.
# seed_demo gives a partnership one objective per 10 goals, so the big plan has big_goals / 10 objectives.
FULL_DATASET = {"partnerships": 1000, "goals": 20000, "check_ins": 200000, "big_goals": 500}
QUICK_DATASET = {"partnerships": 40, "goals": 800, "check_ins": 4000, "big_goals": 100}


@dataclass
class Scenario:
    name: str
    label: str
    route: str  # key in prepare.py's "routes"; "" = always there
    lines: list[str]  # METHOD<TAB>PATH<TAB>BODY<TAB>ETAG, see scenario.lua
    auth: str = ""  # "", "session" or "token"
    mode: str = "rotate"
    threads: int = 0  # 0 = the harness default
    probe_seconds: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)


# --- small helpers -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def database_name(url: str) -> str:
    return urllib.parse.urlparse(url).path.lstrip("/")


def admin_url(url: str) -> str:
    parts = urllib.parse.urlparse(url)
    return urllib.parse.urlunparse(parts._replace(path="/postgres"))


def pg_connect(url: str) -> Any:
    import psycopg2

    parts = urllib.parse.urlparse(url)
    return psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname=parts.path.lstrip("/") or "postgres",
    )


def ensure_database(url: str) -> None:
    name = database_name(url)
    conn = pg_connect(admin_url(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            log(f"creating database {name}")
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def drop_database(url: str) -> None:
    name = database_name(url)
    if not name.startswith("pp_bench"):
        raise SystemExit(f"refusing to drop {name}: only databases named pp_bench* are the harness's to drop")
    conn = pg_connect(admin_url(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        log(f"dropping database {name} (it holds another dataset)")
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


DATASET_TABLE = (
    "CREATE TABLE IF NOT EXISTS benchmark_dataset (key text PRIMARY KEY, seeded_at timestamptz, "
    "seconds double precision)"
)


def dataset_state(url: str, key: str) -> str:
    """'same' when the database holds this dataset, 'empty' when it holds none, else 'other'."""
    conn = pg_connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DATASET_TABLE)
        cur.execute("SELECT key FROM benchmark_dataset")
        keys = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT to_regclass('alignment_partnership') IS NOT NULL")
        migrated = cur.fetchone()[0]
        partnerships = 0
        if migrated:
            cur.execute("SELECT count(*) FROM alignment_partnership")
            partnerships = cur.fetchone()[0]
    conn.close()
    if key in keys:
        return "same"
    if not keys and partnerships == 0:
        return "empty"
    return "other"


def record_dataset(url: str, key: str, seconds: float) -> None:
    conn = pg_connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DATASET_TABLE)
        cur.execute("INSERT INTO benchmark_dataset VALUES (%s, now(), %s)", [key, seconds])
    conn.close()


def vacuum_analyze(url: str) -> None:
    """Fresh statistics after a bulk load, as autovacuum would give a long-running database."""
    log("VACUUM ANALYZE")
    conn = pg_connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()


def django_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PARTNERPLAN_"))}
    var_dir = Path(args.var_dir)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
            "PARTNERPLAN_VAR_DIR": str(var_dir),
            "STATIC_ROOT": str(var_dir / "static"),
            "SITE_URL": f"http://{HOST}:{args.port}",
            "PYTHONPATH": f"{args.app_dir}{os.pathsep}{HERE}",
            "BENCH_APP_DIR": str(args.app_dir),
        }
    )
    return env


def manage(env: dict[str, str], *command: str, timeout: float = 600) -> None:
    log("manage.py " + " ".join(command))
    app_dir = Path(env["BENCH_APP_DIR"])
    subprocess.run([PYTHON, str(app_dir / "manage.py"), *command], env=env, cwd=app_dir, check=True, timeout=timeout)


def export_commit(rev: str, var_dir: Path) -> Path:
    """The tree of one commit, outside the working tree, so edits in progress are not measured."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = var_dir / f"src-{commit[:12]}"
    if not target.exists():
        log(f"exporting commit {commit[:12]} to {target}")
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(target)
    return target


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("installing Debian's wrk (apt-get install wrk)")
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], timeout=600).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed; install it with: apt-get install wrk")
    return found


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# --- the server ----------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(args: argparse.Namespace, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log_path = Path(args.var_dir) / "gunicorn.log"
    command = [
        str(Path(PYTHON).parent / "gunicorn"),
        "partnerplan.wsgi:application",
        "--bind",
        f"{HOST}:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "sync",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
        "--no-control-socket",
    ]
    log(f"starting gunicorn with {args.workers} workers on {HOST}:{args.port} (log: {log_path})")
    with log_path.open("ab") as log_file:
        server = subprocess.Popen(
            command, env=env, cwd=args.app_dir, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited with {server.returncode}; see {log_path}")
            with contextlib.suppress(OSError):
                if http_get(args.port, "/healthz")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer /healthz within 60 s; see {log_path}")
            time.sleep(0.3)
        yield server
    finally:
        log("stopping gunicorn")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


# --- wrk -----------------------------------------------------------------------------------------


def run_wrk(
    args: argparse.Namespace,
    scenario: Scenario,
    fixture: dict[str, Any],
    seconds: float,
    rate_per_thread: float = 0.0,
    connections: int = 0,
    threads: int = 0,
) -> dict[str, Any]:
    threads = threads or scenario.threads or args.threads
    connections = connections or (threads if scenario.mode == "own" or rate_per_thread else args.connections)
    connections = max(connections, threads)
    headers = []
    if scenario.auth in ("session", "both"):
        headers.append(f"Cookie: sessionid={fixture['session_cookie']}")
    if scenario.auth in ("token", "both"):
        headers.append(f"Authorization: Bearer {fixture['api_token']}")
    with tempfile.TemporaryDirectory(prefix="pp_bench_wrk_") as tmp:
        requests_file = Path(tmp) / "requests.tsv"
        requests_file.write_text("\n".join(scenario.lines) + "\n")
        out = Path(tmp) / "out.json"
        env = dict(
            os.environ,
            BENCH_REQUESTS=str(requests_file),
            BENCH_HEADERS="|".join(headers),
            BENCH_MODE=scenario.mode,
            BENCH_RATE=str(rate_per_thread),
            BENCH_OUT=str(out),
        )
        command = [
            args.wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "60s",
            "-s",
            str(HERE / "scenario.lua"),
            f"http://{HOST}:{args.port}",
        ]
        settle(args.port)
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
        if completed.returncode != 0 or not out.exists():
            raise SystemExit(f"wrk failed for {scenario.name}: {completed.stderr or completed.stdout}")
        raw = json.loads(out.read_text())
    seconds_run = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "p50": raw["p50_us"] / 1000,
        "p95": raw["p95_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "max": raw["max_us"] / 1000,
        "rps": raw["requests"] / seconds_run if seconds_run else 0.0,
        "errors": errors,
        "error_kinds": raw["errors"],
        # The machine is shared: the 1-minute load average after the scenario says how much.
        "loadavg": round(os.getloadavg()[0], 2),
    }


class ScenarioFailed(Exception):
    """A scenario that cannot be measured (its endpoint answers an error); the others go on."""


def attempt(failures: dict[str, str], name: str, step: Any, *args: Any) -> Any:
    try:
        return step(*args)
    except ScenarioFailed as exc:
        log(f"{name} is not measured: {exc}")
        failures[name] = str(exc)
        return None


def settle(port: int, limit: float = 60.0) -> None:
    """Wait until the workers have finished requests left over from the last scenario (wrk closes its
    connections when its time is up, but a sync worker finishes the request it holds), so one
    scenario's backlog is not measured as the next one's latency."""
    deadline = time.monotonic() + limit
    fast = 0
    while fast < 3 and time.monotonic() < deadline:
        started = time.perf_counter()
        http_get(port, "/healthz")
        fast = fast + 1 if time.perf_counter() - started < 0.05 else 0
        time.sleep(0.05)


MIN_SAMPLES = 8


def measure(
    args: argparse.Namespace, s: Scenario, fixture: dict[str, Any], seconds: float, failures: dict[str, str]
) -> dict[str, Any] | None:
    """Latency from one connection (a request on an otherwise idle server: what a person waits),
    throughput from ``--connections`` connections (what the workers deliver when all are busy)."""
    if s.name == "goal_patch":
        # Fresh ETags before each wrk process: every PATCH of the previous one made them stale.
        settle(args.port)
        s.lines = attempt(failures, s.name, patch_lines, args, fixture) or []
        if not s.lines:
            failures.setdefault(s.name, "no draft goal to PATCH in the big partnership")
            return None
        latency = run_wrk(args, s, fixture, seconds, connections=1, threads=1)
        settle(args.port)  # the last PATCH of the run above may still be committing
        s.lines = patch_lines(args, fixture)
        busy = run_wrk(args, s, fixture, seconds, threads=len(s.lines))
    else:
        if s.name == "plan_api_unchanged":  # the tag of the plan as it is now (the hour is in it)
            s.lines = attempt(failures, s.name, unchanged_plan_lines, args, fixture) or []
            if not s.lines:
                return None
        latency = run_wrk(args, s, fixture, seconds, connections=1, threads=1)
        busy = run_wrk(args, s, fixture, seconds)
    return dict(
        latency,
        rps=busy["rps"],
        rps_one_connection=latency["rps"],
        busy=busy,
        errors=latency["errors"] + busy["errors"],
        requests=latency["requests"] + busy["requests"],
    )


def probe(args: argparse.Namespace, scenario: Scenario, fixture: dict[str, Any]) -> None:
    """One request of each line before measuring, so a wrong URL or a 500 stops the scenario with its
    reason. The slowest of them sets how long the scenario runs (enough requests for a median)."""
    headers = {}
    if scenario.auth == "session":
        headers["Cookie"] = f"sessionid={fixture['session_cookie']}"
    if scenario.auth == "token":
        headers["Authorization"] = f"Bearer {fixture['api_token']}"
    for line in scenario.lines:
        method, path = line.split("\t")[:2]
        if method != "GET":
            continue
        headers["Accept"] = "application/json" if path.startswith("/api/") else "text/html"
        started = time.perf_counter()
        status, _, body = http_get(args.port, path, headers)
        scenario.probe_seconds = max(scenario.probe_seconds, time.perf_counter() - started)
        if status >= 400:
            raise ScenarioFailed(f"GET {path} answered {status}: {body[:400]!r}")


# --- scenarios -----------------------------------------------------------------------------------


def goal_list_lines(fixture: dict[str, Any]) -> list[str]:
    """The filters a CRM sync or a partner manager uses: one plan by status or period, the portfolio by both."""
    p = fixture["partnership"]
    today = time.gmtime()
    quarter = f"{today.tm_year}-Q{(today.tm_mon - 1) // 3 + 1}"
    return [
        f"GET\t/api/v1/goals?partnership={p}&status=agreed",
        f"GET\t/api/v1/goals?partnership={p}&period={quarter}",
        "GET\t/api/v1/goals?status=proposed",
        f"GET\t/api/v1/goals?status=agreed&period={quarter}",
    ]


def build_scenarios(fixture: dict[str, Any]) -> list[Scenario]:
    p = fixture["partnership"]
    size = f"{fixture['partnership_objectives']} objectives, {fixture['partnership_goals']} goals"
    scenarios = [
        Scenario("floor", "floor: GET /healthz", "", ["GET\t/healthz"]),
        # What any authenticated API read costs (token, throttle, access, one small object): the
        # floor of the API, beside the floor of the server.
        Scenario(
            "api_floor",
            "API floor: GET one goal",
            "goal_detail",
            [f"GET\t/api/v1/goals/{g}" for g in fixture["patch_goals"][:1]],
            auth="token",
        ),
        Scenario(
            "dashboard",
            f"dashboard, vendor admin of {fixture['vendor_partnerships']} partnerships",
            "dashboard",
            ["GET\t/"],
            auth="session",
        ),
        Scenario("plan_page", f"plan page ({size})", "plan_page", [f"GET\t/p/{p}/"], auth="session"),
        Scenario("plan_api", f"GET /plan ({size})", "plan_api", [f"GET\t/api/v1/partnerships/{p}/plan"], auth="token"),
        # A client that holds the plan and asks whether it changed (If-None-Match → 304).
        Scenario("plan_api_unchanged", "GET /plan, unchanged (304)", "plan_api", [], auth="token"),
        Scenario("goal_list", "goal list with filters", "goal_list", goal_list_lines(fixture), auth="token"),
        # Filled in after the full sync, with the cursor it ended on.
        Scenario("changes_incremental", "change feed, incremental sync, no changes", "changes", [], auth="token"),
        Scenario("goal_patch", "PATCH goal with If-Match", "goal_detail", [], auth="token", mode="own"),
    ]
    filled_later = {"changes_incremental", "goal_patch", "plan_api_unchanged"}
    return [
        s for s in scenarios if (not s.route or fixture["routes"].get(s.route)) and (s.lines or s.name in filled_later)
    ]


def unchanged_plan_lines(args: argparse.Namespace, fixture: dict[str, Any]) -> list[str]:
    path = f"/api/v1/partnerships/{fixture['partnership']}/plan"
    status, headers, body = http_get(args.port, path, {"Authorization": f"Bearer {fixture['api_token']}"})
    if status != 200 or "etag" not in headers:
        raise ScenarioFailed(f"GET {path} answered {status} without an ETag: {body[:300]!r}")
    return [f"GET\t{path}\t\t\t{headers['etag']}"]


def patch_lines(args: argparse.Namespace, fixture: dict[str, Any]) -> list[str]:
    lines = []
    for goal_id in fixture["patch_goals"]:
        path = f"/api/v1/goals/{goal_id}"
        status, headers, body = http_get(args.port, path, {"Authorization": f"Bearer {fixture['api_token']}"})
        if status != 200 or "etag" not in headers:
            raise ScenarioFailed(f"GET {path} answered {status} without an ETag: {body[:300]!r}")
        # scenario.lua puts a counter in place of {n}: every PATCH is a real change that bumps the version.
        description = f"Benchmark edit {{n}} of {time.time():.0f}"
        lines.append(f"PATCH\t{path}\t{json.dumps({'description': description})}\t{headers['etag']}")
    return lines


def full_sync(args: argparse.Namespace, fixture: dict[str, Any], limit: int = 0) -> dict[str, Any]:
    command = [
        PYTHON,
        str(HERE / "feed_sync.py"),
        "--port",
        str(args.port),
        "--token",
        fixture["api_token"],
        "--limit",
        str(limit or args.feed_limit),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if completed.returncode != 0:
        raise ScenarioFailed(f"full sync failed: {(completed.stderr or completed.stdout)[-1000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the run -------------------------------------------------------------------------------------


def seed_commands(dataset: dict[str, int]) -> list[list[str]]:
    """seed_demo calls that build the dataset: first the big plan, then the rest of the portfolio.

    seed_demo spreads goals evenly and numbers its volume partnerships, skipping those that exist.
    So volume partnership 0 is built alone with ``big_goals`` goals, then all ``partnerships`` are
    asked for with a goal total chosen so that the other ones get exactly ``goals - big_goals``
    between them. Check-ins are spread in proportion to goals.
    """
    total, big, count, check_ins = dataset["goals"], dataset["big_goals"], dataset["partnerships"], dataset["check_ins"]
    big_check_ins = check_ins * big // total
    rest = total - big
    per, extra = divmod(rest, count - 1)
    # goals_of(i) = G // count + (1 if i < G % count): with G = per * count + extra + 1 the partnerships
    # 1 .. count-1 get per goals each and extra of them one more.
    asked = per * count + (extra + 1 if extra else 0)
    return [
        ["--partnerships", "1", "--goals-per-partnership", str(big), "--check-ins", str(big_check_ins)],
        [
            "--partnerships",
            str(count),
            "--goals",
            str(asked),
            "--check-ins",
            str((check_ins - big_check_ins) * asked // rest),
        ],
    ]


def seed(args: argparse.Namespace, env: dict[str, str], dataset: dict[str, int]) -> None:
    key = json.dumps(dataset, sort_keys=True)
    state = dataset_state(args.database_url, key)
    if state == "same" and not args.reseed:
        log(f"database already holds the dataset {key}: not seeding")
        return
    if state in ("other", "same"):
        drop_database(args.database_url)
        ensure_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
    log(f"seeding {key} (this takes a while at full size)")
    started = time.monotonic()
    for command in seed_commands(dataset):
        manage(env, "seed_demo", *command, timeout=3 * 3600)
    seconds = time.monotonic() - started
    record_dataset(args.database_url, key, seconds)
    log(f"seeded in {seconds:.0f} s")
    vacuum_analyze(args.database_url)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(scenario: Scenario, floors: list[float], api_floors: list[float]) -> dict[str, Any]:
    rs = scenario.results
    ratios = [r["p50"] / f for r, f in zip(rs, floors, strict=False) if f]
    api_ratios = [r["p50"] / f for r, f in zip(rs, api_floors, strict=False) if f]
    return {
        "scenario": scenario.name,
        "label": scenario.label,
        "runs": len(rs),
        "requests": int(median([r["requests"] for r in rs])),
        "p50": median([r["p50"] for r in rs]),
        "p95": median([r["p95"] for r in rs]),
        "p99": median([r["p99"] for r in rs]),
        "rps": median([r["rps"] for r in rs]),
        "errors": sum(r["errors"] for r in rs),
        "ratio": median(ratios),
        "api_ratio": median(api_ratios),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors", "p50/floor", "p50/API floor")
    body = [
        (
            r["label"],
            str(r["requests"]),
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['p99']:.1f}",
            f"{r['rps']:.1f}",
            str(r["errors"]),
            f"{r['ratio']:.2f}",
            "" if math.isnan(r.get("api_ratio", math.nan)) else f"{r['api_ratio']:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print(
            "| "
            + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths, strict=True)))
            + " |"
        )


# The mixes of the fixed-rate load, per 20 requests. "reads": mostly clients polling the change feed
# and listing goals, now and then someone opening the dashboard or a whole plan. "sync": the API
# traffic of REST clients alone (polling the feed, listing goals).
LOAD_MIXES = {
    "reads": {"changes_incremental": 10, "goal_list": 7, "plan_api": 1, "plan_page": 1, "dashboard": 1},
    "sync": {"changes_incremental": 10, "goal_list": 10},
}


def fixed_rate_load(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    fixture: dict[str, Any],
    summaries: dict[str, dict[str, Any]],
    mix_weights: dict[str, int],
) -> dict[str, Any]:
    """A mix at a fixed rate for --load-seconds, starting at half its capacity and halving the rate
    (three tries at most) until p95 < 250 ms."""
    weights = {n: w for n, w in mix_weights.items() if n in summaries}
    lines: list[str] = []
    for s in scenarios:
        for k in range(weights.get(s.name, 0)):
            lines.append(s.lines[k % len(s.lines)])
    # Requests of the mix go out in turn: its capacity is the weighted harmonic mean of the scenarios'.
    capacity = sum(weights.values()) / sum(w / max(summaries[n]["rps"], 0.01) for n, w in weights.items())
    rate = args.load_rate or round(capacity * 0.5, 2)
    # Pages read the session cookie, the API the bearer token: both go on every request of the mix.
    mix = Scenario("load", "mixed reads", "", lines, auth="both", threads=args.load_threads)
    attempts = []
    for _ in range(3):
        threads = args.load_threads
        log(f"fixed-rate load: {rate} req/s for {args.load_seconds:.0f} s over {threads} paced connections ({weights})")
        result = run_wrk(args, mix, fixture, args.load_seconds, rate_per_thread=rate / threads, connections=threads)
        result["target_rps"] = rate
        attempts.append(result)
        if result["p95"] < 250 or args.load_rate or rate <= 0.5:
            break
        rate = round(rate / 2, 2)
    return {"mix": weights, "capacity_estimate": capacity, "attempts": attempts}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["cpu"] = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
        info["load_before"] = os.getloadavg()
        info["wrk"] = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small dataset and short runs, to try the harness")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario; the table shows medians")
    parser.add_argument("--duration", type=float, default=None, help="seconds per scenario and run (10; quick 3)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8765")))
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn sync workers")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--connections",
        type=int,
        default=2 * (os.cpu_count() or 1),
        help="wrk connections for the throughput column (latency uses one)",
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=90.0,
        help=f"upper bound of a slow scenario's run (it runs long enough for {MIN_SAMPLES} requests)",
    )
    parser.add_argument("--feed-limit", type=int, default=1000, help="page size of the full sync")
    parser.add_argument(
        "--feed-max-limit", type=int, default=5000, help="also sync at this page size (the feed's largest; 0 = don't)"
    )
    parser.add_argument("--load-seconds", type=float, default=None, help="fixed-rate load duration (60; quick 10)")
    parser.add_argument("--load-rate", type=float, default=0.0, help="fixed rate in req/s (default: half capacity)")
    parser.add_argument("--load-threads", type=int, default=4, help="paced connections of the fixed-rate load")
    parser.add_argument("--only", default="", help="comma-separated scenario names (the floor always runs)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the dataset again")
    parser.add_argument("--seed-only", action="store_true", help="prepare the database, then stop")
    parser.add_argument("--var-dir", default=os.environ.get("PARTNERPLAN_VAR_DIR", "/tmp/pp_bench"))
    parser.add_argument(
        "--commit", default="", help="measure this commit (exported with git archive) instead of the working tree"
    )
    parser.add_argument("--json", default="", help="where to write all results (default: in --var-dir)")
    args = parser.parse_args()

    dataset = QUICK_DATASET if args.quick else FULL_DATASET
    args.database_url = args.database_url or (DEFAULT_DATABASE_URL + ("_quick" if args.quick else ""))
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.load_seconds = args.load_seconds or (10.0 if args.quick else 60.0)
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)
    args.wrk = ensure_wrk()
    args.app_dir = export_commit(args.commit, Path(args.var_dir)) if args.commit else ROOT
    env = django_env(args)
    info = machine()

    ensure_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    seed(args, env, dataset)
    if args.seed_only:
        return
    manage(env, "collectstatic", "--noinput", "-v", "0")

    fixture_path = Path(args.var_dir) / "fixture.json"
    subprocess.run(
        [PYTHON, str(HERE / "prepare.py"), str(fixture_path), "2"], env=env, cwd=args.app_dir, check=True, timeout=300
    )
    fixture = json.loads(fixture_path.read_text())
    scenarios = build_scenarios(fixture)
    if args.only:
        wanted = {"floor", *args.only.split(",")}
        scenarios = [s for s in scenarios if s.name in wanted]
    missing = sorted(k for k, v in fixture["routes"].items() if not v)
    if missing:
        log(f"not in this build yet, skipped: {', '.join(missing)}")
    by_name = {s.name: s for s in scenarios}
    syncs: list[dict[str, Any]] = []
    big_syncs: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "machine": info,
        "dataset": dataset,
        "code": str(args.app_dir),
        "fixture": {k: v for k, v in fixture.items() if k not in ("session_cookie", "api_token")},
    }

    failures: dict[str, str] = {}
    with gunicorn(args, env):
        for s in scenarios:
            if s.lines:
                attempt(failures, s.name, probe, args, s, fixture)
        log("warming up")
        for s in scenarios:
            if s.lines and s.mode == "rotate" and s.name not in failures:
                run_wrk(args, s, fixture, 2)
        for run in range(1, args.runs + 1):
            log(f"run {run} of {args.runs}")
            for s in scenarios:
                if s.name == "changes_incremental" and s.name not in failures:
                    sync = attempt(failures, "full_sync", full_sync, args, fixture)
                    if sync is None:
                        failures[s.name] = "needs the cursor of a full sync"
                        continue
                    syncs.append(sync)
                    log(f"full sync: {sync['events']} events in {sync['pages']} pages, {sync['seconds']} s")
                    if args.feed_max_limit:
                        big = attempt(failures, "full_sync_max", full_sync, args, fixture, args.feed_max_limit)
                        if big is not None:
                            big_syncs.append(big)
                            log(
                                f"full sync, {args.feed_max_limit} a page: {big['events']} events in "
                                f"{big['pages']} pages, {big['seconds']} s"
                            )
                    s.lines = [f"GET\t/api/v1/changes?{urllib.parse.urlencode({'since': sync['cursor'] or ''})}"]
                    attempt(failures, s.name, probe, args, s, fixture)
                if s.name in failures:
                    continue
                seconds = min(max(args.duration, MIN_SAMPLES * s.probe_seconds), args.max_duration)
                log(f"  {s.name} ({seconds:.0f} s at 1 connection, then at {args.connections})")
                result = measure(args, s, fixture, seconds, failures)
                if result is not None:
                    s.results.append(result)
        results["failures"] = failures
        floors = [r["p50"] for r in by_name["floor"].results]
        api_floors = [r["p50"] for r in by_name["api_floor"].results] if "api_floor" in by_name else []
        summaries = {s.name: summarise(s, floors, api_floors) for s in scenarios if s.results}
        results["scenarios"] = {n: dict(v, each=by_name[n].results) for n, v in summaries.items()}
        if syncs:
            results["full_sync"] = {
                "each": syncs,
                "seconds": median([s["seconds"] for s in syncs]),
                "events": syncs[-1]["events"],
                "pages": syncs[-1]["pages"],
            }
        if big_syncs:
            results["full_sync_max"] = {
                "each": big_syncs,
                "seconds": median([s["seconds"] for s in big_syncs]),
                "events": big_syncs[-1]["events"],
                "pages": big_syncs[-1]["pages"],
                "limit": args.feed_max_limit,
            }
        if not args.skip_load and len(summaries) > 1:
            results["load"] = {
                name: fixed_rate_load(args, scenarios, fixture, summaries, weights)
                for name, weights in LOAD_MIXES.items()
                if any(n in summaries for n in weights)
            }

    if not args.skip_sweep:
        sweep = subprocess.run(
            [PYTHON, str(HERE / "sweep.py"), "--runs", str(args.runs), *(["--quick"] if args.quick else [])],
            env=dict(env, DATABASE_URL=args.database_url + "_sweep"),
            cwd=args.app_dir,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if sweep.returncode == 0:
            results["sweep"] = json.loads(sweep.stdout.strip().splitlines()[-1])
        else:
            log(f"reminder sweep benchmark failed: {sweep.stderr[-2000:]}")

    out = Path(args.json or Path(args.var_dir) / f"results-{time.strftime('%Y%m%dT%H%M%S')}.json")
    out.write_text(json.dumps(results, indent=2, default=str))
    report(results, args)
    log(f"all numbers: {out}")


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(
        f"Partnerplan benchmark — {results['machine'].get('cpus')} CPUs, dataset {results['dataset']}, "
        f"medians of {args.runs} runs; latency from one connection, req/s from {args.connections}"
    )
    print()
    print_table(list(results["scenarios"].values()))
    if "full_sync" in results:
        sync = results["full_sync"]
        print(
            f"\nfull sync through the change feed: {sync['events']} events in {sync['pages']} pages, "
            f"median {sync['seconds']:.2f} s (runs: {', '.join(str(s['seconds']) for s in sync['each'])})"
        )
    if "full_sync_max" in results:
        sync = results["full_sync_max"]
        print(
            f"full sync at {sync['limit']} a page: {sync['events']} events in {sync['pages']} pages, "
            f"median {sync['seconds']:.2f} s (runs: {', '.join(str(s['seconds']) for s in sync['each'])})"
        )
    for name, reason in results.get("failures", {}).items():
        print(f"not measured: {name}: {reason}")
    for mix, load in results.get("load", {}).items():
        for attempt in load["attempts"]:
            print(
                f"fixed-rate load, {mix} mix, {attempt['target_rps']} req/s for {args.load_seconds:.0f} s: achieved "
                f"{attempt['rps']:.1f} req/s, p50 {attempt['p50']:.1f} ms, p95 {attempt['p95']:.1f} ms, "
                f"p99 {attempt['p99']:.1f} ms, errors {attempt['errors']}"
            )
    if "sweep" in results:
        sweep = results["sweep"]
        print(
            f"reminder sweep: find due among {sweep['schedules']} schedules median {sweep['find_due_s']:.3f} s; "
            f"enqueue {sweep['reminders']} reminders through Redis median {sweep['enqueue_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
