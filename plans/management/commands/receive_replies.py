"""``manage.py receive_replies``: the SMTP listener for replies by e-mail (``plans.reply_smtp``).

Run it where the MX of ``REPLY_DOMAIN`` delivers (port 25, or a higher port behind a forwarding
rule or a mail relay); it runs until stopped (SIGINT or SIGTERM)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.reply_address import domain
from plans.reply_smtp import controller


class Command(BaseCommand):
    help = "Receive replies to Partnerplan's e-mails over SMTP; each becomes the sender's comment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="0.0.0.0", help="Address to listen on (default: every address).")  # noqa: S104
        parser.add_argument("--port", type=int, default=25, help="Port to listen on (default: 25).")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        if not domain():
            raise CommandError("Set REPLY_DOMAIN first: replies are received at reply+…@REPLY_DOMAIN.")
        server = controller(host, port)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        server.start()
        self.stdout.write(f"Receiving replies for @{domain()} on {host}:{port}")
        try:
            stop.wait()
        finally:
            server.stop()
        self.stdout.write("Stopped.")
