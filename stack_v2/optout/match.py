"""Which repositories opt-out requests cover (matching rules: manifests/OPTOUT_FORMAT.md).

Everything is compared on one key, ``owner/repo`` lower-cased (GitHub names are case-insensitive), computed
by ``normalized_repo_key`` from a ``repo_name`` or from any of the URL forms of a GitHub origin:
``https://github.com/Owner/Repo``, ``http://``, ``www.github.com``, ``git://``, ``ssh://git@``, scp-style
``git@github.com:Owner/Repo``, a trailing ``.git`` and trailing slashes. ``repo_key_expr`` is the same
function as a polars expression (same regular expression), for joins in polars; in Beam, map
``normalized_repo_key`` over the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stack_v2.optout.requests import OptOutRequest

# One pattern for Python's re and polars (Rust regex): an optional GitHub URL prefix, then exactly two
# path segments; the lazy repo segment lets an optional ".git" and trailing slashes fall outside the group.
# Applied to the lower-cased, stripped text.
REPO_KEY_PATTERN = (
    r"^(?:(?:(?:https?|git|ssh|git\+ssh)://)?(?:[^@/\s]+@)?(?:www\.)?github\.com(?::[0-9]+)?[/:])?"
    r"([^/:@\s]+/[^/\s]+?)(?:\.git)?/*$"
)
_REPO_KEY = re.compile(REPO_KEY_PATTERN)
# The host of a URL or scp-style address (for "is this origin on GitHub at all?").
_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/\s]+@)?([^/:\s]+)", re.IGNORECASE)
_GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})


def normalized_repo_key(origin_or_name: str | None) -> str | None:
    """``owner/repo`` lower-cased from a GitHub origin URL (any of the forms above) or a repo_name
    ``owner/repo``; None when it is neither (another forge's URL, a single name, more than two segments)."""
    if origin_or_name is None:
        return None
    m = _REPO_KEY.match(origin_or_name.strip().lower())
    if m is None:
        return None
    key = m.group(1)
    owner, _, repo = key.partition("/")
    if not owner or not repo or repo in (".", ".."):
        return None
    return key


def is_github_url(origin: str) -> bool:
    """Whether an origin is a URL (or scp-style address) on github.com; a bare ``owner/repo`` is not a URL."""
    text = origin.strip()
    if "://" not in text and not re.match(r"^[^@/\s]+@[^/:\s]+:", text):
        return False
    m = _HOST.match(text)
    return bool(m) and m.group(1).lower() in _GITHUB_HOSTS


def repo_key_expr(expr):
    """``normalized_repo_key`` as a polars expression over a string column (null where it gives None)."""
    import polars as pl

    key = expr.str.strip_chars().str.to_lowercase().str.extract(REPO_KEY_PATTERN, 1)
    repo = key.str.split_exact("/", 1).struct.field("field_1")
    return pl.when(~repo.is_in([".", ".."])).then(key)  # keeps the input column's name


class OptOutMatcher:
    """Answers "is this repository opted out, and by which request?" for validated requests.

    A request for ``"all"`` covers every repository whose owner is the request's owner; a list covers those
    repositories of that owner. When several requests cover a repository, the first in file order is returned.
    """

    def __init__(self, requests: Iterable[OptOutRequest]):
        self.requests: list[OptOutRequest] = list(requests)
        self._owners: dict[str, OptOutRequest] = {}
        self._repos: dict[str, OptOutRequest] = {}
        for req in self.requests:
            if req.all_repos:
                self._owners.setdefault(req.owner_key, req)
            else:
                for key in sorted(req.repo_keys()):
                    self._repos.setdefault(key, req)

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def owners(self) -> frozenset[str]:
        """Lower-cased owners opted out with ``"all"``."""
        return frozenset(self._owners)

    @property
    def repo_keys(self) -> frozenset[str]:
        """Lower-cased ``owner/repo`` keys opted out by name."""
        return frozenset(self._repos)

    def match_key(self, key: str | None) -> OptOutRequest | None:
        """The request covering a normalised key (``normalized_repo_key``'s output), or None."""
        if not key:
            return None
        by_owner = self._owners.get(key.partition("/")[0])
        by_repo = self._repos.get(key)
        if by_owner and by_repo:
            return by_owner if by_owner.line <= by_repo.line else by_repo
        return by_owner or by_repo

    def matches(self, repo_name: str | None, origin: str | None = None) -> OptOutRequest | None:
        """The request covering a repository, or None.

        ``origin`` decides when it is given: a URL on another host than github.com is never covered (the
        requests name GitHub accounts, and a repo_name from another forge can look like ``owner/repo``);
        for a GitHub origin, its key and the repo_name's key are both tried. Without an origin, ``repo_name``
        is taken as a GitHub ``owner/repo`` (or any origin form, which it also accepts).
        """
        keys = []
        if origin:
            if is_github_url(origin):
                keys.append(normalized_repo_key(origin))
            elif "://" in origin or re.match(r"^[^@/\s]+@[^/:\s]+:", origin.strip()):
                return None
            else:
                keys.append(normalized_repo_key(origin))
        if repo_name:
            keys.append(normalized_repo_key(repo_name))
        found = [req for req in (self.match_key(k) for k in keys) if req is not None]
        return min(found, key=lambda r: r.line) if found else None

    def polars_expr(self, key):
        """A boolean polars expression: True where ``key`` (an expression of normalised keys, e.g.
        ``repo_key_expr(pl.col("repo_name"))``) is opted out. Null keys give False."""
        import polars as pl

        if not self.requests:
            return pl.lit(False)
        owner = key.str.split_exact("/", 1).struct.field("field_0")
        # key first, so the result keeps the key column's name
        return (key.is_in(sorted(self._repos)) | owner.is_in(sorted(self._owners))).fill_null(False)
