"""A reference sync client for the Partnerplan REST API: mirrors partnerships into SQLite from
``/plan`` and the change feed, and pushes local edits with ``If-Match`` and ``Idempotency-Key``.

Standard library only. See ``clients/python/README.md``.
"""

from .http import ApiError, Http, Response
from .sync import RESOURCES, Replica, SyncClient

__all__ = ["RESOURCES", "ApiError", "Http", "Replica", "Response", "SyncClient"]
