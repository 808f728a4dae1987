"""The provider's claims: e-mail, ``email_verified`` and name of each person, from ``users.json``
(django-oauth-toolkit's ID tokens carry only ``sub`` unless the validator adds claims)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "name": "profile"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        people = json.loads((settings.DIR / "users.json").read_text())
        person = people.get(request.user.username, {})
        return {
            "email": person.get("claim_email", request.user.username),
            "email_verified": person.get("email_verified", True),
            "name": person.get("name", ""),
        }
