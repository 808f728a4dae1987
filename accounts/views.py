"""A person's own settings: profile and time zone, which reminders they get, their API tokens,
two-factor sign-in, the browsers they are signed in with, and (for organisation admins) whether
their organisation requires two-factor sign-in.

An API token is shown once, in the answer to the request that created it (never stored in plain
text, never in a redirect or a session); afterwards only its name, hint and last use are listed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from core.errors import DomainError
from core.web import HtmxHttpRequest, domain_errors, form_errors
from core.writes import refuse_control_characters

from . import sessions, two_factor
from .forms import language_choices, timezone_choices
from .models import ApiToken, CalendarFeed, DigestFrequency, Organisation, OrganisationMembership, ReminderKind, User
from .services import mute, set_digest_frequency, set_muted
from .unsubscribe import max_age, read_token

MAX_ACTIVE_TOKENS = getattr(settings, "MAX_ACTIVE_API_TOKENS", 25)


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        label=_("Your name"),
        max_length=150,
        required=False,
        validators=[refuse_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    timezone = forms.ChoiceField(
        label=_("Your time zone"),
        choices=timezone_choices,
        help_text=_("Dates and reminder times are shown in this zone."),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=language_choices,
        required=False,
        help_text=_("Your pages and e-mails are written in this language."),
    )

    def clean_full_name(self) -> str:
        full_name: str = self.cleaned_data["full_name"]
        return full_name.strip()


DIGEST_HELP = _("In the morning in your time zone: what waits for you, what changed and what is due.")


class NotificationsForm(forms.Form):
    """One checkbox per reminder kind: ticked means "send me these"; and how often the digest comes
    (left out: unchanged)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for value, label in ReminderKind.choices:
            self.fields[value] = forms.BooleanField(label=label, required=False)
        self.fields["digest_frequency"] = forms.ChoiceField(
            label=_("Digest"),
            choices=DigestFrequency.choices,
            required=False,
            widget=forms.RadioSelect,
            help_text=DIGEST_HELP,
        )

    @classmethod
    def for_user(cls, user: User) -> NotificationsForm:
        muted = set(user.muted_reminder_kinds or [])
        initial: dict[str, Any] = {value: value not in muted for value in ReminderKind.values}
        return cls(initial=initial | {"digest_frequency": user.digest_frequency})

    def kind_fields(self) -> list[forms.BoundField]:
        return [self[value] for value in ReminderKind.values]

    def muted_kinds(self) -> list[str]:
        return [value for value in ReminderKind.values if not self.cleaned_data.get(value)]


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


EXPIRY_CHOICES = [("", _("Never")), ("30", _("In 30 days")), ("90", _("In 90 days")), ("365", _("In a year"))]
PERSONAL = "personal"


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("Say where it is used, e.g. “CRM sync” or “Quarterly report script”."),
    )
    owner = forms.ChoiceField(
        label=_("Whose token"),
        required=False,
        help_text=_(
            "A service token belongs to your organisation: it keeps working when you leave, acts as an "
            "editor (never approves) and any admin of the organisation can revoke it."
        ),
    )
    read_only = forms.BooleanField(label=_("Read-only (it can read plans but change nothing)"), required=False)
    expires_in_days = forms.ChoiceField(label=_("Expires"), choices=EXPIRY_CHOICES, required=False)

    def __init__(self, *args: Any, organisations: list[Organisation] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisations = {str(o.pk): o for o in organisations or []}
        choices = [(PERSONAL, gettext("Mine (acts with my rights)"))]
        choices += [
            (pk, gettext("A service token of %(organisation)s") % {"organisation": o.name})
            for pk, o in self.organisations.items()
        ]
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = choices
        if not self.organisations:
            owner.widget = forms.HiddenInput()

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name or "\x00" in name:
            raise forms.ValidationError(gettext("Give the token a name."))
        return name

    def organisation(self) -> Organisation | None:
        """The organisation of a service token (one the person administers), or None for their own."""
        return self.organisations.get(self.cleaned_data.get("owner") or PERSONAL)

    def expires_at(self) -> dt.datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + dt.timedelta(days=int(days)) if days else None


def _administered(user: User) -> list[Organisation]:
    """The organisations whose service tokens this person creates and revokes: those they administer."""
    return list(
        Organisation.objects.filter(memberships__user=user, memberships__role=OrganisationMembership.Role.ADMIN)
    )


def _visible_tokens(user: User) -> Q:
    return Q(user=user) | Q(organisation__memberships__user=user, organisation__memberships__role="admin")


def _page(request: HttpRequest, *, status: int = 200, **forms_and_extra: Any) -> HttpResponse:
    user = cast(User, request.user)  # every page of these settings is behind login_required
    context = (
        {
            "profile_form": ProfileForm(
                initial={"full_name": user.full_name, "timezone": user.timezone, "language": user.language}
            ),
            "notifications_form": NotificationsForm.for_user(user),
            "token_form": TokenForm(organisations=_administered(user)),
            "tokens": list(
                ApiToken.objects.filter(_visible_tokens(user))
                .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gte=timezone.now() - dt.timedelta(days=30)))
                .select_related("organisation")
                .distinct()
            ),
            "max_tokens": MAX_ACTIVE_TOKENS,
            "calendar_feed": CalendarFeed.active_of(user),
        }
        | _security_context(request, user)
        | forms_and_extra
    )
    return render(request, "settings/user.html", context, status=status)


def _security_context(request: HttpRequest, user: User) -> dict[str, Any]:
    """Two-factor sign-in, the signed-in sessions and the organisations this person administers."""
    current = sessions.current_key_hash(request)
    return {
        "two_factor_on": two_factor.is_enrolled(user),
        "two_factor_required_by": two_factor.requiring_organisations(user),
        "recovery_codes_left": two_factor.unused_recovery_codes(user),
        "recovery_form": CodeForm(),
        "disable_form": PasswordForm(),
        "browser_sessions": [
            {"row": row, "label": sessions.describe_agent(row.user_agent), "current": row.key_hash == current}
            for row in sessions.signed_in(user)
        ],
        "admin_organisations": list(
            Organisation.objects.filter(
                memberships__user=user, memberships__role=OrganisationMembership.Role.ADMIN
            ).order_by("name")
        ),
    }


def _back(section: str) -> HttpResponse:
    return redirect(reverse("user_settings") + f"#{section}")


@require_GET
@login_required
@never_cache
def user_settings(request: HttpRequest) -> HttpResponse:
    """``GET /settings/``: profile, notification preferences and API tokens."""
    return _page(request)


@require_POST
@login_required
def profile_save(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return _page(request, profile_form=form, status=400)
    user = cast(User, request.user)
    user.full_name = form.cleaned_data["full_name"]
    user.timezone = form.cleaned_data["timezone"]
    user.language = form.cleaned_data["language"]
    user.save(update_fields=["full_name", "timezone", "language"])
    # Said in the language just chosen, as the page it leads back to will be.
    translation.activate(user.language or translation.get_language_from_request(request))
    messages.success(request, gettext("Profile saved."))
    return _back("profile")


@require_POST
@login_required
def notifications_save(request: HttpRequest) -> HttpResponse:
    form = NotificationsForm(request.POST)
    if not form.is_valid():  # an unknown digest frequency: nothing is saved
        return _page(request, notifications_form=form, status=400)
    user = cast(User, request.user)
    muted = set_muted(user, form.muted_kinds())
    if form.cleaned_data["digest_frequency"]:
        set_digest_frequency(user, form.cleaned_data["digest_frequency"])
    messages.success(
        request,
        gettext("Notification preferences saved. You will get no reminders by e-mail.")
        if len(muted) == len(ReminderKind.values)
        else gettext("Notification preferences saved."),
    )
    return _back("notifications")


@require_POST
@login_required
@never_cache
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show it in this answer only: it is never shown again."""
    user = cast(User, request.user)
    form = TokenForm(request.POST, organisations=_administered(user))
    if not form.is_valid():
        return _page(request, token_form=form, status=400)
    organisation = form.organisation()
    mine = ApiToken.objects.active().filter(organisation=organisation) if organisation else None
    active = mine if mine is not None else ApiToken.objects.active().filter(user=user, organisation__isnull=True)
    if active.count() >= MAX_ACTIVE_TOKENS:
        form.add_error(
            None,
            ngettext(
                "You have %(count)d active token. Revoke one you no longer use first.",
                "You have %(count)d active tokens. Revoke one you no longer use first.",
                MAX_ACTIVE_TOKENS,
            )
            % {"count": MAX_ACTIVE_TOKENS},
        )
        return _page(request, token_form=form, status=409)
    scope = {"read_only": form.cleaned_data["read_only"], "expires_at": form.expires_at()}
    if organisation is not None:
        token, raw = ApiToken.issue_service(
            organisation=organisation, name=form.cleaned_data["name"], created_by=user, **scope
        )
    else:
        token, raw = ApiToken.issue(user=user, name=form.cleaned_data["name"], **scope)
    return _page(request, new_token=token, new_token_raw=raw, status=201)  # never_cache: no-store


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: uuid.UUID) -> HttpResponse:
    token = ApiToken.objects.filter(_visible_tokens(cast(User, request.user)), pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        messages.success(
            request,
            gettext("The token “%(name)s” is revoked: programs using it are refused from now on.")
            % {"name": token.name},
        )
    return _back("tokens")


# --- Calendar subscription ---------------------------------------------------------------------


@require_POST
@login_required
@never_cache
def calendar_feed_create(request: HttpRequest) -> HttpResponse:
    """A new calendar link (replacing the old one, which stops working), shown in this answer only."""
    feed, raw = CalendarFeed.issue(cast(User, request.user))
    url = settings.SITE_URL + reverse("calendar_feed", args=[raw])
    return _page(
        request,
        calendar_feed=feed,
        new_calendar_url=url,
        new_calendar_webcal="webcal://" + url.split("://", 1)[-1],
        status=201,
    )


@require_POST
@login_required
def calendar_feed_revoke(request: HttpRequest) -> HttpResponse:
    if CalendarFeed.revoke_all(cast(User, request.user)):
        messages.success(
            request, gettext("Your calendar link is turned off: calendars subscribed to it stop updating.")
        )
    return _back("calendar")


# --- Two-factor sign-in, sessions and the organisation's sign-in rule ------------------------------


@require_http_methods(["GET"])
@login_required
@never_cache
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """``GET /settings/two-factor/``: the QR code and the form for the first code, while set-up waits."""
    user = cast(User, request.user)
    device = two_factor.pending_device(user)
    if device is None:
        return _back("two-factor")
    return _setup_page(request, device, CodeForm())


# Codes and passwords typed on these pages, per person: a borrowed session cannot guess its way to
# recovery codes or to turning the second factor off.
SETTINGS_CODE_RATE = "5/m"


def _guessing(request: HttpRequest) -> bool:
    return bool(
        is_ratelimited(request, group="two-factor-settings", key="user", rate=SETTINGS_CODE_RATE, increment=True)
    )


def _setup_page(request: HttpRequest, device: Any, form: CodeForm, *, status: int = 200) -> HttpResponse:
    uri = two_factor.provisioning_uri(device)
    return render(
        request,
        "settings/two_factor_setup.html",
        {
            "qr_svg": mark_safe(segno.make(uri, error="m").svg_inline(scale=5, dark="#1b1f24", light="#ffffff")),  # noqa: S308 - segno's SVG of our own otpauth URI
            "secret": two_factor.grouped_secret(device),
            "form": form,
            "required_by": two_factor.requiring_organisations(cast(User, request.user)),
        },
        status=status,
    )


@require_POST
@login_required
@domain_errors
def two_factor_start(request: HttpRequest) -> HttpResponse:
    two_factor.setup_begin(cast(User, request.user))
    return redirect("two_factor_setup")


@require_POST
@login_required
@never_cache
@sensitive_post_parameters("code")
def two_factor_confirm(request: HttpRequest) -> HttpResponse:
    """Turn it on with a first code; the answer shows the recovery codes, this once."""
    user = cast(User, request.user)
    device = two_factor.pending_device(user)
    if device is None:
        return _back("two-factor")
    form = CodeForm(request.POST)
    if _guessing(request):
        form.add_error(None, gettext("Too many attempts. Wait a minute and try again."))
        return _setup_page(request, device, form, status=429)
    if form.is_valid():
        try:
            codes = two_factor.setup_confirm(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            form_errors(form, exc)
        else:
            # This session stays signed in (the others were signed out) and counts as verified.
            sessions.keep_this_session(request, user)
            request.session[two_factor.VERIFIED] = True
            return render(request, "settings/recovery_codes.html", {"codes": codes, "first_time": True}, status=201)
    return _setup_page(request, device, form, status=400)


@require_POST
@login_required
@never_cache
@sensitive_post_parameters("code")
def recovery_codes_renew(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = CodeForm(request.POST)
    if _guessing(request):
        form.add_error(None, gettext("Too many attempts. Wait a minute and try again."))
        return _page(request, recovery_form=form, status=429)
    if form.is_valid():
        try:
            codes = two_factor.recovery_codes_renew(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            form_errors(form, exc)
        else:
            return render(request, "settings/recovery_codes.html", {"codes": codes, "first_time": False}, status=201)
    return _page(request, recovery_form=form, status=400)


@require_POST
@login_required
@sensitive_post_parameters("password")
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = PasswordForm(request.POST)
    if _guessing(request):
        form.add_error(None, gettext("Too many attempts. Wait a minute and try again."))
        return _page(request, disable_form=form, status=429)
    if form.is_valid():
        try:
            two_factor.disable(user=user, password=form.cleaned_data["password"])
        except DomainError as exc:
            form_errors(form, exc)
            return _page(request, disable_form=form, status=exc.status)
        request.session.pop(two_factor.VERIFIED, None)
        messages.success(request, gettext("Two-factor sign-in is off. You sign in with your password alone."))
        return _back("two-factor")
    return _page(request, disable_form=form, status=400)


@require_POST
@login_required
def sessions_sign_out_others(request: HttpRequest) -> HttpResponse:
    """Sign out everywhere but here."""
    count = sessions.sign_out_everywhere_else(request, cast(User, request.user))
    messages.success(
        request,
        ngettext(
            "You are signed out everywhere else (%(count)d other session). This browser stays signed in.",
            "You are signed out everywhere else (%(count)d other sessions). This browser stays signed in.",
            count,
        )
        % {"count": count}
        if count
        else gettext("You are signed out everywhere else. This browser stays signed in."),
    )
    return _back("sessions")


@require_POST
@login_required
@domain_errors
def organisation_two_factor(request: HttpRequest, organisation_id: uuid.UUID) -> HttpResponse:
    required = request.POST.get("require_two_factor") == "on"
    org = two_factor.organisation_require_two_factor(
        user=cast(User, request.user), organisation_id=organisation_id, required=required
    )
    messages.success(
        request,
        (
            gettext("%(organisation)s now requires two-factor sign-in of its members.")
            if org.require_two_factor
            else gettext("%(organisation)s no longer requires two-factor sign-in.")
        )
        % {"organisation": org.name},
    )
    return _back("organisations")


# --- Reminder preferences and unsubscribe -----------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HtmxHttpRequest) -> HttpResponse:
    """Which reminder kinds the signed-in person receives and how often their digest comes (a
    page, or a partial for htmx). An unknown frequency is refused and nothing is saved."""
    user = cast(User, request.user)
    saved, error, status = False, "", 200
    if request.method == "POST":
        frequency = request.POST.get("digest_frequency", "")
        if frequency and frequency not in DigestFrequency.values:
            error, status = gettext("Choose a weekly or a daily digest; nothing was saved."), 400
        else:
            set_muted(user, [k for k in ReminderKind.values if k not in request.POST.getlist("receive")])
            if frequency:
                set_digest_frequency(user, frequency)
            saved = True
    muted = set(user.muted_reminder_kinds or [])
    kinds = [{"value": value, "label": label, "on": value not in muted} for value, label in ReminderKind.choices]
    frequencies = [
        {"value": value, "label": label, "on": value == user.digest_frequency}
        for value, label in DigestFrequency.choices
    ]
    template = "reminders/_preferences_form.html" if request.htmx else "reminders/preferences.html"
    context = {"kinds": kinds, "frequencies": frequencies, "digest_help": DIGEST_HELP, "saved": saved, "error": error}
    return render(request, template, context, status=status)


@csrf_exempt  # RFC 8058: the mail client POSTs without a session; the signed token is the authority
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation (mail scanners prefetch links); POST mutes that kind."""
    try:
        user, kind = read_token(token)
    except signing.SignatureExpired:
        return render(request, "reminders/unsubscribe_expired.html", {"max_age_days": max_age().days}, status=410)
    except signing.BadSignature:
        return render(request, "reminders/unsubscribe_invalid.html", status=400)
    done = request.method == "POST"
    if done:
        mute(user, [kind])
    return render(
        request,
        "reminders/unsubscribe.html",
        {
            "kind": kind,
            "kind_label": ReminderKind(kind).label,
            "done": done,
            "email": user.email,
            "action": reverse("reviews:unsubscribe", args=[token]),
        },
    )
