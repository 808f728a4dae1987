"""``manage.py store_attention``: recompute the stored attention numbers of every partnership (the
dashboard's sort, filters and totals), as the hourly beat task does: after restoring a backup, or
data written without the services."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cadence.attention import store_all


class Command(BaseCommand):
    help = "Recompute the stored attention numbers of every partnership."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="Partnerships per batch (default 200).")

    def handle(self, *args: Any, **options: Any) -> None:
        stored = store_all(batch_size=max(1, options["batch_size"]))
        self.stdout.write(f"Stored the attention numbers of {stored} partnerships.")
