"""The default-branch traversal: pure selection rules, swh-graph's real ORC sample, and archives
imported from real git repositories (compared with git's own view of HEAD)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.pipeline import PipelineVisitor
from gitrepos import git, init, ls_tree, make_library_repo, make_sample_repo

from stack_v2.archive import directory_buckets as db
from stack_v2.archive.import_git import import_git
from stack_v2.archive.listing import list_files
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.orc import iter_table
from stack_v2.archive.selection import Branch, DefaultBranch, Visit, default_branch, latest_full_visit
from stack_v2.archive.swhid import parse_swhid_input
from stack_v2.archive.traverse import ListDefaultBranchFiles
from stack_v2.build import BuildRequest, start_build
from stack_v2.cli import main
from stack_v2.errors import ArchiveError
from stack_v2.finish import finish_build
from stack_v2.io import publish
from stack_v2.recipe import parse_recipe
from stack_v2.runs import run_dir_of

# swh-graph's example export (its ORC tables), copied into the repository: see fixtures/swh-graph-example/PROVENANCE.md
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "swh-graph-example"


def hexname(name: bytes) -> str:
    return name.hex()


# ----------------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("branches", "expected"),
    [
        # HEAD is an alias of main: the branch reached is main
        (
            {b"HEAD": Branch(hexname(b"refs/heads/main"), "alias"), b"refs/heads/main": Branch("a" * 40, "revision")},
            DefaultBranch(b"refs/heads/main", "a" * 40, "revision"),
        ),
        # alias of an alias of a release
        (
            {
                b"HEAD": Branch(hexname(b"refs/heads/x"), "alias"),
                b"refs/heads/x": Branch(hexname(b"refs/tags/v"), "alias"),
                b"refs/tags/v": Branch("b" * 40, "release"),
            },
            DefaultBranch(b"refs/tags/v", "b" * 40, "release"),
        ),
        # detached HEAD points at a revision itself
        (
            {b"HEAD": Branch("c" * 40, "revision"), b"refs/heads/master": Branch("d" * 40, "revision")},
            DefaultBranch(b"HEAD", "c" * 40, "revision"),
        ),
        # no HEAD: main before master
        (
            {b"refs/heads/master": Branch("d" * 40, "revision"), b"refs/heads/main": Branch("e" * 40, "revision")},
            DefaultBranch(b"refs/heads/main", "e" * 40, "revision"),
        ),
        # dangling HEAD alias: fall back to master
        (
            {b"HEAD": Branch(hexname(b"refs/heads/gone"), "alias"), b"refs/heads/master": Branch("d" * 40, "revision")},
            DefaultBranch(b"refs/heads/master", "d" * 40, "revision"),
        ),
        # alias cycle and nothing else
        (
            {b"HEAD": Branch(hexname(b"refs/heads/a"), "alias"), b"refs/heads/a": Branch(hexname(b"HEAD"), "alias")},
            "no_default_branch",
        ),
        # only a feature branch: the paper keeps nothing
        ({b"refs/heads/feature": Branch("f" * 40, "revision")}, "no_default_branch"),
    ],
)
def test_default_branch(branches, expected):
    assert default_branch(branches) == expected


def test_latest_full_visit_takes_highest_visit():
    visits = [Visit(1, 10, "a"), Visit(3, 5, "c"), Visit(2, 30, "b")]
    assert latest_full_visit(visits) == Visit(3, 5, "c")
    assert latest_full_visit([]) is None


# ------------------------------------------------------------------------- swh-graph's ORC sample


@pytest.fixture(scope="module")
def fixture_listing():
    if not FIXTURE.is_dir():
        pytest.fail(f"the swh-graph example export is expected at {FIXTURE}")
    return list_files(ArchiveLocation(str(FIXTURE)))


def test_fixture_export_lists_default_branch_files_of_each_origin(fixture_listing):
    files, problems = fixture_listing
    assert problems == []
    by_origin: dict[str, list] = {}
    for f in files:
        by_origin.setdefault(f.origin, []).append(f)
    assert sorted(by_origin) == ["https://example.com/swh/graph", "https://example.com/swh/graph2"]
    for _origin, records in by_origin.items():
        # refs/heads/master -> revision 9 -> root directory 8 (README.md, parser.c, tests/{README.rst,main.py})
        assert {(r.path, r.content_id[-2:], r.length) for r in records} == {
            ("README.md", "01", 42),
            ("parser.c", "07", 666),
            ("tests/README.rst", "04", 404),
            ("tests/main.py", "05", 1337),
        }
        assert {(r.branch_name, r.revision_id[-2:], r.directory_id[-2:]) for r in records} == {
            ("refs/heads/master", "09", "08")
        }
        assert all(r.blob_id == r.content_id and r.content_status == "visible" for r in records)
    first = by_origin["https://example.com/swh/graph"][0]
    assert first.snapshot_id.endswith("20") and first.repo_name == "swh/graph"
    assert first.revision_date is not None and first.visit_date is not None


def test_fixture_swhids_depth_limit_and_unknown_origin():
    location = ArchiveLocation(str(FIXTURE))
    swhids = [
        parse_swhid_input("swh:1:rev:" + "0" * 38 + "03;origin=https://example.com/swh/graph"),
        parse_swhid_input("swh:1:dir:" + "0" * 38 + "12"),
    ]
    files, problems = list_files(location, origins=["https://example.org/none"], swhids=swhids, max_depth=1)
    paths = {(f.directory_id[-2:], f.path) for f in files}
    # rev 03 -> dir 02 (README.md); dir 12: README.md and oldproject/ (not expanded at depth 1)
    assert paths == {("02", "README.md"), ("12", "README.md")}
    assert {(p.subject, p.reason) for p in problems} == {
        ("https://example.org/none", "no_full_visit"),
        ("swh:1:dir:" + "0" * 38 + "12", "depth_limit"),
    }
    rev_file = next(f for f in files if f.directory_id.endswith("02"))
    assert rev_file.origin == "https://example.com/swh/graph" and rev_file.revision_id.endswith("03")


# -------------------------------------------------------------------- archives made from git repos


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("trav")
    lib = make_library_repo(root)
    sample = make_sample_repo(root, submodule=lib)
    archive = root / "archive"
    import_git([str(lib), str(sample)], str(archive))
    return {"lib": lib, "sample": sample, "archive": archive}


@pytest.fixture(scope="module")
def imported_listing(imported):
    return list_files(ArchiveLocation(str(imported["archive"])))


def expected_from_git(repo: Path) -> dict[str, tuple[int, str, str]]:
    """git's own view of HEAD: path -> (perms, sha1_git, sha1), files only (no submodules)."""
    out = {}
    for path, (mode, sha) in ls_tree(repo).items():
        if mode == "160000":
            continue
        data = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", sha], check=True, capture_output=True).stdout
        out[path.decode("utf-8", "backslashreplace")] = (int(mode, 8), sha, hashlib.sha1(data).hexdigest())
    return out


def test_listing_equals_gits_view_of_head(imported, imported_listing):
    files, problems = imported_listing
    assert problems == []
    for name in ("lib", "sample"):
        repo = imported[name]
        records = [f for f in files if f.origin == f"https://github.com/local/{repo.name}"]
        assert {r.path: (r.perms, r.content_id, r.blob_id) for r in records} == expected_from_git(repo)
        head = git(repo, "rev-parse", "HEAD")
        assert {(r.revision_id, r.directory_id, r.branch_name) for r in records} == {
            (head, git(repo, "rev-parse", "HEAD^{tree}"), "refs/heads/main")
        }
        assert {r.repo_name for r in records} == {f"local/{repo.name}"}


def test_listing_keeps_symlinks_executables_and_non_utf8_names(imported_listing):
    files, _ = imported_listing
    by_path = {f.path: f for f in files if f.origin.endswith("/sample")}
    assert by_path["docs/email_init.py"].perms == 0o120000 and by_path["docs/email_init.py"].length == len(
        "../src/email/__init__.py"
    )
    assert by_path["bin/tool.py"].perms == 0o100755
    assert "docs/caf\\xe9.txt" in by_path  # undecodable byte kept as an escape
    assert not any(p.startswith("vendor/") for p in by_path)  # the submodule is skipped
    assert "FEATURE.json" not in by_path  # only the default branch


def test_files_command_prints_json_lines(imported, capsys):
    origin = "https://github.com/local/jsonlib"
    assert main(["archive", "files", "--archive", str(imported["archive"]), "--origin", origin]) == 0
    out, err = capsys.readouterr()
    import json

    lines = [json.loads(line) for line in out.splitlines()]
    assert {line["path"] for line in lines} == set(expected_from_git(imported["lib"]))
    assert set(lines[0]) >= {
        "origin",
        "repo_name",
        "snapshot_id",
        "branch_name",
        "revision_id",
        "revision_date",
        "directory_id",
        "path",
        "blob_id",
        "content_id",
        "length",
    }
    assert lines[0]["revision_date"] == "2021-06-07T13:09:10+00:00"  # 08:09:10-0500 in UTC
    assert err.strip().endswith(f"{len(lines)} files, 0 problems")


def test_bad_archives_give_one_line_errors(tmp_path, imported, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(imported["archive"] / "graph", broken / "graph")
    shutil.rmtree(broken / "graph" / "orc" / "snapshot_branch")
    assert main(["archive", "files", "--archive", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("stack-v2: error: graph table 'snapshot_branch' is missing: no .orc files in ")

    corrupt = next((broken / "graph" / "orc" / "revision").glob("*.orc"))
    corrupt.write_bytes(corrupt.read_bytes()[:40])  # truncated ORC
    shutil.copytree(
        imported["archive"] / "graph" / "orc" / "snapshot_branch", broken / "graph" / "orc" / "snapshot_branch"
    )
    with pytest.raises(Exception) as info:
        list_files(ArchiveLocation(str(broken)))
    assert f"graph table 'revision': cannot read ORC file {corrupt}" in str(info.value)

    assert main(["archive", "files", "--archive", str(broken), "--swhid", "swh:1:cnt:" + "0" * 40]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"stack-v2: error: unsupported SWHID 'swh:1:cnt:{'0' * 40}': type 'cnt' cannot be listed (use snp, rev or dir)"
    ]


def test_missing_column_is_named(tmp_path, imported):
    from stack_v2.archive.orc import read_stripe, table_stripes

    location = ArchiveLocation(str(imported["archive"]))
    ref = table_stripes(location, "origin")[0]
    with pytest.raises(ArchiveError, match=r"lacks column\(s\) \['nope'\]"):
        read_stripe(location, ref, ["url", "nope"])


# ------------------------------------------------------------------------- S3 (moto's real server)


def test_s3_archive_lists_the_same_as_local(s3_endpoint, imported, imported_listing):
    import json

    from s3util import s3_client, upload_tree

    upload_tree(s3_endpoint, imported["archive"], "mirror", "swh/2024")
    # Public read for anonymous clients. Real S3 authorises HEAD by s3:GetObject; moto checks HEAD
    # against another action name, so the policy grants s3:* (still read-only for anonymous callers here).
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::mirror", "arn:aws:s3:::mirror/*"],
            }
        ],
    }
    s3_client(s3_endpoint).put_bucket_policy(Bucket="mirror", Policy=json.dumps(policy))
    for unsigned in (False, True):
        assert list_files(ArchiveLocation("s3://mirror/swh/2024", unsigned=unsigned)) == imported_listing


def test_s3_graph_export_under_its_own_prefix(s3_endpoint):
    """The public bucket's layout: graph/<date>/orc/<table>/ apart from content/."""
    from s3util import upload_tree

    upload_tree(s3_endpoint, FIXTURE / "orc", "softwareheritage", "graph/2023-09-06/orc")
    local = list_files(ArchiveLocation(str(FIXTURE)), origins=["https://example.com/swh/graph2"])
    remote = list_files(
        ArchiveLocation("s3://softwareheritage", graph_uri="s3://softwareheritage/graph/2023-09-06"),
        origins=["https://example.com/swh/graph2"],
    )
    assert remote == local and len(local[0]) == 4


def test_s3_missing_table_is_named(s3_endpoint):
    with pytest.raises(
        ArchiveError,
        match=r"graph table 'origin_visit_status' is missing: no .orc files in "
        r"s3://nothing-here/graph/orc/origin_visit_status",
    ):
        list_files(ArchiveLocation("s3://nothing-here"))


# ------------------------------------------------------------- bucket files: one shuffle of the listings


def test_bucket_file_lookup_reads_whole_listings_across_row_groups(tmp_path):
    big, small = "b" * 40, "c" * 40  # big spans row groups: ROW_GROUP_ROWS entries and more
    rows = [(big, f"f{i:05d}".encode(), "file", f"{i:040x}", 0o100644) for i in range(db.ROW_GROUP_ROWS + 10)]
    rows += [(small, b"z", "dir", "d" * 40, 0o40000), (small, b"a", "file", "e" * 40, 0o100644)]
    assert db.write_bucket(path := str(tmp_path / "bucket.parquet"), reversed(rows)) == len(rows)
    listings = db.read_listings(path, [small, big, "a" * 40, "f" * 40])
    assert set(listings) == {big, small}  # ids it does not hold: no listing
    assert listings[small] == ((b"a", "file", "e" * 40, 0o100644), (b"z", "dir", "d" * 40, 0o40000))  # by name
    assert listings[big] == tuple(row[1:] for row in rows[: db.ROW_GROUP_ROWS + 10])
    assert db.bucket_count(ArchiveLocation(str(FIXTURE))) == 1  # a small table is one bucket


def _run_metered(archive, scratch, **kwargs) -> tuple[dict, Counter]:
    """({GroupByKey label: elements in}, traverse counters summed and as "name@step"): a Map beside each."""
    p = beam.Pipeline()
    _ = p | "List" >> ListDefaultBranchFiles(ArchiveLocation(str(archive)), scratch_dir=str(scratch), **kwargs)
    found = []

    class Groups(PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(node.transform, beam.GroupByKey) and node.full_label.startswith("List/"):
                found.append((node.full_label.removeprefix("List/"), node.inputs[0]))

    p.visit(Groups())
    for i, (label, pcoll) in enumerate(found):
        _ = pcoll | f"Meter{i}" >> beam.Map(lambda _, label: Metrics.counter("meter", label).inc(), label)
    result = p.run()  # the DirectRunner returns once the pipeline is done
    groups, counters = {label: 0 for label, _ in found}, Counter()
    for c in result.metrics().query(MetricsFilter())["counters"]:
        if c.key.metric.namespace == "meter":
            groups[c.key.metric.name] += c.committed
        elif c.key.metric.namespace == "traverse":  # each step has its own
            counters[c.key.metric.name] += c.committed
            counters[f"{c.key.metric.name}@{c.key.step.removeprefix('List/').split('/')[0]}"] += c.committed
    return groups, counters


def test_listings_cross_one_shuffle_and_levels_move_only_their_frontier(imported, tmp_path):
    groups, counters = _run_metered(imported["archive"], tmp_path, buckets=3)
    location = ArchiveLocation(str(imported["archive"]))
    table = [d for batch in iter_table(location, "directory_entry", ["directory_id"]) for d in batch[0].to_pylist()]
    assert groups["ListingsByBucket"] == len(table)  # every entry once, into its bucket
    # Level d moves the (root, directory) pairs at depth d - 1, as git sees the trees, and nothing else.
    trees = set()  # the parents of git's files and submodules
    for name in ("lib", "sample"):
        for path in ls_tree(imported[name]):
            trees |= {(name, path.rsplit(b"/", k)[0]) for k in range(1, path.count(b"/") + 1)}
    depths = Counter([0, 0] + [tree.count(b"/") + 1 for _, tree in trees])
    assert [groups[f"Group{d}"] for d in range(1, 65)] == [depths[d - 1] for d in range(1, 65)]
    assert groups["Group64"] == 0 and max(depths) < 5  # the empty levels moved nothing, and read nothing:
    read_in = {key.split("@")[1] for key in counters if key.startswith("bucket_rows_read@")}
    assert read_in <= {f"Expand{d}" for d in range(1, 65) if depths[d - 1]}
    # The listings came from the bucket files: sorted by directory id, each row in its bucket.
    files = sorted(tmp_path.glob("directory-buckets-*/bucket-*.parquet"))
    assert 1 < len(files) <= 3 and counters["bucket_row_groups_read"] >= len(files)
    ids = {int(f.stem.split("-")[1]): pq.read_table(f, columns=["directory_id"])[0].to_pylist() for f in files}
    assert all(c == sorted(c) and {db.bucket_of(d, 3) for d in c} == {bucket} for bucket, c in ids.items())
    assert sorted(d for c in ids.values() for d in c) == sorted(table)


def test_one_bucket_walks_every_level_in_place_in_one_step(imported, tmp_path):
    groups, counters = _run_metered(imported["archive"], tmp_path / "one", buckets=1)
    assert groups["Group1"] == 2 and "Group2" not in groups  # the two roots move; the levels after them do not
    _, per_level = _run_metered(imported["archive"], tmp_path / "three", buckets=3)
    walked = ("files_visible", "submodules_skipped", "directories_without_entries")
    assert [counters[c] for c in walked] == [per_level[c] for c in walked] and counters["files_visible"] > 0


def test_deep_tree_lists_every_file_to_the_depth_limit(tmp_path):
    repo, chain = init(tmp_path / "deep"), [f"a{j}" for j in range(70)]  # a0/a1/.../a69, a file in each
    (repo / "top.txt").write_text("top\n")
    (repo / "/".join(chain)).mkdir(parents=True)
    for i in range(70):
        (repo / "/".join(chain[: i + 1]) / "f.txt").write_text(f"{i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "deep", date="2022-01-01T00:00:00+0000")
    import_git([str(repo)], str(tmp_path / "archive"))
    files, problems = list_files(ArchiveLocation(str(tmp_path / "archive")))
    # 64 levels: the root (level 1) and a0 .. a62; a63, at depth 64, is reported, not expanded
    assert {f.path for f in files} == {"top.txt"} | {"/".join(chain[: i + 1]) + "/f.txt" for i in range(63)}
    depth_limit = ("depth_limit", "/".join(chain[:64]) + "/ is deeper than 64 levels")
    assert [(p.reason, p.detail.split(" at /")[1]) for p in problems] == [depth_limit]


def test_a_build_leaves_no_traversal_scratch(imported, tmp_path):
    recipe = parse_recipe("name: t\nstages:\n  - stage: select_repositories\n", str(tmp_path / "t.yaml"))
    location, output = ArchiveLocation(str(imported["archive"])), str(tmp_path / "dataset")
    started = start_build(BuildRequest(location, output, recipe))
    run_dir = Path(run_dir_of(started.output_dir, started.run_id))
    assert list(run_dir.glob(".traversal/directory-buckets-*/bucket-*.parquet"))  # written where workers read
    assert finish_build(started.output_dir, started.run_id, started.result)["totals"]["kept"]["files"] > 0
    assert publish.current_version(output) == started.run_id and not (run_dir / ".traversal").exists()
    assert not [p for p in Path(output).rglob("*") if "bucket-" in p.name or p.name == ".traversal"]


def test_a_failed_build_leaves_no_traversal_scratch(imported, tmp_path, monkeypatch):
    from stack_v2.io import report

    def broken(self, entries):  # the run fails at its very end, after the traversal wrote its buckets
        raise report.AccountingError("stage x: input 1 != kept+dropped+failed 0")

    monkeypatch.setattr(report._WriteReport, "process", broken)
    recipe = parse_recipe("name: t\nstages:\n  - stage: select_repositories\n", str(tmp_path / "t.yaml"))
    output = tmp_path / "dataset"
    with pytest.raises(Exception, match="input 1 != kept"):
        start_build(BuildRequest(ArchiveLocation(str(imported["archive"])), str(output), recipe))
    (run_dir,) = (output / "versions").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["state"] == "failed"
    assert not [p for p in output.rglob("*") if "bucket-" in p.name or p.name == ".traversal"]


def test_revisions_found_by_the_pipeline_are_listed_tree_by_tree(imported, tmp_path):
    from stack_v2.archive.traverse import ListRevisionFiles

    lib = imported["lib"]
    head = git(lib, "rev-parse", "HEAD").strip()
    missing = "0" * 40
    out = tmp_path / "out"
    with beam.Pipeline("DirectRunner") as p:
        listed = (
            p
            | beam.Create([head, missing])
            | ListRevisionFiles(ArchiveLocation(str(imported["archive"])), scratch_dir=str(tmp_path / "scratch"))
        )
        files = listed["files"] | "F" >> beam.Map(lambda f: json.dumps([f.revision_id, f.path, f.content_id, f.origin]))
        problems = listed["problems"] | "P" >> beam.Map(lambda t: json.dumps(["problem", t.subject, t.reason]))
        (files, problems) | beam.Flatten() | beam.io.WriteToText(str(out / "rows"))
    rows = [json.loads(line) for f in sorted(out.glob("rows*")) for line in f.read_text().splitlines()]
    listed_files = {(r[1], r[2]) for r in rows if r[0] == head}
    assert listed_files == {(path, sha) for path, (perms, sha, sha1) in expected_from_git(lib).items()}
    assert all(r[3] is None for r in rows if r[0] == head)  # no origin: a revision, wherever it comes from
    assert [r for r in rows if r[0] == "problem"] == [["problem", f"swh:1:rev:{missing}", "revision_not_in_export"]]
