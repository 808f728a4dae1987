"""Helpers for the API's tests: a client that speaks JSON with a bearer token."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from accounts.models import ApiToken


class ApiClient:
    """A Django test client for one person (or nobody), sending JSON with a bearer token."""

    def __init__(self, user: Any = None, **client_kwargs: Any) -> None:
        self.client = Client(**client_kwargs)
        self.user = user
        self.headers: dict[str, str] = {}
        if user is not None:
            _token, raw = ApiToken.issue(user=user, name="tests")
            self.headers["Authorization"] = f"Bearer {raw}"

    def request(self, method: str, path: str, data: Any = None, *, headers: dict[str, str] | None = None,
                raw: bytes | str | None = None, **query: Any) -> Any:
        all_headers = {**self.headers, **(headers or {})}
        url = path if path.startswith("/") else f"/api/v1/{path}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if method == "get":
            return self.client.get(url, query or None, **kwargs)
        body = raw if raw is not None else (json.dumps(data) if data is not None else "")
        return getattr(self.client, method)(url, body, content_type="application/json", **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("get", path, **kw)

    def post(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.request("post", path, data if data is not None else {}, **kw)

    def patch(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.request("patch", path, data, **kw)

    def put(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.request("put", path, data, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("delete", path, **kw)


def if_match(version: int | str) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}
