"""Start Partnerplan on this machine: the web server plus one Celery worker with beat embedded.

Used by ``make run``. Stops both when either stops or on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("SITE_URL", f"http://{host}:{port}")
    worker = subprocess.Popen(  # noqa: S603
        [str(BIN / "celery"), "-A", "partnerplan", "worker", "--beat", "--loglevel=INFO", "--concurrency=2"],
        cwd=ROOT,
    )
    web = subprocess.Popen([sys.executable, "manage.py", "runserver", f"{host}:{port}"], cwd=ROOT)  # noqa: S603
    print(f"\nPartnerplan is running at http://{host}:{port}/ (Ctrl-C stops it).", flush=True)
    try:
        while worker.poll() is None and web.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
