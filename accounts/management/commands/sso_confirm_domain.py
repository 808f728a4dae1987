"""The operator confirms that an e-mail domain belongs to an organisation (for single sign-on).

    manage.py sso_confirm_domain <organisation id> example.com

Organisation admins add the domain of their own address themselves; any other domain (a second
brand, a subsidiary's) is confirmed here, once the operator has checked that the organisation owns
it (a DNS TXT record, a contract). A domain belongs to one organisation at most, and shared mail
providers' domains to none (``accounts.sso``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError

from ... import sso
from ...models import Organisation


class Command(BaseCommand):
    help = "Confirm that an e-mail domain belongs to an organisation (single sign-on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="The organisation's id (a UUID).")
        parser.add_argument("domain", help="The domain, such as example.com.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organisation = Organisation.objects.get(pk=uuid.UUID(str(options["organisation"])))
        except (ValueError, Organisation.DoesNotExist):
            raise CommandError(f"No organisation has the id {options['organisation']}.") from None
        try:
            added = sso.domain_confirm(organisation=organisation, domain=str(options["domain"]))
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{added.domain} is now a domain of {organisation.name}.")
