"""Create a vendor workspace (an organisation and its first admin) without prompts.

    manage.py create_workspace --name "Acme Cloud" --email admin@acme.example --password '...' [--full-name "..."]

The same service backs sign-up, so the same rules hold: a free e-mail address, a password that
passes the password validators, a non-empty organisation name.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError

from ...services import workspace_create


class Command(BaseCommand):
    help = "Create a vendor organisation and its admin (non-interactive)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Name of the vendor organisation.")
        parser.add_argument("--email", required=True, help="E-mail address the admin signs in with.")
        parser.add_argument("--password", required=True, help="The admin's password (checked by the validators).")
        parser.add_argument("--full-name", default="", help="The admin's full name.")

    def handle(self, *args: Any, **options: Any) -> None:
        if "\x00" in "".join(str(options[k]) for k in ("name", "email", "password", "full_name")):
            raise CommandError("Arguments must not contain NUL characters.")
        try:
            org, user = workspace_create(
                name=options["name"],
                email=options["email"],
                password=options["password"],
                full_name=options["full_name"],
            )
        except DomainError as exc:
            details = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.fields.items() if " ".join(msgs) not in exc.message
            )
            raise CommandError(exc.message + (f" ({details})" if details else "")) from exc
        self.stdout.write(self.style.SUCCESS(f"Created the workspace “{org.name}” (organisation {org.pk})."))
        self.stdout.write(
            f"Admin: {user.email}"
            + (f" ({user.full_name})" if user.full_name else "")
            + " — sign in with the password you gave."
        )
