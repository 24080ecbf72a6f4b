"""Listing files through the SWH Web API (stack_v2.archive.webapi) and parsing SWHID inputs (stack_v2.archive.swhid).

The real SWH API cannot be reached from the test environment, so these tests run a local stand-in of it:
an http.server on 127.0.0.1 that answers the endpoints swh-web-client calls (origin/<url>/visit/latest/,
origin/<url>/visits/, snapshot/, revision/, release/, directory/) with the JSON shapes of swh-web
(docs/the-stack-v2.md §12.6; names escaped and flagged in ``decoding_failures`` as swh-web's converters do,
file checksums joined from the content table only). Its answers are read from a real archive: real git
repositories (tests/gitrepos.py) imported with import_git and read back from the ORC tables. It sends
X-RateLimit-* headers, answers the very first request with HTTP 429, and refuses requests without the
bearer token, so the tests also show that the client retried and authenticated. Its rate-limit window is
generous so that the client's pacing stays in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests
from swh.core.utils import decode_with_escape

from stack_v2.archive.import_git import import_git, origin_url_for
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.orc import iter_table
from stack_v2.archive.swhid import SelectedSWHID, parse_swhid_input
from stack_v2.archive.webapi import TOKEN_ENV, list_files_via_api
from stack_v2.errors import SWHIDError
from stack_v2.records import TraversalProblem, decode_path, micros_from_datetime
from tests.gitrepos import git, init, ls_tree, make_library_repo, make_sample_repo

TOKEN = "stack-v2-test-token"
VISIT_DATE = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
RATE_LIMIT = 100_000  # per window; with a 10-minute window the client paces requests ~6 ms apart


# ---------------------------------------------------------------------------------- the stand-in API


class ArchiveIndex:
    """The archive's ORC tables in dicts, keyed as the API looks objects up."""

    def __init__(self, archive_dir: str):
        location = ArchiveLocation(archive_dir)

        def rows(table: str, columns: list[str]):
            for batch in iter_table(location, table, columns):
                yield from zip(*(column.to_pylist() for column in batch.columns))

        visit_dates = {(o, v): d for o, v, d in rows("origin_visit", ["origin", "visit", "date"])}
        self.visits: dict[str, list[dict]] = defaultdict(list)  # origin -> visits, oldest first
        status_columns = ["origin", "visit", "status", "snapshot", "type"]
        for origin, visit, status, snapshot, type_ in sorted(rows("origin_visit_status", status_columns)):
            self.visits[origin].append(
                {
                    "origin": origin,
                    "visit": visit,
                    "date": _utc_iso(visit_dates[origin, visit]),
                    "status": status,
                    "snapshot": snapshot,
                    "type": type_,
                    "metadata": {},
                }
            )
        self.branches: dict[str, dict[bytes, tuple[str, str]]] = defaultdict(dict)
        for snapshot, name, target, kind in rows("snapshot_branch", ["snapshot_id", "name", "target", "target_type"]):
            self.branches[snapshot][name] = (target, kind)
        self.parents: dict[str, list[str]] = defaultdict(list)
        for rev, _rank, parent in sorted(rows("revision_history", ["id", "parent_rank", "parent_id"])):
            self.parents[rev].append(parent)
        revision_columns = [
            "id",
            "message",
            "author",
            "date",
            "date_offset",
            "committer",
            "committer_date",
            "committer_offset",
            "directory",
            "type",
        ]
        self.revisions = {r[0]: r for r in rows("revision", revision_columns)}
        release_columns = ["id", "name", "message", "target", "target_type", "author", "date", "date_offset"]
        self.releases = {r[0]: r for r in rows("release", release_columns)}
        self.entries: dict[str, list[tuple]] = defaultdict(list)
        for directory, *entry in rows("directory_entry", ["directory_id", "name", "type", "target", "perms"]):
            self.entries[directory].append(tuple(entry))
        self.directories = {d for (d,) in rows("directory", ["id"])}
        self.contents = {r[1]: r for r in rows("content", ["sha1", "sha1_git", "sha256", "length", "status"])}


def _utc_iso(value: dt.datetime | None, offset_minutes: int = 0) -> str | None:
    """ISO 8601 as swh-web gives it: the UTC instant shown in the original offset."""
    if value is None:
        return None
    tz = dt.timezone(dt.timedelta(minutes=offset_minutes or 0))
    return value.replace(tzinfo=dt.UTC).astimezone(tz).isoformat()


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else decode_with_escape(raw)


def _person(fullname: bytes | None) -> dict | None:
    return None if fullname is None else {"fullname": _text(fullname), "name": None, "email": None}


class StandInAPI(ThreadingHTTPServer):
    """The stand-in Web API server: routes, rate-limit headers, one 429, bearer-token check, request log."""

    daemon_threads = True

    def __init__(self, index: ArchiveIndex, token: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.index = index
        self.token = token
        self.base = f"http://127.0.0.1:{self.server_address[1]}/api/1"
        self.lock = threading.Lock()
        self.log: list[tuple[str, int, str | None]] = []  # (path and query, status, Authorization header)
        self.throttle_next = True  # the first request is answered 429
        self.remaining = RATE_LIMIT
        self.window_end = int(time.time()) + 600

    def answer(self, target: str, authorization: str | None) -> tuple[int, object, dict[str, str]]:
        with self.lock:
            throttle, self.throttle_next = self.throttle_next, False
            self.remaining = max(self.remaining - 1, 0)
            limits = {
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.window_end),
            }
        if throttle:  # as swh-web's throttling does: the budget is spent until the (here: near) reset
            reset = int(time.time()) + 1
            body = {"exception": "Throttled", "reason": "Request was throttled. Expected available in 1 second."}
            status, headers = (
                429,
                {
                    "Retry-After": "1",
                    "X-RateLimit-Limit": str(RATE_LIMIT),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        elif authorization != f"Bearer {self.token}":
            body = {"exception": "AuthenticationFailed", "reason": "Invalid bearer token"}
            status, headers = 401, limits
        else:
            status, body, extra = self.route(target)
            headers = {**limits, **extra}
        with self.lock:
            self.log.append((target, status, authorization))
        return status, body, headers

    def route(self, target: str) -> tuple[int, object, dict[str, str]]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not path.startswith("/api/1/"):
            return _not_found(path)
        path = path[len("/api/1/") :]
        for pattern, handler in (
            (r"origin/(?P<url>.+)/visit/latest/", self.visit_latest),
            (r"origin/(?P<url>.+)/visits/", self.visits),
            (r"snapshot/(?P<id>[0-9a-f]{40})/", self.snapshot),
            (r"revision/(?P<id>[0-9a-f]{40})/", self.revision),
            (r"release/(?P<id>[0-9a-f]{40})/", self.release),
            (r"directory/(?P<id>[0-9a-f]{40})/", self.directory),
        ):
            match = re.fullmatch(pattern, path)
            if match:
                return handler(query, **match.groupdict())
        return _not_found(f"resource {path}")

    def visit_latest(self, query, url):
        visits = self.index.visits.get(url)
        if not visits:
            return _not_found(f"No visit for origin {url} found")
        if query.get("require_snapshot") == "true":
            visits = [v for v in visits if v["snapshot"]]
        return (
            200,
            {
                **visits[-1],
                "origin_url": f"{self.base}/origin/{url}/get/",
                "snapshot_url": f"{self.base}/snapshot/{visits[-1]['snapshot']}/",
            },
            {},
        )

    def visits(self, query, url):
        if url not in self.index.visits:
            return _not_found(f"No origin {url} found")
        newest_first = self.index.visits[url][::-1]
        per_page = int(query.get("per_page", 10))
        start = 0
        if "last_visit" in query:
            start = next(i + 1 for i, v in enumerate(newest_first) if v["visit"] == int(query["last_visit"]))
        page = newest_first[start : start + per_page]
        headers = {}
        if len(page) == per_page and start + per_page < len(newest_first):
            link = f"{self.base}/origin/{url}/visits/?last_visit={page[-1]['visit']}&per_page={per_page}"
            headers["Link"] = f'<{link}>; rel="next"'
        return 200, [{**v, "origin_visit_url": f"{self.base}/origin/{url}/visit/{v['visit']}/"} for v in page], headers

    def snapshot(self, query, id):
        if id not in self.index.branches:
            return _not_found(f"Snapshot with id {id} not found.")
        count = int(query.get("branches_count", 1000))
        start = query.get("branches_from", "").encode()
        names = [n for n in sorted(self.index.branches[id]) if n >= start]
        branches = {}
        for name in names[:count]:
            target, target_type = self.index.branches[id][name]
            if target_type == "alias":  # the ORC holds the hex of the target branch's name; the API the name
                branches[_text(name)] = {
                    "target": _text(bytes.fromhex(target)),
                    "target_type": "alias",
                    "target_url": None,
                }
            else:
                branches[_text(name)] = {
                    "target": target,
                    "target_type": target_type,
                    "target_url": f"{self.base}/{target_type}/{target}/",
                }
        next_branch = _text(names[count]) if len(names) > count else None
        headers = {}
        if next_branch is not None:
            link = f"{self.base}/snapshot/{id}/?branches_from={quote(next_branch)}&branches_count={count}"
            headers["Link"] = f'<{link}>; rel="next"'
        return 200, {"id": id, "branches": branches, "next_branch": next_branch}, headers

    def revision(self, query, id):
        row = self.index.revisions.get(id)
        if row is None:
            return _not_found(f"Revision with sha1_git {id} not found.")
        _, message, author, date, date_offset, committer, committer_date, committer_offset, directory, type_ = row
        parents = self.index.parents.get(id, [])
        return (
            200,
            {
                "id": id,
                "message": _text(message),
                "author": _person(author),
                "committer": _person(committer),
                "date": _utc_iso(date, date_offset),
                "committer_date": _utc_iso(committer_date, committer_offset),
                "directory": directory,
                "type": type_,
                "synthetic": False,
                "metadata": {},
                "parents": [{"id": p, "url": f"{self.base}/revision/{p}/"} for p in parents],
                "merge": len(parents) > 1,
                "url": f"{self.base}/revision/{id}/",
                "directory_url": f"{self.base}/directory/{directory}/",
                "history_url": f"{self.base}/revision/{id}/log/",
            },
            {},
        )

    def release(self, query, id):
        row = self.index.releases.get(id)
        if row is None:
            return _not_found(f"Release with sha1_git {id} not found.")
        _, name, message, target, target_type, author, date, date_offset = row
        return (
            200,
            {
                "id": id,
                "name": _text(name),
                "message": _text(message),
                "target": target,
                "target_type": target_type,
                "synthetic": False,
                "author": _person(author),
                "date": _utc_iso(date, date_offset),
                "target_url": f"{self.base}/{target_type}/{target}/",
            },
            {},
        )

    def directory(self, query, id):
        if id not in self.index.directories:
            return _not_found(f"Directory with sha1_git {id} not found.")
        listing = []
        for name, type_, target, perms in sorted(self.index.entries.get(id, [])):
            entry = {"dir_id": id, "type": type_, "target": target, "perms": perms, "length": None}
            try:
                entry["name"] = name.decode("utf-8")
            except UnicodeDecodeError:  # swh-web's from_swh: escape and flag the key
                entry["name"], entry["decoding_failures"] = decode_with_escape(name), ["name"]
            content = self.index.contents.get(target) if type_ == "file" else None
            if content is not None:  # a left join on the content table: skipped contents get nothing
                sha1, sha1_git, sha256, length, status = content
                entry.update(
                    checksums={"sha1": sha1, "sha1_git": sha1_git, "sha256": sha256},
                    length=length,
                    status="absent" if status == "hidden" else status,
                )
            entry["target_url"] = f"{self.base}/{_ENTRY_URL[type_]}{target}/"
            listing.append(entry)
        return 200, listing, {}


_ENTRY_URL = {"file": "content/sha1_git:", "dir": "directory/", "rev": "revision/"}


def _not_found(reason: str):
    return 404, {"exception": "NotFoundExc", "reason": reason}, {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body, headers = self.server.answer(self.path, self.headers.get("Authorization"))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # keep pytest's output clean
        pass


# ------------------------------------------------------------------------------------------ fixtures


@dataclass
class World:
    api: StandInAPI
    sample: Path
    tagged: Path
    odd: Path
    skipped: set[bytes]  # sample paths whose blob was too large to archive (skipped_content)

    @property
    def api_url(self) -> str:
        return self.api.base


def _blob(repo: Path, sha: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "cat-file", "blob", sha], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("webapi")
    lib = make_library_repo(root)
    sample = make_sample_repo(root, submodule=lib)
    # HEAD -> refs/tags/v1.0, an annotated tag: the default branch is reached through a release.
    tagged = root / "tagged"
    subprocess.run(["git", "clone", "-q", str(sample), str(tagged)], check=True, capture_output=True)
    git(tagged, "symbolic-ref", "HEAD", "refs/tags/v1.0")
    # Names that need both of swh-web's escapes: an invalid byte and a backslash (and a plain backslash).
    odd = init(root / "oddnames")
    (odd / os.fsdecode(b"mixed\\\xff.txt")).write_bytes(b"latin-1 and a backslash\n")
    (odd / "back\\slash.txt").write_bytes(b"just a backslash\n")
    git(odd, "add", "-A")
    git(odd, "commit", "-qm", "odd names", date="2022-02-02T02:02:02+0000")
    # Archive all but the largest blob of the sample repository, as SWH skips blobs over its size limit.
    sizes = {path: len(_blob(sample, sha)) for path, (mode, sha) in ls_tree(sample).items() if mode != "160000"}
    largest = max(sizes.values())
    archive = root / "archive"
    import_git(
        [str(p) for p in (sample, lib, tagged, odd)],
        str(archive),
        visit_date=VISIT_DATE,
        max_content_length=largest - 1,
    )
    api = StandInAPI(ArchiveIndex(str(archive)), TOKEN)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TOKEN_ENV, TOKEN)  # list_files_via_api reads the token from the environment
        yield World(api, sample, tagged, odd, {p for p, n in sizes.items() if n == largest})
    api.shutdown()
    api.server_close()
    thread.join()


def _head(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev)


def _expected_files(repo: Path, rev: str = "HEAD") -> dict[str, tuple[int, str]]:
    """git's view: path (as decode_path gives it) -> (perms, blob id), submodules left out."""
    return {decode_path(p): (int(mode, 8), sha) for p, (mode, sha) in ls_tree(repo, rev).items() if mode != "160000"}


# --------------------------------------------------------------------------------------------- tests


def test_origin_listing_is_gits_head(world):
    origin = origin_url_for(str(world.sample))
    files, problems = list_files_via_api(origin=origin, api_url=world.api_url)
    assert problems == []
    assert {f.path: (f.perms, f.content_id) for f in files} == _expected_files(world.sample)
    assert [f.path for f in files] == sorted(f.path for f in files)

    tree = ls_tree(world.sample)
    assert tree[b"vendor/lib"][0] == "160000" and "vendor/lib" not in {f.path for f in files}  # submodule skipped
    by_path = {f.path: f for f in files}
    assert by_path["docs/email_init.py"].perms == 0o120000  # symlink
    assert by_path["bin/tool.py"].perms == 0o100755  # executable
    # The Latin-1 name comes back as the graph traversal names it: UTF-8 with \xNN escapes.
    assert by_path[decode_path(b"docs/caf\xe9.txt")].path == "docs/caf\\xe9.txt"

    for f in files:
        data = _blob(world.sample, f.content_id)
        if f.path.encode() in world.skipped:  # too large: not in the content table, the API gives no checksums
            assert (f.content_status, f.blob_id, f.length) == ("missing", None, None)
        else:
            assert (f.content_status, f.blob_id, f.length) == ("visible", hashlib.sha1(data).hexdigest(), len(data))
    assert world.skipped and all(by_path[p.decode()].content_status == "missing" for p in world.skipped)

    head = files[0]
    assert (head.origin, head.repo_name, head.branch_name) == (origin, "local/sample", "refs/heads/main")
    assert (head.revision_id, head.directory_id) == (_head(world.sample), _head(world.sample, "HEAD^{tree}"))
    assert re.fullmatch(r"[0-9a-f]{40}", head.snapshot_id)
    last_commit = micros_from_datetime(dt.datetime(2021, 1, 1, tzinfo=dt.UTC))  # "add submodule"
    visit_date = micros_from_datetime(VISIT_DATE)
    assert (head.revision_date, head.committer_date, head.visit_date) == (last_commit, last_commit, visit_date)
    assert {(f.origin, f.snapshot_id, f.revision_id, f.directory_id) for f in files} == {
        (origin, head.snapshot_id, head.revision_id, head.directory_id)
    }


def test_swhid_inputs_list_the_same_files(world):
    origin = origin_url_for(str(world.sample))
    by_origin, _ = list_files_via_api(origin=origin, api_url=world.api_url)
    snapshot = by_origin[0].snapshot_id
    expected = [f.path for f in by_origin]

    files, problems = list_files_via_api(swhid=f"swh:1:rev:{_head(world.sample)}", api_url=world.api_url)
    assert problems == [] and [f.path for f in files] == expected
    assert (files[0].revision_id, files[0].revision_date, files[0].origin, files[0].snapshot_id) == (
        by_origin[0].revision_id,
        by_origin[0].revision_date,
        None,
        None,
    )

    tree = _head(world.sample, "HEAD^{tree}")
    files, problems = list_files_via_api(swhid=f"swh:1:dir:{tree}", api_url=world.api_url)
    assert problems == [] and [f.path for f in files] == expected
    assert (files[0].revision_id, files[0].branch_name) == (None, None)
    assert [f[-6:] for f in files] == [f[-6:] for f in by_origin]  # path, blob_id, ..., content_status

    # A snapshot with an origin qualifier: the same records but the visit date (not looked up).
    files, problems = list_files_via_api(swhid=f"swh:1:snp:{snapshot};origin={origin}", api_url=world.api_url)
    assert problems == []
    assert files == [f._replace(visit_date=None) for f in by_origin]

    # A revision with origin and visit qualifiers: provenance from the qualifiers.
    swhid = f"swh:1:rev:{_head(world.sample)};origin={origin};visit=swh:1:snp:{snapshot}"
    files, _ = list_files_via_api(swhid=swhid, api_url=world.api_url)
    assert (files[0].origin, files[0].repo_name, files[0].snapshot_id) == (origin, "local/sample", snapshot)


def test_head_through_a_release(world):
    files, problems = list_files_via_api(origin=origin_url_for(str(world.tagged)), api_url=world.api_url)
    assert problems == []
    assert {f.path: (f.perms, f.content_id) for f in files} == _expected_files(world.sample, "v1.0")
    assert files[0].branch_name == "refs/tags/v1.0"
    assert files[0].revision_id == _head(world.sample, "v1.0^{commit}")
    assert files[0].revision_date == micros_from_datetime(dt.datetime(2020, 5, 6, 7, 8, 9, tzinfo=dt.UTC))


def test_escaped_names_come_back_as_decode_path_gives_them(world):
    files, problems = list_files_via_api(origin=origin_url_for(str(world.odd)), api_url=world.api_url)
    assert problems == []
    assert sorted(f.path for f in files) == sorted(decode_path(p) for p in ls_tree(world.odd))
    # swh-web sends "mixed\\\\\\xff.txt" (backslash doubled, byte escaped); unescaped, it is one backslash.
    assert "mixed\\\\xff.txt" in {f.path for f in files}
    assert "back\\slash.txt" in {f.path for f in files}


def test_depth_limit_is_reported(world):
    origin = origin_url_for(str(world.sample))
    expected = _expected_files(world.sample)

    files, problems = list_files_via_api(origin=origin, api_url=world.api_url, max_depth=1)
    assert [f.path for f in files] == sorted(p for p in expected if "/" not in p)  # .gitmodules
    assert {p.reason for p in problems} == {"depth_limit"} and {p.subject for p in problems} == {origin}
    reported = sorted(
        re.fullmatch(r"directory [0-9a-f]{40} at /(\S+) is deeper than 1 levels", p.detail).group(1) for p in problems
    )
    assert reported == ["bin/", "docs/", "src/", "vendor/"]

    files, problems = list_files_via_api(origin=origin, api_url=world.api_url, max_depth=3)
    assert [f.path for f in files] == sorted(p for p in expected if not p.startswith("src/email/mime/"))
    assert [(p.reason, p.detail.split()[3]) for p in problems] == [("depth_limit", "/src/email/mime/")]
    assert problems[0].detail.endswith("is deeper than 3 levels")


def test_unknown_objects_are_problems(world):
    origin = "https://github.com/local/never-archived"
    files, problems = list_files_via_api(origin=origin, api_url=world.api_url)
    assert files == [] and len(problems) == 1
    assert problems[0].subject == origin and problems[0].reason in {"not_found", "no_full_visit"}

    swhid = "swh:1:rev:" + "0" * 40
    files, problems = list_files_via_api(swhid=swhid, api_url=world.api_url)
    assert files == [] and [(p.subject, p.reason) for p in problems] == [(swhid, "not_found")]
    assert "\n" not in problems[0].detail
    # With an origin qualifier, problems are the origin's (as the graph traversal names them).
    files, problems = list_files_via_api(swhid=f"swh:1:dir:{'0' * 40};origin={origin}", api_url=world.api_url)
    assert files == [] and [(p.subject, p.reason) for p in problems] == [(origin, "not_found")]


def test_rate_limit_429_is_retried_and_the_token_is_sent(world):
    list_files_via_api(swhid=f"swh:1:dir:{_head(world.sample, 'HEAD^{tree}')}", api_url=world.api_url)
    log = list(world.api.log)
    (first_target, first_status, _), (retry_target, retry_status, _) = log[0], log[1]
    assert first_status == 429 and retry_target == first_target and retry_status == 200
    assert {auth for _, _, auth in log} == {f"Bearer {TOKEN}"}

    # An explicit token wins over the environment; the server's refusal is one api_error line.
    swhid = f"swh:1:rev:{_head(world.sample)}"
    files, problems = list_files_via_api(swhid=swhid, api_url=world.api_url, token="wrong")
    assert files == [] and [p.reason for p in problems] == ["api_error"]
    assert "HTTP 401" in problems[0].detail and "wrong" not in problems[0].detail


@pytest.mark.parametrize(
    "text",
    [
        "swh:1:cnt:zz",  # not 40 hex digits
        "swh:1:dir:" + "A" * 40,  # upper-case hex is not allowed
        "swh:2:dir:" + "0" * 40,  # unknown scheme version
        "swh:1:dir:" + "0" * 39,  # one digit short
        "swh:1:xyz:" + "0" * 40,  # no such object type
        "swh:1:cnt:" + "0" * 40,  # a content: valid, but there is nothing to list below it
        "swh:1:rel:" + "0" * 40,  # a release: valid, but not a listing start (give its revision or the snapshot)
        "swh:1:ori:" + "0" * 40,  # an extended SWHID (origin), not an object of the graph
        "swh:1:rev:" + "0" * 40 + ";visit=swh:1:rev:" + "0" * 40,  # visit= must name a snapshot
        "swh:1:rev:" + "0" * 40 + ";colour=blue",  # unknown qualifier
        "swh:1:dir:" + "0" * 40 + ";",  # dangling separator
        "https://github.com/python/cpython",  # an origin URL, not a SWHID
        "",
    ],
)
def test_invalid_swhids_raise_one_line_errors(world, text):
    requests_before = len(world.api.log)
    with pytest.raises(SWHIDError) as info:
        list_files_via_api(swhid=text, api_url=world.api_url)
    message = str(info.value)
    assert "\n" not in message and repr(text) in message
    assert message.startswith(("invalid SWHID ", "unsupported SWHID "))
    assert len(world.api.log) == requests_before  # rejected before any request


def test_parse_swhid_input_keeps_origin_and_visit():
    rev, snp = "1" * 40, "2" * 40
    parsed = parse_swhid_input(f" swh:1:rev:{rev};origin=https://github.com/a/b;visit=swh:1:snp:{snp};path=/x ")
    assert parsed == SelectedSWHID("rev", rev, "https://github.com/a/b", snp)
    assert parsed.core == f"swh:1:rev:{rev}"
    assert parse_swhid_input(f"swh:1:dir:{rev}") == SelectedSWHID("dir", rev)


class _FakeClient:
    """Just enough of WebAPIClient to give the default-branch rules snapshots git cannot make."""

    def __init__(self, branches: dict[str, dict]):
        self.branches = branches
        self.visit_statuses: list[str] = []  # newest first
        self.failing_directories: dict[str, int] = {}  # directory id -> HTTP status of the failure

    def snapshot(self, swhid, typify=True, params=None):
        start = params["branches_from"]
        names = sorted(n for n in self.branches if n >= start)[: params["branches_count"]]
        yield {n: self.branches[n] for n in names}

    def last_visit(self, origin, typify=True):
        return self._visit(len(self.visit_statuses), self.visit_statuses[0])

    def visits(self, origin, per_page=None, typify=True):
        for i, status in enumerate(self.visit_statuses):
            yield self._visit(len(self.visit_statuses) - i, status)

    @staticmethod
    def _visit(number, status):
        return {
            "visit": number,
            "status": status,
            "snapshot": f"{number:040x}" if status != "failed" else None,
            "date": f"2024-01-0{number}T00:00:00+00:00",
        }

    def directory(self, swhid, typify=True):
        directory = swhid[10:]
        if directory in self.failing_directories:
            response = requests.Response()
            response.status_code, response.reason = self.failing_directories[directory], "Error"
            response._content = b'{"exception": "StorageAPIError", "reason": "storage\\nunavailable"}'
            raise requests.HTTPError(f"{response.status_code} Error", response=response)
        listing = [
            {
                "dir_id": directory,
                "type": "file",
                "name": "a.txt",
                "target": "3" * 40,
                "perms": 0o100644,
                "length": 2,
                "status": "visible",
                "checksums": {"sha1": "4" * 40, "sha1_git": "3" * 40},
            }
        ]
        if directory == "6" * 40:  # the root has two subdirectories
            listing += [
                {"dir_id": directory, "type": "dir", "name": name, "target": target, "perms": 0o040000}
                for name, target in (("sub", "8" * 40), ("gone", "9" * 40))
            ]
        return listing


def test_default_branch_rules_with_aliases():
    snp = "swh:1:snp:" + "5" * 40
    # HEAD is an alias to a missing branch: fall back to refs/heads/main, then refs/heads/master.
    client = _FakeClient(
        {
            "HEAD": {"target": "refs/heads/gone", "target_type": "alias"},
            "refs/heads/master": {"target": "c" * 40, "target_type": "directory"},
        }
    )
    files, problems = list_files_via_api(swhid=snp, client=client)
    assert problems == [] and [(f.path, f.branch_name, f.directory_id) for f in files] == [
        ("a.txt", "refs/heads/master", "c" * 40)
    ]
    # A HEAD alias cycle is cut and falls back; with no main or master there is no default branch.
    client = _FakeClient(
        {
            "HEAD": {"target": "refs/heads/a", "target_type": "alias"},
            "refs/heads/a": {"target": "HEAD", "target_type": "alias"},
        }
    )
    files, problems = list_files_via_api(swhid=snp, client=client)
    assert files == [] and [(p.subject, p.reason) for p in problems] == [(snp, "no_default_branch")]
    # main itself in a cycle: reported as such (selection.default_branch's rule).
    client = _FakeClient(
        {
            "refs/heads/main": {"target": "refs/heads/b", "target_type": "alias"},
            "refs/heads/b": {"target": "refs/heads/main", "target_type": "alias"},
        }
    )
    files, problems = list_files_via_api(swhid=snp, client=client)
    assert files == [] and [p.reason for p in problems] == ["alias_cycle"]
    # A branch to a content is not a tree to list.
    client = _FakeClient({"HEAD": {"target": "7" * 40, "target_type": "content"}})
    files, problems = list_files_via_api(swhid=snp, client=client)
    assert files == [] and [p.reason for p in problems] == ["unsupported_target"]


def test_visit_choice_and_failures():
    origin = "https://example.org/fake"
    branches = {"HEAD": {"target": "6" * 40, "target_type": "directory"}}
    # The latest visit is partial: the newest full one is found in the visit list.
    client = _FakeClient(branches)
    client.visit_statuses = ["partial", "failed", "full", "full"]
    files, problems = list_files_via_api(origin=origin, client=client)
    assert problems == [] and {(f.snapshot_id, f.visit_date) for f in files} == {
        (f"{2:040x}", micros_from_datetime(dt.datetime(2024, 1, 2, tzinfo=dt.UTC)))
    }
    assert sorted(f.path for f in files) == ["a.txt", "gone/a.txt", "sub/a.txt"]
    client.visit_statuses = ["partial", "failed"]
    assert list_files_via_api(origin=origin, client=client) == (
        [],
        [TraversalProblem(origin, "no_full_visit", f"origin {origin} has no full visit with a snapshot")],
    )
    # A subdirectory missing from the archive loses that subtree only, and says so.
    client.visit_statuses = ["full"]
    client.failing_directories = {"9" * 40: 404}
    files, problems = list_files_via_api(origin=origin, client=client)
    assert sorted(f.path for f in files) == ["a.txt", "sub/a.txt"]
    assert [(p.reason, p.detail.split()[3]) for p in problems] == [("not_found", "/gone/")]
    # Any other failure ends the listing: no files (they would look complete), one line of detail.
    client.failing_directories = {"8" * 40: 503}
    files, problems = list_files_via_api(origin=origin, client=client)
    assert files == [] and [(p.subject, p.reason) for p in problems] == [(origin, "api_error")]
    assert problems[0].detail == f"directory swh:1:dir:{'8' * 40}: HTTP 503 (storage unavailable)"


def test_files_command_lists_through_the_web_api(world, capsys):
    from stack_v2.cli import main

    origin = origin_url_for(str(world.sample))
    assert main(["archive", "files", "--web-api", world.api_url, "--origin", origin]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert {line["path"] for line in lines} == set(_expected_files(world.sample))
    assert err.strip().endswith(f"{len(lines)} files, 0 problems")
    assert main(["archive", "files", "--origin", origin]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "stack-v2: error: archive files: give --archive URI (a graph export) or --web-api"
    )
