"""Single sign-on with OpenID Connect, one identity provider per organisation (vendor or partner).

Why these rules:

- **Domains decide who goes where, and what a provider may vouch for.** An organisation's provider
  signs in addresses at the organisation's own domains (``OrganisationDomain``) and nothing else:
  otherwise a provider could sign in anyone's existing account. So a domain belongs to one
  organisation at most (a unique constraint), and an admin may add only the domain of their own
  address (Partnerplan's addresses are proven: a sign-up confirms its e-mailed link, an invitation
  is accepted from its e-mailed link, an SSO sign-in comes with the provider's ``email_verified``).
  Any other domain is confirmed by the operator (``manage.py sso_confirm_domain``). Shared mail
  providers' domains (gmail.com …) belong to no organisation.
- **The flow** is the authorization code flow with PKCE (S256), ``state`` and ``nonce``. The three
  and the code verifier live in the session that started the flow (``PENDING``) and are taken out
  on the first callback that names the state: a tampered state finds nothing, a replayed callback
  finds nothing the second time. The ID token is verified with the provider's JWKS (signature),
  the issuer from discovery (which must be the issuer the admin entered), the client id
  (audience), its expiry and the nonce; ``email_verified`` must be true and the address's domain
  one of the organisation's. Every call to the provider has a short timeout.
- **Just-in-time membership.** A person the provider vouches for becomes a member (never an admin)
  of the organisation, with a new account if they had none. Partnerships still come only from
  invitations: SSO grants no partnership.
- **The second factor.** An SSO sign-in is the organisation's own strong authentication: the
  session counts as verified (``two_factor.VERIFIED``) and the two-factor middleware asks no code
  after it, whatever the person set up for password sign-in. The provider is the factor.
- **Require SSO.** With ``IdentityProvider.require_sso``, password sign-in is refused to every
  address at the organisation's domains (``password_refusal``); the sign-in page says why.
- **The client secret** is encrypted with a key derived from ``SECRET_KEY`` (keys from
  ``SECRET_KEY_FALLBACKS`` still decrypt, so rotating the key keeps providers working), and no
  page shows it again: the settings page says only that one is set.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from core.errors import DomainError, InvalidInput, NotAllowed, NotFound, RuleViolation

from .models import (
    SERVICE_EMAIL_DOMAIN,
    IdentityProvider,
    Organisation,
    OrganisationDomain,
    OrganisationMembership,
    User,
)
from .services import user_create

log = logging.getLogger(__name__)

# Session keys: the flows this browser started and has not finished (state -> what the callback
# needs), and the organisation whose provider signed this session in.
PENDING = "accounts.sso_pending"
SIGNED_IN_WITH = "accounts.sso_organisation"
# A flow waits this long for its callback; a browser keeps this many flows open at once.
PENDING_SECONDS = 600
MAX_PENDING = 5
SCOPES = "openid email profile"
MAX_EMAIL = 254  # User.email
# (connect, read) seconds for every call to a provider: a slow provider fails the sign-in quickly.
HTTP_TIMEOUT = (3.05, 5.0)
DISCOVERY_CACHE_SECONDS = 3600
# Clock skew allowed between Partnerplan and a provider when checking a token's times.
LEEWAY_SECONDS = 60
# Algorithms an ID token may be signed with (never "none", never a symmetric one keyed by the
# client secret that the settings page accepts from anyone with admin rights).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
SECRET_SALT = "partnerplan.accounts.IdentityProvider.client_secret"
# Shared mail providers: their domains belong to no organisation.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
        "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "gmx.com", "web.de",
        "t-online.de", "proton.me", "protonmail.com", "pm.me", "yandex.ru", "yandex.com", "mail.ru", "qq.com",
        "163.com", "126.com", "zoho.com", "fastmail.com", "hey.com", "mail.com", "orange.fr", "free.fr",
        "laposte.net", "libero.it", "btinternet.com", "comcast.net", "hushmail.com", "tutanota.com",
        SERVICE_EMAIL_DOMAIN,
    }
)  # fmt: skip
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class SignInRefused(DomainError):
    """The provider or its answer does not let this person in; the message says why."""

    status = 403
    code = "sso.refused"


class ProviderUnreachable(DomainError):
    """The provider did not answer (in time, or sensibly)."""

    status = 502
    code = "sso.unreachable"


# --- Domains ------------------------------------------------------------------------------------


def normalise_domain(value: str) -> str:
    """``Example.COM.`` and ``@example.com`` are ``example.com``; non-ASCII names in IDNA form."""
    text = str(value or "").strip().lower().lstrip("@").rstrip(".")
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        text = ""
    if not _DOMAIN.match(text):
        raise InvalidInput(
            gettext("Enter a domain name such as example.com."),
            fields={"domain": [gettext("Enter a domain name such as example.com.")]},
        )
    return text


def domain_of(email: str) -> str | None:
    """The normalised domain of an address, or None if it has none."""
    _, at, domain = str(email or "").strip().rpartition("@")
    if not at:
        return None
    try:
        return normalise_domain(domain)
    except InvalidInput:
        return None


def provider_for_email(email: str) -> IdentityProvider | None:
    """The switched-on provider of the organisation that owns this address's domain."""
    domain = domain_of(email)
    if domain is None:
        return None
    return (
        IdentityProvider.objects.select_related("organisation")
        .filter(enabled=True, organisation__domains__domain=domain)
        .first()
    )


def requiring_organisation(email: str) -> Organisation | None:
    """The organisation that requires single sign-on of this address, if one does."""
    provider = provider_for_email(email)
    return provider.organisation if provider is not None and provider.require_sso else None


def password_refusal(email: str) -> str | None:
    """Why password sign-in is refused to this address (its organisation requires SSO), or None."""
    organisation = requiring_organisation(email)
    if organisation is None:
        return None
    return gettext(
        "%(organisation)s signs its people in with its own identity provider. "
        "Use “Sign in with your company's identity provider” below."
    ) % {"organisation": organisation.name}


# --- The client secret ----------------------------------------------------------------------------


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(salted_hmac(SECRET_SALT, "fernet", secret=k, algorithm="sha256").digest()))
            for k in keys
        ]
    )


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SignInRefused(
            gettext(
                "Your organisation's single sign-on needs its client secret entered again (Partnerplan's key "
                "changed). Ask an admin of your organisation."
            ),
            code="sso.secret_unreadable",
        ) from exc


# --- Discovery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metadata:
    """What Partnerplan needs of a provider's ``/.well-known/openid-configuration``."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_method: str


def check_issuer_url(value: str) -> str:
    """An issuer is an https:// URL (http:// only on this machine, for development and tests)."""
    url = str(value or "").strip().rstrip("/")
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK)
    if secure and parts.hostname and not parts.query and not parts.fragment:
        return url
    message = gettext("Enter the issuer as an https:// address, such as https://login.example.com.")
    raise InvalidInput(message, fields={"issuer": [message]})


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _get_json(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def discover(issuer: str, *, fresh: bool = False) -> Metadata:
    """The provider's metadata, from discovery (cached an hour). The document's ``issuer`` must be
    the issuer entered (RFC 8414 / OpenID Connect Discovery section 4.3)."""
    key = "sso-discovery:" + hashlib.sha256(issuer.encode()).hexdigest()
    data = None if fresh else cache.get(key)
    if not isinstance(data, dict):
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            data = _get_json(url)
        except (requests.RequestException, ValueError) as exc:
            log.warning("sso discovery failed for %s: %s", issuer, type(exc).__name__)
            raise ProviderUnreachable(
                gettext(
                    "The identity provider at %(issuer)s did not answer its discovery address "
                    "(/.well-known/openid-configuration). Check the issuer URL, or try again in a minute."
                )
                % {"issuer": issuer}
            ) from exc
        cache.set(key, data, DISCOVERY_CACHE_SECONDS)
    missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not data.get(k)]
    if missing:
        raise ProviderUnreachable(
            gettext("The identity provider's discovery document lacks %(fields)s.") % {"fields": ", ".join(missing)}
        )
    if not _same_issuer(str(data["issuer"]), issuer):
        raise ProviderUnreachable(
            gettext("The identity provider calls itself %(named)s, not %(issuer)s: enter the issuer it names.")
            % {"named": data["issuer"], "issuer": issuer}
        )
    methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return Metadata(
        issuer=str(data["issuer"]),
        authorization_endpoint=str(data["authorization_endpoint"]),
        token_endpoint=str(data["token_endpoint"]),
        jwks_uri=str(data["jwks_uri"]),
        token_auth_method="client_secret_basic" if "client_secret_basic" in methods else "client_secret_post",
    )


def redirect_uri() -> str:
    """The one callback address every provider is told (built from ``SITE_URL``)."""
    return str(settings.SITE_URL).rstrip("/") + reverse("sso_callback")


# --- Settings (organisation admins) ---------------------------------------------------------------


def administered(*, user: User, organisation_id: Any) -> Organisation:
    """The organisation, if this person is one of its admins (others: not found, or not allowed)."""
    try:
        org_id = uuid.UUID(str(organisation_id))
    except ValueError:
        raise NotFound(gettext("No such organisation.")) from None
    membership = (
        OrganisationMembership.objects.select_related("organisation").filter(user=user, organisation_id=org_id).first()
    )
    if membership is None:
        raise NotFound(gettext("No such organisation."))
    if membership.role != OrganisationMembership.Role.ADMIN:
        raise NotAllowed(
            gettext("Only admins of %(organisation)s change its sign-in rules.")
            % {"organisation": membership.organisation.name}
        )
    return membership.organisation


@transaction.atomic
def provider_save(
    *,
    user: User,
    organisation_id: Any,
    issuer: str,
    client_id: str,
    client_secret: str,
    enabled: bool,
    require_sso: bool,
) -> IdentityProvider:
    """Save an organisation's provider. A blank secret keeps the one set. Switching it on checks
    discovery first, and needs a secret and at least one domain; nothing is saved if any fails."""
    organisation = administered(user=user, organisation_id=organisation_id)
    issuer = check_issuer_url(issuer)
    client_id = client_id.strip()
    if not client_id:
        raise InvalidInput(gettext("Enter the client ID."), fields={"client_id": [gettext("Enter the client ID.")]})
    provider = IdentityProvider.objects.select_for_update().filter(organisation=organisation).first()
    if provider is None:
        provider = IdentityProvider(organisation=organisation)
    if client_secret:
        provider.client_secret_encrypted = encrypt_secret(client_secret)
    if require_sso and not enabled:
        raise InvalidInput(
            gettext("Switch single sign-on on to require it."),
            fields={"require_sso": [gettext("Switch single sign-on on to require it.")]},
        )
    if enabled:
        if not provider.client_secret_encrypted:
            raise InvalidInput(
                gettext("Enter the client secret."), fields={"client_secret": [gettext("Enter the client secret.")]}
            )
        if not OrganisationDomain.objects.filter(organisation=organisation).exists():
            raise RuleViolation(
                gettext("Add a domain your organisation owns first: single sign-on is for addresses at your domains."),
                code="sso.no_domain",
            )
        try:
            issuer = discover(issuer, fresh=True).issuer
        except ProviderUnreachable as exc:
            raise InvalidInput(exc.message, fields={"issuer": [exc.message]}) from exc
    provider.issuer, provider.client_id = issuer, client_id
    provider.enabled, provider.require_sso = enabled, require_sso
    provider.updated_at, provider.updated_by = timezone.now(), user
    provider.save()
    return provider


def _claimable(domain: str) -> None:
    if domain in PUBLIC_MAIL_DOMAINS:
        raise RuleViolation(
            gettext("%(domain)s is a shared mail provider's domain: it cannot belong to one organisation.")
            % {"domain": domain},
            code="sso.public_domain",
            fields={
                "domain": [
                    gettext("%(domain)s is a shared mail provider's domain: it cannot belong to one organisation.")
                    % {"domain": domain}
                ]
            },
        )
    if OrganisationDomain.objects.filter(domain=domain).exists():
        raise RuleViolation(
            gettext("%(domain)s already belongs to an organisation in Partnerplan. Ask the operator if it is yours.")
            % {"domain": domain},
            code="sso.domain_taken",
            fields={
                "domain": [
                    gettext("%(domain)s already belongs to an organisation in Partnerplan.") % {"domain": domain}
                ]
            },
        )


def _add_domain(*, organisation: Organisation, domain: str, verified_by: str, user: User | None) -> OrganisationDomain:
    _claimable(domain)
    try:
        with transaction.atomic():
            return OrganisationDomain.objects.create(
                organisation=organisation, domain=domain, verified_by=verified_by, added_by=user
            )
    except IntegrityError:  # added a moment ago by someone else
        raise RuleViolation(
            gettext("%(domain)s already belongs to an organisation in Partnerplan.") % {"domain": domain},
            code="sso.domain_taken",
        ) from None


def domain_add(*, user: User, organisation_id: Any, domain: str) -> OrganisationDomain:
    """An admin adds the domain of their own address (proven when the account was made)."""
    organisation = administered(user=user, organisation_id=organisation_id)
    domain = normalise_domain(domain)
    if domain != domain_of(user.email):
        message = gettext(
            "You may add %(domain)s, the domain of your own address. "
            "For another domain, ask the operator to confirm it."
        ) % {"domain": domain_of(user.email)}
        raise RuleViolation(message, code="sso.domain_not_yours", fields={"domain": [message]})
    return _add_domain(
        organisation=organisation, domain=domain, verified_by=OrganisationDomain.Verification.ADMIN_ADDRESS, user=user
    )


def domain_confirm(*, organisation: Organisation, domain: str) -> OrganisationDomain:
    """The operator confirms that a domain is the organisation's (a management command)."""
    return _add_domain(
        organisation=organisation,
        domain=normalise_domain(domain),
        verified_by=OrganisationDomain.Verification.OPERATOR,
        user=None,
    )


@transaction.atomic
def domain_remove(*, user: User, organisation_id: Any, domain_id: Any) -> OrganisationDomain:
    """Remove a domain; the last one cannot go while single sign-on is on."""
    organisation = administered(user=user, organisation_id=organisation_id)
    domain_pk = _int_or_none(domain_id)
    domain = (
        None
        if domain_pk is None
        else OrganisationDomain.objects.filter(organisation=organisation, pk=domain_pk).first()
    )
    if domain is None:
        raise NotFound(gettext("No such domain."))
    provider = IdentityProvider.objects.select_for_update().filter(organisation=organisation, enabled=True).first()
    if provider is not None and OrganisationDomain.objects.filter(organisation=organisation).count() == 1:
        raise RuleViolation(
            gettext("Switch single sign-on off before removing its last domain."), code="sso.last_domain"
        )
    domain.delete()
    return domain


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- Signing in -----------------------------------------------------------------------------------


def _client(provider: IdentityProvider, metadata: Metadata) -> OAuth2Session:
    return OAuth2Session(
        client_id=provider.client_id,
        client_secret=decrypt_secret(provider.client_secret_encrypted),
        scope=SCOPES,
        redirect_uri=redirect_uri(),
        code_challenge_method="S256",
        token_endpoint_auth_method=metadata.token_auth_method,
        default_timeout=HTTP_TIMEOUT,
    )


def begin(*, session: MutableMapping[str, Any], email: str, next_url: str) -> str:
    """Start signing in the person with this address: the provider's authorization URL to send
    them to. Refused when no organisation signs in that domain with its own provider."""
    provider = provider_for_email(email)
    if provider is None:
        domain = domain_of(email) or gettext("that address")
        raise SignInRefused(
            gettext(
                "No organisation signs in addresses at %(domain)s with its own identity provider. "
                "Sign in with your password instead."
            )
            % {"domain": domain},
            code="sso.no_provider",
            fields={
                "email": [
                    gettext("No organisation signs in addresses at %(domain)s with its own identity provider.")
                    % {"domain": domain}
                ]
            },
        )
    metadata = discover(provider.issuer)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    with _client(provider, metadata) as client:
        url, _ = client.create_authorization_url(
            metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier, login_hint=email
        )
    pending = {k: v for k, v in _pending(session).items() if time.time() - float(v.get("at", 0)) < PENDING_SECONDS}
    pending[state] = {
        "org": str(provider.organisation_id),
        "issuer": metadata.issuer,
        "client_id": provider.client_id,
        "nonce": nonce,
        "verifier": verifier,
        "next": next_url,
        "at": time.time(),
    }
    session[PENDING] = dict(sorted(pending.items(), key=lambda kv: float(kv[1]["at"]))[-MAX_PENDING:])
    return str(url)


def _pending(session: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    pending = session.get(PENDING)
    return dict(pending) if isinstance(pending, dict) else {}


@dataclass(frozen=True)
class SignedIn:
    user: User
    organisation: Organisation
    created: bool
    next_url: str


def _take_flow(session: MutableMapping[str, Any], state: str) -> dict[str, Any]:
    """The flow this state names, taken out of the session: a state is used once."""
    pending = _pending(session)
    flow = pending.pop(state, None) if state else None
    session[PENDING] = pending
    if not isinstance(flow, dict) or time.time() - float(flow.get("at", 0)) > PENDING_SECONDS:
        raise SignInRefused(
            gettext("This sign-in did not start in this browser, was already used or took too long. Start again."),
            code="sso.state",
        )
    return flow


def complete(*, session: MutableMapping[str, Any], params: Mapping[str, str]) -> SignedIn:
    """Finish the flow from the provider's answer (the callback's query): verify everything, then
    find or make the person and their membership. Nothing is created when anything is refused."""
    flow = _take_flow(session, str(params.get("state") or ""))
    if params.get("error"):
        detail = str(params.get("error_description") or params.get("error"))[:200]
        raise SignInRefused(
            gettext("Your identity provider did not sign you in: %(detail)s") % {"detail": detail},
            code="sso.provider_error",
        )
    provider = (
        IdentityProvider.objects.select_related("organisation")
        .filter(organisation_id=flow["org"], enabled=True)
        .first()
    )
    if provider is None or provider.client_id != flow["client_id"] or not _same_issuer(provider.issuer, flow["issuer"]):
        raise SignInRefused(
            gettext("Your organisation's single sign-on changed meanwhile. Start again."), code="sso.changed"
        )
    code = str(params.get("code") or "")
    if not code:
        raise SignInRefused(
            gettext("Your identity provider sent no authorization code. Start again."), code="sso.no_code"
        )
    metadata = discover(provider.issuer)
    claims = _verified_claims(provider, metadata, code=code, flow=flow)
    email = str(claims.get("email") or "").strip().lower()
    verified = claims.get("email_verified")
    if not (verified is True or verified == "true"):
        raise SignInRefused(
            gettext(
                "Your identity provider has not verified your e-mail address, so Partnerplan cannot sign you in "
                "with it. Ask your IT team to verify it."
            ),
            code="sso.email_unverified",
        )
    domain = domain_of(email) if len(email) <= MAX_EMAIL else None
    if domain is None or not OrganisationDomain.objects.filter(organisation=provider.organisation, domain=domain):
        raise SignInRefused(
            (
                gettext(
                    "%(email)s is not at a domain of %(organisation)s, so its identity provider cannot sign you in "
                    "to Partnerplan."
                )
                if email
                else gettext(
                    "Your address is not at a domain of %(organisation)s, so its identity provider cannot sign you "
                    "in to Partnerplan."
                )
            )
            % {"email": email, "organisation": provider.organisation.name},
            code="sso.domain",
        )
    name = str(claims.get("name") or "").strip()[:150]
    user, created = _member_of(provider.organisation, email=email, full_name=name)
    log.info("sso sign-in of user %s via organisation %s (new: %s)", user.pk, provider.organisation_id, created)
    return SignedIn(
        user=user, organisation=provider.organisation, created=created, next_url=str(flow.get("next") or "")
    )


def _verified_claims(
    provider: IdentityProvider, metadata: Metadata, *, code: str, flow: Mapping[str, Any]
) -> Mapping[str, Any]:
    try:
        with _client(provider, metadata) as client:
            token = client.fetch_token(metadata.token_endpoint, code=code, code_verifier=flow["verifier"])
        keys = KeySet.import_key_set(cast(Any, _get_json(metadata.jwks_uri)))
    except AuthlibBaseError as exc:
        log.warning("sso token request refused by %s: %s", provider.issuer, getattr(exc, "error", type(exc).__name__))
        raise SignInRefused(
            gettext("Your identity provider refused to complete the sign-in. Start again."), code="sso.token"
        ) from exc
    except (requests.RequestException, ValueError) as exc:
        log.warning("sso token or keys failed for %s: %s", provider.issuer, type(exc).__name__)
        raise ProviderUnreachable(
            gettext("Your identity provider did not answer in time. Try again in a minute.")
        ) from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignInRefused(gettext("Your identity provider sent no ID token. Start again."), code="sso.id_token")
    try:
        decoded = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=list(SIGNING_ALGORITHMS)))
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": metadata.issuer},
                "aud": {"essential": True, "value": provider.client_id},
            },
            {"nonce": flow["nonce"], "client_id": provider.client_id, "access_token": token.get("access_token")},
        )
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError) as exc:
        log.warning("sso ID token from %s refused: %s", provider.issuer, type(exc).__name__)
        raise SignInRefused(
            gettext("The answer from your identity provider did not pass Partnerplan's checks. Start again."),
            code="sso.id_token",
        ) from exc
    return cast(Mapping[str, Any], claims)


@transaction.atomic
def _member_of(organisation: Organisation, *, email: str, full_name: str) -> tuple[User, bool]:
    """The person with this address (a new account if none), a member of the organisation."""
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    created = False
    if user is None:
        try:
            user = user_create(email=email, password=None, full_name=full_name, without_password=True)
            created = True
        except RuleViolation:  # made a moment ago by a concurrent sign-in (email_taken)
            user = User.objects.get(email__iexact=email)
    if not user.is_active:
        raise SignInRefused(
            gettext("This account is switched off. Ask the operator of Partnerplan."), code="sso.inactive"
        )
    if user.is_staff or user.is_superuser:
        # An organisation's provider vouches for its people, not for the people who run Partnerplan.
        raise SignInRefused(gettext("Operators of Partnerplan sign in with their password."), code="sso.operator")
    OrganisationMembership.objects.get_or_create(
        organisation=organisation, user=user, defaults={"role": OrganisationMembership.Role.MEMBER}
    )
    return user, created
