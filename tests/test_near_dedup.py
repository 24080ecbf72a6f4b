"""Near-dedup on real near-duplicates: pip's vendored copy of pygments beside the installed pygments
(two versions of the same package's source), checked against exact Jaccard by brute force."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import apache_beam as beam
import numpy as np
import pip
import pygments
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from occurrences import occurrence

from stack_v2.neardedup.components import local_labels
from stack_v2.neardedup.minhash import (
    MinHashConfig,
    band_hashes,
    band_keys,
    estimated_jaccard,
    exact_jaccard,
    shingle_hashes,
    signatures,
)
from stack_v2.stages.near_dedup import ConnectedComponents, NearDedup, survivor_rank
from stack_v2.stages.select_repos import record_from_occurrence

VENDORED = Path(pip.__file__).parent / "_vendor" / "pygments"
INSTALLED = Path(pygments.__file__).parent


def record(repo: str, path: str, text: str, stars: int = 0, license_type: str = "no_license"):
    data = text.encode()
    occ = occurrence(repo, path, data)
    return record_from_occurrence(occ, {"star_events_count": stars})._replace(
        content=text, language="Python", license_type=license_type
    )


@pytest.fixture(scope="module")
def corpus():
    """(records, pairs, versions): every vendored pygments module with its installed counterpart (the
    two versions of one file: ``versions``) and, for contrast, with the next module; each pair with
    its exact Jaccard."""
    records, pairs = [], []
    for vendored in sorted(VENDORED.rglob("*.py")):
        installed = INSTALLED / vendored.relative_to(VENDORED)
        if not installed.is_file():
            continue
        a, b = vendored.read_text(), installed.read_text()
        if a == b or len(a) < 300:
            continue
        rel = str(vendored.relative_to(VENDORED))
        ra = record("pypa/pip", f"src/pip/_vendor/pygments/{rel}", a)
        rb = record("pygments/pygments", f"pygments/{rel}", b, stars=10)  # more stars: the survivor
        records += [ra, rb]
        pairs.append((exact_jaccard(a, b), ra.blob_id, rb.blob_id))
    # Different modules of the same package: real code sharing style and boilerplate, mostly distant.
    by_blob = {r.blob_id: r.content for r in records}
    cross = [
        (exact_jaccard(by_blob[v], by_blob[other]), v, other) for (_, v, _), (_, _, other) in zip(pairs, pairs[1:])
    ]
    return records, pairs + cross, set((v, i) for _, v, i in pairs)


def collect(records, config=MinHashConfig(), options=()):
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline(options=PipelineOptions(list(options))) as p:
            result = p | beam.Create(records) | NearDedup(config, batch_size=64)
            kept = result["kept"] | "K" >> beam.Map(lambda r: json.dumps([r.blob_id, None]))
            dropped = result["dropped"] | "D" >> beam.Map(
                lambda d: json.dumps([d.blob_id, d.detail.removeprefix("survivor=").split(";")[0]])
            )
            (kept, dropped) | beam.Flatten() | beam.io.WriteToText(f"{tmp}/out")
        lines = [line for f in sorted(Path(tmp).glob("out*")) for line in f.read_text().splitlines()]
    return dict(json.loads(line) for line in lines)


def test_corpus_has_both_kinds_of_pairs(corpus):
    _, pairs, _ = corpus
    assert sum(j >= 0.85 for j, _, _ in pairs) >= 5 and sum(j < 0.5 for j, _, _ in pairs) >= 3


def test_close_pairs_merge_distant_pairs_do_not_and_survivor_follows_priority(corpus):
    records, pairs, versions = corpus
    outcome = collect(records)
    assert set(outcome) == {r.blob_id for r in records}  # every record accounted for
    for j, vendored, installed in pairs:
        if j >= 0.85:
            # merged: the vendored copy (fewer stars) goes, pointing at a survivor of its cluster
            assert outcome[vendored] is not None, f"pair with Jaccard {j:.2f} not merged"
            assert outcome[installed] is None or outcome[installed] == outcome[vendored]
        elif j < 0.5:
            assert outcome[vendored] != installed and outcome[installed] != vendored, f"Jaccard {j:.2f} merged"
    close = [(v, i) for j, v, i in pairs if j >= 0.85 and (v, i) in versions]
    assert sum(outcome[v] == i for v, i in close) >= len(close) - 1  # the starred copy survives


def test_results_identical_across_reruns_and_runner_modes(corpus):
    records, _, _ = corpus
    sample = records[:120]
    first = collect(sample)
    assert collect(list(reversed(sample))) == first
    assert collect(sample, options=["--direct_running_mode=multi_processing", "--direct_num_workers=2"]) == first


def test_signatures_track_exact_jaccard_and_short_texts_stay_apart(corpus):
    records, pairs, _ = corpus
    by_blob = {r.blob_id: r.content for r in records}
    errors = []
    for j, a, b in pairs[:40]:
        sig, _ = signatures([by_blob[a], by_blob[b]], MinHashConfig())
        errors.append(abs(estimated_jaccard(sig[0], sig[1]) - j))
    assert np.mean(errors) < 0.04
    short = ["x = 1\n", "y = 2\n", "return None\n", "", "   \n"]
    sig, has_tokens = signatures(short, MinHashConfig())
    assert has_tokens.tolist() == [True, True, True, False, False]
    assert max(estimated_jaccard(sig[i], sig[k]) for i in range(3) for k in range(3) if i != k) < 0.1
    again, _ = signatures(short, MinHashConfig())
    assert (again == sig).all()  # deterministic


def test_survivor_rank_prefers_license_then_stars():
    base = record("a/a", "x.py", "print(1)\n")
    assert (
        sorted(
            [
                base._replace(license_type="no_license", star_events_count=100),
                base._replace(license_type="permissive", blob_id="f" * 40),
            ],
            key=survivor_rank,
        )[0].license_type
        == "permissive"
    )
    assert (
        sorted(
            [base._replace(star_events_count=1), base._replace(star_events_count=9, blob_id="0" * 40)],
            key=survivor_rank,
        )[0].star_events_count
        == 9
    )


def test_compiled_tokeniser_splits_words_exactly_as_python_re():
    """The numba pass must see the same words as ``re.findall(r"\\w+")`` (the brute-force reference),
    non-ASCII text included: same shingle count per file, and one hash per distinct shingle."""
    import re
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8") for p in sorted(stdlib.glob("*.py"))]
    non_ascii = [t for t in texts if not t.isascii()][:25]
    assert len(non_ascii) >= 5
    texts = non_ascii + ["Größe = ÄÖÜ_ß + naïve·café ١٢٣ 𝒳y\u200bz", "a b", "", "— … —"]
    counts, hashes = shingle_hashes(texts, 5)
    cursor, distinct = 0, {}
    for text, count in zip(texts, counts):
        words = re.findall(r"\w+", text.lower())
        assert count == (len(words) - 4 if len(words) >= 5 else int(bool(words))), text[:60]
        shingles = [tuple(words[i : i + 5]) for i in range(len(words) - 4)] or ([tuple(words)] if words else [])
        for shingle, h in zip(shingles, hashes[cursor : cursor + count].tolist()):
            distinct.setdefault(shingle, set()).add(h)
        cursor += count
    assert all(len(h) == 1 for h in distinct.values())  # same shingle, same hash, across files
    assert len({next(iter(h)) for h in distinct.values()}) == len(distinct)  # no collisions


# A path a-b-c-...: the label of its far end needs one round per step to arrive; a separate pair beside it.
PATH = [f"blob{i:02d}" for i in range(10)]
EDGES = [(PATH[i + 1], PATH[i]) for i in range(len(PATH) - 1)] + [("zz", "yy")]


def test_connected_components_label_every_node_with_its_components_smallest():
    with beam.Pipeline() as p:
        labels = p | beam.Create(EDGES) | ConnectedComponents(max_rounds=12)
        assert_that(labels, equal_to([(node, "blob00") for node in PATH] + [("yy", "yy"), ("zz", "yy")]))


def test_connected_components_fail_the_run_when_labels_still_change():
    with pytest.raises(Exception, match=r"did not converge in max_rounds=3 .*raise near_dedup.max_rounds"):
        with beam.Pipeline() as p:
            _ = p | beam.Create(EDGES) | ConnectedComponents(max_rounds=3)
    # one edge over the local limit: the rounds run, and fail the same way
    with pytest.raises(Exception, match=r"did not converge in max_rounds=3"):
        with beam.Pipeline() as p:
            _ = p | beam.Create(EDGES) | ConnectedComponents(max_rounds=3, local_max_edges=len(EDGES) - 1)


def test_connected_components_on_one_worker_when_the_graph_is_small():
    """At most local_max_edges edges: one union-find, no rounds (3 rounds would not converge on PATH)."""
    with beam.Pipeline() as p:
        labels = p | beam.Create(EDGES) | ConnectedComponents(max_rounds=3, local_max_edges=len(EDGES))
        assert_that(labels, equal_to([(node, "blob00") for node in PATH] + [("yy", "yy"), ("zz", "yy")]))


def test_union_find_labels_as_the_rounds_do():
    """The two ways agree on a graph of chains, stars and cycles: each node gets its component's smallest node."""
    rng = random.Random(7)
    nodes = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(300)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(220)] + [(nodes[5], nodes[5])]
    expected = local_labels(edges)
    components: dict[str, set] = {}
    for node, label in expected.items():
        components.setdefault(label, set()).add(node)
    assert all(label == min(members) for label, members in components.items())
    for u, v in edges:
        assert expected[u] == expected[v]
    with beam.Pipeline() as p:
        labels = p | beam.Create(edges) | ConnectedComponents(max_rounds=40)
        assert_that(labels, equal_to(sorted(expected.items())))


def test_band_keys_are_equal_exactly_when_a_band_is():
    """Two real files' signatures: the bands they share give the same key, the others different ones."""
    config = MinHashConfig()
    texts = [Path(pygments.__file__).read_text(), Path(pygments.__file__).read_text().replace("import", "from", 3)]
    sigs, _ = signatures(texts, config)
    keys = [band_keys(row) for row in band_hashes(sigs, config)]
    assert [len(k) for k in keys] == [config.bands, config.bands]
    assert all(key[0] == band for file_keys in keys for band, key in enumerate(file_keys))  # the band's index
    rows = config.rows
    for band in range(config.bands):
        same = np.array_equal(sigs[0, band * rows : (band + 1) * rows], sigs[1, band * rows : (band + 1) * rows])
        assert (keys[0][band] == keys[1][band]) == same
    assert len({key for k in keys for key in k}) == len(set(map(tuple, keys[0]))) + sum(a != b for a, b in zip(*keys))
