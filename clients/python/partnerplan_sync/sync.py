"""Mirror partnerships into SQLite from ``/plan`` and the change feed; push local edits back.

The replica holds every object of a plan by (type, id) exactly as the API shows it (the feed's
``data`` is the object's REST representation), the plan's feed cursor and ETag, and an outbox of
local edits. The loop is the one ``docs/api.md`` describes:

1. No cursor yet (or the feed answered 410): ``GET /plan`` and replace the partnership's objects.
2. Follow ``GET /changes?partnership=<id>&since=<cursor>`` until ``has_more`` is false: upsert by
   (type, id), remove on ``delete`` (a tombstone). Events replayed after the ``/plan`` cursor are
   harmless: they carry the full state.
3. Health and attention are computed, not objects: ``GET /plan`` with ``If-None-Match`` refreshes
   them (304 while nothing changed).
4. Push the outbox: ``POST`` with a client-chosen id and an ``Idempotency-Key`` (a retry replays the
   first answer), ``PATCH``/``DELETE`` with ``If-Match`` of the version the edit was made on. A 412
   is a conflict: the answer's ``current`` is the object now; ``resolve`` decides (by default the
   fields this client changed are applied again on top of it) and the write is retried with the
   new ETag. A refusal by a rule (403, 404, 409, 400) marks the edit failed with the problem.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .http import ApiError, Http

# Feed types → their REST collection (types without one are read-only parts of the plan).
RESOURCES = {
    "partnership": "partnerships",
    "vision": "visions",
    "objective": "objectives",
    "goal": "goals",
    "commitment": "commitments",
    "check-in": "check-ins",
    "comment": "comments",
    "review": "reviews",
    "invitation": "invitations",
}
# /plan's lists → the feed type of their items (the partnership and the vision are single objects).
PLAN_LISTS = {
    "endorsements": "endorsement",
    "members": "member",
    "objectives": "objective",
    "goals": "goal",
    "agreed_revisions": "agreed-revision",
    "approvals": "approval",
    "commitments": "commitment",
    "check_ins": "check-in",
    "comments": "comment",
    "reviews": "review",
}
DERIVED = ("health", "attention", "access", "balance", "pulse")  # computed for the caller: refreshed with /plan

# (local changes, the object as it is now) → the changes to send now, or None to drop the edit.
Resolver = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    type TEXT NOT NULL, id TEXT NOT NULL, partnership TEXT NOT NULL, version INTEGER, data TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE INDEX IF NOT EXISTS objects_of_partnership ON objects (partnership, type);
CREATE TABLE IF NOT EXISTS plans (
    partnership TEXT PRIMARY KEY, cursor TEXT, etag TEXT, derived TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
    changes TEXT NOT NULL, base_version INTEGER, idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', problem TEXT
);
"""


def reapply_ours(changes: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """The default conflict policy: what this client changed wins, field by field; everything the
    other writer changed in other fields stays (they are not sent)."""
    return changes


class Replica:
    """The SQLite copy of the plans: objects by (type, id), each plan's cursor, ETag and derived parts."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def put(self, kind: str, data: dict[str, Any], partnership: str) -> None:
        self.db.execute(
            "INSERT INTO objects (type, id, partnership, version, data) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (type, id) DO UPDATE SET partnership = excluded.partnership, version = excluded.version, "
            "data = excluded.data",
            (kind, data["id"], partnership, data.get("version"), json.dumps(data, sort_keys=True)),
        )

    def remove(self, kind: str, pk: str) -> None:
        self.db.execute("DELETE FROM objects WHERE type = ? AND id = ?", (kind, pk))

    def get(self, kind: str, pk: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM objects WHERE type = ? AND id = ?", (kind, pk)).fetchone()
        return json.loads(row[0]) if row else None

    def objects(self, partnership: str, kind: str | None = None) -> list[dict[str, Any]]:
        if kind:
            rows = self.db.execute(
                "SELECT data FROM objects WHERE partnership = ? AND type = ? ORDER BY id", (partnership, kind)
            )
        else:
            rows = self.db.execute("SELECT data FROM objects WHERE partnership = ? ORDER BY type, id", (partnership,))
        return [json.loads(data) for (data,) in rows]

    def plan_state(self, partnership: str) -> tuple[str | None, str | None, dict[str, Any]]:
        row = self.db.execute(
            "SELECT cursor, etag, derived FROM plans WHERE partnership = ?", (partnership,)
        ).fetchone()
        if row is None:
            return None, None, {}
        return row[0], row[1], json.loads(row[2] or "{}")

    def set_plan_state(self, partnership: str, **values: Any) -> None:
        cursor, etag, derived = self.plan_state(partnership)
        state = {"cursor": cursor, "etag": etag, "derived": derived} | values
        self.db.execute(
            "INSERT INTO plans (partnership, cursor, etag, derived) VALUES (?, ?, ?, ?) ON CONFLICT (partnership) "
            "DO UPDATE SET cursor = excluded.cursor, etag = excluded.etag, derived = excluded.derived",
            (partnership, state["cursor"], state["etag"], json.dumps(state["derived"])),
        )

    def as_plan(self, partnership: str) -> dict[str, Any]:
        """The replica in the shape of ``/plan``'s objects: the partnership, the vision and each list
        by id (the order of a list is a presentation matter)."""
        found: dict[str, Any] = {"partnership": None, "vision": None} | {key: {} for key in PLAN_LISTS}
        lists = {kind: key for key, kind in PLAN_LISTS.items()}
        for kind, data in self.db.execute(
            "SELECT type, data FROM objects WHERE partnership = ?", (partnership,)
        ).fetchall():
            item = json.loads(data)
            if kind in ("partnership", "vision"):
                found[kind] = item
            elif kind in lists:
                found[lists[kind]][item["id"]] = item
        return found


class SyncClient:
    """Keeps a ``Replica`` of some partnerships equal to the server, and sends local edits."""

    def __init__(
        self,
        base_url: str,
        token: str,
        replica: Replica | str = ":memory:",
        *,
        http: Http | None = None,
        resolve: Resolver = reapply_ours,
        page_size: int = 500,
    ) -> None:
        self.http = http or Http(base_url, token)
        self.replica = replica if isinstance(replica, Replica) else Replica(replica)
        self.resolve = resolve
        self.page_size = page_size
        self.stats = self.http.stats

    # --- Pulling ------------------------------------------------------------------------------

    def sync(self, partnership: str) -> None:
        """Bring the partnership up to date: its plan if there is no cursor yet, then the feed to its end."""
        cursor, _etag, _derived = self.replica.plan_state(partnership)
        if cursor is None:
            self.load_plan(partnership)
        self.follow(partnership)

    def load_plan(self, partnership: str, *, conditional: bool = False) -> bool:
        """``GET /plan``: replace the partnership's objects with it (a full re-sync). With
        ``conditional``, send the ETag held: a 304 keeps everything. Returns whether it changed."""
        _cursor, etag, _derived = self.replica.plan_state(partnership)
        headers = {"If-None-Match": etag} if conditional and etag else {}
        response = self.http.request("GET", f"/api/v1/partnerships/{partnership}/plan", headers=headers)
        if response.status == 304:
            self.stats["plan_not_modified"] += 1
            return False
        if response.status != 200:
            raise ApiError(response.status, response.json())
        document = response.json()
        with self.replica.transaction():
            self.replica.db.execute("DELETE FROM objects WHERE partnership = ?", (partnership,))
            for kind in ("partnership", "vision"):
                if document.get(kind):
                    self.replica.put(kind, document[kind], partnership)
            for key, kind in PLAN_LISTS.items():
                for item in document.get(key, []):
                    self.replica.put(kind, item, partnership)
            self.replica.set_plan_state(
                partnership,
                cursor=document["cursor"],
                etag=response.header("etag"),
                derived={key: document.get(key) for key in DERIVED},
            )
        self.stats["plan_loaded"] += 1
        return True

    def follow(self, partnership: str) -> None:
        """Apply the feed from the held cursor to its end; re-sync from ``/plan`` on 410."""
        while True:
            cursor, _etag, _derived = self.replica.plan_state(partnership)
            params = {"partnership": partnership, "limit": self.page_size}
            if cursor:
                params["since"] = cursor
            response = self.http.request("GET", "/api/v1/changes", params=params)
            if response.status == 410:  # pruned (cursor_expired) or not this server's (cursor_unknown)
                self.stats["resynced"] += 1
                self.load_plan(partnership)
                continue
            if response.status != 200:
                raise ApiError(response.status, response.json())
            page = response.json()
            with self.replica.transaction():
                for event in page["results"]:
                    self.apply(event)
                self.replica.set_plan_state(partnership, cursor=page["cursor"])
            self.stats["events"] += len(page["results"])
            if not page["has_more"]:
                return

    def apply(self, event: dict[str, Any]) -> None:
        if event["action"] == "delete":
            self.replica.remove(event["type"], event["id"])
        elif isinstance(event.get("data"), dict):
            self.replica.put(event["type"], event["data"], event["partnership"])

    def refresh_derived(self, partnership: str) -> None:
        """Health and attention: re-read ``/plan`` with ``If-None-Match`` (304 while unchanged)."""
        self.load_plan(partnership, conditional=True)

    # --- Local edits --------------------------------------------------------------------------

    def create(self, kind: str, fields: dict[str, Any]) -> str:
        """Queue a new object with a client-chosen id (it syncs without a mapping table)."""
        pk = str(fields.get("id") or uuid.uuid4())
        self._queue("POST", kind, pk, fields | {"id": pk}, None)
        return pk

    def update(self, kind: str, pk: str, changes: dict[str, Any]) -> None:
        """Queue a change of some fields, made on the version the replica holds now."""
        held = self.replica.get(kind, pk)
        self._queue("PATCH", kind, pk, changes, held.get("version") if held else None)

    def delete(self, kind: str, pk: str) -> None:
        held = self.replica.get(kind, pk)
        self._queue("DELETE", kind, pk, {}, held.get("version") if held else None)

    def _queue(self, method: str, kind: str, pk: str, changes: dict[str, Any], version: int | None) -> None:
        self.replica.db.execute(
            "INSERT INTO outbox (method, type, id, changes, base_version, idempotency_key) VALUES (?, ?, ?, ?, ?, ?)",
            (method, kind, pk, json.dumps(changes), version, str(uuid.uuid4())),
        )

    def pending(self) -> list[dict[str, Any]]:
        rows = self.replica.db.execute(
            "SELECT seq, method, type, id, changes, base_version, idempotency_key, state, problem FROM outbox "
            "ORDER BY seq"
        ).fetchall()
        keys = ("seq", "method", "type", "id", "changes", "base_version", "idempotency_key", "state", "problem")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def push(self, *, max_conflicts: int = 20) -> None:
        """Send the outbox in order. Conflicts are resolved by re-reading (the 412's ``current``)."""
        for edit in self.pending():
            if edit["state"] != "pending":
                continue
            self._send(edit, max_conflicts)

    def _send(self, edit: dict[str, Any], max_conflicts: int) -> None:
        kind, pk, method = edit["type"], edit["id"], edit["method"]
        changes, version = json.loads(edit["changes"]), edit["base_version"]
        collection = RESOURCES[kind]
        for _ in range(max_conflicts + 1):
            if method == "POST":
                response = self.http.request(
                    "POST", f"/api/v1/{collection}", body=changes, headers={"Idempotency-Key": edit["idempotency_key"]}
                )
            else:
                headers = {"If-Match": f'"{version}"'} if version is not None else {}
                body = changes if method == "PATCH" else None
                response = self.http.request(method, f"/api/v1/{collection}/{pk}", body=body, headers=headers)
            if response.status in (200, 201, 204):
                self._done(edit, kind, pk, response.json() if response.status != 204 else None)
                return
            problem = response.json() if response.body else {}
            if response.status == 412:  # someone changed it since: re-read, decide, retry
                self.stats["conflicts"] += 1
                current = problem.get("current") if isinstance(problem, dict) else None
                if not isinstance(current, dict):
                    current = self._read(collection, pk)
                if current is None:
                    break
                self.replica.put(kind, current, current.get("partnership") or self._partnership_of(kind, pk))
                resolved = self.resolve(changes, current) if method == "PATCH" else {}
                if resolved is None:
                    self._finish(edit, "dropped", problem)
                    return
                changes, version = resolved, current["version"]
                self.stats["conflicts_resolved"] += 1
                continue
            if response.status == 404 and method == "DELETE":
                self._done(edit, kind, pk, None)  # gone already: what the delete wanted
                return
            self._finish(edit, "failed", problem)
            self.stats["edits_failed"] += 1
            return
        self._finish(edit, "failed", {"detail": "too many conflicts in a row"})

    def _read(self, collection: str, pk: str) -> dict[str, Any] | None:
        response = self.http.request("GET", f"/api/v1/{collection}/{pk}")
        return response.json() if response.status == 200 else None

    def _partnership_of(self, kind: str, pk: str) -> str:
        row = self.replica.db.execute(
            "SELECT partnership FROM objects WHERE type = ? AND id = ?", (kind, pk)
        ).fetchone()
        return str(row[0]) if row else ""

    def _done(self, edit: dict[str, Any], kind: str, pk: str, data: dict[str, Any] | None) -> None:
        with self.replica.transaction():
            if data is None:
                self.replica.remove(kind, pk)
            else:
                partnership = data.get("partnership") or self._partnership_of(kind, pk)
                self.replica.put(kind, data, partnership)
            self.replica.db.execute("DELETE FROM outbox WHERE seq = ?", (edit["seq"],))
        self.stats["edits_pushed"] += 1

    def _finish(self, edit: dict[str, Any], state: str, problem: Any) -> None:
        self.replica.db.execute(
            "UPDATE outbox SET state = ?, problem = ? WHERE seq = ?", (state, json.dumps(problem), edit["seq"])
        )
