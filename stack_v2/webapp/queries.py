"""Lookups: a visitor's query parsed by the opt-out parser's rules, then answered from the index.

A query is a GitHub owner or ``owner/repo``, in any case and in any URL form the opt-out matcher accepts
(``https://github.com/o/r``, ``.git``, ``git@github.com:o/r``, ...), plus ``https://github.com/owner`` for an
owner. Names are then checked with ``parse_request``, so a query is valid exactly when the same owner and
repository would be a valid opt-out request. The answer, per repository and per dataset version: counts, one
page of included files and one of dropped or failed files, and for a repository without files the reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stack_v2.optout.match import REPO_KEY_PATTERN
from stack_v2.optout.requests import parse_request
from stack_v2.webapp.index import Indexed, LookupIndex

MAX_QUERY_CHARS = 300
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
REPOS_PER_PAGE = 20  # repositories per page of an owner's lookup
SWH_ARCHIVE = "https://archive.softwareheritage.org/"

# An owner's GitHub page or address: the host, then one path segment.
_OWNER_URL = re.compile(
    r"^(?:(?:https?|git|ssh|git\+ssh)://)?(?:[^@/\s]+@)?(?:www\.)?github\.com(?::[0-9]+)?[/:]([^/:\s]+)/*$", re.I
)
_REPO = re.compile(REPO_KEY_PATTERN, re.I)  # the matcher's pattern on the text as typed (names keep their case)
_BARE_OWNER = re.compile(r"^@?([^/\s]+)/*$")


class QueryError(ValueError):
    """A query that is not an owner or ``owner/repo``; the message says why (it quotes the query)."""


@dataclass(frozen=True)
class Query:
    owner: str
    repo: str | None = None

    @property
    def owner_key(self) -> str:
        return self.owner.lower()

    @property
    def key(self) -> str:
        return f"{self.owner_key}/{self.repo.lower()}" if self.repo else self.owner_key

    @property
    def kind(self) -> str:
        return "repository" if self.repo else "owner"

    @property
    def text(self) -> str:
        return f"{self.owner}/{self.repo}" if self.repo else self.owner


def parse_query(text: str | None) -> Query:
    text = (text or "").strip()
    if not text:
        raise QueryError("enter a GitHub owner (octocat) or a repository (octocat/hello-world, or its URL)")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    owner, repo = None, None
    if m := _OWNER_URL.match(text):
        owner = m.group(1)
    elif m := _REPO.match(text):
        owner, _, repo = m.group(1).partition("/")
    elif m := _BARE_OWNER.match(text):
        owner = m.group(1)
    else:
        raise QueryError(f"{text!r} is not a GitHub owner or owner/repository")
    try:  # the opt-out parser's rules for names: a query is valid when it would be a valid request
        parse_request({"owner": owner, "repos": [repo] if repo else "all", "received": "2000-01-01"})
    except ValueError as exc:
        raise QueryError(re.sub(r'^field "(owner|repos)": (item 1: )?', "", str(exc))) from None
    return Query(owner, repo)


@dataclass
class DatasetHit:
    """One repository in one dataset version."""

    dataset: str
    version: str
    included_count: int
    dropped_count: int
    included: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    reasons: list[dict] = field(default_factory=list)  # dropped rows by stage/outcome/reason, when none included


@dataclass
class RepoHit:
    repo_name: str
    key: str
    datasets: list[DatasetHit] = field(default_factory=list)
    absent_from: list[tuple[str, str]] = field(default_factory=list)  # (dataset, version) without it


@dataclass
class LookupResult:
    query: Query
    repositories: list[RepoHit]
    repositories_total: int
    repo_page: int
    page: int
    dropped_page: int
    per_page: int
    datasets: list[tuple[str, str]]

    @property
    def repo_pages(self) -> int:
        return max(1, -(-self.repositories_total // REPOS_PER_PAGE))

    def to_json(self) -> dict:
        return {
            "query": self.query.text,
            "kind": self.query.kind,
            "key": self.query.key,
            "found": bool(self.repositories_total),
            "datasets": [{"name": n, "version": v} for n, v in self.datasets],
            "repositories_total": self.repositories_total,
            "repo_page": self.repo_page,
            "repo_pages": self.repo_pages,
            "page": self.page,
            "dropped_page": self.dropped_page,
            "per_page": self.per_page,
            "repositories": [
                {
                    "repo_name": r.repo_name,
                    "key": r.key,
                    "absent_from": [{"name": n, "version": v} for n, v in r.absent_from],
                    "datasets": [vars(d) for d in r.datasets],
                }
                for r in self.repositories
            ],
        }


def swhid_url(swhid: str) -> str:
    from urllib.parse import quote

    return SWH_ARCHIVE + quote(swhid, safe=":;=/@+,%")


def _in_list(ids: list[int]) -> tuple[str, list[int]]:
    # ids of one page are few and near each other: BETWEEN lets DuckDB skip row groups by their statistics
    return f"repo_id BETWEEN ? AND ? AND repo_id IN ({', '.join('?' * len(ids))})", [min(ids), max(ids), *ids]


def _page_rows(cur, table: str, columns: str, order: str, ids: list[int], page: int, per_page: int) -> dict:
    where, params = _in_list(ids)
    first = (page - 1) * per_page
    rows = cur.execute(
        f"SELECT * EXCLUDE (rn) FROM (SELECT repo_id, {columns}, row_number() OVER "
        f"(PARTITION BY repo_id ORDER BY {order}) AS rn FROM {table} WHERE {where}) "
        f"WHERE rn > ? AND rn <= ? ORDER BY repo_id, rn",
        [*params, first, first + per_page],
    )
    names = [d[0] for d in rows.description]
    found: dict[int, list[dict]] = {}
    for row in rows.fetchall():
        found.setdefault(row[0], []).append(dict(zip(names[1:], row[1:])))
    return found


def _answer(cur, v: Indexed, ids: list[int], counts: dict, page: int, dropped_page: int, per_page: int) -> dict:
    swhid = "swhid_core || swhid_context || swhid_path AS swhid"  # stored in three parts (index.py)
    files = _page_rows(cur, v.table("files"), f"path, language, license_type, {swhid}", "path", ids, page, per_page)
    dropped = _page_rows(
        cur,
        v.table("dropped"),
        "path, stage, outcome, reason, detail",
        "path NULLS FIRST, stage",
        ids,
        dropped_page,
        per_page,
    )
    empty = [i for i in ids if counts[i][0] == 0]
    reasons: dict[int, list[dict]] = {}
    if empty:
        where, params = _in_list(empty)
        for repo_id, stage, outcome, reason, n in cur.execute(
            f"SELECT repo_id, stage, outcome, reason, count(*) AS n FROM {v.table('dropped')} WHERE {where} "
            "GROUP BY ALL ORDER BY repo_id, n DESC, stage, reason",
            params,
        ).fetchall():
            reasons.setdefault(repo_id, []).append({"stage": stage, "outcome": outcome, "reason": reason, "files": n})
    for row in (r for rows in files.values() for r in rows):
        row["swhid_url"] = swhid_url(row["swhid"]) if row["swhid"] else None
    return {
        i: DatasetHit(
            v.name, v.version, counts[i][0], counts[i][1], files.get(i, []), dropped.get(i, []), reasons.get(i, [])
        )
        for i in ids
    }


def lookup(
    index: LookupIndex,
    query: Query,
    *,
    page: int = 1,
    dropped_page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    repo_page: int = 1,
) -> LookupResult:
    """The repositories matching ``query`` in every indexed dataset version, one page of each."""
    versions = index.versions()
    cur = index.cursor()
    per_version: list[dict[str, tuple]] = []  # repo_key -> (repo_id, repo_name, included, dropped)
    for v in versions:
        sql = f"SELECT repo_key, repo_id, repo_name, included, dropped FROM {v.table('repos')} WHERE owner_key = ?"
        params = [query.owner_key]
        if query.repo:
            sql, params = sql + " AND repo_key = ?", [*params, query.key]
        per_version.append({r[0]: r[1:] for r in cur.execute(sql, params).fetchall()})
    keys = sorted(set().union(*per_version)) if per_version else []
    start = (repo_page - 1) * REPOS_PER_PAGE
    shown = keys[start : start + REPOS_PER_PAGE]
    repos = {k: RepoHit(repo_name="", key=k) for k in shown}
    for v, found in zip(versions, per_version):
        here = {k: found[k] for k in shown if k in found}
        for k in shown:
            if k not in here:
                repos[k].absent_from.append((v.name, v.version))
        if not here:
            continue
        counts = {rid: (inc, drop) for rid, _name, inc, drop in here.values()}
        hits = _answer(cur, v, sorted(counts), counts, page, dropped_page, per_page)
        for k, (rid, name, _inc, _drop) in here.items():
            repos[k].repo_name = repos[k].repo_name or name  # as written in the first dataset holding it
            repos[k].datasets.append(hits[rid])
    return LookupResult(
        query=query,
        repositories=[repos[k] for k in shown],
        repositories_total=len(keys),
        repo_page=repo_page,
        page=page,
        dropped_page=dropped_page,
        per_page=per_page,
        datasets=[(v.name, v.version) for v in versions],
    )
