"""The address a person answers an e-mail at: ``reply+<token>@<REPLY_DOMAIN>``.

The token binds one person to one object they may comment on (a goal, or an alignment review), so
a reply to it can become that person's comment on that object (``plans.replies``). It is signed
with an HMAC whose key is derived from ``SECRET_KEY`` with a salt of its own (no other signed value
of Partnerplan can be replayed as a reply token, nor the other way round).

Why this shape:

- Lower case only (base32 and base36 digits): mail systems may lower-case a local part.
- At most 64 characters for the whole local part (RFC 5321), whatever the person's id: the kind is
  one letter, the object id its 128 bits in 26 base32 digits, the person id in base36 (at most 13
  digits for a 63-bit id) and the HMAC 16 base32 digits (80 bits: a forger gets one guess per
  e-mail sent, and each wrong guess only earns a rate-limited bounce).
- Nothing to store: the token is derived, so every e-mail of a person about one object carries the
  same address, and whether they may still comment is decided when the reply arrives.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "partnerplan.reply-address"
PREFIX = "reply+"
MAC_LENGTH = 16
MAX_LOCAL_PART = 64

# One letter per kind of object a reply can comment on.
KINDS = {"goal": "g", "review": "r"}
KIND_OF_LETTER = {letter: kind for kind, letter in KINDS.items()}

_TOKEN = re.compile(r"^([a-z])([a-z2-7]{26})-([0-9a-z]{1,13})-([a-z2-7]{16})$")


@dataclass(frozen=True)
class ReplyTarget:
    """Whom a reply address was made for, and what their reply comments on."""

    user_id: int
    kind: str  # "goal" or "review"
    object_id: uuid.UUID


def domain() -> str:
    """The domain replies are received at, lower case; blank when replying by e-mail is off."""
    return str(getattr(settings, "REPLY_DOMAIN", "") or "").strip().lower()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def _mac(body: str, secret: str | None = None) -> str:
    digest = salted_hmac(SALT, body, secret=secret, algorithm="sha256").digest()
    return base64.b32encode(digest).decode("ascii").lower()[:MAC_LENGTH]


def _signed(body: str, mac: str) -> bool:
    """Signed with the secret key, or with one still accepted while it is rotated."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(constant_time_compare(mac, _mac(body, key)) for key in keys)


def make_token(user_id: int, kind: str, object_id: Any) -> str:
    """The signed token binding ``user_id`` to the object ``kind``/``object_id``."""
    if kind not in KINDS:
        raise ValueError(f"Replies cannot comment on a {kind!r}")
    if user_id < 0 or user_id >= 2**63:
        raise ValueError("A person's id is a positive 63-bit number")
    packed = base64.b32encode(uuid.UUID(str(object_id)).bytes).decode("ascii").rstrip("=").lower()
    body = f"{KINDS[kind]}{packed}-{_base36(user_id)}"
    return f"{body}-{_mac(body)}"


def reply_address(user_id: int, kind: str, object_id: Any) -> str | None:
    """``reply+<token>@<REPLY_DOMAIN>`` for this person and object, or None when replies are off."""
    if not domain():
        return None
    return f"{PREFIX}{make_token(user_id, kind, object_id)}@{domain()}"


def read_token(token: str) -> ReplyTarget | None:
    """What a token was made for, or None for anything not signed by this installation."""
    match = _TOKEN.match(token.strip().lower())
    if match is None:
        return None
    letter, packed, person, mac = match.groups()
    body = f"{letter}{packed}-{person}"
    if letter not in KIND_OF_LETTER or not _signed(body, mac):
        return None
    try:
        object_id = uuid.UUID(bytes=base64.b32decode(packed.upper() + "======"))
    except (ValueError, TypeError):
        return None
    return ReplyTarget(int(person, 36), KIND_OF_LETTER[letter], object_id)


def token_of(address: str) -> str | None:
    """The token of a reply address at this installation's ``REPLY_DOMAIN`` (any case), else None."""
    local, at, host = address.strip().strip("<>").rpartition("@")
    if not at or not domain() or host.lower() != domain() or not local.lower().startswith(PREFIX):
        return None
    return local[len(PREFIX) :].lower()


def is_reply_domain(address: str) -> bool:
    """Whether ``address`` is at ``REPLY_DOMAIN`` (the SMTP listener accepts nothing else)."""
    _local, at, host = address.strip().strip("<>").rpartition("@")
    return bool(at) and bool(domain()) and host.lower() == domain()
