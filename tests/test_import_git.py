"""import-git on real repositories (stdlib sources, several commits, executable, symlink, submodule,
nested directories, a non-UTF-8 file name): ids equal git's own, the store holds the blobs, and
re-imports add only what is new. Trees git reads but never writes (unsorted, an entry name with '/') are
written raw with dulwich: the first keeps git's id, the second is refused and the archive is unchanged."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dulwich.objects import Blob, Commit, ShaFile, Tree
from dulwich.repo import Repo
from gitrepos import JSON_SRC, git, make_library_repo, make_sample_repo
from swh.model import model

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
    out = (
        subprocess.run(["git", "-C", str(repo), "rev-list", "--objects", "--all"], check=True, capture_output=True)
        .stdout.decode("latin-1")
        .split("\n")
    )
    ids = [line.split()[0] for line in out if line.strip()]
    types = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check=%(objecttype) %(objectname)"],
        input="\n".join(ids).encode(),
        check=True,
        capture_output=True,
    ).stdout.decode()
    by_type: dict[str, set[str]] = {}
    for line in types.splitlines():
        kind, sha = line.split()
        by_type.setdefault(kind, set()).add(sha)
    tags = subprocess.run(
        ["git", "-C", str(repo), "for-each-ref", "--format=%(objecttype) %(objectname)", "refs/tags"],
        check=True,
        capture_output=True,
    ).stdout.decode()
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
    assert next(r for r in revisions if r["id"] == head)["directory"] == git(
        repos["sample"], "rev-parse", "HEAD^{tree}"
    )


def test_content_store_holds_every_blob_gzipped(archive, repos):
    for row in read_table(archive, "content", ["sha1", "sha1_git", "length"]):
        data = gzip.decompress((archive / "content" / row["sha1"]).read_bytes())
        assert hashlib.sha1(data).hexdigest() == row["sha1"] and len(data) == row["length"]
        assert (
            data
            == subprocess.run(
                ["git", "-C", str(repos["sample"]), "cat-file", "blob", row["sha1_git"]],
                check=True,
                capture_output=True,
            ).stdout
        )


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
    assert visits == [
        {"origin": "https://github.com/local/sample", "visit": 1, "status": "full", "snapshot": visits[0]["snapshot"]}
    ]
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
    assert not (tmp_path / "b").exists()  # the blobs read before the missing one are not left behind

    assert main(["archive", "import-git", str(not_git), "--archive", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"stack-v2: error: cannot import git repository {not_git}: not a git repository"
    assert not any("Traceback" in line for line in err)


# --- trees git reads but does not write: made with dulwich from raw tree objects ---------------------------------


def raw_tree_repo(root: Path, name: str, order) -> tuple[Path, bytes]:
    """A one-commit repository of the stdlib json package's .py files whose tree is written byte for byte
    as ``order`` gives the (name, blob id) entries; returns the repository and the tree's id."""
    repo = Repo.init(str(root / name), mkdir=True)
    entries = []
    for f in sorted(JSON_SRC.glob("*.py")):
        blob = Blob.from_string(f.read_bytes())
        repo.object_store.add_object(blob)
        entries.append((f.name.encode(), blob.id))
    raw = b"".join(b"100644 " + n + b"\x00" + bytes.fromhex(sha.decode()) for n, sha in order(entries))
    tree = ShaFile.from_raw_string(Tree.type_num, raw)  # kept as given: dulwich would sort a Tree it builds
    repo.object_store.add_object(tree)
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"Ada Lovelace <ada@example.org>"
    commit.author_time = commit.commit_time = 1_600_000_000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"raw tree\n"
    repo.object_store.add_object(commit)
    repo.refs[b"refs/heads/main"] = commit.id
    repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    return root / name, tree.id


def listing(directory: Path) -> dict[str, str] | None:
    """Every file and folder under ``directory`` with its bytes' hash (None if it does not exist)."""
    if not directory.exists():
        return None
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in directory.rglob("*")
    }


def test_unsorted_tree_keeps_gits_id_with_its_raw_object(tmp_path):
    repo, tree_id = raw_tree_repo(tmp_path, "unsorted", lambda entries: list(reversed(entries)))
    listed = git(repo, "ls-tree", "--name-only", "HEAD").splitlines()
    assert listed == sorted(listed, reverse=True) != sorted(listed)  # git reads the tree, in its stored order
    archive = tmp_path / "archive"
    import_git([str(repo)], str(archive))

    [directory] = read_table(archive, "directory", ["id", "raw_manifest"])
    assert directory["id"] == tree_id.decode()
    raw = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "tree", tree_id.decode()], check=True, capture_output=True
    ).stdout
    assert directory["raw_manifest"] == b"tree %d\x00" % len(raw) + raw
    entries = read_table(archive, "directory_entry", ["directory_id", "name", "type", "target", "perms"])
    assert sorted(e["name"].decode() for e in entries) == sorted(listed)
    swh_entries = tuple(
        model.DirectoryEntry(name=e["name"], type=e["type"], target=bytes.fromhex(e["target"]), perms=e["perms"])
        for e in entries
    )
    # swh.model gives the entries the id of the sorted tree, and the raw manifest git's id; the row checks.
    kept = model.Directory(entries=swh_entries, raw_manifest=directory["raw_manifest"])
    assert kept.id.hex() == directory["id"]
    kept.check()
    sorted_tree = Tree()
    for e in entries:
        sorted_tree.add(e["name"], e["perms"], e["target"].encode())
    assert model.Directory(entries=swh_entries).id.hex() == sorted_tree.id.decode() != directory["id"]
    [revision] = read_table(archive, "revision", ["id", "directory"])
    assert revision["directory"] == directory["id"]
    assert {c["sha1_git"] for c in read_table(archive, "content", ["sha1_git"])} == {e["target"] for e in entries}


def test_entry_with_slash_is_refused_and_the_archive_is_left_as_it_was(tmp_path):
    bad, tree_id = raw_tree_repo(
        tmp_path, "slashed", lambda entries: [(b"json/" + entries[0][0], entries[0][1]), *entries[1:]]
    )
    assert "json/__init__.py" in git(bad, "ls-tree", "--name-only", "HEAD").splitlines()
    good = make_sample_repo(tmp_path)  # imported first: its blobs, trees and commits must not stay
    expected = (
        f"cannot import git repository {bad}: tree {tree_id.decode()} has an entry named "
        "'json/__init__.py': a name with '/' cannot be a directory entry"
    )

    fresh = tmp_path / "new" / "archive"
    with pytest.raises(GitImportError) as raised:
        import_git([str(good), str(bad)], str(fresh))
    assert str(raised.value) == expected
    assert not (tmp_path / "new").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GitImportError, match="a name with '/' cannot be a directory entry"):
        import_git([str(good), str(bad)], str(empty))
    assert listing(empty) == {}

    previous = tmp_path / "previous"
    import_git([str(make_library_repo(tmp_path))], str(previous))
    before = listing(previous)
    with pytest.raises(GitImportError, match="a name with '/' cannot be a directory entry"):
        import_git([str(good), str(bad)], str(previous))
    assert listing(previous) == before
    # The archive still takes the good repository afterwards.
    assert import_git([str(good)], str(previous)).visits == {"https://github.com/local/sample": 1}


def test_cli_refuses_a_slashed_entry_in_one_line_and_imports_an_unsorted_tree(tmp_path):
    bad, tree_id = raw_tree_repo(tmp_path, "slashed", lambda entries: [(b"a/b.py", entries[0][1]), *entries[1:]])
    archive = tmp_path / "archive"
    run = subprocess.run(
        [sys.executable, "-m", "stack_v2.cli", "archive", "import-git", str(bad), "--archive", str(archive)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if not line.startswith("importing ")]
    assert errors == [
        f"stack-v2: error: cannot import git repository {bad}: tree {tree_id.decode()} has an entry "
        "named 'a/b.py': a name with '/' cannot be a directory entry"
    ]
    assert not archive.exists()

    unsorted, tree_id = raw_tree_repo(tmp_path, "unsorted", lambda entries: entries[1:] + entries[:1])
    run = subprocess.run(
        [sys.executable, "-m", "stack_v2.cli", "archive", "import-git", str(unsorted), "--archive", str(archive)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert [d["id"] for d in read_table(archive, "directory", ["id"])] == [tree_id.decode()]
