"""Start Partnerplan on this machine: the web server plus one Celery worker with beat embedded.

Used by ``make run``. Stops both, and everything they started, within seconds when either stops
by itself or when this command gets SIGINT (Ctrl-C), SIGTERM (a process manager) or SIGHUP (a
closed terminal).

Each child runs in a session (and process group) of its own, so a signal meant for this command
reaches only this command, and stopping a child reaches what the child started too: runserver's
autoreloader child, the worker's embedded beat process. Stopping is SIGTERM to each group, then
SIGKILL to whatever is left after ``PARTNERPLAN_STOP_GRACE`` seconds (default 10).

The worker runs the thread pool: SIGTERM to its group is then a warm shutdown that lets running
tasks finish and hands unacknowledged messages (tasks with an ETA) back to the filesystem broker.
A prefork pool's processes would die at once on the group's SIGTERM. Mingle, gossip and
heartbeats talk to other workers; the embedded default has none, so they are off.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_SECONDS = 0.2
KILL_WAIT_SECONDS = 5.0


class Signals:
    """The stop signals received so far (a handler only records them; the main loop acts)."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.record)

    def record(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)


def say(text: str) -> None:
    """Print, unless the terminal is gone (after SIGHUP a write can fail)."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def grace_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("PARTNERPLAN_STOP_GRACE", "10")))
    except ValueError:
        return 10.0


def worker_command() -> list[str]:
    return [
        str(BIN / "celery"),
        "-A",
        "partnerplan",
        "worker",
        "--beat",
        "--loglevel=INFO",
        "--pool=threads",
        "--concurrency=2",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]


def web_command(host: str, port: str) -> list[str]:
    return [sys.executable, "manage.py", "runserver", f"{host}:{port}"]


def start(command: list[str]) -> subprocess.Popen[bytes]:
    # A session of its own: no signal from the terminal reaches it, and its pid names its group.
    return subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603


def signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(proc.pid, signum)


def group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Is any process of the child's group still there (the child itself reaped first)?"""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_groups(children: dict[str, subprocess.Popen[bytes]], seconds: float, signals: Signals) -> None:
    """Until every child's group has gone, ``seconds`` pass, or a new stop signal arrives."""
    deadline = time.monotonic() + seconds
    seen = len(signals.received)
    while time.monotonic() < deadline and len(signals.received) == seen:
        if not any(group_alive(proc) for proc in children.values()):
            return
        time.sleep(POLL_SECONDS / 4)


def stop(children: dict[str, subprocess.Popen[bytes]], grace: float, signals: Signals) -> None:
    """SIGTERM to every child's group, SIGKILL to what is left after ``grace`` seconds (or at
    once on a second stop signal, e.g. Ctrl-C pressed again)."""
    for proc in children.values():
        signal_group(proc, signal.SIGTERM)
    wait_for_groups(children, grace, signals)
    left = [name for name, proc in children.items() if group_alive(proc)]
    if left:
        say(f"Still running: {', '.join(left)}. Killing.")
        for name in left:
            signal_group(children[name], signal.SIGKILL)
        wait_for_groups(children, KILL_WAIT_SECONDS, Signals())
    for proc in children.values():
        proc.wait()


def watch(children: dict[str, subprocess.Popen[bytes]], signals: Signals) -> int:
    """Wait for a stop signal (exit code 0) or for a child that stops by itself (its exit code,
    or 1 if a signal ended it)."""
    while not signals.received:
        for name, proc in children.items():
            returncode = proc.poll()
            if returncode is not None:
                say(f"The {name} process stopped (exit code {returncode}); stopping the rest.")
                return returncode if returncode > 0 else int(returncode < 0)
        time.sleep(POLL_SECONDS)
    say(f"\nStopping Partnerplan ({signal.Signals(signals.received[0]).name}).")
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def debug_refusal(host: str) -> str | None:
    """DEBUG is on for this machine only: on by default on a loopback address, off elsewhere, and a
    DEBUG asked for on an address other hosts reach is refused (a debug page lists every URL
    pattern and setting). Returns why it refuses, or None (``DEBUG`` set for the children)."""
    asked = os.environ.get("DEBUG", "").strip().lower()
    if is_loopback(host):
        os.environ.setdefault("DEBUG", "1")
        return None
    if asked in ("1", "true", "yes", "on"):
        return f"DEBUG is for this machine only: unset DEBUG to serve on {host}, or use HOST=127.0.0.1."
    os.environ["DEBUG"] = "0"
    return None


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    refusal = debug_refusal(host)
    if refusal:
        say(refusal)
        return 2
    os.environ.setdefault("SITE_URL", f"http://{host}:{port}")
    signals = Signals()
    signals.install()
    children: dict[str, subprocess.Popen[bytes]] = {}
    code = 1  # if starting fails
    try:
        children["worker"] = start(worker_command())
        children["web"] = start(web_command(host, port))
        say(f"\nPartnerplan is running at http://{host}:{port}/ (Ctrl-C stops it).")
        code = watch(children, signals)
    finally:
        stop(children, grace_seconds(), signals)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
