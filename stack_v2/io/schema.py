"""Arrow schemas of the outputs: data shards, manifest and dropped table.

Column names and types follow the-stack-v2's file-level schema (docs/the-stack-v2.md §11.3), then the
train sets' per-file statistics (§11.4) and ``nl_language``:
ids and names are strings, dates ``timestamp[ns]``, counts ``int64``, flags ``bool``,
``detected_licenses`` a list of strings.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("ns")

FILE_SCHEMA = pa.schema(
    [
        ("blob_id", pa.string()),
        ("directory_id", pa.string()),
        ("path", pa.string()),
        ("content_id", pa.string()),
        ("detected_licenses", pa.list_(pa.string())),
        ("license_type", pa.string()),
        ("repo_name", pa.string()),
        ("snapshot_id", pa.string()),
        ("revision_id", pa.string()),
        ("branch_name", pa.string()),
        ("visit_date", TIMESTAMP),
        ("revision_date", TIMESTAMP),
        ("committer_date", TIMESTAMP),
        ("github_id", pa.int64()),
        ("star_events_count", pa.int64()),
        ("fork_events_count", pa.int64()),
        ("gha_license_id", pa.string()),
        ("gha_event_created_at", TIMESTAMP),
        ("gha_created_at", TIMESTAMP),
        ("gha_language", pa.string()),
        ("src_encoding", pa.string()),
        ("language", pa.string()),
        ("is_vendor", pa.bool_()),
        ("is_generated", pa.bool_()),
        ("length_bytes", pa.int64()),
        ("extension", pa.string()),
        # the train sets' per-file statistics (§8.4) and the documentation's natural language
        ("alphanum_fraction", pa.float64()),
        ("alpha_fraction", pa.float64()),
        ("num_lines", pa.int64()),
        ("avg_line_length", pa.float64()),
        ("max_line_length", pa.int64()),
        ("nl_language", pa.string()),
        # what the pii stage redacted, as JSON counts per type ({"email": 2}); null when nothing
        ("pii_redactions", pa.string()),
    ]
)

# The repository-grouped manifest of the train sets (docs/the-stack-v2.md §11.4): repository fields, then its files.
REPO_FILE_FIELDS = (
    "blob_id",
    "path",
    "content_id",
    "language",
    "length_bytes",
    "detected_licenses",
    "license_type",
    "src_encoding",
    "is_vendor",
    "is_generated",
    "alphanum_fraction",
    "alpha_fraction",
    "num_lines",
    "avg_line_length",
    "max_line_length",
    "swhid",
)
REPO_MANIFEST_SCHEMA = pa.schema(
    [
        ("repo_name", pa.string()),
        ("repo_url", pa.string()),
        ("snapshot_id", pa.string()),
        ("revision_id", pa.string()),
        ("directory_id", pa.string()),
        ("branch_name", pa.string()),
        ("visit_date", TIMESTAMP),
        ("revision_date", TIMESTAMP),
        ("committer_date", TIMESTAMP),
        ("github_id", pa.int64()),
        ("star_events_count", pa.int64()),
        ("fork_events_count", pa.int64()),
        ("gha_license_id", pa.string()),
        ("gha_created_at", TIMESTAMP),
        ("gha_updated_at", TIMESTAMP),
        ("gha_pushed_at", TIMESTAMP),
        ("gha_language", pa.string()),
        ("num_files", pa.int64()),
        (
            "files",
            pa.list_(
                pa.struct(
                    [
                        (name, FILE_SCHEMA.field(name).type if name in FILE_SCHEMA.names else pa.string())
                        for name in REPO_FILE_FIELDS
                    ]
                )
            ),
        ),
    ]
)

# The structured form of Python notebooks (the paper, §2.4): (markdown, code, output) triplets as JSON.
STRUCTURED_NOTEBOOK_SCHEMA = pa.schema(
    [
        ("blob_id", pa.string()),
        ("repo_name", pa.string()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("cells", pa.string()),
        ("content", pa.string()),
    ]
)

DATA_SCHEMA = FILE_SCHEMA.append(pa.field("content", pa.string()))
MANIFEST_SCHEMA = FILE_SCHEMA.append(pa.field("swhid", pa.string()))
DROPPED_SCHEMA = pa.schema(
    [
        ("blob_id", pa.string()),
        ("repo_name", pa.string()),
        ("path", pa.string()),
        ("stage", pa.string()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("length_bytes", pa.int64()),
    ]
)

# GHArchive-style repository metadata (optional input), keyed by repo_name.
REPO_METADATA_COLUMNS = (
    "repo_name",
    "github_id",
    "star_events_count",
    "fork_events_count",
    "gha_license_id",
    "gha_event_created_at",
    "gha_created_at",
    "gha_language",
)
