"""Reading GHArchive's hourly files, for the sources made of GitHub events (issues, pull requests).

``ReadLines(files, parse, section, stage)`` spreads the files over the workers and streams each one's lines
(gzip by the ``.gz`` suffix; local or in an object store), deciding each with ``parse`` (a line -> an event
with ``repo_name`` and ``number``, a ``Skip`` or a ``Fail``). Outputs:

- ``events``: ``((repo_name lower-cased, number), event)``, ready to group by issue or pull request;
- ``dropped``: a failed ``DroppedRow`` in ``stage`` per line that could not be read (``<file>:<line>``) and per
  file that could not be read or decompressed (its name);
- ``stats``: per bundle, report.json's ``section`` (lines read, used, skipped and failed by reason) and the
  failures as ``stage``'s input: a failed line is an input that could not become a document, so the failure
  budget counts it.

A file that fails part-way keeps the events read before the failure.
"""

from __future__ import annotations

import io
import logging

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import storage
from stack_v2.counters import BundleSums, add_counts
from stack_v2.github.events import Skip
from stack_v2.records import DroppedRow
from stack_v2.stages.base import DROPPED, STATS, error_detail
from stack_v2.verdicts import FAILED, INPUT, Fail

_READ_CHUNK = 1 << 20


class _ReadLinesFn(beam.DoFn):
    def __init__(self, parse, section: str, stage: str):
        self._parse, self._section, self._stage = parse, section, stage

    def start_bundle(self):
        self._sums = BundleSums()

    def _failed(self, where: str, verdict: Fail, nbytes: int):
        self._sums.add((self._section, "failed", verdict.reason), nbytes)
        self._sums.add((self._stage, INPUT, ""), nbytes)
        row = DroppedRow(None, None, where, self._stage, FAILED, verdict.reason, verdict.detail, nbytes)
        return pvalue.TaggedOutput(DROPPED, row)

    def process(self, uri: str):
        name, sums, section = storage.basename(uri), self._sums, self._section
        try:
            for number, line in enumerate(lines_of(uri), start=1):
                sums.add((section, "lines", ""), len(line))
                event = self._parse(line)
                if isinstance(event, Skip):
                    sums.add((section, "skipped", event.reason), len(line))
                elif isinstance(event, Fail):
                    yield self._failed(f"{name}:{number}", event, len(line))
                else:
                    sums.add((section, "used", ""), len(line))
                    yield (event.repo_name.lower(), event.number), event
        except (OSError, EOFError, ValueError) as exc:  # unreadable or corrupt: the file fails, by name
            logging.getLogger("stack_v2").warning("%s: %r", uri, exc)
            yield self._failed(name, Fail("unreadable_file", error_detail(exc)), 0)

    def finish_bundle(self):
        for key, (n, nbytes) in self._sums.items():
            if key[0] == self._stage:
                add_counts(self._stage, INPUT, n, nbytes)
            yield pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value((key, (n, nbytes))))


def lines_of(uri: str):
    """The file's non-blank lines, decompressed as they are read (a GHArchive hour is up to a few hundred MB)."""
    fs, path = storage.filesystem(uri)
    compression = "gzip" if uri.endswith(".gz") else None
    with fs.open_input_stream(path, compression=compression, buffer_size=_READ_CHUNK) as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n"):
            if line.strip():
                yield line


class ReadLines(beam.PTransform):
    def __init__(self, files: list[str], parse, section: str, stage: str):
        super().__init__()
        self._files, self._parse, self._section, self._stage = list(files), parse, section, stage

    def expand(self, pbegin):
        out = (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "Lines"
            >> beam.ParDo(_ReadLinesFn(self._parse, self._section, self._stage)).with_outputs(
                DROPPED, STATS, main="events"
            )
        )
        return {"events": out.events, DROPPED: out[DROPPED], STATS: out[STATS]}
