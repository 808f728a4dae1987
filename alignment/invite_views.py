"""Browser pages for invitations: the link a person receives, and the invitations page of a partnership.

The link page (GET) only shows the invitation: mail scanners prefetch links, so nothing changes
until the person POSTs. A used link takes a signed-in member of the partnership to the plan and
everyone else to the sign-in page; an expired one offers "Ask for a new link" (a POST, limited per
address and per invitation). Unknown, revoked, declined and replaced links all get the same neutral
page and status. The link pages are rate-limited per IP address.

The invitations page is for whoever invites people for their side (``Access.can_manage_invitations``):
the form with an explicit side (both companies named, a side one may not invite to shown with the
reason), the invitations waiting for one's confirmation, and the list of invitations.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from accounts import sso
from accounts.models import User
from core.errors import DomainError, NotAllowed, NotFound, RateLimited
from core.templatetags.formatting import role_word, side_word
from core.web import domain_errors, form_errors, login_url, refused

from . import invitation_links as links
from . import invitation_sides as sides
from . import invitations as service
from .access import Access, InviteRule, resolve
from .models import Invitation, Role, Side

# Guesses per IP address and minute on the link pages (GET and POST share the budget).
LINK_RATE = getattr(settings, "INVITATION_LINK_RATE", "20/m")
# "Ask for a new link" per IP address (each invitation also asks at most once a day).
NEW_LINK_RATE = getattr(settings, "INVITATION_NEW_LINK_RATE", "10/h")

USED_LINK = _("This invitation link has been used already. Sign in to open your plans.")
USED_LINK_SIGNED_IN = _(
    "This invitation link has been used already. If it was sent to another of your e-mail addresses, "
    "sign out and sign in with that one."
)


def _rate_limited(request: HttpRequest) -> HttpResponse | None:
    if is_ratelimited(request, group="invitation-link", key="ip", rate=LINK_RATE, increment=True):
        error = RateLimited(gettext("Too many attempts from your network. Wait a minute and open the link again."))
        return refused(request, error, title=gettext("Slow down"))
    return None


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "invitations/invalid.html", {"message": service.INVALID_LINK}, status=404)


def _link(token: str) -> str:
    return reverse("invitation", args=[token])


def _used_link(request: HttpRequest, invitation: Invitation, token: str) -> HttpResponse:
    """A used link: members go to the plan; everyone else to sign in, told only that it was used."""
    user = request.user
    if user.is_authenticated:
        if links.is_member(user, invitation.partnership):
            return redirect("plan", pid=invitation.partnership_id)
        messages.info(request, USED_LINK_SIGNED_IN)
        # The sign-in page sends a signed-in person on to their dashboard (a `next` back here would loop).
        return redirect(reverse("login"))
    messages.info(request, USED_LINK)
    return redirect(login_url(_link(token)))


def _expired_link(request: HttpRequest, invitation: Invitation, token: str) -> HttpResponse:
    """An expired link: say so, and offer to ask for a new one (or say that it was asked)."""
    p = invitation.partnership
    _recipients, who = links.link_request_recipients(invitation)
    context = {
        "invitation": invitation,
        "partnership": p,
        "token": token,
        "who": who,
        "asked": links.link_recently_requested(invitation),
        "side_organisation": p.organisation_for(invitation.side).name,
    }
    return render(request, "invitations/expired.html", context, status=410)


class NewPersonForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=150)
    password = forms.CharField(
        label=_("Choose a password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=128,
        help_text=_("At least 10 characters, not a common password."),
    )
    password_again = forms.CharField(
        label=_("Password again"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), max_length=128
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", gettext("The two passwords differ."))
        return data


def _page_context(request: HttpRequest, invitation: Invitation, token: str) -> dict[str, Any]:
    user = request.user
    signed_in = bool(user.is_authenticated)
    matches = signed_in and user.email.lower() == invitation.email.lower()  # type: ignore[union-attr]
    has_account = matches or (not signed_in and User.objects.filter(email__iexact=invitation.email).exists())
    p = invitation.partnership
    return {
        "invitation": invitation,
        "partnership": p,
        "token": token,
        "inviter_name": invitation.invited_by.display_name
        if invitation.invited_by
        else p.organisation_for(invitation.side).name,
        "inviter_organisation": links.inviter_organisation(invitation),
        "side_organisation": p.organisation_for(invitation.side).name,
        "abilities": service.ROLE_ABILITIES[Role(invitation.role)],
        "signed_in": signed_in,
        "matches": matches,
        "has_account": has_account,
        "login_url": login_url(_link(token)),
        # The organisation that signs the invited address in with its own identity provider, if any.
        "sso_organisation": None if has_account else sso.requiring_organisation(invitation.email),
        "sso_url": reverse("sso_start") + "?" + urlencode({"email": invitation.email, "next": _link(token)}),
    }


@require_GET
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """Who invited you, to which plan, and what you will be able to do. Changes nothing."""
    limited = _rate_limited(request)
    if limited:
        return limited
    invitation = service.find_by_link(token)
    if invitation is None:
        return _invalid_link(request)
    state = invitation.state
    if state == "accepted":
        return _used_link(request, invitation, token)
    if state == "expired":
        return _expired_link(request, invitation, token)
    if not invitation.is_usable:
        return _invalid_link(request)
    context = _page_context(request, invitation, token)
    context["form"] = NewPersonForm()
    return render(request, "invitations/invitation.html", context)


@require_POST
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Accept: a signed-in person with the invited address joins; a new person sets a name and a
    password, and their account is created for the invited address."""
    limited = _rate_limited(request)
    if limited:
        return limited
    invitation = service.find_by_link(token)
    if invitation is not None and invitation.state == "accepted":
        return _used_link(request, invitation, token)  # sent twice, or again after the back button
    if invitation is not None and invitation.state == "expired":
        return _expired_link(request, invitation, token)
    if invitation is None or not invitation.is_usable:
        return _invalid_link(request)
    form = None
    try:
        if request.user.is_authenticated:
            member = service.invitation_accept(raw_token=token, user=request.user, language=request.LANGUAGE_CODE)
        else:
            if User.objects.filter(email__iexact=invitation.email).exists():
                return redirect(login_url(_link(token)))
            form = NewPersonForm(request.POST)
            if not form.is_valid():
                context = _page_context(request, invitation, token) | {"form": form}
                return render(request, "invitations/invitation.html", context, status=400)
            member = service.invitation_accept_as_new_person(
                raw_token=token,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password"],
                language=request.LANGUAGE_CODE,
            )
            login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
    except NotFound:
        return _invalid_link(request)
    except DomainError as error:
        if form is not None and error.fields:
            form_errors(form, error)
            context = _page_context(request, invitation, token) | {"form": form}
            return render(request, "invitations/invitation.html", context, status=error.status)
        return refused(request, error)
    messages.success(
        request,
        gettext("Welcome to %(partnership)s. Here is what waits for your side.")
        % {"partnership": member.partnership.name},
    )
    return redirect("goal-review-queue", partnership_id=member.partnership_id)


@require_POST
def invitation_request_link(request: HttpRequest, token: str) -> HttpResponse:
    """ "Ask for a new link" on an expired link: the inviter (or the side's admins) get an e-mail.
    Answers with the link page again, which now says that it was asked."""
    limited = _rate_limited(request)
    if limited:
        return limited
    if is_ratelimited(request, group="invitation-new-link", key="ip", rate=NEW_LINK_RATE, increment=True):
        error = RateLimited(gettext("Too many requests for new links from your network. Try again in an hour."))
        return refused(request, error, title=gettext("Slow down"))
    try:
        links.invitation_request_link(raw_token=token)
    except NotFound:
        return _invalid_link(request)
    return redirect(_link(token))


# --- The invitations page ----------------------------------------------------------------------


class InviteForm(forms.Form):
    """Invite someone. The side is an explicit choice between the two companies (no default);
    ``confirm_side`` carries the inviter's "yes, this side anyway" after a side mismatch."""

    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    side = forms.ChoiceField(
        label=_("Which company do they work for?"),
        choices=Side.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the company this person works for.")},
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.APPROVER)
    message = forms.CharField(
        label=_("Personal message (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    confirm_side = forms.CharField(required=False, max_length=300)

    def __init__(self, *args: Any, rules: list[InviteRule], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules = {rule.side: rule for rule in rules}

    def clean_side(self) -> str:
        side: str = self.cleaned_data["side"]
        rule = self.rules.get(side)
        if rule is not None and not rule.allowed:
            raise forms.ValidationError(rule.reason)
        return side


def _manage_url(partnership_id: Any, anchor: str = "") -> str:
    url = reverse("invitations-manage", args=[partnership_id])
    return f"{url}#{anchor}" if anchor else url


def _side_options(access: Access, rules: list[InviteRule], form: InviteForm) -> list[dict[str, Any]]:
    chosen = form["side"].value()
    return [
        {
            "value": rule.side,
            "label": service.side_label(access.partnership, rule.side, access.side),
            "allowed": rule.allowed,
            "explanation": rule.note if rule.allowed else rule.reason,
            "needs_confirmation": rule.needs_confirmation,
            "checked": rule.allowed and chosen == rule.side,
        }
        for rule in rules
    ]


def _rows(access: Access, invitations: list[Invitation]) -> list[dict[str, Any]]:
    """Each invitation with what this person may do with it (one rule each, from ``Access``)."""
    may_invite = {side: access.can_invite(side) for side in Side.values}
    return [
        {
            "invitation": inv,
            "company": access.partnership.organisation_for(inv.side).name,
            "can_resend": inv.state in ("pending", "expired") and may_invite[inv.side],
            "can_revoke": inv.state in ("pending", "awaiting") and access.can_revoke(inv),
            "asked_for_link": inv.state == "expired"
            and inv.link_requested_at is not None
            and (inv.link_issued_at is None or inv.link_requested_at > inv.link_issued_at),
        }
        for inv in invitations
    ]


def _render_manage(
    request: HttpRequest,
    access: Access,
    form: InviteForm,
    rules: list[InviteRule],
    *,
    mismatch: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    p = access.partnership
    invitations = list(
        Invitation.objects.filter(partnership=p).select_related(
            "invited_by", "accepted_by", "confirmed_by", "declined_by"
        )
    )
    awaiting = (
        [inv for inv in invitations if inv.awaits_confirmation and access.can_confirm_invitations_to(inv.side)]
        if access.can_confirm_invitations
        else []
    )
    return render(
        request,
        "invitations/manage.html",
        {
            "access": access,
            "partnership": p,
            "form": form,
            "side_options": _side_options(access, rules, form),
            "may_invite": any(rule.allowed for rule in rules),
            "mismatch": mismatch,
            "awaiting": awaiting,
            "inviter_organisation": p.organisation_for(access.other_side).name,
            "own_organisation": p.organisation_for(access.side).name,
            "rows": _rows(access, invitations),
            "ttl_days": settings.INVITATION_TTL_DAYS,
        },
        status=status,
    )


def _manage_access(request: HttpRequest, partnership_id: Any) -> Access:
    access = resolve(request.user, partnership_id)
    if not access.can_manage_invitations:
        raise NotAllowed(
            gettext("Only admins and approvers invite people to this partnership; your role is %(role)s.")
            % {"role": role_word(access.role)},
        )
    return access


@domain_errors
@require_http_methods(["GET", "POST"])
def invitations_manage(request: HttpRequest, partnership_id: Any) -> HttpResponse:
    """The invitations of a partnership with their state, the ones waiting for this person's
    confirmation, and the form to invite someone."""
    if not request.user.is_authenticated:
        return redirect(login_url(request.get_full_path()))
    access = _manage_access(request, partnership_id)
    rules = service.side_rules(access)
    if request.method != "POST":
        return _render_manage(request, access, InviteForm(rules=rules), rules)
    form = InviteForm(request.POST, rules=rules)
    if not form.is_valid():
        return _render_manage(request, access, form, rules, status=400)
    data = dict(form.cleaned_data)  # form_errors takes a field with errors out of cleaned_data
    try:
        invitation, _raw = service.invitation_create(access=access, **data)
    except NotFound:
        raise
    except DomainError as error:
        form_errors(form, error)
        mismatch = None
        if error.code == "invitation.side_mismatch":
            side, email = data["side"], data["email"].strip().lower()
            mismatch = {
                "key": sides.confirmation_key(side, email),
                "label": gettext("Yes, invite %(email)s to the %(side)s side (%(organisation)s) anyway")
                % {
                    "email": email,
                    "side": side_word(side),
                    "organisation": access.partnership.organisation_for(side).name,
                },
            }
        return _render_manage(request, access, form, rules, mismatch=mismatch, status=error.status)
    if invitation.awaits_confirmation:
        org = access.partnership.organisation_for(invitation.side).name
        messages.success(
            request,
            gettext(
                "%(organisation)s's admins were asked to confirm the invitation of %(email)s. "
                "The link goes out as soon as one of them confirms."
            )
            % {"organisation": org, "email": invitation.email},
        )
    else:
        messages.success(request, gettext("Invitation sent to %(email)s.") % {"email": invitation.email})
    return redirect(_manage_url(access.partnership.pk))


@domain_errors
@require_POST
def invitation_resend(request: HttpRequest, partnership_id: Any, invitation_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    invitation, _raw = service.invitation_resend(access=access, invitation_id=invitation_id)
    messages.success(
        request,
        gettext("A new link was sent to %(email)s; the previous one no longer works.") % {"email": invitation.email},
    )
    return redirect(_manage_url(access.partnership.pk))


@domain_errors
@require_POST
def invitation_revoke(request: HttpRequest, partnership_id: Any, invitation_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    invitation = service.invitation_revoke(access=access, invitation_id=invitation_id)
    messages.success(request, gettext("The invitation of %(email)s was revoked.") % {"email": invitation.email})
    return redirect(_manage_url(access.partnership.pk))


@domain_errors
@require_POST
def invitation_confirm(request: HttpRequest, partnership_id: Any, invitation_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    invitation = service.invitation_confirm(access=access, invitation_id=invitation_id)
    messages.success(
        request, gettext("Confirmed: the invitation link is on its way to %(email)s.") % {"email": invitation.email}
    )
    return redirect(_manage_url(access.partnership.pk))


@domain_errors
@require_POST
def invitation_decline(request: HttpRequest, partnership_id: Any, invitation_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    invitation = service.invitation_decline(access=access, invitation_id=invitation_id)
    messages.success(request, gettext("Declined: %(email)s gets no invitation.") % {"email": invitation.email})
    return redirect(_manage_url(access.partnership.pk))


@domain_errors
@require_POST
def vendor_invitations_setting(request: HttpRequest, partnership_id: Any) -> HttpResponse:
    """The partner organisation's admins decide whether vendors' invitations of its people need them."""
    access = resolve(request.user, partnership_id)
    allowed = request.POST.get("vendors_invite_directly") == "on"
    org = service.organisation_set_vendors_invite_directly(access=access, allowed=allowed)
    if org.vendors_invite_directly:
        messages.success(
            request, gettext("Vendors may now invite %(organisation)s's people directly.") % {"organisation": org.name}
        )
    else:
        messages.success(
            request,
            gettext("An admin of %(organisation)s now confirms each vendor's invitation of its people.")
            % {"organisation": org.name},
        )
    return redirect(_manage_url(access.partnership.pk, "vendor-invitations"))
