"""A kept issue thread -> the ``Document`` the shared stages and the writer take. Pure."""

from __future__ import annotations

import json

from stack_v2.documents import Document, sha1_hex
from stack_v2.github.issue_threads import IssueThread

LANGUAGE = "GitHub Issues"


def thread_id(repo_name: str, number: int) -> str:
    return f"github-issue:{repo_name}#{number}"


def issue_document(thread: IssueThread) -> Document:
    meta = {
        "issue_number": thread.number,
        "title": thread.title,
        "events": thread.events,
        "users": thread.users,
        "text_chars": thread.text_chars,
        "closed": thread.closed,
        "created_at": thread.created_at,
    }
    return Document(
        blob_id=sha1_hex(thread.content),
        content_id=thread_id(thread.repo_name, thread.number),
        repo_name=thread.repo_name,
        origin=f"https://github.com/{thread.repo_name}",
        path=f"issues/{thread.number}",
        language=LANGUAGE,
        content=thread.content,
        length_bytes=len(thread.content.encode("utf-8")),
        pii_redactions=None,
        meta=json.dumps(meta, ensure_ascii=False, sort_keys=True),
    )
