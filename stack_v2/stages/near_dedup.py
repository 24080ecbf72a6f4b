"""Near-dedup stage: MinHash LSH, connected components in Beam, one survivor per cluster.

1. Signatures in batches (``minhash.signatures``); each document has one key per LSH band, scoped
   by language (or globally).
2. Candidate edges per bucket as a star to the bucket's smallest blob_id, from one GroupByKey of the
   band keys moved as lists per (batch, partition) (``neardedup.buckets``: each group read twice, holding
   one entry per distinct key, never a bucket), deduplicated; optionally verified by estimated Jaccard
   (both signatures joined to the edge) so LSH false positives do not merge clusters.
3. Connected components by min-label propagation, unrolled ``max_rounds`` times: each round is one
   GroupByKey of the labels offered with the edges, and one ParDo. One more round checks convergence and
   fails the run, naming the parameter to raise, if any label still changes (never a silent partial
   clustering).
4. The survivor of each cluster by the paper's ranking: license type (permissive, then no_license),
   stars, forks, latest revision, latest visit, then blob_id; the others go to dropped/ as
   ``near_duplicate`` with the survivor's blob_id.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.metrics import Metrics

from stack_v2.documents import Document
from stack_v2.joins import JoinSmallToLarge
from stack_v2.neardedup.buckets import by_partition, partition_count, star_edges
from stack_v2.neardedup.minhash import MinHashConfig, band_keys, estimated_jaccard, signatures
from stack_v2.params import Int, param
from stack_v2.progress import Tracked
from stack_v2.ranking import MISSING, latest_first, popularity
from stack_v2.records import FileRecord
from stack_v2.stages.base import Drop, routed
from stack_v2.stages.stage import Stage

STAGE = "near_dedup"
_LICENSE_ORDER = {"permissive": 0, "no_license": 1}


def survivor_rank(r: FileRecord | Document) -> tuple:
    """Smaller is better: the paper's near-dedup keeper ranking, then blob_id for a total order. A document
    (Kaggle notebooks, documentation) has no license, stars or dates: the smallest blob_id survives."""
    if isinstance(r, Document):
        return (2, 0, 0, MISSING, MISSING, r.blob_id)
    return (
        _LICENSE_ORDER.get(r.license_type, 2),
        *popularity(r),
        latest_first(r.revision_date),
        latest_first(r.visit_date),
        r.blob_id or "",
    )


def near_verdict(record: FileRecord, survivor: str | None) -> FileRecord | Drop:
    if survivor is None or survivor == record.blob_id:
        return record
    return Drop("near_duplicate", f"survivor={survivor}")


class _Signatures(beam.DoFn):
    """Batches of records -> per document its signature ('sigs' output), and per batch the list of its
    (band key, blob_id) pairs ('bands' output): one element per batch, not per key (``neardedup.buckets``)."""

    def __init__(self, config: MinHashConfig):
        self._config = config

    def setup(self):
        self._docs = Metrics.counter(STAGE, "signed")
        self._no_tokens = Metrics.counter(STAGE, "no_tokens")

    def process(self, batch: list[FileRecord]):
        config = self._config
        sigs, has_tokens = signatures([r.content or "" for r in batch], config)
        pairs = []
        for record, sig, ok in zip(batch, sigs, has_tokens):
            if not ok:
                self._no_tokens.inc()
                continue
            self._docs.inc()
            scope = record.language or "" if config.scope == "language" else ""
            yield beam.pvalue.TaggedOutput("sigs", (record.blob_id, sig.tobytes()))
            prefix = scope.encode() + b"\0"
            pairs += [(prefix + key, record.blob_id) for key in band_keys(sig, config)]
        if pairs:
            yield pairs


def _partition_edges(group):
    """(partition, lists of (band key, blob) pairs) -> each bucket's star edges (``buckets.star_edges``)."""
    _partition, lists = group
    yield from star_edges(lists)


def _ends(u, v):
    """An edge once per end, so that one join gives each end its signature."""
    return [(u, (u, v)), (v, (u, v))]


def _verify(grouped, threshold: float):
    """((u, v), [(node, sig)] of both ends) -> (u, v) if the estimated Jaccard reaches the threshold."""
    (u, v), ends = grouped
    sigs = dict(ends)
    if u in sigs and v in sigs and estimated_jaccard(sigs[u], sigs[v]) >= threshold:
        yield u, v
    else:
        Metrics.counter(STAGE, "edges_rejected").inc()


OWN, PROPOSED, NEIGHBOUR = 0, 1, 2  # what a node's grouped values are: its label, a label offered, an edge


def _relabel(element, last: bool = False):
    """One round at a node: its new label is the smallest offered (its own among them), offered on to
    itself and its neighbours for the next round. Two passes over the group, never a list of it: a star's
    centre has as many neighbours as its bucket had members. The last round yields (node, label) and,
    tagged ``changed``, a 1 for a node whose label still moved."""
    node, values = element
    label = own = None
    for kind, value in values:
        if kind != NEIGHBOUR:
            label = value if label is None or value < label else label
            if kind == OWN:
                own = value
    if last:
        yield node, label
        if own != label:
            yield beam.pvalue.TaggedOutput("changed", 1)
        return
    yield node, (OWN, label)
    for kind, value in values:
        if kind == NEIGHBOUR:
            yield value, (PROPOSED, label)


def _fail_if_changed(count, rounds: int):
    if count:
        raise RuntimeError(
            f"near_dedup: connected components did not converge in max_rounds={rounds} "
            f"({count} labels still changing); raise near_dedup.max_rounds in the recipe"
        )
    return count


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> (node, label) for every node with an edge, the label the smallest node of its
    component; fails the run if labels still change after ``max_rounds`` rounds (never a partial clustering)."""

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, edges):
        # Connected components by min-label propagation; a round is one Flatten, one GroupByKey and one
        # ParDo (the labels offered and the edges meet at each node), unrolled max_rounds + 1 times.
        adjacency = edges | "BothWays" >> beam.FlatMapTuple(lambda u, v: [(u, (NEIGHBOUR, v)), (v, (NEIGHBOUR, u))])
        offers = adjacency | "Init" >> beam.MapTuple(lambda u, edge: (u, (PROPOSED, min(u, edge[1]))))
        for i in range(self._max_rounds + 1):
            offers = (
                (offers, adjacency)
                | f"Round{i}" >> beam.Flatten()
                | f"Group{i}" >> beam.GroupByKey()
                | f"Relabel{i}" >> beam.FlatMap(_relabel)
            )
        # One more round checks convergence: any label still changing fails the run.
        last = (
            offers
            | "GroupLast" >> beam.GroupByKey()
            | "Labels" >> beam.FlatMap(_relabel, last=True).with_outputs("changed", main="labels")
        )
        labels = last.labels
        _ = (
            last.changed
            | "CountChanged" >> beam.CombineGlobally(sum)
            | "Converged" >> beam.Map(_fail_if_changed, self._max_rounds)
        )
        return labels


class NearDedup(beam.PTransform):
    """FileRecord (with content) -> {'kept', 'dropped'}: one survivor per near-duplicate cluster."""

    def __init__(self, config: MinHashConfig = MinHashConfig(), batch_size: int = 256):
        super().__init__()
        self._config, self._batch_size = config, batch_size

    def expand(self, records):
        config = self._config
        signed = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size, max_batch_size=self._batch_size)
            | "Sign" >> beam.ParDo(_Signatures(config)).with_outputs("sigs", main="bands")
        )
        bands = signed.bands
        # One GroupByKey of the band keys in lists per (batch, partition); the partition count follows the
        # number of keys (one small count first), so a partition's reader holds a bounded number of keys.
        partitions = (
            bands
            | "PairCounts" >> beam.Map(len)
            | "CountPairs" >> beam.CombineGlobally(sum)
            | "Partitions" >> beam.Map(partition_count)
        )
        edges = (
            bands
            | "ByPartition" >> beam.FlatMap(by_partition, beam.pvalue.AsSingleton(partitions))
            | "ByBucket" >> beam.GroupByKey()
            | "Star" >> beam.FlatMap(_partition_edges)
            | "DistinctEdges" >> beam.Distinct()
        )
        if config.verify:
            # Every signature crosses one shuffle (joined to the edges at both their ends), then each edge
            # meets its two signatures: only signatures of files with an edge move twice.
            ends = edges | "Ends" >> beam.FlatMapTuple(_ends)
            edges = (
                (signed.sigs, ends)
                | "JoinSig" >> JoinSmallToLarge()
                | "ByEdge" >> beam.FlatMapTuple(lambda node, s, edge: [(edge, (node, s[0]))] if s else [])
                | "EdgeSigs" >> beam.GroupByKey()
                | "Verify" >> beam.FlatMap(_verify, config.threshold)
            )
        labels = edges | "Components" >> ConnectedComponents(config.max_rounds)
        # The survivors are chosen from the records' ranks alone (small rows), so the records, content and
        # all, cross one shuffle: the join with their verdict, keyed by blob (unique after exact dedup).
        ranks = records | "Rank" >> beam.Map(lambda r: (r.blob_id, (survivor_rank(r), r.blob_id)))
        clustered = (
            (labels, ranks)
            | "JoinCluster" >> JoinSmallToLarge()
            | "ByCluster" >> beam.FlatMapTuple(lambda _blob, cluster, ranked: [(cluster[0], ranked)] if cluster else [])
        )
        survivors = (
            clustered
            | "Survivor" >> beam.CombinePerKey(min)
            | "SurvivorBlob" >> beam.MapTuple(lambda cluster, best: (cluster, best[1]))
        )
        members = labels | "Members" >> beam.MapTuple(lambda blob, cluster: (cluster, blob))
        verdicts = (
            (survivors, members)
            | "JoinSurvivor" >> JoinSmallToLarge()
            | "SurvivorOf" >> beam.FlatMapTuple(lambda _cluster, surv, blob: [(blob, surv[0])] if surv else [])
        )
        out = (
            (verdicts, records | "ByBlob" >> beam.Map(lambda r: (r.blob_id, r)))
            | "JoinVerdict" >> JoinSmallToLarge()
            | "Decide"
            >> beam.FlatMapTuple(
                Tracked(lambda _blob, surv, r: routed(STAGE, r, near_verdict(r, surv[0] if surv else None)))
            ).with_outputs("dropped", main="kept")
        )
        return {"kept": out.kept, "dropped": out.dropped}


@dataclasses.dataclass(frozen=True)
class NearDedupConfig(MinHashConfig):
    batch_size: int = param(256, Int(1))  # files signed together in one compiled pass

    def minhash(self) -> MinHashConfig:
        return MinHashConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(MinHashConfig)})


def _bands_fit(params: dict) -> str | None:
    # band_keys slices bands*rows values of each num_perm-long signature
    if params["bands"] * params["rows"] > params["num_perm"]:
        return (
            f"bands={params['bands']} x rows={params['rows']} is more than num_perm={params['num_perm']} "
            "(bands*rows must be <= num_perm)"
        )
    return None


PAPER_NOTES = [
    "Near-dedup verifies each LSH candidate pair by estimated Jaccard (>= the recipe's threshold) before joining "
    "clusters, so LSH false positives are not removed (the paper's code does not verify; `verify: false` "
    "reproduces it).",
    "Near-dedup gives a file with fewer than `ngram` tokens one shingle made of all its tokens, so only identical "
    "short files collide (the paper's code gave them all one signature, one giant cluster per language); files "
    "with no word token are never near-duplicates.",
    "Near-dedup tokens are the `\\w+` runs of the lower-cased text (the paper's `re.split(r'\\W')` also "
    "shingles the empty strings between adjacent separators); MinHash slots come from rensa's R-MinHash.",
]


# shingles of the decoded content; per-language scope needs the language
DEFINITION = Stage(
    STAGE,
    lambda config, context: NearDedup(config.minhash(), config.batch_size),
    NearDedupConfig,
    rule=_bands_fit,
    requires=("fetch_decode",),
    after=("language",),
    paper_notes=tuple(PAPER_NOTES),
)
