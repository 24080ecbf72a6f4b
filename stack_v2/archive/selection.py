"""Pure rules for choosing what to traverse: the latest full visit, and a snapshot's default branch.

These follow the paper's code and the graph export's layout (docs/the-stack-v2.md §2, §12.3): the
latest ``full`` visit that has a snapshot; its ``HEAD`` branch resolved through alias branches, else
``refs/heads/main``, else ``refs/heads/master``. No I/O, no Beam: the traversal transforms call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

DEFAULT_BRANCH_FALLBACKS = (b"refs/heads/main", b"refs/heads/master")
MAX_ALIAS_HOPS = 32


class Visit(NamedTuple):
    visit: int
    date: int | None  # µs since epoch UTC
    snapshot_id: str


def latest_full_visit(visits: Iterable[Visit]) -> Visit | None:
    """The highest-numbered visit (ties: latest date); callers pass only full visits with a snapshot."""
    best = None
    for v in visits:
        if best is None or (v.visit, v.date or 0) > (best.visit, best.date or 0):
            best = v
    return best


class Branch(NamedTuple):
    target: str  # hex id; for aliases, the hex encoding of the target branch name (as in the ORC export)
    target_type: str  # revision | release | directory | content | alias | snapshot


class DefaultBranch(NamedTuple):
    name: bytes  # the branch finally reached, e.g. b"refs/heads/main" (HEAD when HEAD is not an alias)
    target: str
    target_type: str


def default_branch(branches: Mapping[bytes, Branch]) -> DefaultBranch | str:
    """The snapshot's default branch, or the reason there is none (snake_case)."""
    for start in (b"HEAD", *DEFAULT_BRANCH_FALLBACKS):
        if start not in branches:
            continue
        resolved = _follow_aliases(start, branches)
        if isinstance(resolved, DefaultBranch):
            return resolved
        if start == b"HEAD":
            continue  # a dangling or cyclic HEAD: fall back to main/master like the paper
        return resolved
    return "no_default_branch"


def _follow_aliases(name: bytes, branches: Mapping[bytes, Branch]) -> DefaultBranch | str:
    seen = {name}
    branch = branches[name]
    for _ in range(MAX_ALIAS_HOPS):
        if branch.target_type != "alias":
            return DefaultBranch(name, branch.target, branch.target_type)
        name = bytes.fromhex(branch.target)
        if name in seen:
            return "alias_cycle"
        seen.add(name)
        if name not in branches:
            return "dangling_alias"
        branch = branches[name]
    return "alias_cycle"
