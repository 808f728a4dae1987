"""``make run``'s command (``scripts/run.py``) stops the web server and the Celery worker within
seconds on Ctrl-C, SIGTERM and SIGHUP alike, leaving no process behind, and stops both when one of
them stops by itself.

Each test starts the real command on the embedded default (SQLite and the filesystem broker in a
temporary ``PARTNERPLAN_VAR_DIR``, a free port), waits until the page answers and the worker is
ready, and signals it. Every process the command starts inherits that directory in its
environment, so ``/proc/<pid>/environ`` finds them all, whoever their parent is by then. Needs no
service; runs wherever ``/proc`` exists (Linux, CI).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = str(Path(sys.executable).parent / "celery")
START_TIMEOUT = 90.0  # generous: a loaded CI machine
STOP_BOUND = 45.0  # generous too: the command stops in a few seconds, SIGKILLs after its grace
GRACE = "20"  # the command's TERM → KILL grace, so a warm shutdown is never cut short here
ETA_MESSAGES = 2  # tasks the worker holds unacknowledged until their time (the "Restoring 2")
# Settings that would point the command away from the embedded default (CI sets the first two).
NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE")

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through /proc")


def embedded_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED}
    return env | {"PARTNERPLAN_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"} | extra


def run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated embedded database and a broker queue holding tasks due in an hour."""
    var_dir = tmp_path_factory.mktemp("run-template")
    env = embedded_env(var_dir)
    run([PYTHON, "manage.py", "migrate", "--noinput"], env)
    for _ in range(ETA_MESSAGES):
        run([CELERY, "-A", "partnerplan", "call", "alignment.run_reminder_sweeps", "--countdown", "3600"], env)
    assert len(queued(var_dir)) == ETA_MESSAGES
    return var_dir


def queued(var_dir: Path) -> list[Path]:
    return list((var_dir / "broker" / "queue").glob("*.msg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_of(var_dir: Path) -> dict[int, str]:
    """Every live process started with this var dir in its environment (pid → command line).

    A zombie has no environment left: it has exited, and whoever adopted it reaps it.
    """
    marker = f"PARTNERPLAN_VAR_DIR={var_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def page_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/accounts/login/")
        return connection.getresponse().status < 500
    except OSError:
        return False
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout:g} s. Output:\n{log.read_text(errors='replace')[-4000:]}")


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    var_dir: Path
    log: Path
    port: int

    def exit_within(self, seconds: float) -> int:
        """Poll for the command's exit; fail if it is still running after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self.proc.returncode
            time.sleep(0.1)
        pytest.fail(f"still running {seconds:g} s after the signal. Output:\n{self.output()[-4000:]}")

    def leftovers(self, timeout: float = 10.0) -> dict[int, str]:
        """The command's processes still there once its children have had ``timeout`` to vanish."""
        deadline = time.monotonic() + timeout
        while (left := processes_of(self.var_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def started(prepared: Path, tmp_path: Path) -> Iterator[Running]:
    """``scripts/run.py`` on a copy of the prepared var dir, once the page answers and the worker
    holds the tasks due later (read from the queue, not acknowledged)."""
    var_dir = tmp_path / "var"
    shutil.copytree(prepared, var_dir)
    port = free_port()
    log = tmp_path / "run.log"
    env = embedded_env(var_dir, HOST="127.0.0.1", PORT=str(port), PARTNERPLAN_STOP_GRACE=GRACE)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "scripts/run.py"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    running = Running(proc, var_dir, log, port)
    try:
        wait_until(lambda: page_answers(port), START_TIMEOUT, "the page did not answer", log)
        wait_until(lambda: " ready." in running.output(), START_TIMEOUT, "the worker was not ready", log)
        wait_until(lambda: not queued(var_dir), START_TIMEOUT, "the worker did not fetch the tasks due later", log)
        yield running
    finally:
        # Whatever happened, end what this test started (by pid).
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in processes_of(var_dir):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_the_run_command_stops_web_and_worker_on_a_signal_and_leaves_nothing_behind(
    started: Running, signum: signal.Signals
) -> None:
    before = processes_of(started.var_dir)
    commands = " | ".join(before.values())
    # The command, the worker and its beat, runserver and its autoreloader's child.
    assert started.proc.pid in before and len(before) >= 5, commands
    assert "celery" in commands and "runserver" in commands

    started.proc.send_signal(signum)

    assert started.exit_within(STOP_BOUND) == 0
    assert started.leftovers() == {}
    output = started.output()
    assert f"Stopping Partnerplan ({signum.name})" in output
    assert "Killing" not in output, output[-3000:]  # both stopped on SIGTERM, well within the grace
    # A warm shutdown: the worker handed the tasks it held back to the broker, nothing lost.
    assert len(queued(started.var_dir)) == ETA_MESSAGES, output[-3000:]


@pytest.mark.parametrize("dies", ["runserver", "celery"])
def test_when_web_or_worker_dies_the_run_command_stops_the_other(started: Running, dies: str) -> None:
    (pid,) = [
        pid
        for pid, command in processes_of(started.var_dir).items()
        if dies in command and os.getpgid(pid) == pid  # the child the command started (its group's leader)
    ]
    os.kill(pid, signal.SIGKILL)

    assert started.exit_within(STOP_BOUND) == 1
    assert started.leftovers() == {}
    assert "stopping the rest" in started.output()
