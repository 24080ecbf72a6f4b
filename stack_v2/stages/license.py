"""The license stage: detect, propagate, classify (docs/the-stack-v2.md §5).

1. License candidates: occurrences whose file name matches the paper's regex.
2. Each distinct candidate blob is fetched and scanned once (``ScanCodeDetector``: index loaded in
   ``setup``, results cached by blob_id in memory and on disk).
3. Each candidate occurrence contributes its licenses to its directory (base path) in its root tree.
4. Every occurrence gets the union of the licenses of the directories that contain it, and the
   paper's ``license_type``; ``non_permissive`` occurrences are dropped with their licenses as the
   detail, the rest go on with ``detected_licenses`` and ``license_type`` filled.

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

import apache_beam as beam
from apache_beam.metrics import Metrics

from stack_v2.archive.fetch_contents import FetchContents, record_item
from stack_v2.archive.location import ArchiveLocation
from stack_v2.joins import JoinSmallToLarge
from stack_v2.licenses.candidates import base_path, is_license_candidate
from stack_v2.licenses.classify import (
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
from stack_v2.params import Float, Int, Optional, Path, param
from stack_v2.progress import Tracked
from stack_v2.records import FileRecord
from stack_v2.stages.base import Drop, Fail, routed
from stack_v2.stages.stage import Stage

STAGE = "license"
DEFAULT_CACHE = "default"
DETECTION_STATS = "@license_detection"
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

    def resolved(self) -> LicenseConfig:
        """``cache_path`` "default" made the user's cache file."""
        return replace(self, cache_path=default_cache_path() if self.cache_path == DEFAULT_CACHE else self.cache_path)


def classify_record(
    record: FileRecord, license_dirs, permissive: frozenset[str], non_license: frozenset[str]
) -> FileRecord | Drop | Fail:
    """The record with detected_licenses and license_type, a Drop naming its licenses, or a Fail naming
    the license files that govern it but could not be read, unless the decision does not depend on them.

    ``license_dirs``: (base path, licenses, why unread or "") of the candidates in the record's root tree."""
    dirs = list(license_dirs)
    detected = propagate(record.path, [(base, licenses) for base, licenses, _ in dirs])
    unread = propagate(record.path, [(base, (why,)) for base, _, why in dirs if why])  # the same "governs" rule
    if unread and not decided_without_more(record.gha_license_id, detected, permissive, non_license):
        return Fail(LICENSE_UNKNOWN, "; ".join(unread))
    kind = license_type(record.gha_license_id, detected, permissive, non_license)
    if kind == NON_PERMISSIVE:
        named = ",".join(detected) if detected else "none detected"
        return Drop(NON_PERMISSIVE, f"licenses={named}; gha_license_id={record.gha_license_id}")
    return record._replace(detected_licenses=detected, license_type=kind)


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


def _license_dirs(joined):
    """(blob, [detection], candidate) -> (root, (base path, licenses, why unread or "")) when the blob has
    licenses or could not be read."""
    _blob, detections, record = joined
    detection = detections[0] if detections else Detection((), "no_detection", "no fetch or scan result")
    unread = (
        "" if detection.failure in (None, *NO_LICENSE_TEXT) else _unread(record, detection.failure, detection.detail)
    )
    if detection.licenses or unread:
        yield record.directory_id, (base_path(record.path), detection.licenses, unread)


def _blobless_dirs(record: FileRecord, max_bytes: int):
    """A candidate without a blob (not in the content table): unread, unless its length says too large."""
    if record.length_bytes is not None and record.length_bytes > max_bytes:
        return
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
        license_dirs = (
            (detections, by_blob)
            | "JoinDetections" >> JoinSmallToLarge()
            | "LicenseDirs" >> beam.FlatMap(_license_dirs),
            blobless | "BloblessDirs" >> beam.FlatMap(_blobless_dirs, self._config.max_bytes),
        ) | "AllLicenseDirs" >> beam.Flatten()
        permissive, non_license = self._permissive, self._non_license
        classified = (
            (license_dirs, records | "ByRoot" >> beam.Map(lambda r: (r.directory_id, r)))
            | "JoinLicenseDirs" >> JoinSmallToLarge()
            | "Classify"
            >> beam.FlatMapTuple(
                Tracked(
                    lambda _root, dirs, record: routed(
                        STAGE, record, classify_record(record, dirs, permissive, non_license)
                    )
                )
            ).with_outputs("dropped", main="kept")
        )
        stats = (
            detections | "DetectionStats" >> beam.Map(_detection_stat),
            candidates
            | "CandidateStats" >> beam.Map(lambda r: ((DETECTION_STATS, "candidates", "occurrences"), (1, 0))),
        ) | "Stats" >> beam.Flatten()
        return {"kept": classified.kept, "dropped": classified.dropped, "stats": stats}


def card_section(report: dict) -> list[str]:
    """The card's section on the license files' detection outcomes."""
    detection = report.get("license_detection")
    if not detection:
        return []
    lines: list[str] = []
    lines += ["", "## License detection", "", "| outcome | reason | license files (distinct blobs) |", "|---|---|---:|"]
    for outcome, reasons in detection.items():
        for reason, files in reasons.items():
            lines.append(f"| {outcome} | {reason} | {files:,} |")
    return lines


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
]


DEFINITION = Stage(
    STAGE,
    lambda config, context: ClassifyLicenses(context.location, config),
    LicenseConfig,
    card=card_section,
    paper_notes=tuple(PAPER_NOTES),
)
