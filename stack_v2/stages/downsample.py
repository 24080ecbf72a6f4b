"""Downsampling for the train sets (the paper, §4; docs/the-stack-v2.md §7.7): a language over its cap keeps
whole repositories, in a seeded random order, up to the cap in bytes of ``length_bytes``; the repository the
cap falls in is kept in part (a prefix of its files in a seeded order). The rest go to ``dropped/`` with
reason ``downsampled``. Caps come from ``filters/downsampling.yaml``, another file (``caps_file``) or the
recipe (``caps``); languages without a cap pass untouched.

The selection (``stack_v2.downsample.select``) is the prefix of one sort of each language, computed without
holding a language anywhere and without moving a record through a shuffle. What each shuffle moves:

- ``Histogram`` (CombinePerKey by language): bytes per bucket of repository priority. With combiner lifting
  each bundle sends one sparse partial histogram per capped language, of at most min(its files, 65,536)
  buckets (~1.4 KB for 200 buckets); the combined one is at most 65,536 (bucket, bytes) pairs.
- ``BoundaryBucket`` (GroupByKey by language): (order key, bytes), ~170 bytes a file and no content, of
  the files in the one bucket the cap falls in: about 1/65,536 of a capped language's repositories, and at
  least the whole repository the cap falls in (a repository never spans two buckets), so a group is
  bounded by a small share of the language plus its largest repository. Sorted there, it gives the order
  key of the first file that does not fit.
- Side inputs: per capped language one boundary (bucket, bytes left) and one cut key.

Every record then passes one ParDo that decides it from those side inputs; like any second pass, the
records wait for them (the runner keeps them where it keeps a fused stage's output). Nothing depends on
bundles or the runner: sums are order-free and the order keys are a total order, so two runs keep the same
files. Uncapped languages are only passed through.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.pvalue import AsDict
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import progress
from stack_v2.counters import BundleSums
from stack_v2.downsample.caps import check_caps, load_caps
from stack_v2.downsample.select import Histogram, boundary, bucket_of, cut_key, keeps, order_key
from stack_v2.io.markdown import megabytes
from stack_v2.params import Int, Mapping, Optional, Path, param
from stack_v2.records import FileRecord
from stack_v2.stages.base import DROPPED, STATS, Drop, Fail, routed
from stack_v2.stages.stage import Stage

STAGE, REASON = "downsample", "downsampled"
SECTION = "@" + STAGE  # report.json's "downsample" section: per language, caps and what was kept
MAX_SEED = 2**64 - 1  # xxhash64's seed


def _order(record: FileRecord, seed: int) -> tuple:
    return order_key(seed, record.repo_name, record.path, record.blob_id)


def _capped_keys(record: FileRecord, caps: dict[str, int], seed: int):
    if record.language in caps and record.length_bytes is not None:
        yield record.language, (_order(record, seed), record.length_bytes)


class _HistogramFn(beam.CombineFn):
    def create_accumulator(self):
        return Histogram()

    def add_input(self, histogram, entry):
        key, nbytes = entry
        return histogram.add(bucket_of(key), nbytes)

    def merge_accumulators(self, histograms):
        histograms = iter(histograms)
        merged = next(histograms)
        for other in histograms:
            merged.merge(other)
        return merged

    def extract_output(self, histogram):
        return histogram


def _in_boundary_bucket(entry, boundaries: dict):
    language, (key, nbytes) = entry
    bound = boundaries.get(language)
    if bound is not None and bucket_of(key) == bound.bucket:
        yield language, (key, nbytes)


def _cut(group, boundaries: dict) -> tuple:
    language, files = group
    return language, cut_key(files, boundaries[language].budget)


class _Decide(beam.DoFn):
    """Records -> kept, or dropped (``downsampled``); per bundle, the files and bytes dropped per language."""

    def __init__(self, caps: dict[str, int], seed: int):
        self._caps, self._seed = caps, seed
        self._progress = progress.target()

    def setup(self):
        progress.attach(self._progress)

    def start_bundle(self):
        self._dropped = BundleSums()

    def process(self, record: FileRecord, boundaries: dict, cuts: dict):
        language = record.language
        verdict = record
        if language in self._caps:
            if record.length_bytes is None:  # sizes are length_bytes: without one a file cannot be placed
                verdict = Fail("no_length_bytes", f"language={language}")
            elif not keeps(_order(record, self._seed), boundaries.get(language), cuts.get(language)):
                verdict = Drop(REASON, f"language={language} cap={self._caps[language]}")
                self._dropped.add(language, record.length_bytes)
        yield from routed(STAGE, record, verdict)

    def finish_bundle(self):
        for language, (files, nbytes) in self._dropped.items():
            for key, value in (("files_dropped", files), ("bytes_dropped", nbytes)):
                yield beam.pvalue.TaggedOutput(
                    STATS, GlobalWindows.windowed_value(((SECTION, key, language), (value, 0)))
                )


def _before_entries(language: str, histogram: Histogram):
    yield (SECTION, "files_before", language), (histogram.files, 0)
    yield (SECTION, "bytes_before", language), (histogram.bytes, 0)


class Downsample(beam.PTransform):
    """FileRecord -> {'kept', 'dropped': DroppedRows (``downsampled``), 'stats': the report's downsample section}."""

    def __init__(self, caps: dict[str, int], seed: int = 42):
        super().__init__()
        self._caps, self._seed = dict(caps), seed

    def expand(self, records):
        caps, seed = self._caps, self._seed
        keyed = records | "OrderKeys" >> beam.FlatMap(_capped_keys, caps, seed)
        histograms = keyed | "Histogram" >> beam.CombinePerKey(_HistogramFn())
        boundaries = histograms | "Boundaries" >> beam.MapTuple(lambda lang, h: (lang, boundary(h, caps[lang])))
        cuts = (
            keyed
            | "InBoundaryBucket" >> beam.FlatMap(_in_boundary_bucket, AsDict(boundaries))
            | "BoundaryBucket" >> beam.GroupByKey()
            | "Cut" >> beam.Map(_cut, AsDict(boundaries))
        )
        out = records | "Decide" >> beam.ParDo(_Decide(caps, seed), AsDict(boundaries), AsDict(cuts)).with_outputs(
            DROPPED, STATS, main="kept"
        )
        settings = [((SECTION, "cap_bytes", lang), (cap, 0)) for lang, cap in sorted(caps.items())]
        settings.append(((SECTION, "seed", ""), (seed, 0)))
        stats = (
            out[STATS],
            histograms | "Before" >> beam.FlatMapTuple(_before_entries),
            records.pipeline | "Settings" >> beam.Create(settings),
        ) | "Stats" >> beam.Flatten()
        return {"kept": out.kept, "dropped": out[DROPPED], "stats": stats}


@dataclasses.dataclass(frozen=True)
class DownsampleConfig:
    caps_file: str | None = param(None, Optional(Path()))  # null: filters/downsampling.yaml
    caps: dict | None = param(None, Optional(Mapping(Optional(Int(0)))))  # {language: bytes or null}: not the file
    seed: int = param(42, Int(0, MAX_SEED))


def caps_of(config: DownsampleConfig) -> dict[str, int]:
    """The capped languages: the recipe's ``caps`` if given, else the caps file's."""
    if config.caps is not None:
        return check_caps(config.caps, f"stage {STAGE}")
    return load_caps(config.caps_file)


def _check(params: dict) -> str | None:
    if params["caps"] is not None and params["caps_file"] is not None:
        return "give caps or caps_file, not both"
    return None  # a caps file is read (and checked) when the build is made, relative paths resolved by then


def _decimal_size(nbytes: int) -> str:
    """200 GB, 650 KB, 300 bytes: caps as a recipe would write them (powers of 10)."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if nbytes >= size:
            return f"{nbytes / size:g} {unit}"
    return f"{nbytes} bytes"


def card_section(report: dict) -> list[str]:
    """The card's section on downsampling: the caps, and each capped language's bytes before and after."""
    section = report.get(STAGE)
    if not section:
        return []
    caps = section.get("cap_bytes", {})
    lines = [
        "",
        "## Downsampling",
        "",
        "As for the paper's train sets (its §4), a language over its cap keeps whole repositories in a random "
        f"order drawn from seed {section.get('seed', {}).get('all', 0)} until the cap, counted in `length_bytes` "
        "(1 GB = 10^9 bytes); the repository the cap falls in is kept in part, so each language ends within one "
        "file of its cap. The other files are in `dropped/` with reason `downsampled`. Languages not listed "
        "are not capped.",
        "",
        "| language | cap | MB before | MB after | files dropped |",
        "|---|---:|---:|---:|---:|",
    ]
    for language, cap in sorted(caps.items(), key=lambda kv: (-kv[1], kv[0])):
        before = section.get("bytes_before", {}).get(language, 0)
        after = before - section.get("bytes_dropped", {}).get(language, 0)
        dropped = section.get("files_dropped", {}).get(language, 0)
        lines.append(f"| {language} | {_decimal_size(cap)} | {megabytes(before)} | {megabytes(after)} | {dropped:,} |")
    return lines


PAPER_NOTES = (
    "Downsampling does not cap the paper's \"few other data formats\" at 1 GB: their list (the paper's "
    "Table 28) was not available. Sizes are `length_bytes`, the files' raw bytes in the archive.",
)

# after every stage that drops files, so that nothing removed later breaks the caps' guarantee
DEFINITION = Stage(
    STAGE,
    lambda config, context: Downsample(caps_of(config), config.seed),
    DownsampleConfig,
    rule=_check,
    requires=("language",),
    after=(
        "near_dedup",
        "select_languages",
        "long_lines",
        "autogenerated",
        "alpha_fraction",
        "encoded_data",
        "language_specific",
        "decontaminate",
        "malware",
        "pii",
        "doc_language",
        "drop_extensions",
    ),
    card=card_section,
    paper_notes=PAPER_NOTES,
)
