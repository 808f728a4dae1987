"""The Content Security Policy's two pieces of our own (the header itself is django-csp's, set up
in ``CONTENT_SECURITY_POLICY``): the nonce in every template, and the endpoint that logs what
browsers report.

Every ``<script>`` Partnerplan serves is a file from its own origin with the response's nonce
(``templates/base.html``); there is no inline script, no inline style attribute and no ``eval``.
htmx is told not to inject its indicator style (``includeIndicatorStyles``: the rules are in
``app.css``). So the policy allows scripts and styles from this origin and the nonce only, and a
violation means a bug (or an injection) worth a line in the log.

``nonce``: a context processor giving templates ``csp_nonce`` (the name django-htmx's
``{% htmx_script %}`` reads; django-csp's own processor calls it ``CSP_NONCE``). Reading it is what
puts the nonce in the response's header.

``csp_report``: browsers POST a JSON report per violation (``report-uri``). It is logged as one
warning (through the log's redaction of secret links: a report names the page's address), never
stored; the endpoint takes small bodies only and limits each client address.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.core import is_ratelimited

log = logging.getLogger("partnerplan.csp")

MAX_REPORT_BYTES = 16 * 1024
REPORT_RATE = "60/m"
FIELDS = ("effective-directive", "violated-directive", "blocked-uri", "document-uri", "source-file", "line-number")


def nonce(request: HttpRequest) -> dict[str, Any]:
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


def _reports(payload: Any) -> list[dict[str, Any]]:
    """``report-uri``'s ``{"csp-report": {...}}``, or the Reporting API's list of ``{"type", "body"}``."""
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        return [payload["csp-report"]]
    if isinstance(payload, list):
        bodies = [r.get("body") for r in payload if isinstance(r, dict) and r.get("type") == "csp-violation"]
        # The Reporting API spells the same fields in camelCase.
        return [
            {
                "effective-directive": b.get("effectiveDirective"),
                "blocked-uri": b.get("blockedURL"),
                "document-uri": b.get("documentURL"),
                "source-file": b.get("sourceFile"),
                "line-number": b.get("lineNumber"),
            }
            for b in bodies
            if isinstance(b, dict)
        ]
    return []


@csrf_exempt  # browsers send reports without cookies or tokens
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """``POST /csp-report/``: log each violation a browser reports; always 204 (or 413 when too big)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REPORT_BYTES:
        return HttpResponse(status=413)
    if is_ratelimited(request, group="csp-report", key="ip", rate=REPORT_RATE, increment=True):
        return HttpResponse(status=204)
    try:
        payload = json.loads(request.body[:MAX_REPORT_BYTES] or b"null")
    except ValueError:
        return HttpResponse(status=204)
    for report in _reports(payload)[:10]:
        facts = {name: str(report.get(name) or "")[:300] for name in FIELDS}
        log.warning(
            "Content Security Policy violation: %s blocked %s on %s (%s:%s)",
            facts["effective-directive"] or facts["violated-directive"],
            facts["blocked-uri"] or "inline",
            facts["document-uri"],
            facts["source-file"],
            facts["line-number"],
        )
    return HttpResponse(status=204)
