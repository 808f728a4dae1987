"""Run the test identity provider: ``python -m tests.oidc_provider.serve`` with ``OIDC_TEST_DIR``
(holding ``key.pem``, ``users.json`` and ``clients.json``). It listens on a free port of
127.0.0.1, migrates its database, registers the people and clients, prints ``READY <port>`` and
serves until it is stopped."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _placeholder(environ: Any, start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def main() -> None:
    directory = Path(os.environ["OIDC_TEST_DIR"])
    server = make_server("127.0.0.1", 0, _placeholder, server_class=_Server, handler_class=_QuietHandler)
    port = server.server_address[1]
    os.environ["OIDC_TEST_ISSUER"] = f"http://127.0.0.1:{port}/o"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    for username, person in json.loads((directory / "users.json").read_text()).items():
        User.objects.create_user(username, username, person.get("password", "provider-password"))
    for client in json.loads((directory / "clients.json").read_text()):
        Application.objects.create(
            name=client["client_id"],
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=client["redirect_uri"],
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
    server.set_app(get_wsgi_application())
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
