"""import-git on real repositories (stdlib sources, several commits, executable, symlink, submodule,
nested directories, a non-UTF-8 file name): ids equal git's own, the store holds the blobs, and
re-imports add only what is new."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from gitrepos import git, make_library_repo, make_sample_repo

from stack_v2.archive.import_git import import_git, origin_url_for
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.orc import iter_table
from stack_v2.cli import main
from stack_v2.errors import GitImportError


def read_table(archive: Path, table: str, columns: list[str]) -> list[dict]:
    rows = []
    for batch in iter_table(ArchiveLocation(str(archive)), table, columns):
        rows += batch.to_pylist()
    return rows


def git_objects(repo: Path) -> dict[str, set[str]]:
    """Every object reachable from branches and tags, by git type, as git itself reports them."""
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--objects", "--all"], check=True,
                         capture_output=True).stdout.decode("latin-1").split("\n")  # fmt: skip
    ids = [line.split()[0] for line in out if line.strip()]
    types = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-check=%(objecttype) %(objectname)"],
                           input="\n".join(ids).encode(), check=True, capture_output=True).stdout.decode()  # fmt: skip
    by_type: dict[str, set[str]] = {}
    for line in types.splitlines():
        kind, sha = line.split()
        by_type.setdefault(kind, set()).add(sha)
    tags = subprocess.run(["git", "-C", str(repo), "for-each-ref", "--format=%(objecttype) %(objectname)", "refs/tags"],
                          check=True, capture_output=True).stdout.decode()  # fmt: skip
    by_type["tag"] = {line.split()[1] for line in tags.splitlines() if line.startswith("tag ")}
    return by_type


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("repos")
    lib = make_library_repo(root)
    sample = make_sample_repo(root, submodule=lib)
    return {"lib": lib, "sample": sample}


@pytest.fixture(scope="module")
def archive(tmp_path_factory, repos) -> Path:
    archive = tmp_path_factory.mktemp("archive")
    import_git([str(repos["sample"])], str(archive))
    return archive


def test_every_id_equals_gits_own(archive, repos):
    expected = git_objects(repos["sample"])
    contents = read_table(archive, "content", ["sha1", "sha1_git", "length"])
    assert {c["sha1_git"] for c in contents} == expected["blob"]
    directories = read_table(archive, "directory", ["id", "raw_manifest"])
    assert {d["id"] for d in directories} == expected["tree"]
    revisions = read_table(archive, "revision", ["id", "directory", "raw_manifest"])
    assert {r["id"] for r in revisions} == expected["commit"]
    releases = read_table(archive, "release", ["id", "name", "raw_manifest"])
    assert {r["id"] for r in releases} == expected["tag"] and [r["name"] for r in releases] == [b"v1.0"]
    # Canonical git objects: swh.model computed each id itself (no raw manifest needed).
    assert all(row["raw_manifest"] is None for row in directories + revisions + releases)
    head = git(repos["sample"], "rev-parse", "HEAD")
    assert next(r for r in revisions if r["id"] == head)["directory"] == git(repos["sample"], "rev-parse", "HEAD^{tree}")


def test_content_store_holds_every_blob_gzipped(archive, repos):
    for row in read_table(archive, "content", ["sha1", "sha1_git", "length"]):
        data = gzip.decompress((archive / "content" / row["sha1"]).read_bytes())
        assert hashlib.sha1(data).hexdigest() == row["sha1"] and len(data) == row["length"]
        assert data == subprocess.run(["git", "-C", str(repos["sample"]), "cat-file", "blob", row["sha1_git"]],
                                      check=True, capture_output=True).stdout  # fmt: skip


def test_directory_entries_keep_modes_submodules_and_raw_names(archive, repos):
    entries = read_table(archive, "directory_entry", ["directory_id", "name", "type", "target", "perms"])
    by_name = {e["name"]: e for e in entries}
    assert by_name[b"tool.py"]["perms"] == 0o100755
    assert by_name[b"email_init.py"]["perms"] == 0o120000 and by_name[b"email_init.py"]["type"] == "file"
    assert by_name[b"lib"]["type"] == "rev" and by_name[b"lib"]["target"] == git(repos["lib"], "rev-parse", "HEAD")
    assert b"caf\xe9.txt" in by_name  # names are bytes, not decoded


def test_snapshot_has_head_alias_branches_and_tags(archive, repos):
    branches = {r["name"]: r for r in read_table(archive, "snapshot_branch", ["name", "target", "target_type"])}
    assert branches[b"HEAD"]["target_type"] == "alias"
    assert bytes.fromhex(branches[b"HEAD"]["target"]) == b"refs/heads/main"  # the export hex-encodes alias targets
    assert branches[b"refs/heads/main"]["target"] == git(repos["sample"], "rev-parse", "main")
    assert branches[b"refs/heads/feature"]["target"] == git(repos["sample"], "rev-parse", "feature")
    assert branches[b"refs/tags/v1.0"]["target_type"] == "release"
    visits = read_table(archive, "origin_visit_status", ["origin", "visit", "status", "snapshot"])
    assert visits == [{"origin": "https://github.com/local/sample", "visit": 1, "status": "full",
                       "snapshot": visits[0]["snapshot"]}]  # fmt: skip
    assert read_table(archive, "origin", ["id", "url"]) == [
        {"id": hashlib.sha1(b"https://github.com/local/sample").hexdigest(), "url": "https://github.com/local/sample"}
    ]


def test_all_export_tables_exist_with_the_export_schema(archive):
    import pyarrow.orc as paorc

    from stack_v2.archive.graph_schema import TABLE_SCHEMAS, columns_of

    for table in TABLE_SCHEMAS:
        files = list((archive / "graph" / "orc" / table).glob(f"{table}-*.orc"))
        assert len(files) == 1, table
        orc_file = paorc.ORCFile(str(files[0]))
        assert orc_file.schema.names == columns_of(table)
        assert orc_file.metadata[b"swh_object_type"] == table.encode()
    # A sub-table shares its main table's uuid.
    uuid = lambda t: next((archive / "graph" / "orc" / t).glob("*.orc")).name[len(t) + 1 :]  # noqa: E731
    assert uuid("directory_entry") == uuid("directory") and uuid("snapshot_branch") == uuid("snapshot")


def test_reimport_adds_nothing_and_new_work_adds_a_visit(tmp_path, repos):
    repo = make_library_repo(tmp_path, "lib2")
    archive = tmp_path / "archive"
    first = import_git([str(repo)], str(archive))
    assert first.visits == {"https://github.com/local/lib2": 1}
    files_before = sorted(archive.rglob("*"))
    again = import_git([str(repo)], str(archive))
    assert again.visits == {"https://github.com/local/lib2": None} and not any(again.new_rows.values())
    assert sorted(archive.rglob("*")) == files_before

    (repo / "NEWS.md").write_text("Second release.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "news")
    third = import_git([str(repo)], str(archive))
    assert third.visits == {"https://github.com/local/lib2": 2}
    assert third.new_rows["revision"] == 1 and third.new_rows["content"] == 1 and third.new_rows["directory"] == 1
    # Adding another repository adds to the same archive.
    other = make_sample_repo(tmp_path)
    fourth = import_git([str(other)], str(archive))
    assert fourth.visits == {"https://github.com/local/sample": 1}
    origins = read_table(archive, "origin", ["url"])
    assert sorted(o["url"] for o in origins) == ["https://github.com/local/lib2", "https://github.com/local/sample"]


def test_dates_beyond_nanosecond_range_are_kept(tmp_path):
    """A commit dated 2300: pyarrow cannot read it as ns; the reader falls back to pyorc."""
    repo = make_library_repo(tmp_path, "future")
    (repo / "FUTURE.md").write_text("From the future.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "future", date="@10413792000 +0000")
    import_git([str(repo)], str(tmp_path / "archive"))
    dates = {r["id"]: r["date"] for r in read_table(tmp_path / "archive", "revision", ["id", "date"])}
    assert dates[git(repo, "rev-parse", "HEAD")].year == 2300


def test_origin_url_is_prefix_plus_folder_name(tmp_path):
    assert origin_url_for(str(tmp_path / "proj")) == "https://github.com/local/proj"
    assert origin_url_for(str(tmp_path / "proj.git"), "https://git.example.org/") == "https://git.example.org/proj"


def test_unreadable_repositories_fail_with_one_line_naming_them(tmp_path, capsys):
    not_git = tmp_path / "plain"
    not_git.mkdir()
    with pytest.raises(GitImportError, match=f"cannot import git repository {not_git}: not a git repository"):
        import_git([str(not_git)], str(tmp_path / "a"))

    broken = make_library_repo(tmp_path, "broken")
    blob = git(broken, "rev-parse", "HEAD:README.md")
    os.remove(broken / ".git" / "objects" / blob[:2] / blob[2:])
    with pytest.raises(GitImportError, match=f"object {blob} is missing"):
        import_git([str(broken)], str(tmp_path / "b"))

    assert main(["archive", "import-git", str(not_git), "--archive", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"stack-v2: error: cannot import git repository {not_git}: not a git repository"
    assert not any("Traceback" in line for line in err)
