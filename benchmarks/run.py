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
# A scale multiplies the portfolio (partnerships, goals, check-ins and so the change log); the big plan
# the plan scenarios read keeps its size, so a growth ratio compares the same plan in a bigger database.
SCALED = ("partnerships", "goals", "check_ins")
# The n-th scale after the first uses the Redis database this much above the first one's (7, 11, 15).
REDIS_DB_STEP = 4


def dataset_at(scale: int, quick: bool) -> dict[str, int]:
    base = QUICK_DATASET if quick else FULL_DATASET
    return {k: v * scale if k in SCALED else v for k, v in base.items()}


def scaled_url(url: str, scale: int) -> str:
    """The database of a scale: ``pp_bench`` at scale 1, ``pp_bench_10x`` at scale 10."""
    if scale == 1:
        return url
    parts = urllib.parse.urlparse(url)
    return urllib.parse.urlunparse(parts._replace(path=f"{parts.path}_{scale}x"))


def scaled_redis_url(url: str, index: int) -> str:
    parts = urllib.parse.urlparse(url)
    db = int(parts.path.lstrip("/") or 0) + REDIS_DB_STEP * index
    if db > 15:
        raise SystemExit(f"no Redis database {db} for scale number {index + 1}: give a lower --redis-url database")
    return urllib.parse.urlunparse(parts._replace(path=f"/{db}"))


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
DATASET_COUNTS = "ALTER TABLE benchmark_dataset ADD COLUMN IF NOT EXISTS counts jsonb"


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
    if keys == [SEEDING + key]:
        return "partial"
    return "other"


# Recorded while a dataset is being written, so an interrupted seed resumes instead of starting over.
SEEDING = "seeding "


def mark_seeding(url: str, key: str) -> None:
    conn = pg_connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DATASET_TABLE)
        cur.execute(
            "INSERT INTO benchmark_dataset (key, seeded_at) VALUES (%s, now()) ON CONFLICT DO NOTHING", [SEEDING + key]
        )
    conn.close()


def record_dataset(url: str, key: str, seconds: float, counts: dict[str, int]) -> None:
    conn = pg_connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DATASET_TABLE)
        cur.execute(DATASET_COUNTS)
        cur.execute("DELETE FROM benchmark_dataset WHERE key = %s", [SEEDING + key])
        cur.execute(
            "INSERT INTO benchmark_dataset (key, seeded_at, seconds, counts) VALUES (%s, now(), %s, %s)",
            [key, seconds, json.dumps(counts)],
        )
    conn.close()


def dataset_record(url: str, key: str) -> dict[str, Any]:
    """When and how fast the dataset was seeded, and what it holds (as recorded when it was)."""
    conn = pg_connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DATASET_TABLE)
        cur.execute(DATASET_COUNTS)
        cur.execute("SELECT seeded_at, seconds, counts FROM benchmark_dataset WHERE key = %s", [key])
        row = cur.fetchone()
    conn.close()
    if row is None:
        return {}
    return {"seeded_at": row[0].isoformat(), "seed_seconds": row[1], "counts": row[2]}


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


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# --- the server ----------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(args: argparse.Namespace, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log_path = Path(args.var_dir) / f"gunicorn-{getattr(args, 'scale', 1)}x.log"
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


def attempt(failures: dict[str, str], name: str, step: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return step(*args, **kwargs)
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


COLD_MIN_SAMPLES = 3
COLD_MAX_SAMPLES = 20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (what a handful of samples allows)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure_cold(args: argparse.Namespace, s: Scenario, fixture: dict[str, Any], seconds: float) -> dict[str, Any]:
    """A page with nothing cached: the scale's Redis database is emptied before each request (as after a
    cache flush or a Redis restart), for ``seconds`` and at least three requests, one at a time. The
    pages the other scenarios read are requested once afterwards, so they measure a warm cache again."""
    import redis

    client = redis.Redis.from_url(args.redis_url)
    headers = {"Cookie": f"sessionid={fixture['session_cookie']}", "Accept": "text/html"}
    path = s.lines[0].split("\t")[1]
    times: list[float] = []
    errors: dict[str, int] = {}
    settle(args.port)
    deadline = time.monotonic() + seconds
    try:
        while len(times) < COLD_MIN_SAMPLES or (time.monotonic() < deadline and len(times) < COLD_MAX_SAMPLES):
            client.flushdb()
            started = time.perf_counter()
            try:
                status = http_get(args.port, path, headers, timeout=120)[0]
            except OSError as exc:
                status, kind = 0, type(exc).__name__
            else:
                kind = f"status {status}"
            times.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                errors[kind] = errors.get(kind, 0) + 1
    finally:
        client.close()
    rewarm(args, fixture)
    ms = [t * 1000 for t in times]
    return {
        "requests": len(ms),
        "p50": percentile(ms, 0.5),
        "p95": percentile(ms, 0.95),
        "p99": percentile(ms, 0.99),
        "max": max(ms),
        "rps": len(ms) / sum(times),
        "rps_one_connection": len(ms) / sum(times),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "loadavg": round(os.getloadavg()[0], 2),
    }


def rewarm(args: argparse.Namespace, fixture: dict[str, Any]) -> None:
    """One request of every page and plan the warm scenarios read, after the cache was emptied."""
    session = {"Cookie": f"sessionid={fixture['session_cookie']}", "Accept": "text/html"}
    token = {"Authorization": f"Bearer {fixture['api_token']}", "Accept": "application/json"}
    p = fixture["partnership"]
    for path, headers in (("/", session), (f"/p/{p}/", session), (f"/api/v1/partnerships/{p}/plan", token)):
        with contextlib.suppress(OSError):
            http_get(args.port, path, headers, timeout=120)


def probe(args: argparse.Namespace, scenario: Scenario, fixture: dict[str, Any]) -> None:
    """One request of each line before measuring, so a wrong URL or a 500 stops the scenario with its
    reason. The slowest of them sets how long the scenario runs (enough requests for a median); it is
    timed on a second request, once the first has filled what the page caches."""
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
        for _ in range(1 if scenario.mode == "cold" else 2):
            started = time.perf_counter()
            try:
                status, _, body = http_get(args.port, path, headers, timeout=120)
            except OSError as exc:
                raise ScenarioFailed(f"GET {path} did not answer: {exc}") from exc
            if status >= 400:
                raise ScenarioFailed(f"GET {path} answered {status}: {body[:400]!r}")
        scenario.probe_seconds = max(scenario.probe_seconds, time.perf_counter() - started)


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
        # Last in a run: it empties the cache before each of its requests (see measure_cold).
        Scenario(
            "dashboard_cold",
            f"dashboard, cold cache ({fixture['vendor_partnerships']} partnerships)",
            "dashboard",
            ["GET\t/"],
            auth="session",
            mode="cold",
        ),
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


# The full syncs of a run: result key, the list of runs on the scale's namespace, the page size's
# option, and whether the client pipelines (asks for the next page while parsing one: feed_sync.py).
SYNC_KINDS = (
    ("full_sync", "syncs", "feed_limit", False),
    ("full_sync_max", "big_syncs", "feed_max_limit", False),
    ("full_sync_pipelined", "piped_syncs", "feed_max_limit", True),
)


def full_sync(
    args: argparse.Namespace, fixture: dict[str, Any], limit: int = 0, *, pipeline: bool = False
) -> dict[str, Any]:
    command = [
        PYTHON,
        str(HERE / "feed_sync.py"),
        "--port",
        str(args.port),
        "--token",
        fixture["api_token"],
        "--limit",
        str(limit or args.feed_limit),
        *(["--pipeline"] if pipeline else []),
    ]
    # About 3,000 pages at scale 10; the bound only stops a feed that never ends.
    completed = subprocess.run(command, capture_output=True, text=True, timeout=3600)
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
        log(f"{database_name(args.database_url)} already holds the dataset {key}: not seeding")
        return
    if state == "partial" and not args.reseed:
        # seed_demo writes whole partnerships per transaction and skips those that exist.
        log(f"resuming the interrupted seed of {key} in {database_name(args.database_url)}")
    elif state != "empty":
        drop_database(args.database_url)
        ensure_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
    mark_seeding(args.database_url, key)
    log(f"seeding {key} into {database_name(args.database_url)} (this takes a while at full size)")
    started = time.monotonic()
    for command in seed_commands(dataset):
        manage(env, "seed_demo", *command, timeout=6 * 3600)
    seconds = time.monotonic() - started
    log(f"seeded in {seconds:.0f} s" + (" (resumed: the time of this part only)" if state == "partial" else ""))
    counts = check_counts(args.database_url, dataset)
    record_dataset(args.database_url, key, seconds, dict(counts, resumed=int(state == "partial")))
    vacuum_analyze(args.database_url)


# What a dataset must hold after seeding; the showcase adds its 2 partnerships and a few dozen rows.
EXPECTED_COUNTS = {
    "partnerships": ("alignment_partnership", "partnerships"),
    "goals": ("goals_goal", "goals"),
    "check_ins": ("goals_checkin", "check_ins"),
}


def check_counts(url: str, dataset: dict[str, int]) -> dict[str, int]:
    """Count what was seeded and stop when it is not the dataset that was asked for."""
    conn = pg_connect(url)
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for name, (table, _) in EXPECTED_COUNTS.items():
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[name] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM alignment_changeevent")
        counts["change_events"] = cur.fetchone()[0]
    conn.close()
    log("seeded counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for name, (_, key) in EXPECTED_COUNTS.items():
        wanted = dataset[key]
        # Partnerships and goals exactly (plus the showcase's few); check-ins within rounding.
        slack = 100 if name != "check_ins" else max(100, wanted // 100)
        if not wanted <= counts[name] <= wanted + slack:
            raise SystemExit(f"seeded {counts[name]} {name}, expected {wanted} (+ the showcase's few)")
    if counts["change_events"] < counts["goals"] + counts["check_ins"]:
        raise SystemExit(f"seeded only {counts['change_events']} change events for {counts['goals']} goals")
    return counts


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
    """The highest fixed rate the mix holds: --load-seconds at each rate tried, starting at a quarter of
    its capacity (--load-start), doubling while the rate holds, halving while it does not, then
    bisecting between the highest rate that held and the lowest that did not, until they are within
    --load-precision of each other or --load-steps rates have been tried. A rate holds when p95 stays
    under 250 ms with zero errors and the paced connections achieve at least 90 % of it."""
    weights = {n: w for n, w in mix_weights.items() if n in summaries}
    lines: list[str] = []
    for s in scenarios:
        for k in range(weights.get(s.name, 0)):
            lines.append(s.lines[k % len(s.lines)])
    # Requests of the mix go out in turn: its capacity is the weighted harmonic mean of the scenarios'.
    capacity = sum(weights.values()) / sum(w / max(summaries[n]["rps"], 0.01) for n, w in weights.items())
    # Pages read the session cookie, the API the bearer token: scenario.lua sends each request its own.
    mix = Scenario("load", "mixed reads", "", lines, auth="both", threads=args.load_threads)
    attempts: list[dict[str, Any]] = []
    threads = args.load_threads

    def holds(rate: float) -> bool:
        log(f"fixed-rate load: {rate} req/s for {args.load_seconds:.0f} s over {threads} paced connections ({weights})")
        result = run_wrk(args, mix, fixture, args.load_seconds, rate_per_thread=rate / threads, connections=threads)
        result["target_rps"] = rate
        result["held"] = rate_held(result, rate)
        log(
            f"  achieved {result['rps']:.1f} req/s, p95 {result['p95']:.1f} ms, errors {result['errors']}: "
            + ("holds" if result["held"] else "does not hold")
        )
        attempts.append(result)
        return bool(result["held"])

    if args.load_rate:
        holds(args.load_rate)
    else:
        search_rate(holds, max(MIN_RATE, round(capacity * args.load_start, 2)), args.load_steps, args.load_precision)
    held = [a for a in attempts if a["held"]]
    best = max(held, key=lambda a: a["target_rps"]) if held else None
    failed = [a["target_rps"] for a in attempts if not a["held"]]
    return {
        "mix": weights,
        "capacity_estimate": capacity,
        "attempts": attempts,
        "highest_held_rps": best["target_rps"] if best else None,
        "highest_held": best,
        "lowest_failed_rps": min(failed) if failed else None,
    }


LOAD_P95_MS = 250.0
MIN_RATE = 0.5


def rate_held(result: dict[str, Any], rate: float) -> bool:
    return result["p95"] < LOAD_P95_MS and result["errors"] == 0 and result["rps"] >= 0.9 * rate


def search_rate(holds: Any, start: float, steps: int, precision: float) -> float | None:
    """The highest rate for which ``holds(rate)`` is true, tried at most ``steps`` times: doubling from
    ``start`` while it holds (halving while it does not), then bisecting. None when no rate held."""
    passed: float | None = None
    failed: float | None = None
    rate = start
    for _ in range(steps):
        if holds(rate):
            passed = rate
        else:
            failed = rate
        if passed is not None and failed is not None:
            if failed <= passed * (1 + precision):
                break
            rate = round((passed + failed) / 2, 2)
        elif passed is not None:
            rate = round(rate * 2, 2)
        else:
            if rate <= MIN_RATE:
                break
            rate = max(MIN_RATE, round(rate / 2, 2))
    return passed


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
    parser.add_argument(
        "--scales",
        default="1",
        help="comma-separated dataset scales measured in the same session, run by run (e.g. 1,10: the "
        "dataset and ten times its partnerships, goals and check-ins, each in its own database and Redis "
        "database); the table then shows each scenario's growth ratio",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario; the table shows medians")
    parser.add_argument("--duration", type=float, default=None, help="seconds per scenario and run (10; quick 3)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="the 1× database (default pp_bench; quick pp_bench_quick); a scale N uses the same name + _Nx",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help=f"Redis of the 1× server; the other scales use the databases {REDIS_DB_STEP}, "
        f"{2 * REDIS_DB_STEP}, … above it",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("BENCH_PORT", "8765")), help="1× server; scale n at port + n"
    )
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
    parser.add_argument(
        "--load-seconds", type=float, default=None, help="fixed-rate load, seconds per rate tried (60; quick 20)"
    )
    parser.add_argument("--load-rate", type=float, default=0.0, help="one fixed rate in req/s instead of the search")
    parser.add_argument(
        "--load-start", type=float, default=0.25, help="first rate of the search, as a share of the mix's capacity"
    )
    parser.add_argument("--load-steps", type=int, default=6, help="rates tried at most per mix and scale")
    parser.add_argument(
        "--load-precision", type=float, default=0.1, help="stop when the lowest failing rate is this close above"
    )
    parser.add_argument("--load-threads", type=int, default=4, help="paced connections of the fixed-rate load")
    parser.add_argument(
        "--load-mixes", default=",".join(LOAD_MIXES), help=f"mixes of the fixed-rate load ({', '.join(LOAD_MIXES)})"
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names (the floor always runs)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the datasets again")
    parser.add_argument("--seed-only", action="store_true", help="prepare the databases, then stop")
    parser.add_argument("--var-dir", default=os.environ.get("PARTNERPLAN_VAR_DIR", "/tmp/pp_bench"))
    parser.add_argument(
        "--commit", default="", help="measure this commit (exported with git archive) instead of the working tree"
    )
    parser.add_argument("--json", default="", help="where to write all results (default: in --var-dir)")
    args = parser.parse_args()

    scales = parse_scales(args.scales)
    unknown_mixes = set(filter(None, args.load_mixes.split(","))) - set(LOAD_MIXES)
    if unknown_mixes:
        raise SystemExit(f"--load-mixes: no mix named {', '.join(sorted(unknown_mixes))}")
    args.database_url = args.database_url or (DEFAULT_DATABASE_URL + ("_quick" if args.quick else ""))
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.load_seconds = args.load_seconds or (20.0 if args.quick else 60.0)
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)
    args.wrk = ensure_wrk()
    args.app_dir = export_commit(args.commit, Path(args.var_dir)) if args.commit else ROOT
    info = machine()
    targets = make_targets(args, scales)

    for t in targets:
        ensure_database(t.database_url)
        manage(t.env, "migrate", "--noinput", "-v", "0")
        seed(t, t.env, t.dataset)
        t.dataset_record = dataset_record(t.database_url, json.dumps(t.dataset, sort_keys=True))
    if args.seed_only:
        return
    manage(targets[0].env, "collectstatic", "--noinput", "-v", "0")
    for t in targets:
        fixture_path = Path(args.var_dir) / f"fixture-{t.scale}x.json"
        subprocess.run(
            [PYTHON, str(HERE / "prepare.py"), str(fixture_path), "2"],
            env=t.env,
            cwd=args.app_dir,
            check=True,
            timeout=600,
        )
        t.fixture = json.loads(fixture_path.read_text())
        t.scenarios = build_scenarios(t.fixture)
        if args.only:
            wanted = {"floor", *args.only.split(",")}
            t.scenarios = [s for s in t.scenarios if s.name in wanted]
        missing = sorted(k for k, v in t.fixture["routes"].items() if not v)
        if missing:
            log(f"not in this build yet, skipped: {', '.join(missing)}")
        flush_cache(t.redis_url)
    same_plan = len({(t.fixture["partnership"], t.fixture["partnership_goals"]) for t in targets}) == 1
    if not same_plan:
        log("the scales' plan scenarios do not read the same partnership: their growth ratios compare different plans")

    with contextlib.ExitStack() as servers:
        for t in targets:
            servers.enter_context(gunicorn(t, t.env))
        for t in targets:
            for s in t.scenarios:
                if s.lines:
                    attempt(t.failures, s.name, probe, t, s, t.fixture)
            log(f"warming up at {t.scale}×")
            for s in t.scenarios:
                if s.lines and s.mode == "rotate" and s.name not in t.failures:
                    run_wrk(t, s, t.fixture, 2)
        # Run by run, every scale in turn: a busy minute on the shared machine touches both sides of a ratio.
        for run in range(1, args.runs + 1):
            for t in targets:
                log(f"run {run} of {args.runs}" + (f" at {t.scale}×" if len(targets) > 1 else ""))
                measure_run(t)
        for t in targets:
            floors = [r["p50"] for r in t.by_name["floor"].results] if "floor" in t.by_name else []
            api_floors = [r["p50"] for r in t.by_name["api_floor"].results] if "api_floor" in t.by_name else []
            t.summaries = {s.name: summarise(s, floors, api_floors) for s in t.scenarios if s.results}
        mixes = [m for m in LOAD_MIXES if m in args.load_mixes.split(",")]
        for t in targets:
            if not args.skip_load and len(t.summaries) > 1:
                t.load = {
                    name: fixed_rate_load(t, t.scenarios, t.fixture, t.summaries, LOAD_MIXES[name])
                    for name in mixes
                    if any(n in t.summaries for n in LOAD_MIXES[name])
                }

    per_scale = {str(t.scale): scale_results(t) for t in targets}
    # The smallest scale's numbers stay at the top level, as a run of one scale writes them.
    results: dict[str, Any] = {
        "machine": info,
        "code": str(args.app_dir),
        "scales": scales,
        "same_plan_at_every_scale": same_plan,
        **per_scale[str(scales[0])],
    }
    if len(targets) > 1:
        results["by_scale"] = per_scale
        results["growth"] = growth(targets)
    results["machine"]["load_after"] = os.getloadavg()

    if not args.skip_sweep:
        sweep = subprocess.run(
            [PYTHON, str(HERE / "sweep.py"), "--runs", str(args.runs), *(["--quick"] if args.quick else [])],
            env=dict(targets[0].env, DATABASE_URL=args.database_url + "_sweep"),
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


def parse_scales(text: str) -> list[int]:
    try:
        scales = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SystemExit(f"--scales takes whole numbers separated by commas, e.g. 1,10 (got {text!r})") from None
    if not scales or scales[0] < 1:
        raise SystemExit(f"--scales: every scale is 1 or more (got {text!r})")
    return scales


def make_targets(args: argparse.Namespace, scales: list[int]) -> list[argparse.Namespace]:
    """One namespace per scale: the run's options with that scale's dataset, database, Redis and port."""
    others = [s for s in scales if s != 1]
    targets = []
    for k, scale in enumerate(scales):
        t = argparse.Namespace(**vars(args))
        t.scale = scale
        t.dataset = dataset_at(scale, args.quick)
        t.database_url = scaled_url(args.database_url, scale)
        t.redis_url = args.redis_url if scale == 1 else scaled_redis_url(args.redis_url, others.index(scale) + 1)
        t.port = args.port + k
        t.env = django_env(t)
        t.fixture, t.scenarios, t.by_name, t.failures = {}, [], {}, {}
        t.syncs, t.big_syncs, t.piped_syncs, t.summaries, t.load, t.dataset_record = [], [], [], {}, {}, {}
        targets.append(t)
    return targets


def flush_cache(redis_url: str) -> None:
    """Empty the scale's Redis database: nothing cached from another dataset or an earlier build."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def measure_run(t: argparse.Namespace) -> None:
    """One run of every scenario of one scale (the full sync before the incremental one)."""
    t.by_name = {s.name: s for s in t.scenarios}
    for s in t.scenarios:
        if s.name == "changes_incremental" and s.name not in t.failures:
            sync = attempt(t.failures, "full_sync", full_sync, t, t.fixture)
            if sync is None:
                t.failures[s.name] = "needs the cursor of a full sync"
                continue
            t.syncs.append(sync)
            log(f"full sync: {sync['events']} events in {sync['pages']} pages, {sync['seconds']} s")
            for key, runs, limit, pipeline in SYNC_KINDS[1:]:
                if not getattr(t, limit):
                    continue
                big = attempt(t.failures, key, full_sync, t, t.fixture, getattr(t, limit), pipeline=pipeline)
                if big is not None:
                    getattr(t, runs).append(big)
                    log(
                        f"full sync, {getattr(t, limit)} a page{', pipelined' if pipeline else ''}: "
                        f"{big['events']} events in {big['pages']} pages, {big['seconds']} s"
                    )
            s.lines = [f"GET\t/api/v1/changes?{urllib.parse.urlencode({'since': sync['cursor'] or ''})}"]
            attempt(t.failures, s.name, probe, t, s, t.fixture)
        if s.name in t.failures:
            continue
        if s.mode == "cold":
            log(f"  {s.name} (cache flushed before each request, {t.duration:.0f} s)")
            s.results.append(measure_cold(t, s, t.fixture, t.duration))
            continue
        seconds = min(max(t.duration, MIN_SAMPLES * s.probe_seconds), t.max_duration)
        log(f"  {s.name} ({seconds:.0f} s at 1 connection, then at {t.connections})")
        result = measure(t, s, t.fixture, seconds, t.failures)
        if result is not None:
            s.results.append(result)


def scale_results(t: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scale": t.scale,
        "dataset": t.dataset,
        "database": database_name(t.database_url),
        "seeded": t.dataset_record,
        "fixture": {k: v for k, v in t.fixture.items() if k not in ("session_cookie", "api_token")},
        "failures": t.failures,
        "scenarios": {n: dict(v, each=t.by_name[n].results) for n, v in t.summaries.items()},
    }
    for key, runs, limit_option, pipeline in SYNC_KINDS:
        syncs, limit = getattr(t, runs), getattr(t, limit_option)
        if syncs:
            out[key] = {
                "each": syncs,
                "seconds": median([s["seconds"] for s in syncs]),
                "events": syncs[-1]["events"],
                "pages": syncs[-1]["pages"],
                "limit": limit,
                "pipelined": pipeline,
            }
    if t.load:
        out["load"] = t.load
    return out


def growth(targets: list[argparse.Namespace]) -> dict[str, Any]:
    """Each scenario's p50 at every scale against the smallest, run by run, and the median of those ratios."""
    base = targets[0]
    rows: dict[str, Any] = {}
    for name, summary in base.summaries.items():
        row: dict[str, Any] = {"label": summary["label"], str(base.scale): summary["p50"]}
        for t in targets[1:]:
            if name not in t.summaries:
                continue
            ratios = [
                big["p50"] / small["p50"]
                for small, big in zip(base.by_name[name].results, t.by_name[name].results, strict=False)
                if small["p50"]
            ]
            row[str(t.scale)] = t.summaries[name]["p50"]
            row[f"growth_{t.scale}x"] = median(ratios)
            row[f"each_{t.scale}x"] = ratios
        rows[name] = row
    for key, runs, _limit, _pipeline in SYNC_KINDS:
        syncs = {t.scale: getattr(t, runs) for t in targets}
        if all(syncs.values()):
            row = {"label": f"{key}, seconds"}
            for t in targets:
                row[str(t.scale)] = median([s["seconds"] for s in syncs[t.scale]])
            for t in targets[1:]:
                ratios = [b["seconds"] / a["seconds"] for a, b in zip(syncs[base.scale], syncs[t.scale], strict=False)]
                row[f"growth_{t.scale}x"] = median(ratios)
            rows[key] = row
    return rows


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    by_scale = results.get("by_scale") or {str(results["scale"]): results}
    for scale, part in by_scale.items():
        print()
        print(
            f"Partnerplan benchmark{f' at {scale}×' if len(by_scale) > 1 else ''} — {results['machine'].get('cpus')} "
            f"CPUs, dataset {part['dataset']}, medians of {args.runs} runs; latency from one connection, req/s "
            f"from {args.connections}"
        )
        print()
        print_table(list(part["scenarios"].values()))
        print_syncs_and_load(part, args)
    if "growth" in results:
        print()
        print(f"Growth with the dataset (p50 at each scale; growth = p50 / p50 at {results['scales'][0]}×, run by run,")
        print(f"median of {args.runs}); the plan scenarios read the same partnership at every scale:")
        print()
        print_growth_table(results)
    if "sweep" in results:
        sweep = results["sweep"]
        print(
            f"reminder sweep: find due among {sweep['schedules']} schedules median {sweep['find_due_s']:.3f} s; "
            f"enqueue {sweep['reminders']} reminders through Redis median {sweep['enqueue_s']:.2f} s"
        )
    machine_info = results["machine"]
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{v:.2f}" for v in machine_info.get("load_before", ()))
        + "; after: "
        + ", ".join(f"{v:.2f}" for v in machine_info.get("load_after", ()))
    )


def print_syncs_and_load(part: dict[str, Any], args: argparse.Namespace) -> None:
    for key, _runs, _limit, _pipeline in SYNC_KINDS:
        if key in part:
            sync = part[key]
            print(
                f"full sync through the change feed at {sync['limit']} a page"
                f"{', pipelined client' if sync.get('pipelined') else ''}: {sync['events']} "
                f"events in {sync['pages']} pages, median {sync['seconds']:.2f} s "
                f"(runs: {', '.join(str(s['seconds']) for s in sync['each'])})"
            )
    for name, reason in part.get("failures", {}).items():
        print(f"not measured: {name}: {reason}")
    for mix, load in part.get("load", {}).items():
        for attempt in load["attempts"]:
            print(
                f"fixed-rate load, {mix} mix, {attempt['target_rps']} req/s for {args.load_seconds:.0f} s: achieved "
                f"{attempt['rps']:.1f} req/s, p50 {attempt['p50']:.1f} ms, p95 {attempt['p95']:.1f} ms, "
                f"p99 {attempt['p99']:.1f} ms, errors {attempt['errors']}"
                + ("" if attempt["held"] else " — does not hold")
            )
        best = load["highest_held_rps"]
        print(
            f"fixed-rate load, {mix} mix: highest rate held (p95 < {LOAD_P95_MS:.0f} ms, no error): "
            + (f"{best} req/s" if best is not None else "none of the rates tried")
            + (f", lowest that failed {load['lowest_failed_rps']} req/s" if load["lowest_failed_rps"] else "")
        )


def print_growth_table(results: dict[str, Any]) -> None:
    scales = [str(s) for s in results["scales"]]
    base = scales[0]
    by_scale = results["by_scale"]
    header = ["scenario"]
    for scale in scales:
        header.append(f"p50 {scale}× ms")
    header += [f"growth {scale}×/{base}×" for scale in scales[1:]]
    for scale in scales:
        header.append(f"p95 {scale}× ms")
    for scale in scales:
        header.append(f"req/s {scale}×")
    header.append("errors")
    body = []
    for name, row in results["growth"].items():
        if name.startswith("full_sync"):
            continue
        cells = [row["label"]]
        cells += [f"{row[scale]:.1f}" if scale in row else "" for scale in scales]
        cells += [f"{row[f'growth_{scale}x']:.2f}" if f"growth_{scale}x" in row else "" for scale in scales[1:]]
        for column in ("p95", "rps"):
            cells += [
                f"{by_scale[scale]['scenarios'][name][column]:.1f}" if name in by_scale[scale]["scenarios"] else ""
                for scale in scales
            ]
        cells.append(str(sum(by_scale[scale]["scenarios"].get(name, {}).get("errors", 0) for scale in scales)))
        body.append(cells)
    for key, _runs, _limit, pipeline in SYNC_KINDS:
        row = results["growth"].get(key)
        if row:
            limit = by_scale[base][key]["limit"]
            events = "/".join(f"{by_scale[scale][key]['events']:,}" for scale in scales)
            cells = [f"full sync, {limit} a page{', pipelined' if pipeline else ''} ({events} events), s"]
            cells += [f"{row[scale]:.2f}" for scale in scales]
            cells += [f"{row[f'growth_{scale}x']:.2f}" for scale in scales[1:]]
            cells += [""] * (2 * len(scales)) + [""]
            body.append(cells)
    for mix in LOAD_MIXES:
        held = [by_scale[scale].get("load", {}).get(mix, {}).get("highest_held_rps") for scale in scales]
        if any(h is not None for h in held):
            cells = [f"{mix} mix: highest rate held, req/s"]
            cells += ["—" if h is None else f"{h:.1f}" for h in held]
            cells += [f"{held[k] / held[0]:.2f}" if held[0] and held[k] else "" for k in range(1, len(scales))]
            cells += [""] * (2 * len(scales)) + [""]
            body.append(cells)
    warm = results["growth"].get("dashboard")
    cold = results["growth"].get("dashboard_cold")
    print_markdown(header, body)
    if warm and cold:
        print()
        print(
            "cold dashboard / warm dashboard: "
            + ", ".join(f"{cold[s] / warm[s]:.2f} at {s}×" for s in scales if s in cold and s in warm and warm[s])
            + f"; cold at {scales[-1]}× / warm at {base}×: {cold.get(scales[-1], math.nan) / warm[base]:.2f}"
        )


def print_markdown(header: list[str], body: list[list[str]]) -> None:
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
    for b in body:
        print(
            "| "
            + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths, strict=True)))
            + " |"
        )


if __name__ == "__main__":
    main()
