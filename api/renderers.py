"""The response renderer: JSON, readable UTF-8 normally; an error that quotes a client's invalid
text (a lone surrogate such as ``"\\ud800"``) is written with ASCII escapes instead of crashing."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)
