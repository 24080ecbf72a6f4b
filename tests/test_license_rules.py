"""The precise license rule against the paper's, on real license files: those installed packages ship
(typing_extensions' PSF text, swh.model's GPL-3.0, gemfileparser2's dual GPL-or-MIT README and SPDX
header, intbitset's SPDX tag) and one from the benchmark corpus (tests/data/licenses/); and a real build
whose recipe switches the rule."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib.metadata import distribution
from pathlib import Path

import licensedcode
import pyarrow.parquet as pq
import pytest
from gitrepos import JSON_SRC, copy_py_files, git, init

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.licenses.classify import license_type, load_non_license, load_permissive
from stack_v2.licenses.detect import LicenseCache, ScanCodeDetector
from stack_v2.licenses.evidence import FileLicenses
from stack_v2.licenses.precise import MAX_MENTION_TOKENS, PAPER, PRECISE, counted, mentions

PERMISSIVE, NON_LICENSE = load_permissive(), load_non_license()
DATA = Path(__file__).parent / "data" / "licenses"
SCANCODE_TEXTS = Path(licensedcode.__file__).parent / "data" / "licenses"


def dist_file(dist: str, name: str) -> bytes:
    """A file an installed package ships: in its metadata folder, else in the package itself."""
    files = distribution(dist).files
    found = [f for f in files if f.name == name and "dist-info" in str(f)] or [f for f in files if f.name == name]
    return found[0].locate().read_bytes()


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return ScanCodeDetector(cache_path=str(tmp_path_factory.mktemp("rules") / "cache.sqlite"))


def scan(detector, data: bytes):
    detection = detector.detect(hashlib.sha1(data).hexdigest(), data)
    assert detection.failure is None and detection.evidence is not None
    # What holds for every file: the precise rule only removes licenses, and never one a text match names.
    precise = set(counted(detection.licenses, detection.evidence, PRECISE))
    assert precise <= set(detection.licenses) == set(counted(detection.licenses, detection.evidence, PAPER))
    texts = {k for m in detection.evidence.matches if m.kind == "text" for k in m.licenses}
    assert texts & set(detection.licenses) <= precise
    return detection


def types(detection) -> dict[str, str]:
    return {
        rule: license_type(None, counted(detection.licenses, detection.evidence, rule), PERMISSIVE, NON_LICENSE)
        for rule in (PAPER, PRECISE)
    }


def test_psf_text_is_permissive_under_the_precise_rule_only(detector):
    data = dist_file("typing_extensions", "LICENSE")
    detection = scan(detector, data)
    assert {"Python-2.0", "GPL-1.0-or-later"} <= set(detection.licenses)
    assert types(detection) == {PAPER: "non_permissive", PRECISE: "permissive"}
    set_aside = mentions(detection.evidence)
    assert list(set_aside) == ["GPL-1.0-or-later"]
    lines = data.decode().splitlines()
    for match in set_aside["GPL-1.0-or-later"]:
        body = detection.evidence.matches[match.within]
        assert match.kind in ("notice", "reference") and match.matched_length <= MAX_MENTION_TOKENS
        assert body.kind == "text" and body.licenses == ("Python-2.0",) and body.matched_length > 1000
        # The history table and footnotes, above the terms: "GPL-compatible", "under the GPL".
        assert "GPL" in " ".join(lines[match.start_line - 1 : match.end_line])
        assert match.end_line < body.start_line


def test_gpl_copying_is_non_permissive_under_both(detector):
    detection = scan(detector, dist_file("swh.model", "LICENSE"))
    assert detection.licenses == ("GPL-3.0-only",)
    assert types(detection) == {PAPER: "non_permissive", PRECISE: "non_permissive"}
    assert mentions(detection.evidence) == {}


def test_dual_mit_or_gpl_follows_the_papers_or(detector):
    readme = scan(detector, dist_file("gemfileparser2", "README.rst"))  # "dual-licensed under your choice of ..."
    header = scan(detector, b"".join(dist_file("gemfileparser2", "gemfileparser2.py").splitlines(True)[:4]))
    for detection in (readme, header):
        assert {"MIT", "GPL-3.0-or-later"} <= set(detection.licenses)
        assert types(detection) == {PAPER: "non_permissive", PRECISE: "non_permissive"}
    assert [m.kind for m in header.evidence.matches] == ["tag"]  # SPDX-License-Identifier: GPL-3.0-or-later OR MIT


def test_a_compatibility_note_is_judged_by_the_files_own_license(detector):
    data = (DATA / "argparse-1.4.0-LICENSE.txt").read_bytes()
    detection = scan(detector, data)
    assert {"Python-2.0", "Apache-2.0", "GPL-2.0-only"} <= set(detection.licenses)
    assert types(detection) == {PAPER: "non_permissive", PRECISE: "permissive"}
    [(key, [note])] = mentions(detection.evidence).items()
    assert key == "GPL-2.0-only" and note.note == "compatibility" and note.kind == "reference"
    assert "compatibility issues between" in data.decode().splitlines()[note.start_line - 1]
    # The note's sentence alone names no license of its own: nothing is set aside, the GPL counts.
    sentence = b"".join(data.splitlines(True)[14:16])
    alone = scan(detector, sentence)
    assert "GPL-2.0-only" in alone.licenses and mentions(alone.evidence) == {}
    assert types(alone)[PRECISE] == "non_permissive"


def test_a_bare_spdx_tag_counts(detector):
    header = b"".join(dist_file("intbitset", "intbitset_version.py").splitlines(True)[:6])
    assert header.rstrip().endswith(b"SPDX-License-Identifier: LGPL-3.0-or-later")
    detection = scan(detector, header)
    assert detection.licenses == ("LGPL-3.0-or-later",)
    assert [m.kind for m in detection.evidence.matches] == ["tag"]
    assert types(detection) == {PAPER: "non_permissive", PRECISE: "non_permissive"}


def test_a_tag_under_another_license_text_is_not_a_mention(detector):
    """An SPDX line after a full MIT text is not part of that text: the GPL it names counts."""
    mit = (SCANCODE_TEXTS / "mit.LICENSE").read_text().split("---", 2)[2].lstrip("\n")
    detection = scan(detector, (mit + "\nSPDX-License-Identifier: GPL-2.0-only\n").encode())
    assert {"MIT", "GPL-2.0-only"} <= set(detection.licenses)
    assert types(detection) == {PAPER: "non_permissive", PRECISE: "non_permissive"}


def test_evidence_survives_the_cache(detector, tmp_path):
    data = dist_file("typing_extensions", "LICENSE")
    blob = hashlib.sha1(data).hexdigest()
    path = str(tmp_path / "cache.sqlite")
    LicenseCache.clear_memory()  # scanned now, not found in this process's memory
    first = ScanCodeDetector(cache_path=path).detect(blob, data)
    assert not first.cached
    LicenseCache.clear_memory()
    again = ScanCodeDetector(cache_path=path)
    later = again.detect(blob, data)
    assert later.cached and again.calls == 0
    assert later.evidence == first.evidence == FileLicenses.from_json(json.loads(json.dumps(first.evidence.to_json())))


# ------------------------------------------------------------------------------------------ the build

RECIPE = """\
name: license-rules-{rule}
stages:
  - stage: select_repositories
  - stage: license
    rule: {rule}
    cache_path: {cache}
"""


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """psfproj: typing_extensions' PSF LICENSE over the json package; gplproj: swh.model's GPL-3.0 LICENSE.
    Built once per rule, the second build reading the first one's license cache."""
    root = tmp_path_factory.mktemp("rulebuild")
    repos = []
    for name, license_text in (
        ("psfproj", dist_file("typing_extensions", "LICENSE")),
        ("gplproj", dist_file("swh.model", "LICENSE")),
    ):
        repo = init(root / name)
        (repo / "LICENSE").write_bytes(license_text)
        copy_py_files(JSON_SRC, repo / "json")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "import")
        repos.append(str(repo))
    archive = root / "archive"
    import_git(repos, str(archive))
    out = {}
    for rule in (PAPER, PRECISE):
        recipe = root / f"{rule}.yaml"
        recipe.write_text(RECIPE.format(rule=rule, cache=root / "cache.sqlite"))
        dataset = root / rule
        args = ["build", "--archive", str(archive), "--output", str(dataset), "--pipeline", str(recipe), "-q"]
        assert main(args) == 0
        out[rule] = {
            "kept": {(r["repo_name"], r["path"]): r for r in pq.read_table(str(dataset / "manifest")).to_pylist()},
            "dropped": {(r["repo_name"], r["path"]): r for r in pq.read_table(str(dataset / "dropped")).to_pylist()},
            "report": json.loads((dataset / "report.json").read_text()),
            "card": (dataset / "README.md").read_text(),
        }
    shutil.rmtree(archive)
    return out


def test_the_rule_decides_the_psf_repository(builds):
    paper, precise = builds[PAPER], builds[PRECISE]
    files = [k for k in {**paper["kept"], **paper["dropped"]} if k[0] == "local/psfproj"]
    assert ("local/psfproj", "json/decoder.py") in files
    for key in files:
        row = paper["dropped"][key]
        assert row["reason"] == "non_permissive"
        assert "GPL-1.0-or-later" in row["detail"] and "rule=paper" in row["detail"]
        assert "evidence=LICENSE: GPL-1.0-or-later rule gpl" in row["detail"]
        kept = precise["kept"][key]
        assert kept["license_type"] == "permissive"
        assert "GPL-1.0-or-later" in kept["detected_licenses"]  # detected, set aside as a mention
    # The GPL project is dropped under both rules, with its text as the evidence.
    for rule in (PAPER, PRECISE):
        row = builds[rule]["dropped"][("local/gplproj", "json/decoder.py")]
        assert row["reason"] == "non_permissive" and f"rule={rule}" in row["detail"]
        assert "evidence=LICENSE: GPL-3.0-only rule gpl-3.0" in row["detail"] and "(text, " in row["detail"]


def test_report_and_card_name_the_rule_and_the_evidence(builds):
    for rule in (PAPER, PRECISE):
        report, card = builds[rule]["report"], builds[rule]["card"]
        assert report["accounting"] == "ok"
        assert report["license_classification"]["rule"] == {rule: 1}
        evidence = report["license_evidence"]
        gpl = evidence["local/gplproj LICENSE"]
        [(what, files)] = gpl.items()
        assert what.startswith("GPL-3.0-only rule gpl-3.0") and files == len(list(JSON_SRC.glob("*.py"))) + 1
        assert evidence["(entries)"]["all"] == len(evidence) - 1 == evidence["(entries)"]["shown"]
        assert f"Rule `{rule}`" in card and "## License evidence" in card and "local/gplproj LICENSE" in card
    assert builds[PRECISE]["report"]["license_classification"]["mentions_set_aside"] == {"GPL-1.0-or-later": 1}
    assert "local/psfproj LICENSE" in builds[PAPER]["report"]["license_evidence"]
    assert "local/psfproj LICENSE" not in builds[PRECISE]["report"]["license_evidence"]
    assert "| GPL-1.0-or-later | 1 |" in builds[PRECISE]["card"]
