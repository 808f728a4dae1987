"""``make bench`` end to end on a small dataset: seeded from nothing on PostgreSQL, served by
gunicorn, driven by wrk, every scenario measured without an error, the full sync, the fixed-rate
loads and the reminder sweep included. No timing is asserted: speed is reported by the harness and
judged in docs/performance.md."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

from tests.conftest import redis_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.bench]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_benchmark_harness_measures_every_scenario_on_a_small_dataset(tmp_path):
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/pp_bench_smoke"
    redis = urlparse(redis_url())
    out = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--reseed",
            "--runs",
            "1",
            "--duration",
            "1",
            "--load-seconds",
            "2",
            "--port",
            str(free_port()),
            "--var-dir",
            str(tmp_path),
            "--json",
            str(out),
            "--database-url",
            database_url,
            "--redis-url",
            f"redis://{redis.hostname or '127.0.0.1'}:{redis.port or 6379}/10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["failures"] == {}
    measured = results["scenarios"]
    assert set(measured) == {
        "floor",
        "api_floor",
        "dashboard",
        "plan_page",
        "plan_api",
        "plan_api_unchanged",
        "goal_list",
        "changes_incremental",
        "goal_patch",
    }
    for name, scenario in measured.items():
        assert scenario["requests"] > 0 and scenario["errors"] == 0, name
        assert scenario["p50"] <= scenario["p95"] <= scenario["p99"], name
    assert results["full_sync"]["events"] > 1000 and results["full_sync_max"]["pages"] >= 1
    assert {mix: [a["errors"] for a in load["attempts"]] for mix, load in results["load"].items()} == {
        "reads": [0] * len(results["load"]["reads"]["attempts"]),
        "sync": [0] * len(results["load"]["sync"]["attempts"]),
    }
    assert results["sweep"]["reminders"] == 1000 and results["sweep"]["schedules"] == 10000
    assert "| floor: GET /healthz" in completed.stdout
