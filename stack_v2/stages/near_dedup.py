"""Near-dedup stage: MinHash LSH, connected components in Beam, survivors per cluster without chains.

1. Signatures in batches (``minhash.signatures``); each document has one key per LSH band, scoped
   by language (or globally).
2. Candidate edges per bucket as a star to the bucket's smallest blob_id, from one GroupByKey of the
   band keys moved as lists per (batch, partition) (``neardedup.buckets``: each group read twice, holding
   one entry per distinct key, never a bucket), deduplicated; optionally verified by estimated Jaccard
   (both signatures joined to the edge) so LSH false positives do not merge clusters.
3. Connected components (``neardedup.components``): with at most ``local_max_edges`` verified edges, one
   GroupByKey to a single worker's union-find; above it, min-label propagation unrolled ``max_rounds``
   times, each round one GroupByKey of the labels offered with the edges and one ParDo, and one more round
   that checks convergence and fails the run, naming the parameter to raise, if any label still changes
   (never a silent partial clustering). Both label a node with its component's smallest blob_id.
4. Survivors, by the recipe's ``resolution``:
   - ``components`` (the paper's): one survivor per component by the paper's ranking (license type:
     permissive, then no_license; stars, forks, latest revision, latest visit, then blob_id); the others go
     to dropped/ as ``near_duplicate`` with ``survivor=<blob_id>``. Components are transitive, so a removed
     file may be far below the threshold from its survivor (a chain A ~ B ~ C removes A for C).
   - ``greedy`` (the default): per component, a greedy pass in the same ranking (``neardedup.greedy``): the
     best-ranked member survives and removes the members whose estimated Jaccard with it reaches the
     threshold; repeat on the rest. Every removal is verified against its survivor, and its detail is
     ``survivor=<blob_id>; jaccard=0.832``. What moves, never content: per signed file its blob_id (40
     bytes), rank (a 6-field tuple, ~60 bytes) and signature (num_perm x 4 bytes: 1,000 at 250) cross one
     join with the component labels (in place of the paper's join of ranks alone); per clustered file
     (one with a verified edge) the same ~1.1 KB cross one more GroupByKey, keyed by (component, subgroup),
     and one ParDo resolves each group (``neardedup.greedy``). A component of more than
     ``max_component`` members is split into ceil(size / max_component) subgroups by a stable hash of the
     blob_id, each resolved alone, so a worker holds about ``max_component`` signatures whatever the
     dataset (the short-document trap, millions of files in one component, still finishes). A split costs
     recall, never safety: near-duplicates in different subgroups may both be kept; no file is removed
     without a survivor at the threshold. report.json's ``near_dedup`` section counts each.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.metrics import Metrics

from stack_v2.documents import Document
from stack_v2.joins import JoinSmallToLarge
from stack_v2.neardedup.buckets import by_partition, partition_count, star_edges
from stack_v2.neardedup.components import ConnectedComponents
from stack_v2.neardedup.greedy import resolve, subgroup_of, subgroups
from stack_v2.neardedup.minhash import MinHashConfig, band_hashes, band_keys, estimated_jaccard, signatures
from stack_v2.params import Int, Str, param
from stack_v2.progress import Tracked
from stack_v2.ranking import MISSING, latest_first, popularity
from stack_v2.records import FileRecord
from stack_v2.stages.base import STATS, Drop, routed
from stack_v2.stages.stage import Stage

STAGE = "near_dedup"
SECTION = "@" + STAGE  # report.json's "near_dedup" section: the resolution and what it kept and removed
GREEDY, COMPONENTS = "greedy", "components"
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


def near_verdict(record: FileRecord, survivor: str | None, jaccard: float | None = None) -> FileRecord | Drop:
    if survivor is None or survivor == record.blob_id:
        return record
    if jaccard is None:  # the components resolution: no comparison with the survivor
        return Drop("near_duplicate", f"survivor={survivor}")
    return Drop("near_duplicate", f"survivor={survivor}; jaccard={jaccard:.3f}")


class _Signatures(beam.DoFn):
    """Batches of records -> per document its signature ('sigs' output), and per batch the list of its
    (band key, blob_id) pairs ('bands' output): one element per batch, not per key (``neardedup.buckets``)."""

    def __init__(self, config: MinHashConfig, ranked: bool = False):
        self._config, self._ranked = config, ranked

    def setup(self):
        self._docs = Metrics.counter(STAGE, "signed")
        self._no_tokens = Metrics.counter(STAGE, "no_tokens")

    def process(self, batch: list[FileRecord]):
        config = self._config
        sigs, has_tokens = signatures([r.content or "" for r in batch], config)
        hashes = band_hashes(sigs, config)
        pairs = []
        for record, sig, bands, ok in zip(batch, sigs, hashes, has_tokens):
            if not ok:
                self._no_tokens.inc()
                continue
            self._docs.inc()
            scope = record.language or "" if config.scope == "language" else ""
            yield beam.pvalue.TaggedOutput("sigs", (record.blob_id, sig.tobytes()))
            if self._ranked:  # the greedy resolution's members: rank and signature, not content
                yield beam.pvalue.TaggedOutput("ranked", (record.blob_id, (survivor_rank(record), sig.tobytes())))
            prefix = scope.encode() + b"\0"
            pairs += [(prefix + key, record.blob_id) for key in band_keys(bands)]
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


def _subgroup(element, split: dict):
    """(component, member) -> ((component, subgroup), member): one subgroup unless the component is split."""
    component, member = element
    return (component, subgroup_of(member[0], split.get(component, 1))), member


def _resolve(group, threshold: float):
    """((component, subgroup), members) -> (blob, (survivor, jaccard)) per removed member (``greedy.resolve``),
    and tagged ``stats`` the group's counts."""
    (_component, sub), members = group
    members = list(members)  # at most about max_component signatures (split above it)
    verdicts = resolve(members, threshold)
    removed = 0
    for blob, survivor, jaccard in verdicts:
        if survivor is not None:
            removed += 1
            yield blob, (survivor, jaccard)
    counts = {"files_clustered": len(members), "survivors": len(members) - removed, "removed": removed}
    for key, n in counts.items():
        yield beam.pvalue.TaggedOutput(STATS, (key, n))


def _split_entries(_component, groups: int):
    yield "components_split", 1
    yield "subgroups", groups


def _section(key_n):
    key, n = key_n
    return (SECTION, key, ""), (n, 0)


class NearDedup(beam.PTransform):
    """FileRecord (with content) -> {'kept', 'dropped', 'stats'}: near-duplicate clusters resolved by
    ``resolution`` (``greedy`` or the paper's ``components``, see the module docstring)."""

    def __init__(
        self,
        config: MinHashConfig = MinHashConfig(),
        batch_size: int = 256,
        resolution: str = GREEDY,
        max_component: int = 10_000,
        local_max_edges: int = 0,
    ):
        super().__init__()
        if resolution not in (GREEDY, COMPONENTS):
            raise ValueError(f"near_dedup: resolution must be {GREEDY} or {COMPONENTS}, got {resolution!r}")
        self._config, self._batch_size = config, batch_size
        self._resolution, self._max_component = resolution, max_component
        self._local_max_edges = local_max_edges

    def expand(self, records):
        config = self._config
        greedy = self._resolution == GREEDY
        outputs = ("sigs", "ranked") if greedy else ("sigs",)
        signed = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size, max_batch_size=self._batch_size)
            | "Sign" >> beam.ParDo(_Signatures(config, ranked=greedy)).with_outputs(*outputs, main="bands")
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
            # meets its two signatures: only signatures of files with an edge move twice. In process, the
            # signatures (a few hundred bytes per file, beside the records' content there) are a lookup.
            ends = edges | "Ends" >> beam.FlatMapTuple(_ends)
            edges = (
                (signed.sigs, ends)
                | "JoinSig" >> JoinSmallToLarge(in_process_lookup=True)
                | "ByEdge" >> beam.FlatMapTuple(lambda node, s, edge: [(edge, (node, s[0]))] if s else [])
                | "EdgeSigs" >> beam.GroupByKey()
                | "Verify" >> beam.FlatMap(_verify, config.threshold)
            )
        labels = edges | "Components" >> ConnectedComponents(config.max_rounds, self._local_max_edges)
        if greedy:
            verdicts, counts = self._greedy(labels, signed.ranked)
        else:
            verdicts, counts = self._components(labels, records)
        setting = records.pipeline | "Resolution" >> beam.Create([((SECTION, "resolution", self._resolution), (1, 0))])
        stats = counts | "SumCounts" >> beam.CombinePerKey(sum) | "Entries" >> beam.Map(_section)
        out = (
            (verdicts, records | "ByBlob" >> beam.Map(lambda r: (r.blob_id, r)))
            | "JoinVerdict" >> JoinSmallToLarge(in_process_lookup=True)  # verdicts: removed files only
            | "Decide"
            >> beam.FlatMapTuple(
                Tracked(lambda _blob, surv, r: routed(STAGE, r, near_verdict(r, *(surv[0] if surv else (None,)))))
            ).with_outputs("dropped", main="kept")
        )
        return {"kept": out.kept, "dropped": out.dropped, "stats": (stats, setting) | "Stats" >> beam.Flatten()}

    def _components(self, labels, records):
        """The paper's: (blob, (survivor,)) for every clustered file, and the counts."""
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
            | "SurvivorOf" >> beam.FlatMapTuple(lambda _cluster, surv, blob: [(blob, (surv[0],))] if surv else [])
        )
        counts = (
            (labels | "CountClustered" >> beam.Map(lambda _: ("files_clustered", 1))),
            (survivors | "CountSurvivors" >> beam.Map(lambda _: ("survivors", 1))),
            (verdicts | "CountRemoved" >> beam.FlatMapTuple(lambda blob, v: [("removed", 1)] if v[0] != blob else [])),
        ) | "Counts" >> beam.Flatten()
        return verdicts, counts

    def _greedy(self, labels, ranked):
        """Greedy per component (``neardedup.greedy``): (blob, (survivor, jaccard)) per removed file, and the
        counts. One join gives each clustered file's (rank, signature) its component; one GroupByKey per
        (component, subgroup) resolves it."""
        limit = self._max_component
        clustered = (
            (labels, ranked)
            | "JoinCluster" >> JoinSmallToLarge(in_process_lookup=True)  # labels: clustered files only
            | "ByCluster"
            >> beam.FlatMapTuple(lambda blob, cluster, rs: [(cluster[0], (blob, rs[0], rs[1]))] if cluster else [])
        )
        # Components above the limit, with their subgroup count: few (at most files / limit), a side input.
        split = (
            clustered
            | "OnePerMember" >> beam.MapTuple(lambda cluster, _member: (cluster, 1))
            | "ComponentSizes" >> beam.CombinePerKey(sum)
            | "Oversized" >> beam.FlatMapTuple(lambda c, n: [(c, subgroups(n, limit))] if n > limit else [])
        )
        resolved = (
            clustered
            | "Subgroup" >> beam.Map(_subgroup, beam.pvalue.AsDict(split))
            | "ByComponent" >> beam.GroupByKey()
            | "Resolve" >> beam.FlatMap(_resolve, self._config.threshold).with_outputs(STATS, main="verdicts")
        )
        counts = (
            resolved[STATS],
            split | "SplitCounts" >> beam.FlatMapTuple(_split_entries),
        ) | "Counts" >> beam.Flatten()
        return resolved.verdicts, counts


@dataclasses.dataclass(frozen=True)
class NearDedupConfig(MinHashConfig):
    batch_size: int = param(256, Int(1))  # files signed together in one compiled pass
    # greedy: every removal verified against a kept survivor; components: the paper's (chains remove files
    # far below the threshold from their survivor). See the module docstring.
    resolution: str = param(GREEDY, Str((GREEDY, COMPONENTS)))
    max_component: int = param(10_000, Int(2))  # greedy: a larger component is split into subgroups this size
    # Connected components on one worker (union-find, one shuffle) when the verified edges are at most this
    # many (about 400 bytes each in its memory), else max_rounds propagation rounds; 0: always the rounds.
    local_max_edges: int = param(500_000, Int(0))

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
    "Near-dedup resolves each cluster greedily by default (`resolution: greedy`), so that every removed file has "
    "a kept survivor at or above the threshold; the paper keeps one file per connected component "
    "(`resolution: components`), which removes files far from their survivor along chains of near-duplicates.",
    "Near-dedup verifies each LSH candidate pair by estimated Jaccard (>= the recipe's threshold) before joining "
    "clusters, so LSH false positives are not removed (the paper's code does not verify; `verify: false` "
    "reproduces it).",
    "Near-dedup gives a file with fewer than `ngram` tokens one shingle made of all its tokens, so only identical "
    "short files collide (the paper's code gave them all one signature, one giant cluster per language); files "
    "with no word token are never near-duplicates.",
    "Near-dedup tokens are the `\\w+` runs of the lower-cased text (the paper's `re.split(r'\\W')` also "
    "shingles the empty strings between adjacent separators); MinHash slots come from rensa's R-MinHash.",
]


def card_section(report: dict) -> list[str]:
    """The card's section on near-dedup: which resolution ran and what it kept and removed."""
    section = report.get(STAGE)
    if not section:
        return []
    resolution = next(iter(section.get("resolution", {})), COMPONENTS)
    count = {key: section.get(key, {}).get("all", 0) for key in ("files_clustered", "survivors", "removed")}
    lines = ["", "## Near-deduplication", ""]
    if resolution == GREEDY:
        lines.append(
            "Near-duplicate clusters (MinHash LSH, candidate pairs verified by estimated Jaccard, connected "
            "components) were resolved greedily (`resolution: greedy`): in each cluster the best-ranked file by "
            "the paper's priority survives and removes the files whose estimated Jaccard with it reaches the "
            "threshold, and the rest are resolved the same way. Every removed file has a kept survivor at or "
            "above the threshold, named in its `dropped/` detail with their estimated Jaccard."
        )
        split = section.get("components_split", {}).get("all", 0)
        if split:
            lines.append(
                f"{split:,} clusters larger than `max_component` were split into "
                f"{section.get('subgroups', {}).get('all', 0):,} subgroups resolved apart (near-duplicates in "
                "different subgroups may both be kept)."
            )
    else:
        lines.append(
            "Near-duplicate clusters were resolved as in the paper (`resolution: components`): one survivor per "
            "connected component. Components are transitive, so a removed file may be less similar to its "
            "survivor than the threshold."
        )
    lines += [
        "",
        "| files in clusters | kept | removed |",
        "|---:|---:|---:|",
        f"| {count['files_clustered']:,} | {count['survivors']:,} | {count['removed']:,} |",
    ]
    return lines


# shingles of the decoded content; per-language scope needs the language
DEFINITION = Stage(
    STAGE,
    lambda config, context: NearDedup(
        config.minhash(), config.batch_size, config.resolution, config.max_component, config.local_max_edges
    ),
    NearDedupConfig,
    rule=_bands_fit,
    requires=("fetch_decode",),
    after=("language",),
    card=card_section,
    paper_notes=tuple(PAPER_NOTES),
)
