"""Cluster resolution without chains: the pure core of near-dedup's ``resolution: greedy``.

Connected components are transitive: A ~ B and B ~ C at the threshold put A and C in one cluster even
when A and C share far less, and the paper keeps one file per cluster, so a removed file may have nothing
near it left in the dataset. Here a component's members are resolved greedily in the paper's priority
order: the best-ranked member not yet removed survives and removes every remaining member whose estimated
Jaccard with it reaches the threshold (the same estimate as the LSH verification); repeat on the rest. A
member that no survivor reaches becomes a survivor itself. So every removal names a kept survivor at or
above the threshold, and a pair the paper merges at a high Jaccard is still merged unless a better-ranked
survivor took one of them first (then that one has a survivor at the threshold).

Cost per group of n members: n signatures held (num_perm uint32 each), and for each survivor one vectorised
comparison against the members still undecided, O(survivors * n * num_perm) byte compares at worst.
``subgroups`` bounds n: the stage splits a component above ``max_component`` members into that many
groups by a stable hash of the blob_id, each resolved alone (see the stage's docstring).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np

Member = tuple[str, tuple, bytes]  # (blob_id, survivor_rank, signature as uint32 bytes)
Verdict = tuple[str, str | None, float | None]  # (blob_id, its survivor or None if kept, their estimated Jaccard)


def resolve(members: Iterable[Member], threshold: float) -> list[Verdict]:
    """Each member's verdict: kept (survivor None), or removed with the kept survivor that covers it and
    their estimated Jaccard (>= ``threshold``). Deterministic: members are taken by (rank, blob_id)."""
    ordered = sorted(members, key=lambda m: (m[1], m[0]))
    if not ordered:
        return []
    blobs = [m[0] for m in ordered]
    sigs = np.stack([np.frombuffer(m[2], dtype=np.uint32) for m in ordered])
    num_perm = sigs.shape[1]
    verdicts: list[Verdict] = []
    undecided = np.arange(len(ordered))  # positions in rank order, best first
    while len(undecided):
        best, rest = undecided[0], undecided[1:]
        verdicts.append((blobs[best], None, None))
        # count / num_perm, as estimated_jaccard's mean: the same float, so the same decision at the threshold
        jaccard = (sigs[rest] == sigs[best]).sum(axis=1) / num_perm
        covered = jaccard >= threshold
        verdicts += [(blobs[i], blobs[best], float(j)) for i, j in zip(rest[covered], jaccard[covered])]
        undecided = rest[~covered]
    return verdicts


def subgroups(size: int, max_component: int) -> int:
    """How many groups a component of ``size`` members is split into: 1 up to ``max_component``."""
    return max(1, -(-size // max_component))


def subgroup_of(blob_id: str, groups: int) -> int:
    """A member's group, the same in every process (crc32: str hashes are salted per process)."""
    return zlib.crc32(blob_id.encode()) % groups if groups > 1 else 0
