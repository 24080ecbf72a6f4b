"""The SWH graph export's ORC tables: names, column types, and which table a sub-table belongs to.

Taken from swh-export's exporter (``swh/export/relational.py``) as summarised in
docs/the-stack-v2.md §12.2, and checked against swh-graph's example dataset. Ids are 40-char lowercase
hex strings; names, messages and pseudonymised persons are binary; timestamps are UTC with the
offset in a separate column.
"""

from __future__ import annotations

TABLE_SCHEMAS: dict[str, str] = {
    "origin": "struct<id:string,url:string>",
    "origin_visit": "struct<origin:string,visit:bigint,date:timestamp,type:string>",
    "origin_visit_status": (
        "struct<origin:string,visit:bigint,date:timestamp,status:string,snapshot:string,type:string>"
    ),
    "snapshot": "struct<id:string>",
    "snapshot_branch": "struct<snapshot_id:string,name:binary,target:string,target_type:string>",
    "release": (
        "struct<id:string,name:binary,message:binary,target:string,target_type:string,author:binary,"
        "date:timestamp,date_offset:smallint,date_raw_offset_bytes:binary,raw_manifest:binary>"
    ),
    "revision": (
        "struct<id:string,message:binary,author:binary,date:timestamp,date_offset:smallint,"
        "date_raw_offset_bytes:binary,committer:binary,committer_date:timestamp,committer_offset:smallint,"
        "committer_date_raw_offset_bytes:binary,directory:string,type:string,raw_manifest:binary>"
    ),
    "revision_history": "struct<id:string,parent_id:string,parent_rank:int>",
    "revision_extra_headers": "struct<id:string,key:binary,value:binary>",
    "directory": "struct<id:string,raw_manifest:binary>",
    "directory_entry": "struct<directory_id:string,name:binary,type:string,target:string,perms:int>",
    "content": (
        "struct<sha1:string,sha1_git:string,sha256:string,blake2s256:string,length:bigint,status:string,data:binary>"
    ),
    "skipped_content": (
        "struct<sha1:string,sha1_git:string,sha256:string,blake2s256:string,length:bigint,status:string,reason:string>"
    ),
}

# A sub-table's file shares the uuid of its main table's file (swh-export's exporter does the same).
MAIN_TABLE: dict[str, str] = {
    "snapshot_branch": "snapshot",
    "revision_history": "revision",
    "revision_extra_headers": "revision",
    "directory_entry": "directory",
}

# Columns with Bloom filters in SWH's exports: the lookup keys.
BLOOM_FILTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "origin": ("id", "url"),
    "origin_visit": ("origin",),
    "origin_visit_status": ("origin", "snapshot"),
    "snapshot": ("id",),
    "snapshot_branch": ("snapshot_id",),
    "release": ("id",),
    "revision": ("id",),
    "revision_history": ("id",),
    "revision_extra_headers": ("id",),
    "directory": ("id",),
    "directory_entry": ("directory_id",),
    "content": ("sha1", "sha1_git"),
    "skipped_content": ("sha1", "sha1_git"),
}

# directory_entry.perms values (git modes).
PERMS_FILE, PERMS_EXECUTABLE, PERMS_SYMLINK, PERMS_DIRECTORY, PERMS_SUBMODULE = (
    0o100644,
    0o100755,
    0o120000,
    0o40000,
    0o160000,
)


def columns_of(table: str) -> list[str]:
    """Column names of a graph table, in schema order."""
    inner = TABLE_SCHEMAS[table][len("struct<") : -1]
    return [field.split(":", 1)[0] for field in inner.split(",")]
