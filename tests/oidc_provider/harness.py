"""Start test identity providers (``serve``) and drive a sign-in through one of them the way a
browser would: Partnerplan with the Django test client, the provider with ``requests``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
REDIRECT_URI = "http://testserver/accounts/login/sso/callback/"
PASSWORD = "provider-password"


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen[str] = field(repr=False)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def launch(directory: Path, *, client_id: str, people: dict[str, dict[str, Any]]) -> tuple[subprocess.Popen[str], str]:
    """Start one provider (its RSA key made here); wait for it with ``ready``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "key.pem").write_text(_rsa_key())
    (directory / "users.json").write_text(
        json.dumps({email: {"password": PASSWORD, **p} for email, p in people.items()})
    )
    secret = f"{client_id}-secret-{os.getpid()}"
    (directory / "clients.json").write_text(
        json.dumps([{"client_id": client_id, "client_secret": secret, "redirect_uri": REDIRECT_URI}])
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    env["OIDC_TEST_DIR"] = str(directory)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider.serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, secret


def ready(process: subprocess.Popen[str], *, client_id: str, secret: str) -> Provider:
    assert process.stdout is not None
    line = process.stdout.readline()  # the provider prints READY <port> once it serves
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(
            f"the test identity provider did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
        )
    port = int(line.split()[1])
    issuer = f"http://127.0.0.1:{port}/o"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the test identity provider does not answer")
        time.sleep(0.1)
    return Provider(issuer=issuer, client_id=client_id, client_secret=secret, process=process)


def local(url: str) -> str:
    """The path and query of a URL on Partnerplan's test server, for the test client."""
    parts = urlsplit(url)
    assert parts.netloc == "testserver", url
    return parts.path + ("?" + parts.query if parts.query else "")


def at_provider(authorization_url: str, email: str) -> str:
    """Sign in at the provider as ``email`` and return where it sends the browser back (the callback)."""
    browser = requests.Session()
    answer = browser.get(authorization_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    sign_in_url = urljoin(authorization_url, answer.headers["Location"])
    answer = browser.post(
        sign_in_url, data={"username": email, "password": PASSWORD}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text[:500]
    answer = browser.get(urljoin(sign_in_url, answer.headers["Location"]), allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    return answer.headers["Location"]
