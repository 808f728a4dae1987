"""Does an invited address fit the side it is invited to? (the check of ``invitations.invitation_create``)

A partner's address invited as a vendor approver by a slip gives the vendor side a vote it should
not have and the partner a surprise. So an address is refused for a side when it looks like the
*other* side's: a person of the other organisation (or of the other side of this partnership) has
it, or the other side's people, or its website, use its domain while nobody of the chosen side does.
Public mail domains are never a sign of a company. The inviter may still confirm: the confirmation
is ``confirmation_key(side, email)``, which names that very address and side, so it never carries
over to another address or side.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext

from accounts.models import Organisation, User
from core.templatetags.formatting import side_word

from .models import Partnership, Side

# Domains many unrelated people share: no sign of a company, so never a reason to refuse a side.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "t-online.de",
        "mail.com",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
    }
)


@dataclass(frozen=True)
class SideMismatch:
    """An address that looks like the other side's: whose it seems to be, and why."""

    organisation: Organisation
    side: str  # the side it seems to belong to
    why: str

    def message(self, email: str, chosen_side: str, partnership: Partnership) -> str:
        org = self.organisation.name
        chosen = partnership.organisation_for(chosen_side).name
        return gettext(
            "%(email)s looks like an address of %(organisation)s, the %(side)s: %(why)s. Invite them to the "
            "%(side)s side, or confirm that they join %(chosen)s, the %(chosen_side)s side, anyway."
        ) % {
            "email": email,
            "organisation": org,
            "side": side_word(self.side),
            "why": self.why,
            "chosen": chosen,
            "chosen_side": side_word(chosen_side),
        }


def confirmation_key(side: str, email: str) -> str:
    """What the inviter confirms after a side mismatch: this exact address on this exact side.
    A confirmation never carries over to another address or side."""
    return f"{side}:{(email or '').strip().lower()}"


def _people_of(partnership: Partnership, side: str) -> Q:
    """The people of one side: its organisation's members and the partnership's members on it."""
    return Q(org_memberships__organisation_id=partnership.organisation_for(side).pk) | Q(
        partnership_memberships__partnership=partnership, partnership_memberships__side=side
    )


def _website_domain(org: Organisation) -> str:
    host = (org.website or "").split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host.removeprefix("www.")


def side_mismatch(partnership: Partnership, email: str, side: str) -> SideMismatch | None:
    """Whether ``email`` looks like an address of the *other* side's organisation: a person of that
    side has it, or that side's people (or its website) use its domain while nobody of ``side`` does.
    Public mail domains are never a sign of a company."""
    other = Side.other(side)
    other_org = partnership.organisation_for(other)
    own, theirs = _people_of(partnership, side), _people_of(partnership, other)
    person = User.objects.filter(theirs, email__iexact=email)
    if person.exists() and not User.objects.filter(own, email__iexact=email).exists():
        return SideMismatch(other_org, other, gettext("someone there has this very address"))
    domain = email.rsplit("@", 1)[-1].lower()
    if not domain or domain in PUBLIC_MAIL_DOMAINS:
        return None
    at = f"@{domain}"
    own_domain = (
        _website_domain(partnership.organisation_for(side)) == domain
        or User.objects.filter(own, email__iendswith=at).exists()
    )
    if own_domain:
        return None
    if _website_domain(other_org) == domain or User.objects.filter(theirs, email__iendswith=at).exists():
        return SideMismatch(other_org, other, gettext("its people use %(domain)s") % {"domain": domain})
    return None
