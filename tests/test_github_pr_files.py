"""The pull-request source's file rules and rendering, on real pairs of versions of the same file: pip's vendored
copy of pygments against the installed pygments (two releases of the same modules), and real files of the
standard library and of installed packages for each base-file rule."""

from __future__ import annotations

import gzip
import inspect
import json
import json.decoder
from pathlib import Path

import pip
import pygments
import pytest

from stack_v2.github import pr_events as pe
from stack_v2.github.pr_files import ChangedFile, base_file_verdict, changed_paths, subsample_data_files
from stack_v2.github.pr_render import MAX_CHARS, base_excerpt, diff_hunks, render_pull_request, rng_for
from stack_v2.github.pull_requests import Comment, PullRequest

VENDORED = Path(pip.__file__).parent / "_vendor" / "pygments"
INSTALLED = Path(pygments.__file__).parent
FIXTURE = Path(__file__).parent / "data" / "gharchive" / "octokit-events.json.gz"


def _pairs() -> list[ChangedFile]:
    """Modules whose vendored and installed versions differ: a base (pip's copy) and a head (the release)."""
    out = []
    for vendored in sorted(VENDORED.rglob("*.py")):
        installed = INSTALLED / vendored.relative_to(VENDORED)
        if installed.is_file() and (a := vendored.read_text()) != (b := installed.read_text()) and len(a) > 2000:
            out.append(ChangedFile(f"pygments/{vendored.relative_to(VENDORED)}", a, b))
    return out


@pytest.fixture(scope="module")
def pairs():
    found = _pairs()
    assert len(found) >= 3
    return found


def _pull_request(comments=()) -> PullRequest:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        opened = next(e for e in map(pe.parse_pr_line, f) if isinstance(e, pe.PrEvent) and e.kind == pe.OPENED)
    return PullRequest(
        opened.repo_name, opened.number, opened.title, "Bring the vendored lexers up to the current release.",
        opened.author, opened.base_sha, opened.head_sha, True, "MIT", tuple(comments), opened.created_at,
    )  # fmt: skip


def test_changed_paths_are_those_in_both_trees_with_other_contents():
    base = {"a.py": "1", "b.py": "2", "gone.py": "3"}
    head = {"a.py": "1", "b.py": "9", "new.py": "4"}
    assert changed_paths(base, head) == ["b.py"]  # additions and deletions are left out, as in the paper


def test_base_file_rules_each_drop_with_their_reason():
    code = inspect.getsource(json.decoder)
    assert base_file_verdict("json/decoder.py", code) is None
    assert base_file_verdict("big.py", code * (1_000_001 // len(code) + 1)).reason == "too_large"
    assert base_file_verdict("many.py", "x\n" * 100_000).reason == "too_many_lines"
    assert base_file_verdict("sep.txt", "-+-=" * 100).reason == "alnum_fraction"
    escaped = "b'" + "\\x00\\x1f\\xa0" * 200 + "'"
    assert base_file_verdict("blob.py", escaped).reason == "hex_fraction"
    one_line = " ".join(code.split())
    assert base_file_verdict("min.js", one_line).reason == "long_lines"
    readme = Path(pygments.__file__).parent.parent.joinpath(
        "pygments-" + pygments.__version__ + ".dist-info", "METADATA"
    )
    prose = readme.read_text() if readme.is_file() else inspect.getdoc(json)
    assert base_file_verdict("README.md", " ".join(prose.split())) is None  # prose may have long lines
    assert (
        base_file_verdict("notes.md", "# Änderungen\n\nFehler in der Ausgabe behoben.\n").reason
        == "markdown_not_english"
    )


def test_yaml_and_json_files_are_subsampled_where_the_paper_says(pairs):
    code = pairs[0]
    lock = ChangedFile("package-lock.json", '{"a": 1}\n', '{"a": 2}\n')
    config = ChangedFile("conf/settings.yaml", "a: 1\n", "a: 2\n")
    kept = [subsample_data_files([code, lock, config], seed, "o/r#1") for seed in range(200)]
    assert all(code in k and config in k for k in kept)  # a small YAML with an ordinary name stays
    locks = sum(lock in k for k in kept)
    assert 5 <= locks <= 40  # about 10% of the time
    big = ChangedFile("data/fixtures.yaml", "key: value\n" * 2000, "key: other\n" * 2000)
    assert sum(big in subsample_data_files([code, big], s, "o/r#1") for s in range(200)) < 50


def test_base_excerpts_and_hunks_follow_the_paper(pairs):
    full = changed = 0
    for seed in range(40):
        rng = rng_for(seed, "octo/repo", 1)
        f = pairs[0]
        excerpt = base_excerpt(f.base, f.head, rng)
        if excerpt == f.base:
            full += 1
        else:
            changed += 1
            assert all(chunk in f.base for chunk in excerpt.split("\n...\n"))
    assert 2 <= full <= 16 and changed > full  # the full file about one time in five
    hunks = diff_hunks(pairs[0].base, pairs[0].head, rng_for(1, "o/r", 1))
    assert hunks and all(h.startswith("@@ -") for h in hunks)
    assert all(line[:1] in (" ", "+", "-", "@", "\\") for h in hunks for line in h.split("\n"))


def test_the_rendered_document_is_seeded_anonymised_and_limited(pairs):
    review = Comment("octocat", "Thanks @Codertocat, looks right.", "review", "t", 1, 0, "approved", "", "")
    pr = _pull_request([review])
    files = pairs[:2]
    text = render_pull_request(pr, files, seed=7)
    assert text == render_pull_request(pr, files, seed=7) != render_pull_request(pr, files, seed=8)
    assert text.startswith(f"<pr>Title: {pr.title}\nusername_0: Bring the vendored")
    assert "<pr_is_merged>true" in text and text.count("<pr_base><pr_file>") == 2
    assert "<pr_review>username_1: Thanks @username_0, looks right.<pr_review_state>APPROVED" in text
    assert "Codertocat" not in text and "octocat" not in text
    assert render_pull_request(_pull_request(), [], seed=7).reason == "too_short"  # title and description only
    huge = [ChangedFile(f.path + str(i), f.base, f.head) for i in range(60) for f in pairs[:1]]
    assert render_pull_request(pr, huge, seed=7).reason == "too_long" and len(pairs[0].base) * 60 > MAX_CHARS
