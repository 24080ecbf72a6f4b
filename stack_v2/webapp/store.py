"""Opt-out requests received through the form, kept in SQLite until an operator approves them.

One table, ``requests``: id, received (the UTC date, as the JSONL format's ``received``), received_at (UTC
timestamp), owner, repos (JSON: ``"all"`` or a list of names), contact, reason, client (the sender's address,
for abuse handling), status (``pending`` or ``approved``) and approved_at. Every call opens its own
connection: the server's threads and the operator's ``stack-v2 optout`` commands share the file safely
(SQLite's own locking), and a store that breaks while the server runs fails that request, not the server.

``approve`` writes approved requests to the JSON-lines file that ``optout apply`` and ``build --optouts``
read, with ``via`` and ``request_id`` so the audit log can point back here. The contact and the reason stay
in this database: the audit log is published with the dataset, and they are personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from stack_v2.errors import StackV2Error
from stack_v2.optout.requests import ALL, OptOutFormatError, OptOutRequest, load_requests, parse_lines

VIA = "stack-v2 serve"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received TEXT NOT NULL,
    received_at TEXT NOT NULL,
    owner TEXT NOT NULL,
    repos TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved')),
    approved_at TEXT
)
"""


class RequestStoreError(StackV2Error):
    """The request store cannot be used, or an approval names unknown or already approved requests."""


@dataclass(frozen=True)
class StoredRequest:
    id: int
    received: str
    received_at: str
    owner: str
    repos: str | list[str]
    contact: str
    reason: str
    client: str
    status: str
    approved_at: str | None

    def jsonl_line(self) -> str:
        """The request in the opt-out file format (manifests/OPTOUT_FORMAT.md), without contact or reason."""
        obj = {"owner": self.owner, "repos": self.repos, "received": self.received, "via": VIA, "request_id": self.id}
        return json.dumps(obj, ensure_ascii=False)

    def describe(self) -> str:
        """One line, tab-separated: id, received at, what, client, then contact and reason quoted (a visitor
        typed them: repr keeps them on one line and shows control characters)."""
        target = f"{self.owner}/*" if self.repos == ALL else ", ".join(f"{self.owner}/{r}" for r in self.repos)
        fields = [str(self.id), self.received_at, target, self.client]
        fields += [f"contact={self.contact!r}"] if self.contact else []
        fields += [f"reason={self.reason[:200]!r}"] if self.reason else []
        return "\t".join(fields)

    def to_json(self) -> dict:
        return dict(vars(self))


class RequestStore:
    def __init__(self, path: str, *, create: bool = True):
        self.path = os.fspath(path)
        if not create and not os.path.isfile(self.path):
            raise RequestStoreError(f"--requests {self.path}: no such request store")
        try:
            with closing(self._connect()) as db:
                db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise RequestStoreError(f"--requests {self.path}: cannot be used as a request store ({exc})") from exc

    def _connect(self) -> sqlite3.Connection:
        # autocommit: each statement is its own transaction, and approve() opens its own with BEGIN IMMEDIATE
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def add(self, request: OptOutRequest, *, contact: str, reason: str, client: str) -> int:
        """Store a validated request as pending; returns its id. sqlite3 errors propagate (a server error)."""
        now = dt.datetime.now(dt.UTC)
        repos = ALL if request.all_repos else list(request.repos)
        with closing(self._connect()) as db:
            cursor = db.execute(
                "INSERT INTO requests (received, received_at, owner, repos, contact, reason, client) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    request.received.isoformat(),
                    now.isoformat(timespec="seconds"),
                    request.owner,
                    json.dumps(repos),
                    contact,
                    reason,
                    client,
                ),
            )
            return int(cursor.lastrowid)

    @staticmethod
    def _row(row: sqlite3.Row) -> StoredRequest:
        return StoredRequest(**{**dict(row), "repos": json.loads(row["repos"])})

    def list(self, status: str | None = "pending") -> list[StoredRequest]:
        try:
            with closing(self._connect()) as db:
                sql = "SELECT * FROM requests" + (" WHERE status = ?" if status else "") + " ORDER BY id"
                return [self._row(r) for r in db.execute(sql, (status,) if status else ())]
        except sqlite3.Error as exc:
            raise RequestStoreError(f"--requests {self.path}: cannot be read ({exc})") from exc

    def approve(self, ids: list[int], to: str) -> list[StoredRequest]:
        """Append the pending requests ``ids`` to the JSON-lines file ``to`` and mark them approved, or raise
        RequestStoreError and change nothing. The store stays locked from the check to the update, so two
        operators cannot approve one request twice."""
        if os.path.exists(to):
            try:
                load_requests(to)  # appending to a file `optout apply` would refuse helps nobody
            except OptOutFormatError as exc:
                raise RequestStoreError(f"--to {to}: not a valid opt-out file: {exc}") from None
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            raise RequestStoreError(f"--requests {self.path}: cannot be opened ({exc})") from exc
        with closing(db):
            db.execute("BEGIN IMMEDIATE")
            try:
                found = {r["id"]: self._row(r) for r in db.execute("SELECT * FROM requests")}
                unknown = [i for i in ids if i not in found]
                if unknown:
                    raise RequestStoreError(f"--requests {self.path}: no request with id {unknown[0]}")
                done = [i for i in ids if found[i].status != "pending"]
                if done:
                    raise RequestStoreError(
                        f"--requests {self.path}: request {done[0]} was already approved ({found[done[0]].approved_at})"
                    )
                chosen = [found[i] for i in dict.fromkeys(ids)]
                lines = [r.jsonl_line() for r in chosen]
                parse_lines(lines, source=f"request store {self.path}")  # what apply will read, checked first
                _append_lines(to, lines)
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                db.executemany(
                    "UPDATE requests SET status = 'approved', approved_at = ? WHERE id = ?",
                    [(now, r.id) for r in chosen],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return chosen


def _append_lines(path: str, lines: list[str]) -> None:
    """Append whole lines, durably; a file not ending in a newline gets one first."""
    try:
        with open(path, "ab+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write("".join(line + "\n" for line in lines).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise RequestStoreError(f"--to {path}: cannot be written ({exc.strerror or exc})") from exc
