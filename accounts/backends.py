"""How a person is signed in and loaded: Django's ``ModelBackend``, with the two facts of their
two-factor standing loaded with them.

``AccountBackend.get_user`` (the query that loads the person of a session on every request) also
reads whether an organisation of theirs requires two-factor sign-in and whether they have set it
up, as two ``EXISTS`` columns of the same query. ``TwoFactorMiddleware`` reads them there, so
holding sessions to the second factor costs no query of its own.

``django.contrib.auth.backends.ModelBackend`` stays listed after it: sessions signed in with it
(before this backend, or by code that names it) keep working; the middleware then asks once per
request. ``AccountBackend.authenticate`` ends the search on a wrong password, so a failed sign-in
is checked once, not once per listed backend.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpRequest

from .models import OrganisationMembership, TwoFactorDevice, User


def with_two_factor_standing(queryset: Any) -> Any:
    return queryset.annotate(
        two_factor_required=Exists(
            OrganisationMembership.objects.filter(user=OuterRef("pk"), organisation__require_two_factor=True)
        ),
        two_factor_enrolled=Exists(TwoFactorDevice.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)),
    )


class AccountBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and password is not None:
            raise PermissionDenied  # Django stops here: no second backend checks the password again
        return user

    def get_user(self, user_id: Any) -> User | None:
        user = with_two_factor_standing(User._default_manager.filter(pk=user_id)).first()
        return user if user is not None and self.user_can_authenticate(user) else None
