"""Several web machines on one: the production shape of Partnerplan behind a proxy, for tests and benchmarks.

    python scripts/stack.py up            # start everything, print the addresses, stop on Ctrl-C
    python scripts/stack.py up --detach   # start everything and return; ``down`` stops it
    python scripts/stack.py down          # stop what ``up --detach`` started (same --var-dir)

It starts, each as a child in a session of its own and with configuration files written to one
directory (``--var-dir``; nothing is installed or written elsewhere, every port is chosen free):

- **PgBouncer** (Debian's ``pgbouncer``) with ``pool_mode = transaction`` in front of the PostgreSQL
  of ``DATABASE_URL``. Migrations run against PostgreSQL itself, never through the pooler.
- **Two gunicorn instances** with the production settings on different ports, whose
  ``DATABASE_URL`` points at PgBouncer (``DATABASE_POOLER=pgbouncer-transaction``).
- **nginx** (Debian's ``nginx``, our own configuration, ``-p <dir> -c <file>``, ``daemon off``)
  in front of both, round-robin, adding ``X-Forwarded-For`` (the instances trust one proxy) and
  naming the instance that answered in ``X-Partnerplan-Upstream``.
- **Two Celery workers** on the Redis of ``REDIS_URL`` (cache, throttles, broker and presence are
  shared there), and at most one beat (the command starts one unless ``--no-beat``; ``Stack`` only
  with ``beat=True``): periodic sweeps must be enqueued once.

Importable: ``Stack(database_url=..., redis_url=...)`` is a context manager whose ``proxy_url``
and ``instance_urls`` are set once everything answers (tests/test_two_instances.py,
benchmarks/two_instances.py). Stopping is SIGTERM to each child (a graceful stop: gunicorn
finishes its requests, a worker its task), then SIGKILL to whatever is left of its process group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STATE_FILE = "stack.json"
START_TIMEOUT = 90.0
STOP_GRACE = 15.0
# The proxy first (no new requests), then what serves and works, PgBouncer last (the others may
# still need the database to finish).
STOP_ORDER = (("proxy",), ("web", "worker", "beat"), ("pgbouncer",))
# Settings the environment of this command may hold for another set-up (a test run, a developer's
# shell): the stack's processes get their own values or none.
INHERITED_PREFIXES = ("DJANGO_", "PARTNERPLAN_", "DATABASE_", "REDIS_", "CELERY_", "EMAIL_", "REQUIRE_")
INHERITED_NAMES = {
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "DEBUG",
    "CONN_MAX_AGE",
    "STATIC_ROOT",
    "TRUSTED_PROXY_COUNT",
    "RATELIMIT_IP_META_KEY",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str:
    """Debian's binaries live in /usr/sbin, which is not on every PATH."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if not found:
        raise SystemExit(f"{name} is not installed; install it with: apt-get install {name}")
    return found


def log(message: str) -> None:
    print(f"[stack {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    """One process of the stack and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Stack:
    """PgBouncer, two gunicorn instances behind nginx, two Celery workers and an optional beat."""

    database_url: str
    redis_url: str
    var_dir: Path | None = None
    settings_module: str = "partnerplan.settings.production"
    secret_key: str = ""
    instances: int = 2
    web_workers: int = 2
    workers: int = 2
    worker_concurrency: int = 1
    beat: bool = False
    pool_size: int = 10
    extra_env: dict[str, str] = field(default_factory=dict)
    pythonpath: list[str] = field(default_factory=list)
    app_dir: Path = ROOT
    python: str = sys.executable
    migrate: bool = False
    flush_redis: bool = False
    static_root: Path | None = None

    proxy_url: str = field(default="", init=False)
    instance_urls: list[str] = field(default_factory=list, init=False)
    pooled_database_url: str = field(default="", init=False)
    pgbouncer_port: int = field(default=0, init=False)
    env: dict[str, str] = field(default_factory=dict, init=False)
    children: list[Child] = field(default_factory=list, init=False)

    def __enter__(self) -> Stack:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.down()

    # --- starting ---------------------------------------------------------------------------------

    def up(self) -> Stack:
        self.var_dir = Path(self.var_dir or tempfile.mkdtemp(prefix="pp_stack_")).resolve()
        for sub in ("logs", "app", "nginx", "pgbouncer"):
            (self.var_dir / sub).mkdir(parents=True, exist_ok=True)
        database = urllib.parse.urlparse(self.database_url)
        if database.scheme not in ("postgres", "postgresql", "pgsql"):
            raise SystemExit(f"The stack needs PostgreSQL (DATABASE_URL), not {database.scheme or 'nothing'}")
        nginx, pgbouncer = find_binary("nginx"), find_binary("pgbouncer")
        pg_port, proxy_port = free_port(), free_port()
        self.pgbouncer_port = pg_port
        web_ports = [free_port() for _ in range(self.instances)]
        self.proxy_url = f"http://{HOST}:{proxy_port}"
        self.instance_urls = [f"http://{HOST}:{port}" for port in web_ports]
        self.pooled_database_url = urllib.parse.urlunparse(
            database._replace(netloc=f"{database.netloc.rpartition('@')[0]}@{HOST}:{pg_port}".lstrip("@"))
        )
        self.env = self._environment()
        if self.flush_redis:
            self._flush_redis()
        direct = dict(self.env, DATABASE_URL=self.database_url, DATABASE_POOLER="")
        if self.migrate:
            self._manage(direct, "migrate", "--noinput", "-v", "0")
        self._start("pgbouncer", self._pgbouncer_command(pgbouncer, database, pg_port))
        self._wait_for_database()
        # Workers start while the static files are collected (they serve none).
        for n in range(1, self.workers + 1):
            self._start(f"worker{n}", self._worker_command(n))
        # The production settings serve static files through a manifest: it must match the code.
        self._manage(direct, "collectstatic", "--noinput", "-v", "0")
        for n, port in enumerate(web_ports, start=1):
            self._start(f"web{n}", self._gunicorn_command(port))
        if self.beat:
            self._start("beat", self._beat_command())
        self._start("proxy", self._nginx_command(nginx, proxy_port, web_ports))
        for url in [*self.instance_urls, self.proxy_url]:
            self._wait_for_http(url)
        for n in range(1, self.workers + 1):
            self._wait_for_log(f"worker{n}", "ready.")
        self._write_state()
        log(f"up: proxy {self.proxy_url}, instances {', '.join(self.instance_urls)}, PgBouncer port {pg_port}")
        return self

    def _environment(self) -> dict[str, str]:
        assert self.var_dir is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES) and k not in INHERITED_NAMES}
        static_root = self.static_root or self.var_dir / "static"
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": self.settings_module,
                "SECRET_KEY": self.secret_key or secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": f"{HOST},localhost",
                # Plain HTTP on loopback: no redirect to HTTPS, cookies without the Secure flag.
                "SECURE_SSL_REDIRECT": "false",
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
                "SECURE_HSTS_SECONDS": "0",
                "DATABASE_URL": self.pooled_database_url,
                "DATABASE_POOLER": "pgbouncer-transaction",
                "CONN_MAX_AGE": "60",
                "REDIS_URL": self.redis_url,
                # Every instance sees the client through exactly one proxy, nginx.
                "TRUSTED_PROXY_COUNT": "1",
                "SITE_URL": self.proxy_url,
                # One shared directory plays the shared volume (audit exports, the e-mail files).
                "PARTNERPLAN_VAR_DIR": str(self.var_dir / "app"),
                "STATIC_ROOT": str(static_root),
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join([str(self.app_dir), *self.pythonpath]),
            }
        )
        env.update(self.extra_env)
        return env

    def _flush_redis(self) -> None:
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()

    def _manage(self, env: dict[str, str], *command: str) -> None:
        manage = [self.python, str(self.app_dir / "manage.py"), *command]
        subprocess.run(manage, env=env, cwd=self.app_dir, check=True, timeout=600)  # noqa: S603 - our own command

    def _start(self, name: str, command: list[str]) -> None:
        assert self.var_dir is not None
        log_path = self.var_dir / "logs" / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603 - the commands are built here
                command, env=self.env, cwd=self.app_dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.children.append(Child(name, process, log_path))

    def _pgbouncer_command(self, binary: str, database: urllib.parse.ParseResult, port: int) -> list[str]:
        assert self.var_dir is not None
        directory = self.var_dir / "pgbouncer"
        user = urllib.parse.unquote(database.username or "postgres")
        password = urllib.parse.unquote(database.password or "")
        (directory / "users.txt").write_text(f'"{user}" "{password}"\n')
        (directory / "users.txt").chmod(0o600)
        ini = directory / "pgbouncer.ini"
        ini.write_text(
            PGBOUNCER_INI.format(
                host=database.hostname or HOST,
                db_port=database.port or 5432,
                port=port,
                auth_file=directory / "users.txt",
                user=user,
                pool_size=self.pool_size,
            )
        )
        command = [binary]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: it reads its files, then becomes nobody.
            command += ["-u", "nobody"]
        return [*command, str(ini)]

    def _gunicorn_command(self, port: int) -> list[str]:
        return [
            self.python,
            "-m",
            "gunicorn",
            "partnerplan.wsgi:application",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(self.web_workers),
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

    def _worker_command(self, n: int) -> list[str]:
        # Distinct node names: each worker is a machine of its own to the broker.
        return [
            self.python,
            "-m",
            "celery",
            "-A",
            "partnerplan",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={self.worker_concurrency}",
            "-n",
            f"worker{n}@%h",
            "--without-mingle",
            "--without-gossip",
        ]

    def _beat_command(self) -> list[str]:
        assert self.var_dir is not None
        return [
            self.python,
            "-m",
            "celery",
            "-A",
            "partnerplan",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(self.var_dir / "app" / "celerybeat-schedule"),
        ]

    def _nginx_command(self, binary: str, port: int, web_ports: list[int]) -> list[str]:
        assert self.var_dir is not None
        prefix = self.var_dir / "nginx"
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / temp).mkdir(exist_ok=True)
        # Run as root (a container, CI), nginx would hand its workers to "nobody", who cannot write to
        # this private directory: they stay the user who started the stack.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user=user,
                prefix=prefix,
                port=port,
                servers="\n".join(f"        server {HOST}:{p};" for p in web_ports),
            )
        )
        return [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]

    # --- waiting ----------------------------------------------------------------------------------

    def _check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                tail = child.log_path.read_text(errors="replace")[-2000:]
                raise SystemExit(f"{child.name} exited with {child.process.returncode}; {child.log_path}:\n{tail}")

    def _until(self, what: str, ready: Any) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            self._check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} was not ready within {START_TIMEOUT:.0f} s (logs in {self.var_dir}/logs)")
            time.sleep(0.2)

    def _wait_for_database(self) -> None:
        import psycopg2

        def answers() -> bool:
            try:
                conn = psycopg2.connect(self.pooled_database_url, connect_timeout=2)
                with contextlib.closing(conn), conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return True
            except psycopg2.OperationalError:
                return False

        self._until("PgBouncer", answers)

    def _wait_for_http(self, url: str) -> None:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310 - our own loopback URL
                    return bool(response.status == 200)
            except OSError:
                return False

        self._until(url, answers)

    def _wait_for_log(self, name: str, text: str) -> None:
        child = next(c for c in self.children if c.name == name)
        self._until(name, lambda: text in child.log_path.read_text(errors="replace"))

    def log_of(self, name: str) -> str:
        """What one child (``web1``, ``worker2``, ``proxy``, ``pgbouncer``, ``beat``) has written so far."""
        child = next(c for c in self.children if c.name == name)
        return child.log_path.read_text(errors="replace")

    def _write_state(self) -> None:
        assert self.var_dir is not None
        state = {
            "proxy_url": self.proxy_url,
            "instance_urls": self.instance_urls,
            "database_url": self.pooled_database_url,
            "children": [
                {"name": c.name, "pid": c.process.pid, "started": started_at(c.process.pid), "log": str(c.log_path)}
                for c in self.children
            ],
        }
        (self.var_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    # --- stopping ---------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop every child, group by group (``STOP_ORDER``), each gracefully and then for good."""
        for names in STOP_ORDER:
            group = [c for c in self.children if c.name.startswith(names)]
            stop([c.process.pid for c in group], waiters={c.process.pid: c.process for c in group})
        self.children = []
        if self.var_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.var_dir / STATE_FILE).unlink()


def stop(pids: list[int], waiters: dict[int, subprocess.Popen[bytes]] | None = None) -> None:
    """SIGTERM each leader (a graceful stop), then SIGKILL what is left of each process group."""
    waiters = waiters or {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for pid in pids:
        while time.monotonic() < deadline and _running(pid, waiters.get(pid)):
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # each child leads its own group: its pool processes go too
        if pid in waiters:
            with contextlib.suppress(subprocess.TimeoutExpired):
                waiters[pid].wait(timeout=5)


def _running(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A stopped child of another process stays a zombie until it is reaped: it is not running.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def started_at(pid: int) -> int | None:
    """When the process started (clock ticks after boot, /proc/<pid>/stat): a pid and this name one process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def stop_recorded(var_dir: Path) -> int:
    """``down``: stop the children ``up --detach`` recorded, each only if its pid is still that process."""
    path = var_dir / STATE_FILE
    if not path.exists():
        log(f"nothing to stop: no {path}")
        return 0
    state = json.loads(path.read_text())
    # Only a pid that still has its recorded start time: it was not reused by something else meanwhile.
    running = [c for c in state["children"] if c["started"] is not None and started_at(c["pid"]) == c["started"]]
    for names in STOP_ORDER:
        stop([c["pid"] for c in running if c["name"].startswith(names)])
    path.unlink()
    log(f"stopped {len(running)} processes")
    return len(running)


PGBOUNCER_INI = """\
; Written by scripts/stack.py: PgBouncer in transaction pooling in front of PostgreSQL.
[databases]
; JIT off, as Django's settings ask of a direct connection (docs/deployment.md).
* = host={host} port={db_port} connect_query='SET jit = off'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
; Loopback only. A deployment uses scram-sha-256 with auth_file or auth_query instead.
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {pool_size}
reserve_pool_size = 2
max_client_conn = 500
; Transaction pooling resets nothing between clients: Partnerplan keeps no session state (docs/deployment.md).
server_reset_query =
ignore_startup_parameters = extra_float_digits
server_idle_timeout = 60
; The console (psql -p <port> pgbouncer, SHOW POOLS) for the database's user.
admin_users = {user}
log_connections = 0
log_disconnections = 0
"""

NGINX_CONF = """\
# Written by scripts/stack.py: round-robin over the web instances.
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    # No paths in the access log: links in e-mails carry secrets in theirs (docs/deployment.md, Logs).
    log_format partnerplan '$remote_addr [$time_local] $request_method $status $upstream_addr $request_time';
    access_log {prefix}/access.log partnerplan;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 6m;

    upstream partnerplan {{
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://partnerplan;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
            add_header X-Partnerplan-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "stack"), help="configuration, logs and state")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/partnerplan"),
        help="the PostgreSQL behind PgBouncer (default: DATABASE_URL)",
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--no-beat", action="store_true", help="start no beat (periodic sweeps are not enqueued)")
    parser.add_argument("--no-migrate", action="store_true", help="do not migrate the database first")
    parser.add_argument("--detach", action="store_true", help="return once everything answers; stop with 'down'")
    args = parser.parse_args()
    var_dir = Path(args.var_dir).resolve()
    if args.action == "down":
        stop_recorded(var_dir)
        return
    if (var_dir / STATE_FILE).exists():
        raise SystemExit(f"{var_dir / STATE_FILE} exists: a stack may be running there; run 'down' first")
    stack = Stack(
        database_url=args.database_url,
        redis_url=args.redis_url,
        var_dir=var_dir,
        web_workers=args.web_workers,
        beat=not args.no_beat,
        migrate=not args.no_migrate,
    )
    if args.detach:
        try:
            stack.up()
        except BaseException:
            stack.down()
            raise
        print(json.dumps({"proxy_url": stack.proxy_url, "instance_urls": stack.instance_urls}))
        return
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: received.append(signum))
    with stack:
        print(json.dumps({"proxy_url": stack.proxy_url, "instance_urls": stack.instance_urls}), flush=True)
        while not received:
            if any(c.process.poll() is not None for c in stack.children):
                log("a process of the stack stopped by itself: stopping the others")
                break
            time.sleep(0.5)


if __name__ == "__main__":
    main()
