"""Seed a realistic demo, and optionally volume data for benchmarks, then print the demo logins.

    manage.py seed_demo                       # the showcase (built once; later runs print the logins)
    manage.py seed_demo --reset               # remove the demo and build it again
    manage.py seed_demo --partnerships 1000 --goals 20000 --check-ins 200000
    manage.py seed_demo --partnerships 1 --goals-per-partnership 500

See ``alignment.demo`` for what is built and how.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from core.errors import DomainError

from ... import demo

MAX_PARTNERSHIPS = 100_000
MAX_GOALS_PER_PARTNERSHIP = 5_000
MAX_CHECK_INS = 10_000_000


class Command(BaseCommand):
    help = "Build the demo (a vendor with a consulting house and a solution provider) and print its logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Remove everything the demo built before, then build it again."
        )
        volume = parser.add_argument_group("volume data for benchmarks (partnerships of the demo vendor)")
        volume.add_argument(
            "--partnerships",
            type=int,
            default=None,
            metavar="N",
            help="Number of volume partnerships (each with its own partner organisation).",
        )
        volume.add_argument(
            "--goals",
            type=int,
            default=None,
            metavar="N",
            help="Goals in total, spread evenly over the volume partnerships, in every state "
            "(default: 10 per partnership). Objectives: one per 10 goals of a partnership.",
        )
        volume.add_argument(
            "--goals-per-partnership",
            type=int,
            default=None,
            metavar="N",
            help="Goals of each volume partnership (instead of --goals).",
        )
        volume.add_argument(
            "--check-ins",
            type=int,
            default=None,
            metavar="N",
            help="Check-ins in total, spread over the goals that were agreed (default: 4 per goal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        request = self._volume_request(options)
        try:
            if options["reset"]:
                removed = demo.remove_demo()
                self.stdout.write(f"Removed the previous demo ({removed} partnerships).")
            if demo.showcase_exists() or not demo.build_showcase():
                self.stdout.write("The demo exists already (use --reset to build it again).")
            else:
                self.stdout.write(
                    self.style.SUCCESS("Built the demo: Acme Cloud with Northwind Consulting and Brightline Solutions.")
                )
            if request is not None:
                self._build_volume(request)
        except (DomainError, IntegrityError) as exc:
            # Nothing half-built stays behind: every part is written in its own transaction.
            reason = exc.message if isinstance(exc, DomainError) else str(exc).splitlines()[0]
            raise CommandError(f"The demo could not be built: {reason}") from exc
        self._print_logins(request)

    def _volume_request(self, options: dict[str, Any]) -> demo.VolumeRequest | None:
        partnerships, goals = options["partnerships"], options["goals"]
        per_partnership, check_ins = options["goals_per_partnership"], options["check_ins"]
        if all(v is None for v in (partnerships, goals, per_partnership, check_ins)):
            return None
        for name, value in (
            ("--partnerships", partnerships),
            ("--goals", goals),
            ("--goals-per-partnership", per_partnership),
            ("--check-ins", check_ins),
        ):
            if value is not None and value < 0:
                raise CommandError(f"{name} must be zero or more (got {value}).")
        if goals is not None and per_partnership is not None:
            raise CommandError("Give either --goals or --goals-per-partnership, not both.")
        if partnerships is None:
            partnerships = 1
        if partnerships == 0:
            raise CommandError("Volume data needs at least one partnership (--partnerships N).")
        if partnerships > MAX_PARTNERSHIPS:
            raise CommandError(f"At most {MAX_PARTNERSHIPS} partnerships.")
        if per_partnership is not None:
            goals = per_partnership * partnerships
        elif goals is None:
            goals = 10 * partnerships
        if goals > MAX_GOALS_PER_PARTNERSHIP * partnerships:
            raise CommandError(f"At most {MAX_GOALS_PER_PARTNERSHIP} goals per partnership.")
        request = demo.VolumeRequest(partnerships=partnerships, goals=goals, check_ins=0)
        if check_ins is None:
            check_ins = 4 * goals
        if check_ins > MAX_CHECK_INS:
            raise CommandError(f"At most {MAX_CHECK_INS} check-ins.")
        if check_ins and not request.eligible_goals(0, goals):
            raise CommandError("Check-ins are recorded on agreed goals: add goals (--goals) for them.")
        request.check_ins = check_ins
        return request

    def _build_volume(self, request: demo.VolumeRequest) -> None:
        started = time.monotonic()
        created = demo.build_volume(request, progress=lambda line: self.stdout.write(f"  {line}"))
        if not created["partnerships"]:
            self.stdout.write(f"The {request.partnerships} volume partnerships exist already.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Built {created['partnerships']} volume partnerships with {created['goals']} goals and "
                f"{created['check_ins']} check-ins in {time.monotonic() - started:.1f} s."
            )
        )

    def _print_logins(self, request: demo.VolumeRequest | None) -> None:
        logins = demo.showcase_logins() + (demo.volume_logins(request) if request else [])
        width = max(len(login.email) for login in logins)
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"Demo logins (password for all: {demo.DEMO_PASSWORD})"))
        for login in logins:
            self.stdout.write(f"  {login.email.ljust(width)}  {login.who}")
