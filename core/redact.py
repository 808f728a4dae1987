"""Secrets never reach a log: the paths of links that carry one are rewritten before a record is
written.

Invitation links (``/invite/<token>/…``), unsubscribe links, password reset links
(``/accounts/reset/<uidb64>/<token>/``) and sign-up confirmation links carry their secret in the
path. Django logs the path of every 4xx answer (``django.request``: "Forbidden:
/invite/<token>/accept"), the development server and gunicorn log every request line
(and gunicorn the ``Referer``, which names the page a request came from), and a log is read by
more people, and kept longer, than a mailbox. A live link in a log is a way into the plan.

``redact`` rewrites the known secret segments (``SECRET_PATHS``, raw or percent-encoded as in a
``?next=`` parameter) and, for links added later, any long token-like path segment
(``TOKEN_SEGMENT``: 24 or more URL-safe characters mixing letters and digits, not a UUID) to
``[redacted]``: a new kind of link (the action links of e-mails) is covered before anyone lists it
here, as long as its secret is a real token. ``RedactSecrets`` applies it to every record a handler writes (settings
``LOGGING`` puts it on every handler), and gunicorn's access log gets it through
``gunicorn.conf.py``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "[redacted]"
_SEP = r"(?:/|%2[Ff])"
_SEGMENT = r"[^/?&#\s\"'%]+"  # one path segment, up to the next separator or an encoded one

# Links whose secret is in a known place: (prefix, number of secret segments after it).
SECRET_PATHS: tuple[tuple[str, int], ...] = (
    ("invite", 1),  # /invite/<token>/, /invite/<token>/accept, /invite/<token>/new-link
    ("reminders" + _SEP + "unsubscribe", 1),  # /reminders/unsubscribe/<signed token>/
    ("accounts" + _SEP + "reset", 2),  # /accounts/reset/<uidb64>/<token>/
    ("accounts" + _SEP + "signup" + _SEP + "confirm", 1),  # /accounts/signup/confirm/<token>/
    ("a", 1),  # action links of e-mails: /a/<token>/, /a/<token>/done/
    ("calendar", 1),  # /calendar/<token>.ics, a calendar subscription
)

_KNOWN = [
    re.compile(rf"(?P<keep>{_SEP}{prefix}{_SEP})(?P<secret>{(_SEP).join([_SEGMENT] * n)})")
    for prefix, n in SECRET_PATHS
]
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A segment that looks like a token: long, URL-safe (signed values add ":"), letters and digits mixed.
TOKEN_SEGMENT = re.compile(r"(?P<keep>/|%2[Ff]|=)(?P<secret>[A-Za-z0-9_\-:]{24,})")


def _mask_known(match: re.Match[str]) -> str:
    secret = match.group("secret")
    parts = re.split(_SEP, secret)
    return match.group("keep") + "/".join(MASK for _ in parts)


def _mask_token(match: re.Match[str]) -> str:
    secret = match.group("secret")
    if _UUID.match(secret) or not (re.search(r"[0-9]", secret) and re.search(r"[A-Za-z]", secret)):
        return match.group(0)
    return match.group("keep") + MASK


def redact(text: str) -> str:
    """``text`` with the secret segments of every link in it replaced by ``[redacted]``."""
    if "/" not in text and "%2" not in text:
        return text
    for pattern in _KNOWN:
        text = pattern.sub(_mask_known, text)
    return TOKEN_SEGMENT.sub(_mask_token, text)


def redact_value(value: Any) -> Any:
    """Strings redacted; tuples, lists and dicts (a record's ``args``) redacted inside."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple):
        return tuple(redact_value(v) for v in value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value


class RedactSecrets(logging.Filter):
    """A logging filter for handlers: rewrites the record's message and arguments in place (the
    record is then written as usual). The request object some records carry stays as it is: no
    formatter of ours prints it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = redact_value(record.args)
        return True
