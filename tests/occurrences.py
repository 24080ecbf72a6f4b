"""A file occurrence as the archive's listing gives it, for tests that build records from real file contents:
the blob's sha1 and length are the data's own, the rest of the visit is fixed placeholder ids."""

from __future__ import annotations

import hashlib

from stack_v2.records import FileOccurrence


def occurrence(repo: str, path: str, data: bytes) -> FileOccurrence:
    """``path`` of GitHub repository ``repo`` holding ``data``."""
    return FileOccurrence(
        origin=f"https://github.com/{repo}",
        repo_name=repo,
        snapshot_id="1" * 40,
        branch_name="refs/heads/main",
        revision_id="2" * 40,
        revision_date=0,
        committer_date=0,
        visit_date=0,
        directory_id="3" * 40,
        path=path,
        blob_id=hashlib.sha1(data).hexdigest(),
        content_id="4" * 40,
        length=len(data),
        perms=0o100644,
        content_status="visible",
    )
