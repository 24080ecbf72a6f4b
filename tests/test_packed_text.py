"""Records pickle their content compressed (stack_v2/packed_text.py)."""

from __future__ import annotations

import inspect
import json
import pickle

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from stack_v2 import packed_text
from stack_v2.documents import Document
from stack_v2.records import FileOccurrence, FileRecord
from stack_v2.stages.select_repos import record_from_occurrence

# Real source text: Beam's own pipeline module, and one with characters beyond Latin-1.
SOURCE = inspect.getsource(beam.pipeline)


def _record(content: str | None) -> FileRecord:
    occurrence = FileOccurrence(*([None] * len(FileOccurrence._fields)))._replace(path="apache_beam/pipeline.py")
    return record_from_occurrence(occurrence._replace(perms=0o100644), None)._replace(
        blob_id="a" * 40, content=content, length_bytes=len((content or "").encode("utf-8", "surrogatepass"))
    )


@pytest.mark.parametrize(
    "content",
    [
        SOURCE,
        SOURCE + "\n# \u00e9t\u00e9 \u4e2d\u6587 \U0001f600 and a lone surrogate \udcff\n",
        "x = 1\n",  # below MIN_PACKED: pickled as it is
        "",
        None,
    ],
    ids=["source", "non-ascii", "short", "empty", "none"],
)
def test_a_record_round_trips_through_pickle_whatever_its_content(content):
    record = _record(content)
    assert pickle.loads(pickle.dumps(record)) == record
    assert type(pickle.loads(pickle.dumps(record))) is FileRecord


def test_long_content_pickles_compressed_and_short_content_does_not():
    packed = len(pickle.dumps(_record(SOURCE)))
    assert packed < len(SOURCE.encode()) / 2  # source code compresses about 3x
    short = "x = 1\n"
    assert short.encode() in pickle.dumps(_record(short))


def test_a_document_pickles_its_content_compressed_too():
    document = Document(
        "b" * 40, "doc:beam", None, None, "pipeline.py", "Documentation", SOURCE, len(SOURCE), None, json.dumps({})
    )
    data = pickle.dumps(document)
    assert len(data) < len(SOURCE) / 2
    assert pickle.loads(data) == document


def test_a_text_unpickled_then_pickled_again_is_not_compressed_again(monkeypatch):
    once = pickle.loads(pickle.dumps(_record(SOURCE)))
    calls = []
    codec = packed_text._CODEC
    monkeypatch.setattr(
        packed_text, "_CODEC", type("Counting", (), {"compress": lambda self, *a, **k: calls.append(1)})()
    )
    again = pickle.dumps(once)  # the same text object: its packed bytes are reused
    assert calls == []
    monkeypatch.setattr(packed_text, "_CODEC", codec)
    assert pickle.loads(again) == once
    fresh = _record(SOURCE[:-1] + "#")  # another text is compressed
    monkeypatch.setattr(
        packed_text, "_CODEC", type("Counting", (), {"compress": lambda self, *a, **k: calls.append(1) or b""})()
    )
    pickle.dumps(fresh)
    assert calls == [1]


def test_records_move_through_a_beam_shuffle_intact():
    records = [_record(SOURCE)._replace(blob_id=f"{i:040x}", path=f"p{i}.py") for i in range(3)]
    with beam.Pipeline(argv=["--runner=DirectRunner"]) as p:
        out = (
            p
            | beam.Create(records)
            | beam.Map(lambda r: (r.blob_id, r))
            | beam.GroupByKey()
            | beam.MapTuple(lambda _k, rs: list(rs)[0])
        )
        assert_that(out, equal_to(records))
