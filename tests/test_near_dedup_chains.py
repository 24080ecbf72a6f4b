"""Near-dedup's cluster resolution on real code with known chains.

Chains: successive versions of real standard-library modules, each version one step of a sliding window
over the module's top-level definitions (the first definitions removed, the next ones added, as a module
evolves): consecutive versions share ~0.87 of their 5-gram shingles, versions three steps apart ~0.65, the
ends ~0.4. The newest version has the most stars, so the paper's connected components keep it alone and
remove the oldest, far below the threshold; the greedy resolution removes a file only for a kept survivor
at or above it, with the same recall on pairs at >= 0.85.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sysconfig
import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from occurrences import occurrence

from stack_v2.neardedup.greedy import resolve, subgroup_of, subgroups
from stack_v2.neardedup.minhash import MinHashConfig, estimated_jaccard, exact_jaccard, signatures
from stack_v2.stages.near_dedup import COMPONENTS, GREEDY, NearDedup, card_section, survivor_rank
from stack_v2.stages.select_repos import record_from_occurrence

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MODULES = ["argparse.py", "inspect.py", "tarfile.py", "typing.py"]
WINDOW, VERSIONS = 12, 6  # a version is WINDOW segments; consecutive versions share WINDOW - 1
CONFIG = MinHashConfig()
DETAIL = re.compile(r"^survivor=([0-9a-f]{40}); jaccard=([0-9.]+)$")


def record(repo: str, path: str, text: str, stars: int = 0):
    data = text.encode()
    occ = occurrence(repo, path, data)
    return record_from_occurrence(occ, {"star_events_count": stars})._replace(
        content=text, language="Python", license_type="permissive"
    )


def segments(source: str, count: int) -> list[str]:
    """The module in ``count`` runs of about equal size, cut where a top-level statement or a method starts."""
    lines = source.splitlines(keepends=True)
    body = ast.parse(source).body
    starts = {n.lineno for n in body} | {m.lineno for c in body if isinstance(c, ast.ClassDef) for m in c.body}
    cuts = sorted(starts | {len(lines) + 1})
    pieces = ["".join(lines[a - 1 : b - 1]) for a, b in zip(cuts, cuts[1:])]
    target, out, current = len(source) / count, [], ""
    for piece in pieces:
        current += piece
        if len(current) >= target and len(out) < count - 1:
            out.append(current)
            current = ""
    return out + [current]


def chain(module: str) -> list[str]:
    parts = segments((STDLIB / module).read_text(), WINDOW + VERSIONS - 1)
    return ["".join(parts[k : k + WINDOW]) for k in range(VERSIONS)]


@pytest.fixture(scope="module")
def corpus():
    """(records, texts by blob): each module's versions, the newest with the most stars, and as unrelated
    files the modules the chains are not made of."""
    records = []
    for module in MODULES:
        for k, text in enumerate(chain(module)):
            records.append(record(f"py/{module}", f"v{k}/{module}", text, stars=k))
    for module in ["ast.py", "enum.py", "json/decoder.py"]:
        records.append(record("py/other", module, (STDLIB / module).read_text()))
    return records, {r.blob_id: r.content for r in records}


def run(records, resolution: str, max_component: int = 10_000):
    """(outcome: blob -> None if kept or its dropped detail, the stage's stats entries)."""
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline() as p:
            out = p | beam.Create(records) | NearDedup(CONFIG, 64, resolution, max_component)
            kept = out["kept"] | "K" >> beam.Map(lambda r: json.dumps(["k", r.blob_id, None]))
            dropped = out["dropped"] | "D" >> beam.Map(lambda d: json.dumps(["k", d.blob_id, d.detail]))
            stats = out["stats"] | "S" >> beam.Map(lambda e: json.dumps(["s", e[0][1:], e[1][0]]))
            (kept, dropped, stats) | beam.Flatten() | beam.io.WriteToText(f"{tmp}/out")
        rows = [json.loads(line) for f in sorted(Path(tmp).glob("out*")) for line in f.read_text().splitlines()]
    outcome = {blob: detail for kind, blob, detail in rows if kind == "k"}
    stats = {tuple(key): n for kind, key, n in rows if kind == "s"}
    return outcome, stats


def estimate(a: str, b: str) -> float:
    sig, _ = signatures([a, b], CONFIG)
    return estimated_jaccard(sig[0], sig[1])


def removals(outcome: dict, texts: dict):
    """(removed, survivor, estimated Jaccard recomputed, exact Jaccard, detail's Jaccard) per removal."""
    out = []
    for blob, detail in outcome.items():
        if detail is None:
            continue
        survivor, claimed = DETAIL.match(detail).groups()
        a, b = texts[blob], texts[survivor]
        out.append((blob, survivor, estimate(a, b), exact_jaccard(a, b), float(claimed)))
    return out


def recall_pairs(outcome: dict, texts: dict, at: float = 0.85):
    """Pairs at exact Jaccard >= ``at``, and those of them with a member removed (the issue's recall)."""
    blobs = sorted(texts)
    pairs = [(a, b) for i, a in enumerate(blobs) for b in blobs[i + 1 :] if exact_jaccard(texts[a], texts[b]) >= at]
    return pairs, [(a, b) for a, b in pairs if outcome[a] is not None or outcome[b] is not None]


@pytest.fixture(scope="module")
def both(corpus):
    records, _ = corpus
    return {mode: run(records, mode) for mode in (GREEDY, COMPONENTS)}


def test_corpus_has_chains(corpus):
    _, texts = corpus
    for module in MODULES:
        versions = chain(module)
        steps = [exact_jaccard(a, b) for a, b in zip(versions, versions[1:])]
        assert min(steps) >= 0.8, (module, steps)  # each step a near-duplicate
        assert exact_jaccard(versions[0], versions[-1]) < 0.6  # the ends are not


def test_components_remove_along_chains_below_the_threshold(both, corpus):
    _, texts = corpus
    outcome, stats = both[COMPONENTS]
    assert set(outcome) == set(texts)
    assert all(d is None or re.fullmatch(r"survivor=[0-9a-f]{40}", d) for d in outcome.values())  # the paper's detail
    found = [(blob, d.removeprefix("survivor=")) for blob, d in outcome.items() if d is not None]
    scores = [(estimate(texts[b], texts[s]), exact_jaccard(texts[b], texts[s])) for b, s in found]
    below = [e for e, _ in scores if e < CONFIG.threshold]
    assert len(below) >= len(MODULES), "each chain's oldest version is removed for its newest"
    assert min(exact for _, exact in scores) < 0.6
    assert stats[("resolution", COMPONENTS)] == 1
    assert stats[("removed", "")] == len(found) and stats[("files_clustered", "")] == 6 * len(MODULES)


def test_greedy_removes_only_for_a_kept_survivor_at_the_threshold(both, corpus):
    _, texts = corpus
    outcome, stats = both[GREEDY]
    assert set(outcome) == set(texts)
    found = removals(outcome, texts)
    assert found
    for _blob, survivor, estimated, exact, claimed in found:
        assert outcome[survivor] is None, "the survivor is kept"
        assert estimated >= CONFIG.threshold and abs(estimated - claimed) < 1e-3  # the detail is the stage's estimate
        assert exact >= 0.6  # and real: the exact 5-gram Jaccard agrees
    assert stats[("resolution", GREEDY)] == 1 and stats[("removed", "")] == len(found)
    assert stats[("survivors", "")] + stats[("removed", "")] == stats[("files_clustered", "")]
    # More files kept than the components' one per chain, none of them a near-duplicate of another kept one.
    kept_components = sum(d is None for d in both[COMPONENTS][0].values())
    assert sum(d is None for d in outcome.values()) > kept_components


def test_recall_at_085_is_the_same_under_both_modes(both, corpus):
    _, texts = corpus
    pairs, caught_greedy = recall_pairs(both[GREEDY][0], texts)
    _, caught_components = recall_pairs(both[COMPONENTS][0], texts)
    assert len(pairs) >= 3 * len(MODULES)
    assert caught_greedy == caught_components == pairs


def test_oversized_components_split_and_still_remove_only_for_verified_survivors(corpus):
    records, texts = corpus
    outcome, stats = run(records, GREEDY, max_component=4)  # every 6-version chain is split in two
    assert set(outcome) == set(texts)
    for _blob, survivor, estimated, _exact, _claimed in removals(outcome, texts):
        assert outcome[survivor] is None and estimated >= CONFIG.threshold
    assert stats[("components_split", "")] == len(MODULES) and stats[("subgroups", "")] == 2 * len(MODULES)


def test_short_document_trap_finishes_in_bounded_groups():
    """Files of the same few tokens (one shingle, one signature) in different layouts: one component of all
    of them, as the paper's all-MAX signatures made; split, each subgroup keeps one."""
    base = "return self.value"
    texts = [base.replace(" ", " " * (i % 5 + 1)) + "\n" * (i // 5 + 1) for i in range(30)]
    records = [record("short/files", f"f{i}.py", t) for i, t in enumerate(texts)]
    outcome, stats = run(records, GREEDY, max_component=8)
    groups = subgroups(30, 8)
    used = {subgroup_of(r.blob_id, groups) for r in records}
    assert sum(d is None for d in outcome.values()) == len(used) == stats[("survivors", "")]
    assert all(d is None or d.endswith("; jaccard=1.000") for d in outcome.values())
    assert stats[("subgroups", "")] == groups


def test_card_names_the_resolution_and_counts(both):
    _, stats = both[GREEDY]
    report = {"near_dedup": {}}
    for (key, detail), n in stats.items():
        report["near_dedup"].setdefault(key, {})[detail or "all"] = n
    text = "\n".join(card_section(report))
    assert "`resolution: greedy`" in text
    assert f"| {stats[('files_clustered', '')]:,} | {stats[('survivors', '')]:,} | {stats[('removed', '')]:,} |" in text


# The pure core on hand-built groups of real files' signatures.


def members(texts: list[str], ranks: list[int], names: list[str] | None = None):
    sigs, _ = signatures(texts, CONFIG)
    names = names or [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    return [(name, (rank,), sig.tobytes()) for name, rank, sig in zip(names, ranks, sigs)]


def survivors(verdicts):
    return {blob for blob, survivor, _ in verdicts if survivor is None}


def test_greedy_core_chain_a_b_c():
    versions = chain("argparse.py")
    a, b, c = versions[0], versions[1], versions[3]  # a ~ b, b ~ c at 0.7, a and c not
    assert estimate(a, b) >= 0.7 and estimate(b, c) >= 0.7 and estimate(a, c) < 0.7
    group = members([a, b, c], [2, 1, 0], ["a", "b", "c"])  # c ranks best
    verdicts = {blob: survivor for blob, survivor, _ in resolve(group, 0.7)}
    assert verdicts == {"c": None, "b": "c", "a": None}  # a is not removed for c: it survives
    verdicts = {blob: survivor for blob, survivor, _ in resolve(members([a, b, c], [1, 0, 2], ["a", "b", "c"]), 0.7)}
    assert verdicts == {"b": None, "a": "b", "c": "b"}  # b in the middle covers both


def test_greedy_core_star_and_clique():
    versions = chain("inspect.py")
    centre, leaves = versions[2], [versions[1], versions[3]]
    group = members([centre, *leaves], [0, 1, 1], ["centre", "left", "right"])
    assert {blob: s for blob, s, _ in resolve(group, 0.7)} == {"centre": None, "left": "centre", "right": "centre"}
    clique = [versions[2], versions[2] + "\n", versions[2] + "\n\n"]  # same tokens, different blobs
    verdicts = resolve(members(clique, [3, 1, 2], ["x", "y", "z"]), 0.7)
    assert survivors(verdicts) == {"y"} and all(j in (None, 1.0) for *_, j in verdicts)


def test_greedy_core_ties_break_by_rank_then_blob_id_whatever_the_input_order():
    text = (STDLIB / "typing.py").read_text()
    group = members([text, text + "\n", text + "\n\n"], [0, 0, 0], ["m", "k", "z"])
    for order in (group, group[::-1], [group[1], group[2], group[0]]):
        assert resolve(order, 0.7)[0] == ("k", None, None)
    assert resolve([], 0.7) == []


def test_greedy_core_decision_equals_the_stage_estimate_at_the_threshold():
    versions = chain("tarfile.py")
    group = members(versions, list(range(len(versions))))
    sig = {blob: np.frombuffer(s, dtype=np.uint32) for blob, _, s in group}
    kept = survivors(resolve(group, 0.7))
    for blob, survivor, j in resolve(group, 0.7):
        if survivor is not None:
            assert j == estimated_jaccard(sig[blob], sig[survivor]) >= 0.7
    # no two survivors are near-duplicates of each other
    assert all(estimated_jaccard(sig[a], sig[b]) < 0.7 for a in kept for b in kept if a < b)


def test_survivor_rank_is_the_greedy_order():
    low, high = record("a/a", "x.py", "x = 1\n", stars=1), record("b/b", "x.py", "x = 2\n", stars=5)
    assert survivor_rank(high) < survivor_rank(low)
