"""Beam source for the graph export: one table, read stripe by stripe, only the needed columns.

The table's files are listed when the pipeline is built (so a missing table fails at once, with a
clear message); their stripes are listed and read on the workers, after a reshuffle, so no worker
holds more than one stripe of one table at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from stack_v2.archive import orc
from stack_v2.archive.location import ArchiveLocation

BatchToElements = Callable[[pa.RecordBatch], Iterable]


class _ListStripes(beam.DoFn):
    def __init__(self, location: ArchiveLocation, table: str):
        self._location, self._table = location, table

    def process(self, path: str):
        yield from orc.file_stripes(self._location, self._table, path)


class _ReadStripe(beam.DoFn):
    def __init__(self, location: ArchiveLocation, columns: list[str], to_elements: BatchToElements):
        self._location, self._columns, self._to_elements = location, columns, to_elements

    def setup(self):
        self._rows = Metrics.counter("graph", "rows_read")
        self._stripes = Metrics.counter("graph", "stripes_read")

    def process(self, ref: orc.StripeRef):
        batch = orc.read_stripe(self._location, ref, self._columns)
        self._rows.inc(batch.num_rows)
        self._stripes.inc()
        yield from self._to_elements(batch)


class ReadGraphTable(beam.PTransform):
    """PBegin -> elements made by ``to_elements(batch)`` from every stripe of a graph table."""

    def __init__(self, location: ArchiveLocation, table: str, columns: list[str], to_elements: BatchToElements):
        super().__init__()
        self._location, self._table, self._columns, self._to_elements = location, table, columns, to_elements
        self._files = orc.table_files(location, table)  # fail at construction when the table is missing

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "Stripes" >> beam.ParDo(_ListStripes(self._location, self._table))
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadStripe(self._location, self._columns, self._to_elements))
        )
