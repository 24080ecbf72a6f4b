"""The license stage: detect, propagate, classify (docs/the-stack-v2.md §5).

1. License candidates: occurrences whose file name matches the paper's regex.
2. Each distinct candidate blob is fetched and scanned once (``ScanCodeDetector``: index loaded in
   ``setup``, results cached by blob_id in memory and on disk).
3. Each candidate occurrence contributes its licenses to its directory (base path) in its root tree.
4. Every occurrence gets the union of the licenses of the directories that contain it, and the
   paper's ``license_type`` over the licenses the recipe's ``rule`` counts: ``paper``, every license
   detected; ``precise`` (the default), the same less the licenses a file only mentions, inside another
   license's full text or in a compatibility note (``stack_v2.licenses.precise``). ``non_permissive``
   occurrences are dropped with their licenses and the evidence (license file, license, ScanCode rule,
   kind, coverage, lines) as the detail, the rest go on with ``detected_licenses`` (every license
   detected, under either rule) and ``license_type`` filled. report.json names the rule
   (``license_classification``) and shows the evidence behind the most files dropped
   (``license_evidence``, with the number of entries; ``stack_v2.stages.license_report``).

Missing evidence fails closed. A candidate that was read but holds no license text to scan (binary,
not decodable, larger than ``max_bytes``, by its length or its bytes) contributes no license, as in the
paper. A candidate that could not be read (any fetch failure: missing object, access denied, S3 errors
after the retries, corrupt object, wrong checksum; or no blob in the content table) or that ScanCode
failed on (error, timeout) leaves the license of every file it governs (its directory and below, the
rule of step 4) unknown: such a file fails with reason ``license_unknown`` and a detail naming each
unread license file, its blob and why, rather than being kept as ``no_license``. The exception is a file
whose type the rule decides whatever that license file says (its GHArchive license decides alone, or a
non-permissive license was detected already): it is kept or dropped as usual, its
``detected_licenses`` then lacking the unread file's. Detection outcomes are counted in report.json
(``license_detection``). The stage runs before exact dedup, so a blob found in both a copyleft and a
permissive repository survives through the permissive one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from stack_v2.archive.fetch_contents import FetchContents, record_item
from stack_v2.archive.location import ArchiveLocation
from stack_v2.joins import JoinSmallToLarge
from stack_v2.licenses.candidates import base_path, is_license_candidate
from stack_v2.licenses.classify import (
    NOASSERTION,
    NON_PERMISSIVE,
    decided_without_more,
    license_type,
    load_non_license,
    load_permissive,
    propagate,
)
from stack_v2.licenses.detect import (
    DEADLINE_SECONDS,
    MAX_LICENSE_FILE_BYTES,
    Detection,
    ScanCodeDetector,
    default_cache_path,
)
from stack_v2.licenses.precise import PRECISE, RULES, counted, evidence_for
from stack_v2.params import Float, Int, Optional, Path, Str, param
from stack_v2.progress import Tracked
from stack_v2.records import FileRecord
from stack_v2.stages.base import Drop, Fail, routed
from stack_v2.stages.license_report import CLASSIFICATION_STATS, EvidenceStats, card_section, mention_stats
from stack_v2.stages.stage import Stage

STAGE = "license"
DEFAULT_CACHE = "default"
DETECTION_STATS = "@license_detection"
EVIDENCE = "evidence"  # the classify step's output of evidence entries
MAX_DETAIL_EVIDENCE = 10  # (license file, license, match) entries in a dropped file's detail
LICENSE_UNKNOWN = "license_unknown"
# Detection failures where the file was read and holds no license text: it contributes no license. Any
# other failure (fetch failures, ScanCode errors and timeouts, reasons added later) is unread evidence.
NO_LICENSE_TEXT = frozenset({"binary", "undecodable", "too_large"})
_MAX_WHY = 300  # characters of a fetch or ScanCode message kept in a failed file's detail


@dataclass(frozen=True)
class LicenseConfig:
    deadline: float = param(DEADLINE_SECONDS, Float(0, min_exclusive=True))  # seconds of ScanCode matching per file
    max_bytes: int = param(MAX_LICENSE_FILE_BYTES, Int(1))  # larger license files fail too_large
    # "default": ~/.cache/stack-v2/license-cache.sqlite; None: no cache on disk (memory only)
    cache_path: str | None = param(DEFAULT_CACHE, Optional(Path()))
    permissive: str | None = param(None, Optional(Path()))  # a permissive.tsv; None: filters/licenses/permissive.tsv
    non_license: str | None = param(None, Optional(Path()))
    concurrency: int = param(16, Int(1))  # fetches in flight per worker
    # precise: set aside licenses a file only mentions (stack_v2.licenses.precise); paper: count every one
    rule: str = param(PRECISE, Str(RULES))

    def resolved(self) -> LicenseConfig:
        """``cache_path`` "default" made the user's cache file."""
        return replace(self, cache_path=default_cache_path() if self.cache_path == DEFAULT_CACHE else self.cache_path)


class LicenseDir(NamedTuple):
    """What one license file tells the files of its directory and below."""

    base: str  # its directory (base path)
    licenses: tuple[str, ...]  # every license detected in it (the paper's)
    why: str  # why it could not be read, or ""
    counted: tuple[str, ...] | None = None  # the licenses the rule counts; None: every one detected
    evidence: tuple[tuple[str, str], ...] = ()  # (license, its match described) for the counted non-permissive
    path: str = ""  # the license file's path


def _non_permissive_evidence(record: FileRecord, dirs: list[LicenseDir], counts, permissive, non_license):
    """(license file, license, match) behind a non_permissive decision: the counted licenses that are
    neither permissive nor amendments, from each license file that governs ``record``."""
    wanted = set(counts) - permissive - non_license
    found = {
        (d.path, key, described)
        for d in dirs
        if record.path.startswith(d.base)
        for key, described in d.evidence
        if key in wanted
    }
    return sorted(found)  # the join gives the license files in no fixed order


def decide(record: FileRecord, license_dirs, permissive: frozenset[str], non_license: frozenset[str], rule=None):
    """(verdict, evidence): the record with detected_licenses and license_type, a Drop naming its licenses
    (and, with a ``rule``, the evidence), or a Fail naming the license files that govern it but could not
    be read, unless the decision does not depend on them; evidence as ``_non_permissive_evidence``."""
    dirs = [LicenseDir(*d) for d in license_dirs]
    detected = propagate(record.path, [(d.base, d.licenses) for d in dirs])
    counts = propagate(record.path, [(d.base, d.licenses if d.counted is None else d.counted) for d in dirs])
    unread = propagate(record.path, [(d.base, (d.why,)) for d in dirs if d.why])  # the same "governs" rule
    if unread and not decided_without_more(record.gha_license_id, counts, permissive, non_license):
        return Fail(LICENSE_UNKNOWN, "; ".join(unread)), []
    kind = license_type(record.gha_license_id, counts, permissive, non_license)
    if kind == NON_PERMISSIVE:
        named = ",".join(detected) if detected else "none detected"
        detail = f"licenses={named}; gha_license_id={record.gha_license_id}"
        evidence = []
        if rule is not None:
            detail += f"; rule={rule}"
            if record.gha_license_id in (None, NOASSERTION):  # else the GHArchive license decided alone
                evidence = _non_permissive_evidence(record, dirs, counts, permissive, non_license)
                if evidence:
                    shown = " | ".join(f"{path}: {key} {what}" for path, key, what in evidence[:MAX_DETAIL_EVIDENCE])
                    more = len(evidence) - MAX_DETAIL_EVIDENCE
                    detail += f"; evidence={shown}" + (f" | (+{more} more)" if more > 0 else "")
        return Drop(NON_PERMISSIVE, detail), evidence
    return record._replace(detected_licenses=detected, license_type=kind), []


def classify_record(
    record: FileRecord, license_dirs, permissive: frozenset[str], non_license: frozenset[str], rule=None
) -> FileRecord | Drop | Fail:
    """``decide``'s verdict. ``license_dirs``: LicenseDir tuples (or their first three fields) of the
    candidates in the record's root tree."""
    return decide(record, license_dirs, permissive, non_license, rule)[0]


def _classify(_root, dirs, record, permissive, non_license, rule):
    verdict, evidence = decide(record, dirs, permissive, non_license, rule)
    yield from routed(STAGE, record, verdict)
    for path, key, what in evidence:
        yield pvalue.TaggedOutput(EVIDENCE, ((f"{record.repo_name} {path}", f"{key} {what}"), 1))


class _DetectFn(beam.DoFn):
    def __init__(self, config: LicenseConfig):
        self._config = config

    def setup(self):
        # One detector per worker; ScanCode's index (seconds to load) loads at the first cache miss, once
        # per worker process, so a run whose license files are all cached never pays for it.
        self._detector = ScanCodeDetector(self._config.deadline, self._config.max_bytes, self._config.cache_path)

    def process(self, element):
        record, data = element
        detection = self._detector.detect(record.blob_id, data)
        outcome = "cache_hit" if detection.cached else ("failed" if detection.failure else "scanned")
        Metrics.counter(STAGE, f"detection_{outcome}").inc()
        yield record.blob_id, detection

    def teardown(self):
        detector = getattr(self, "_detector", None)
        if detector is not None:
            detector.cache.close()


def _fetch_failed(element):
    record, reason, detail = element
    return record.blob_id, Detection((), reason, detail)


def _detection_stat(kv):
    _blob, detection = kv
    if detection.failure:
        return (DETECTION_STATS, "failed", detection.failure), (1, 0)
    return (DETECTION_STATS, "cache_hit" if detection.cached else "scanned", ""), (1, 0)


def _unread(record: FileRecord, reason: str, detail: str) -> str:
    why = f"{reason} ({detail[:_MAX_WHY]})" if detail else reason
    blob = f"blob={record.blob_id}" if record.blob_id else f"content_id={record.content_id}"
    return f"license file {record.path} {blob}: {why}"


def _license_dirs(joined, rule: str, permissive: frozenset[str], non_license: frozenset[str]):
    """(blob, [detection], candidate) -> (root, LicenseDir) when the blob has licenses or could not be read."""
    _blob, detections, record = joined
    detection = detections[0] if detections else Detection((), "no_detection", "no fetch or scan result")
    unread = (
        "" if detection.failure in (None, *NO_LICENSE_TEXT) else _unread(record, detection.failure, detection.detail)
    )
    if detection.licenses or unread:
        counts = counted(detection.licenses, detection.evidence, rule)
        evidence = ()
        if detection.evidence is not None:
            evidence = evidence_for(detection.evidence, set(counts) - permissive - non_license)
        yield (
            record.directory_id,
            LicenseDir(base_path(record.path), detection.licenses, unread, counts, evidence, record.path),
        )


def _blobless_dirs(record: FileRecord, max_bytes: int):
    """A candidate without a blob (not in the content table): unread, unless its length says too large."""
    if record.length_bytes is not None and record.length_bytes > max_bytes:
        return
    # (a LicenseDir's first three fields: it names no license, so nothing else is needed)
    yield record.directory_id, (base_path(record.path), (), _unread(record, "missing", "not in the content table"))


def _first_by_path(records):
    return min(records, key=lambda r: (r.origin or "", r.path))


class ClassifyLicenses(beam.PTransform):
    """FileRecord -> {'kept', 'dropped', 'stats'}: licenses detected, propagated and decided; files whose
    license files could not be read fail (``license_unknown``) unless the decision does not need them."""

    def __init__(self, location: ArchiveLocation, config: LicenseConfig = LicenseConfig(cache_path=None)):
        super().__init__()
        self._location, self._config = location, config.resolved()
        # Load (and so check) the lists when the pipeline is built, not on the workers.
        self._permissive = load_permissive(config.permissive)
        self._non_license = load_non_license(config.non_license)

    def expand(self, records):
        candidates = records | "Candidates" >> beam.Filter(
            lambda r: r.blob_id is not None and is_license_candidate(r.path)
        )
        by_blob = candidates | "CandidateByBlob" >> beam.Map(lambda r: (r.blob_id, r))
        unique = by_blob | "OnePerBlob" >> beam.CombinePerKey(_first_by_path) | "Blobs" >> beam.Values()
        # Fetch at most max_bytes (+1 so a file of exactly max_bytes is scanned); larger ones fail too_large.
        fetched = unique | "FetchLicenseFiles" >> FetchContents(
            self._location, self._config.concurrency, self._config.max_bytes + 1, fetch_item=record_item
        )
        detections = (
            fetched.fetched | "Detect" >> beam.ParDo(_DetectFn(self._config)),
            fetched.failed | "FetchFailed" >> beam.Map(_fetch_failed),
        ) | "Detections" >> beam.Flatten()
        blobless = records | "BloblessCandidates" >> beam.Filter(
            lambda r: r.blob_id is None and is_license_candidate(r.path)
        )
        rule, permissive, non_license = self._config.rule, self._permissive, self._non_license
        license_dirs = (
            (detections, by_blob)
            | "JoinDetections" >> JoinSmallToLarge()
            | "LicenseDirs" >> beam.FlatMap(_license_dirs, rule, permissive, non_license),
            blobless | "BloblessDirs" >> beam.FlatMap(_blobless_dirs, self._config.max_bytes),
        ) | "AllLicenseDirs" >> beam.Flatten()
        classified = (
            (license_dirs, records | "ByRoot" >> beam.Map(lambda r: (r.directory_id, r)))
            | "JoinLicenseDirs" >> JoinSmallToLarge()
            | "Classify"
            >> beam.FlatMapTuple(
                Tracked(lambda root, dirs, record: _classify(root, dirs, record, permissive, non_license, rule))
            ).with_outputs("dropped", EVIDENCE, main="kept")
        )
        stats = (
            detections | "DetectionStats" >> beam.Map(_detection_stat),
            candidates
            | "CandidateStats" >> beam.Map(lambda r: ((DETECTION_STATS, "candidates", "occurrences"), (1, 0))),
            records.pipeline | "RuleStat" >> beam.Create([((CLASSIFICATION_STATS, "rule", rule), (1, 0))]),
            detections | "MentionStats" >> beam.FlatMap(mention_stats, rule),
            classified[EVIDENCE] | "EvidenceStats" >> EvidenceStats(),
        ) | "Stats" >> beam.Flatten()
        return {"kept": classified.kept, "dropped": classified.dropped, "stats": stats}


PAPER_NOTES = [
    "The permissive list (filters/licenses/permissive.tsv) is rebuilt from ScanCode's license categories "
    "(Permissive, Public Domain) and every license the Blue Oak Council rates; the paper's own list file could "
    "not be retrieved.",
    "ScanCode's `deadline` is an absolute time; the paper's `deadline=100` is read as a 100-second budget per file "
    "(a literal 100 would stop matching at once).",
    "License candidates larger than the recipe's `max_bytes`, binary or undecodable contribute no license. A "
    "license file that could not be read (missing object, store errors after retries, ScanCode error or "
    "timeout) fails the files it governs (`license_unknown`) unless the decision cannot depend on it; the "
    "paper's code kept them as no_license. Both are counted under `license_detection` in report.json.",
    "As in the paper, detected licenses are a set of symbols: a dual `Apache-2.0 OR GPL-2.0-or-later` notice "
    "counts as non_permissive.",
    "The recipe's `rule` says which licenses of a license file count (see License classification): `paper`, "
    "every detected license, as the paper; `precise` (the default), the same less licenses a file only mentions "
    "(inside another license's full text, or in a compatibility note). `detected_licenses` lists every detected "
    "license under either rule.",
]


DEFINITION = Stage(
    STAGE,
    lambda config, context: ClassifyLicenses(context.location, config),
    LicenseConfig,
    card=card_section,
    paper_notes=tuple(PAPER_NOTES),
)
