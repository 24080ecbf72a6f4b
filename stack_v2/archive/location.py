"""Where an archive lives: a local directory or ``s3://bucket/prefix``, laid out as SWH publishes it.

Layout under the root: ``graph/orc/<table>/<table>-<uuid>.orc`` (the graph export) and
``content/<sha1>`` (one gzip object per blob, keyed by the plain sha1). For the public SWH bucket the
graph export lives under a dated prefix, so the graph root can be given separately
(``--graph s3://softwareheritage/graph/2023-09-06``) while contents stay at ``s3://softwareheritage``.

S3 follows the AWS conventions: credentials from the usual chain, ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) for S3-compatible servers, ``AWS_DEFAULT_REGION`` (default us-east-1, where
SWH's bucket lives), and ``unsigned=True`` for anonymous access to the public bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlparse

import pyarrow.fs as pafs

from stack_v2.errors import ArchiveError
from stack_v2.storage import s3_endpoint_url, s3_filesystem, s3_region  # noqa: F401 - re-exported


@dataclass(frozen=True)
class ArchiveLocation:
    """An archive root (local path or s3:// URI). Picklable: file systems are built lazily per process."""

    uri: str
    unsigned: bool = False
    graph_uri: str | None = None  # graph export root when it is not <uri>/graph

    def __post_init__(self) -> None:
        for value in (self.uri, self.graph_uri):
            if value is None:
                continue
            scheme = urlparse(value).scheme
            if scheme not in ("", "file", "s3") and not (len(scheme) == 1 and os.name == "nt"):
                raise ArchiveError(f"archive {value!r}: unsupported scheme {scheme!r} (use a local path or s3://)")
            if scheme == "s3" and not urlparse(value).netloc:
                raise ArchiveError(f"archive {value!r}: an s3:// URI needs a bucket name")

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @cached_property
    def _graph_root(self) -> str:
        if self.graph_uri:
            return self.graph_uri
        # A bare export directory (holding orc/ itself, as SWH's downloads and swh-graph's example do).
        if (
            not self.is_s3
            and not os.path.isdir(os.path.join(self.uri, "graph"))
            and os.path.isdir(os.path.join(self.uri, "orc"))
        ):
            return self.uri
        return _join(self.uri, "graph")

    def filesystem(self, uri: str | None = None) -> tuple[pafs.FileSystem, str]:
        """(pyarrow file system, path within it) for ``uri`` (default: the archive root)."""
        uri = uri or self.uri
        if uri.startswith("s3://"):
            parsed = urlparse(uri)
            return s3_filesystem(self.unsigned), f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        if uri.startswith("file://"):
            uri = urlparse(uri).path
        return pafs.LocalFileSystem(), os.path.abspath(uri)

    def table_dir(self, table: str) -> str:
        """URI of the directory holding one graph table's ORC files."""
        return _join(self._graph_root, "orc", table)

    def content_uri(self) -> str:
        return _join(self.uri, "content")

    def absolute(self) -> ArchiveLocation:
        """The same location with local paths made absolute, for workers whose working directory differs
        (a worker pool's processes, a cluster's workers)."""

        def resolve(value: str | None) -> str | None:
            if value is None or urlparse(value).scheme == "s3":
                return value
            return os.path.abspath(urlparse(value).path if value.startswith("file://") else value)

        return ArchiveLocation(resolve(self.uri), self.unsigned, resolve(self.graph_uri))

    def describe(self) -> str:
        return self.uri if not self.graph_uri else f"{self.uri} (graph {self.graph_uri})"


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])
