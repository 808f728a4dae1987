"""Issue 15, item 8: DEBUG is on only for ``make run`` on this machine. The settings default to off,
refuse it when the app answers to other hosts, the production settings switch it off, and
``scripts/run.py`` turns it on for a loopback address only."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PRINT_DEBUG = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def settings_process(
    module: str = "partnerplan.settings", **env: str
) -> subprocess.CompletedProcess[str]:  # a fresh interpreter reads the settings as a deployment would
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run(
        [sys.executable, "-c", PRINT_DEBUG],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": module} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_debug_is_off_unless_asked_for():
    done = settings_process()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_debug_on_this_machine_is_allowed():
    done = settings_process(DEBUG="1")
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr


def test_debug_is_refused_when_the_app_answers_to_another_host():
    done = settings_process(DEBUG="1", ALLOWED_HOSTS="plans.example.com")
    assert done.returncode != 0
    assert "DEBUG is for this machine only" in done.stderr


def test_the_production_settings_switch_it_off():
    done = settings_process(
        "partnerplan.settings.production",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="localhost",
        DATABASE_URL="sqlite:////tmp/pp-debug-check.sqlite3",
        DEBUG="1",
    )
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def run_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_script", ROOT / "scripts" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("host", "asked", "debug", "refused"),
    [
        ("127.0.0.1", None, "1", False),  # make run: on
        ("localhost", None, "1", False),
        ("::1", None, "1", False),
        ("127.0.0.1", "0", "0", False),  # asked off: off
        ("0.0.0.0", None, "0", False),  # reachable from other hosts: off
        ("192.0.2.10", None, "0", False),
        ("0.0.0.0", "1", "1", True),  # asked on where others reach it: refused
    ],
)
def test_make_run_turns_debug_on_for_a_loopback_address_only(monkeypatch, host, asked, debug, refused):
    module = run_script()
    if asked is None:
        monkeypatch.delenv("DEBUG", raising=False)
    else:
        monkeypatch.setenv("DEBUG", asked)
    refusal = module.debug_refusal(host)
    assert (refusal is not None) == refused
    assert os.environ["DEBUG"] == debug
    if refused:
        assert "DEBUG is for this machine only" in refusal


def test_make_run_refuses_to_start_with_debug_on_an_open_address(monkeypatch, capsys):
    module = run_script()
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("DEBUG", "true")
    started: list[object] = []
    monkeypatch.setattr(module, "start", lambda command: started.append(command))
    assert module.main() == 2
    assert started == [] and "DEBUG is for this machine only" in capsys.readouterr().out


def test_a_404_lists_no_url_patterns(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "urlpatterns" not in body and "URLconf" not in body and "api/" not in body
