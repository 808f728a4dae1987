"""Forms of the sign-in, sign-up and password pages."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from core.writes import refuse_control_characters

from . import sso


@cache
def timezone_choices() -> list[tuple[str, str]]:
    """IANA zones people pick from (Area/City, and UTC), shared by every time zone field."""
    return [(z, z.replace("_", " ")) for z in sorted(zoneinfo.available_timezones()) if "/" in z or z == "UTC"]


def language_choices() -> list[tuple[str, Any]]:
    """The languages people pick from, each named in itself ("Deutsch"), after the browser's."""
    return [("", _("Use my browser's language")), *settings.LANGUAGES]


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in with an e-mail address (the user model's login field)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    username = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def clean(self) -> dict[str, Any]:
        # An organisation that requires single sign-on refuses passwords to its addresses (accounts.sso).
        refusal = sso.password_refusal(str(self.cleaned_data.get("username") or ""))
        if refusal:
            raise forms.ValidationError(refusal, code="sso_required")
        return super().clean()

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "That e-mail address and password do not match an account. Both are case-sensitive "
            "except the e-mail address. Signed up a moment ago? Open the link we e-mailed you first."
        ),
    }


class SignUpForm(forms.Form):
    """A new vendor workspace and its first admin."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    organisation = forms.CharField(
        label=_("Your company"),
        max_length=200,
        validators=[refuse_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    full_name = forms.CharField(
        label=_("Your name"),
        max_length=150,
        validators=[refuse_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 10 characters; not a common password and not only digits."),
    )
