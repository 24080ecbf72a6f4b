"""`stack-v2 build --pipeline github-pull-requests --input ... --archive ...` end to end on the DirectRunner: a git
repository made here from real files (pip's vendored copy of pygments as the base, the installed pygments release
as the pull request's head), imported with `archive import-git`, and GitHub's real webhook payloads
(tests/data/gharchive) turned into the pull request's events, pointing at the repository's commits."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pip
import pyarrow.parquet as pq
import pygments
import pytest
from gitrepos import git, init

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.github.pull_requests import sampled
from stack_v2.stages.github_pull_requests import SEED

FIXTURE = Path(__file__).parent / "data" / "gharchive" / "octokit-events.json.gz"
VENDORED = Path(pip.__file__).parent / "_vendor" / "pygments"
INSTALLED = Path(pygments.__file__).parent
MODULES = ("lexer.py", "token.py", "util.py", "formatter.py", "style.py")
# The modules the two releases change: only those are the pull request's files (the others are in both trees alike).
CHANGED = [m for m in MODULES if (VENDORED / m).read_text() != (INSTALLED / m).read_text()]
DESCRIPTION = (
    "Bring pip's copy of the lexer machinery up to the installed pygments: the lexer, token, util and formatter "
    "modules change, nothing else."
)


def _number(repo: str) -> int:
    """A pull request number the seeded subsampling keeps for a repository with one pull request."""
    return next(n for n in range(1, 100) if sampled(SEED, repo, n, 1))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("prs")
    repo = init(root / "lexers", branch="master")
    for name in MODULES:
        shutil.copy(VENDORED / name, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "vendored pygments", date="2023-01-01T00:00:00+0000")
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-qb", "update-lexers")
    for name in MODULES:
        shutil.copy(INSTALLED / name, repo / name)
    git(repo, "commit", "-qam", "pygments release", date="2023-01-02T00:00:00+0000")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert len(CHANGED) >= 2 and len(CHANGED) < len(MODULES)
    import_git([str(repo)], str(root / "archive"))

    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        events = [json.loads(line) for line in f]
    opened = next(e for e in events if e["type"] == "PullRequestEvent" and e["payload"]["action"] == "opened")
    review = next(e for e in events if e["type"] == "PullRequestReviewEvent")

    def pull_request(repo_name: str, base_sha: str, license: str, first_id: int) -> list[dict]:
        number = _number(repo_name)
        out = []
        for i, (template, action) in enumerate([(opened, "opened"), (review, "submitted"), (opened, "closed")]):
            e = json.loads(json.dumps(template))
            e["id"], e["created_at"] = str(first_id + i), f"2023-01-02T10:00:0{i}Z"
            e["repo"]["name"] = repo_name
            pr = e["payload"]["pull_request"]
            pr.update(number=number, title="Update the vendored lexer modules", body=DESCRIPTION)
            pr["user"]["login"] = "ana-dev"
            pr["base"].update(sha=base_sha, ref="master")
            pr["head"]["sha"] = head
            pr["base"]["repo"]["license"] = {"spdx_id": license, "key": license.lower()}
            e["payload"]["action"] = action
            if action == "submitted":
                e["payload"]["review"].update(state="approved", body="Checked the lexer changes against the release.")
                e["payload"]["review"]["user"]["login"] = "octocat"
            if action == "closed":
                pr["merged"] = True
            out.append(e)
        return out

    lines = [
        *pull_request("octo-org/lexers", base, "BSD-2-Clause", 100),  # kept
        *pull_request("octo-org/gone", "f" * 40, "MIT", 200),  # its base revision is not archived: failed
        *pull_request("octo-org/gpl", base, "GPL-3.0", 300),  # dropped: not permissive
        *pull_request("octo-org/same", head, "MIT", 400),  # dropped: its base is its head, so no diff
    ]
    hours = root / "gharchive"
    hours.mkdir()
    with gzip.open(hours / "2023-01-02-10.json.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    return {"root": root, "archive": root / "archive", "hours": hours, "base": base, "head": head}


def test_pull_requests_are_rendered_from_the_archives_trees(world, tmp_path):
    out = tmp_path / "prs"
    args = ["build", "--pipeline", "github-pull-requests", "--input", str(world["hours"]), "--archive"]
    assert main([*args, str(world["archive"]), "--output", str(out), "-q"]) == 0
    current = out / "current"
    (row,) = pq.read_table(current / "data").to_pylist()
    assert (row["repo_name"], row["pr_number"], row["merged"]) == ("octo-org/lexers", _number("octo-org/lexers"), True)
    assert (row["base_sha"], row["head_sha"], row["files"]) == (world["base"], world["head"], len(CHANGED))
    text = row["content"]
    assert text.startswith("<pr>Title: Update the vendored lexer modules\nusername_0: Bring pip's copy")
    assert text.count("<pr_base><pr_file>") == len(CHANGED) and "<pr_diff><pr_file>lexer.py<pr_diff_hunk>@@ -" in text
    assert "<pr_review>username_1: Checked the lexer changes" in text and "<pr_review_state>APPROVED" in text
    assert "ana-dev" not in text and "octocat" not in text
    dropped = {(r["repo_name"], r["outcome"], r["reason"]) for r in pq.read_table(current / "dropped").to_pylist()}
    assert dropped == {
        ("octo-org/gone", "failed", "tree_not_in_archive"),
        ("octo-org/gpl", "dropped", "non_permissive"),
        ("octo-org/same", "dropped", "no_initial_diff"),
    }
    report = json.loads((current / "report.json").read_text())
    assert report["accounting"] == "ok" and report["stages"][0]["input"]["files"] == 4
    assert "## GitHub pull requests" in (current / "README.md").read_text()


def test_the_pull_request_source_needs_its_archive(world, tmp_path, capsys):
    args = ["build", "--pipeline", "github-pull-requests", "--input", str(world["hours"])]
    assert main([*args, "--output", str(tmp_path / "o"), "-q"]) != 0
    assert "needs --archive" in capsys.readouterr().err
