"""The ``--repo-metadata`` table's schema, checked before a build starts.

select_repositories joins a GHArchive-style Parquet table keyed by ``repo_name`` and ranks repositories
by its counts and license: a string star count would fail every worker mid-build with a traceback. Only
the schema (the file's footer) is read here, from a local path, s3:// or gs://.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io.schema import REPO_METADATA_COLUMNS


class RepoMetadataError(StackV2Error):
    """The repository metadata table is missing, not Parquet, or has a column of the wrong type."""


def _text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _kind(check: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    """``check``, also true for dictionary-encoded values of that type and (all-null) null columns."""
    return lambda t: pa.types.is_null(t) or check(t.value_type if pa.types.is_dictionary(t) else t)


_INTEGER = ("an integer type (int64)", _kind(pa.types.is_integer))
_STRING = ("string", _kind(_text))
_TIMESTAMP = ("a timestamp", _kind(pa.types.is_timestamp))  # metadata_row turns datetimes into µs
# column -> (what is expected, check); select_repos.metadata_row reads these columns
EXPECTED = {
    "repo_name": ("string", lambda t: _text(t.value_type if pa.types.is_dictionary(t) else t)),
    "github_id": _INTEGER,
    "star_events_count": _INTEGER,
    "fork_events_count": _INTEGER,
    "gha_license_id": _STRING,
    "gha_event_created_at": _TIMESTAMP,
    "gha_created_at": _TIMESTAMP,
    "gha_language": _STRING,
}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def check_repo_metadata(uri: str) -> None:
    """Nothing when ``uri`` is a Parquet file whose columns select_repositories can use; else one line naming
    the file and what is wrong (missing file, not Parquet, no repo_name, unknown column, wrong type)."""
    fs, path = storage.filesystem(uri)
    try:
        schema = pq.read_schema(path, filesystem=fs)
    except FileNotFoundError:
        raise RepoMetadataError(f"repo metadata {uri}: no such file") from None
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError: not Parquet
        raise RepoMetadataError(f"repo metadata {uri}: cannot read it as Parquet ({_one_line(exc)})") from None
    if "repo_name" not in schema.names:
        raise RepoMetadataError(f"repo metadata {uri}: no 'repo_name' column (it has {schema.names})")
    if unknown := set(schema.names) - set(EXPECTED):
        raise RepoMetadataError(
            f"repo metadata {uri}: unknown column(s) {sorted(unknown)}; known: {list(REPO_METADATA_COLUMNS)}"
        )
    for column in schema:
        expected, fits = EXPECTED[column.name]
        if not fits(column.type):
            raise RepoMetadataError(f"repo metadata {uri}: column {column.name} is {column.type}, expected {expected}")
