"""Missing license evidence fails closed: a file whose governing license file could not be read is failed
(license_unknown, naming the blob and why), never kept as no_license. Real git repositories with a real GPL
text, built from a local archive whose LICENSE object is gone and from the same archive on S3 (moto)
whose LICENSE object answers 503 through the fault proxy."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import uuid
from pathlib import Path

import licensedcode
import pyarrow.parquet as pq
import pytest
from faultproxy import FaultProxy
from gitrepos import JSON_SRC, copy_py_files, git, init
from s3util import upload_tree

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.licenses.classify import license_type, load_non_license, load_permissive
from stack_v2.records import FileOccurrence
from stack_v2.stages.base import Drop, Fail
from stack_v2.stages.license import LICENSE_UNKNOWN, _blobless_dirs, classify_record
from stack_v2.stages.select_repos import record_from_occurrence

PERMISSIVE, NON_LICENSE = load_permissive(), load_non_license()
SCANCODE_TEXTS = Path(licensedcode.__file__).parent / "data" / "licenses"
_SYSTEM_GPL2 = Path("/usr/share/common-licenses/GPL-2")


def scancode_text(key: str) -> bytes:
    return (SCANCODE_TEXTS / f"{key}.LICENSE").read_text().split("---", 2)[2].lstrip("\n").encode()


# The GPL-2 text as the system ships it, else the one ScanCode ships.
GPL = _SYSTEM_GPL2.read_bytes() if _SYSTEM_GPL2.is_file() else scancode_text("gpl-2.0")
GPL_BLOB = hashlib.sha1(GPL).hexdigest()
PY_FILES = sorted(f"json/{p.name}" for p in JSON_SRC.glob("*.py"))

RECIPE = """\
name: fail-closed
stages:
  - stage: select_repositories
  - stage: license
    cache_path: null
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """gplproj: a GPL LICENSE at the root over the json package; mixed: an MIT LICENSE at the root, the same
    GPL text as vendor/gpl/COPYING over one more file."""
    root = tmp_path_factory.mktemp("failclosed")
    gpl = init(root / "gplproj")
    (gpl / "LICENSE").write_bytes(GPL)
    copy_py_files(JSON_SRC, gpl / "json")
    mixed = init(root / "mixed")
    (mixed / "LICENSE").write_bytes(scancode_text("mit"))
    copy_py_files(JSON_SRC, mixed / "json")
    (mixed / "vendor" / "gpl").mkdir(parents=True)
    (mixed / "vendor" / "gpl" / "COPYING").write_bytes(GPL)
    shutil.copy(JSON_SRC / "scanner.py", mixed / "vendor" / "gpl" / "util.py")
    for repo in (gpl, mixed):
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "import")
    archive = root / "archive"
    import_git([str(gpl), str(mixed)], str(archive))
    assert (archive / "content" / GPL_BLOB).is_file()  # the store layout: content/<sha1>
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    return {"root": root, "archive": archive, "recipe": recipe}


def build(world, archive: str, name: str) -> dict:
    out = world["root"] / name
    assert (
        main(["build", "--archive", archive, "--output", str(out), "--pipeline", str(world["recipe"]), "--quiet"]) == 0
    )
    kept = {(r["repo_name"], r["path"]): r for r in pq.read_table(str(out / "manifest")).to_pylist()}
    dropped = {
        (r["repo_name"], r["path"]): r
        for r in pq.read_table(str(out / "dropped")).to_pylist()
        if r["stage"] == "license"
    }
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"] == "ok"
    return {"kept": kept, "dropped": dropped, "report": report}


def assert_failed_closed(result, why: str) -> None:
    """Every file under an unread GPL text failed with license_unknown naming the blob; the rest decided."""
    kept, dropped = result["kept"], result["dropped"]
    governed = [("local/gplproj", p) for p in ["LICENSE", *PY_FILES]] + [
        ("local/mixed", p) for p in ("vendor/gpl/COPYING", "vendor/gpl/util.py")
    ]
    for key in governed:
        assert key not in kept, f"{key} kept as {kept[key]['license_type']} without its license file"
        row = dropped[key]
        assert (row["outcome"], row["reason"]) == ("failed", LICENSE_UNKNOWN), row
        where = "LICENSE" if key[0] == "local/gplproj" else "vendor/gpl/COPYING"
        assert row["detail"].startswith(f"license file {where} blob={GPL_BLOB}: "), row["detail"]
        assert why in row["detail"], row["detail"]
    assert not any(r["license_type"] == "no_license" for r in kept.values())
    # The MIT files of mixed are not under vendor/gpl/: their license was read and decides.
    for path in ["LICENSE", *PY_FILES]:
        assert kept[("local/mixed", path)]["license_type"] == "permissive"
        assert kept[("local/mixed", path)]["detected_licenses"] == ["MIT"]
    report = result["report"]
    assert report["license_detection"]["failed"] == {why: 1}  # one distinct blob, counted once
    [stage] = [st for st in report["stages"] if st["stage"] == "license"]
    assert stage["reasons"]["failed"][LICENSE_UNKNOWN]["files"] == len(governed)


def test_readable_gpl_drops_its_files(world):
    """The control: with its LICENSE readable, gplproj is non_permissive, so old and new code drop it."""
    result = build(world, str(world["archive"]), "control")
    for path in ["LICENSE", *PY_FILES]:
        row = result["dropped"][("local/gplproj", path)]
        assert (row["reason"], row["detail"][:20]) == ("non_permissive", "licenses=GPL-2.0-onl")
    assert result["dropped"][("local/mixed", "vendor/gpl/util.py")]["reason"] == "non_permissive"


def test_missing_license_object_fails_the_files_it_governs(world, tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(world["archive"], archive)
    (archive / "content" / GPL_BLOB).unlink()
    result = build(world, str(archive), "missing")
    assert_failed_closed(result, "missing")
    assert "no such file" in result["dropped"][("local/gplproj", "json/decoder.py")]["detail"]


def test_license_object_answering_503_fails_the_files_it_governs(world, s3_endpoint, monkeypatch):
    prefix = f"archives/{uuid.uuid4().hex}"
    upload_tree(s3_endpoint, world["archive"], "fail-closed", prefix)
    with FaultProxy(s3_endpoint) as proxy:
        proxy.set(error=rf"^GET /fail-closed/{prefix}/content/{GPL_BLOB}$")  # everything else goes through
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = build(world, f"s3://fail-closed/{prefix}", "throttled")
    assert_failed_closed(result, "fetch_error")
    detail = result["dropped"][("local/gplproj", "json/decoder.py")]["detail"]
    assert "SlowDown (HTTP 503)" in detail and "gave up after" in detail
    assert proxy.faults["error"] >= 2  # the store retried the object before giving up
    assert proxy.seen > proxy.faulted  # the graph and the other blobs came through the proxy


# -- the decision, record by record --------------------------------------------------------------


def record(path: str, gha: str | None = None):
    occ = FileOccurrence(
        origin="https://github.com/a/b",
        repo_name="a/b",
        snapshot_id="1" * 40,
        branch_name="refs/heads/main",
        revision_id="2" * 40,
        revision_date=1,
        committer_date=1,
        visit_date=2,
        directory_id="3" * 40,
        path=path,
        blob_id="4" * 40,
        content_id="5" * 40,
        length=10,
        perms=0o100644,
        content_status="visible",
    )
    return record_from_occurrence(occ, {"gha_license_id": gha})


UNREAD = "license file vendor/COPYING blob=" + "6" * 40 + ": missing"


@pytest.mark.parametrize(
    ("path", "gha", "dirs", "expected"),
    [
        ("vendor/x.py", None, [("", ("MIT",), ""), ("vendor/", (), UNREAD)], Fail(LICENSE_UNKNOWN, UNREAD)),
        ("vendor/deep/x.py", "NOASSERTION", [("vendor/", (), UNREAD)], Fail(LICENSE_UNKNOWN, UNREAD)),
        ("src/x.py", None, [("", ("MIT",), ""), ("vendor/", (), UNREAD)], "permissive"),  # not governed
        ("vendorx.py", None, [("vendor/", (), UNREAD)], "no_license"),  # a sibling name is not a subdirectory
        ("vendor/x.py", "MIT", [("vendor/", (), UNREAD)], "permissive"),  # the GHArchive license decides alone
        ("vendor/x.py", "GPL-3.0", [("vendor/", (), UNREAD)], Drop),
        ("vendor/x.py", None, [("", ("GPL-3.0-only",), ""), ("vendor/", (), UNREAD)], Drop),  # copyleft already
    ],
)
def test_unread_license_files_decide_only_when_the_rule_needs_them(path, gha, dirs, expected):
    verdict = classify_record(record(path, gha), dirs, PERMISSIVE, NON_LICENSE)
    if expected is Drop:
        assert isinstance(verdict, Drop) and verdict.reason == "non_permissive"
    elif isinstance(expected, Fail):
        assert verdict == expected
    else:
        assert verdict.license_type == expected


def test_two_unread_license_files_are_both_named():
    other = "license file README blob=" + "7" * 40 + ": timeout (1.0 s > deadline 0.5 s)"
    verdict = classify_record(
        record("vendor/x.py"), [("", (), other), ("vendor/", (), UNREAD)], PERMISSIVE, NON_LICENSE
    )
    assert verdict == Fail(LICENSE_UNKNOWN, f"{other}; {UNREAD}")  # sorted


def test_decided_without_more_holds_whatever_is_added():
    """Where the stage keeps or drops despite an unread file, no set of added licenses changes the type."""
    from stack_v2.licenses.classify import decided_without_more

    keys = ["MIT", "GPL-3.0-only", "LicenseRef-scancode-unknown-license-reference", "LicenseRef-scancode-generic-cla"]
    subsets = [set(c) for n in range(len(keys) + 1) for c in itertools.combinations(keys, n)]
    for gha in (None, "NOASSERTION", "MIT", "GPL-3.0"):
        for detected in subsets:
            if decided_without_more(gha, detected, PERMISSIVE, NON_LICENSE):
                before = license_type(gha, detected, PERMISSIVE, NON_LICENSE)
                assert all(license_type(gha, detected | extra, PERMISSIVE, NON_LICENSE) == before for extra in subsets)
    assert not decided_without_more(None, {"LicenseRef-scancode-unknown-license-reference"}, PERMISSIVE, NON_LICENSE)


def test_candidates_without_a_blob():
    absent = record("LICENSE")._replace(blob_id=None, length_bytes=None)
    [(_root, (base, licenses, why))] = list(_blobless_dirs(absent, 1000))
    assert (base, licenses) == (
        "",
        (),
    ) and why == f"license file LICENSE content_id={'5' * 40}: missing (not in the content table)"
    assert list(_blobless_dirs(absent._replace(length_bytes=200 * 1024 * 1024), 1000)) == []  # too large: no text
