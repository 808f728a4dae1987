"""gunicorn's settings for Partnerplan (read from the working directory by ``gunicorn``).

Its access log writes each request line and ``Referer``: the same redaction as Django's logs
(``core.redact``) keeps the secrets of links (invitations, unsubscribe, password reset, sign-up
confirmation) out of it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

sys.path.insert(0, str(Path(__file__).resolve().parent))  # gunicorn adds the project only after reading this file

from core.redact import redact_value


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with secrets of links taken out of the access log's values."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        return dict(redact_value(super().atoms(resp, req, environ, request_time)))


logger_class = RedactingLogger
