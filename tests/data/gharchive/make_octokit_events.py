"""Rebuild octokit-events.json.gz: GitHub's example webhook payloads as GHArchive event lines.

Provenance: the npm package ``@octokit/webhooks-examples`` 7.6.1 (MIT License, Copyright (c) GitHub and
the Octokit contributors; https://github.com/octokit/webhooks), file ``api.github.com/index.json``: real
payloads GitHub's webhooks delivered, collected by the Octokit project. Every payload of the event types
the issues and pull-request sources read, and of two they do not (push, watch), is written as GHArchive
writes an event: ``id`` (here a counter), ``type`` (GitHub's event type name), ``actor`` and ``repo``
(from the payload's ``sender`` and ``repository``), ``payload`` (the webhook payload without
``repository``, ``sender``, ``organization``, ``installation`` and ``enterprise``, which GHArchive keeps
apart), ``public`` and ``created_at`` (the payload's comment, review or issue/pull request time).

    npm pack @octokit/webhooks-examples@7.6.1 && tar xzf octokit-webhooks-examples-7.6.1.tgz
    python make_octokit_events.py package/api.github.com/index.json octokit-events.json.gz
"""

import gzip
import json
import sys

TYPES = {
    "issues": "IssuesEvent",
    "issue_comment": "IssueCommentEvent",
    "pull_request": "PullRequestEvent",
    "pull_request_review": "PullRequestReviewEvent",
    "pull_request_review_comment": "PullRequestReviewCommentEvent",
    "push": "PushEvent",
    "watch": "WatchEvent",
}
APART = ("repository", "sender", "organization", "installation", "enterprise")


def created_at(example: dict) -> str:
    for field in ("comment", "review", "issue", "pull_request"):
        item = example.get(field) or {}
        stamp = item.get("submitted_at") or item.get("updated_at") or item.get("created_at")
        if stamp:
            return stamp
    return example.get("repository", {}).get("pushed_at_iso", "2019-05-15T15:20:00Z")


def main(source: str, target: str) -> None:
    examples = {entry["name"]: entry["examples"] for entry in json.load(open(source, encoding="utf-8"))}
    lines = []
    for name, event_type in TYPES.items():
        for example in examples[name]:
            lines.append(
                {
                    "id": str(26000000000 + len(lines)),
                    "type": event_type,
                    "actor": {"id": example["sender"]["id"], "login": example["sender"]["login"]},
                    "repo": {"id": example["repository"]["id"], "name": example["repository"]["full_name"]},
                    "payload": {k: v for k, v in example.items() if k not in APART},
                    "public": True,
                    "created_at": created_at(example),
                }
            )
    with gzip.GzipFile(target, "wb", mtime=0) as out:
        out.write("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode("utf-8"))


if __name__ == "__main__":
    main(*sys.argv[1:])
