"""Licenses on real texts: ScanCode's own license texts and the license files and READMEs of installed
packages; candidates, detection, cache, propagation, the paper's decision, and the build stage."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib.metadata import distribution
from pathlib import Path

import licensedcode
import pyarrow.parquet as pq
import pytest
from gitrepos import git, init, make_library_repo

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.licenses.candidates import base_path, is_license_candidate
from stack_v2.licenses.classify import license_type, load_non_license, load_permissive, propagate
from stack_v2.licenses.detect import LicenseCache, ScanCodeDetector

SCANCODE_TEXTS = Path(licensedcode.__file__).parent / "data" / "licenses"
PERMISSIVE, NON_LICENSE = load_permissive(), load_non_license()


def scancode_text(key: str) -> bytes:
    """The license text ScanCode ships for ``key`` (its .LICENSE file without the YAML header)."""
    return (SCANCODE_TEXTS / f"{key}.LICENSE").read_text().split("---", 2)[2].lstrip("\n").encode()


def dist_file(dist: str, name: str) -> bytes:
    """A file shipped in an installed package's metadata (LICENSE, NOTICE, ...)."""
    return next(f for f in distribution(dist).files if f.name == name and "dist-info" in str(f)).locate().read_bytes()


def readme_of(dist: str) -> bytes:
    """An installed package's README, as its metadata carries it (body or Description field)."""
    metadata = distribution(dist).metadata
    readme = metadata.get_payload() or metadata.get("Description") or ""
    assert "License" in readme, f"{dist}'s README no longer mentions its license"
    return readme.encode()


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return ScanCodeDetector(cache_path=str(tmp_path_factory.mktemp("lc") / "cache.sqlite"))


def kind(detected) -> str:
    return license_type(None, detected, PERMISSIVE, NON_LICENSE)


# ------------------------------------------------------------------------------------------ candidates


@pytest.mark.parametrize(
    ("path", "candidate"),
    [
        ("LICENSE", True),
        ("src/LICENSE.txt", True),
        ("COPYING", True),
        ("COPYING.LESSER", True),
        ("NOTICE", True),
        ("README.md", True),
        ("docs/readme.rst", True),
        ("MIT-LICENSE", True),
        ("gpl-3.0.txt", True),
        ("LICENCE", True),
        ("about.html", True),
        ("CONTRIBUTING_GUIDELINES.md", True),
        ("main.py", False),
        ("mitigation.py", False),
        ("licensing.py", False),
        ("license/main.py", False),
    ],
)
def test_license_candidates_by_file_name(path, candidate):
    assert is_license_candidate(path) is candidate


def test_base_path():
    assert [base_path(p) for p in ("LICENSE", "a/b/COPYING")] == ["", "a/b/"]


# ------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("text", "licenses", "expected"),
    [
        (lambda: scancode_text("mit"), ("MIT",), "permissive"),
        (lambda: scancode_text("apache-2.0"), ("Apache-2.0",), "permissive"),
        (lambda: scancode_text("lgpl-2.1"), ("LGPL-2.1-only",), "non_permissive"),
        (lambda: scancode_text("mpl-2.0"), ("MPL-2.0",), "non_permissive"),
        (lambda: scancode_text("unlicense"), ("Unlicense",), "permissive"),  # public-domain dedication
        (lambda: scancode_text("cc0-1.0"), ("CC0-1.0",), "permissive"),
        (lambda: dist_file("cryptography", "LICENSE"), ("Apache-2.0", "BSD-3-Clause"), "permissive"),  # dual
        (lambda: dist_file("boto3", "LICENSE"), ("Apache-2.0",), "permissive"),
        (lambda: dist_file("boto3", "NOTICE"), (), "no_license"),  # Apache NOTICE: attribution only
        # A README that only mentions its licenses: dual Apache-2.0 OR GPL-2.0+; the paper's rule
        # takes the union of symbols, so the GPL makes it non_permissive.
        (lambda: readme_of("dulwich"), ("Apache-2.0", "GPL-2.0-or-later"), "non_permissive"),
    ],
)
def test_detection_and_type_on_real_texts(detector, text, licenses, expected):
    data = text()
    detection = detector.detect(hashlib.sha1(data).hexdigest(), data)
    assert detection.failure is None and detection.licenses == licenses
    assert kind(detection.licenses) == expected


def test_non_utf8_binary_and_huge_license_files(detector):
    latin1 = scancode_text("mit").decode().replace("<year> <copyright holders>", "2024 José Müller").encode("latin-1")
    assert detector.detect(hashlib.sha1(latin1).hexdigest(), latin1).licenses == ("MIT",)
    image = (Path(shutil.__file__).parent / "idlelib" / "Icons" / "idle_48.png").read_bytes()
    assert detector.detect(hashlib.sha1(image).hexdigest(), image).failure == "binary"
    small = ScanCodeDetector(max_bytes=1000)
    gpl = scancode_text("gpl-3.0")
    result = small.detect(hashlib.sha1(gpl).hexdigest(), gpl)
    assert (result.failure, result.detail) == ("too_large", f"length={len(gpl)} > 1000")


def test_timeout_and_crash_fail_the_detection_not_the_run(detector):
    hurried = ScanCodeDetector(deadline=1e-9)
    gpl = scancode_text("gpl-3.0")
    assert hurried.detect("t" * 40, gpl).failure == "timeout"

    class CrashingScanCode(ScanCodeDetector):
        """Stands in for a ScanCode crash, which no input triggers reliably."""

        def scan(self, text):
            raise MemoryError("index corrupted")

    result = CrashingScanCode().detect("c" * 40, scancode_text("mit"))
    assert (result.failure, result.detail) == ("error", "MemoryError: index corrupted")


def test_cache_saves_scancode_calls_and_persists(tmp_path):
    LicenseCache.clear_memory()
    path = str(tmp_path / "cache.sqlite")
    data = scancode_text("apache-2.0")
    blob = hashlib.sha1(data).hexdigest()
    first = ScanCodeDetector(cache_path=path)
    assert first.detect(blob, data).cached is False and first.detect(blob, data).cached is True
    assert first.calls == 1
    LicenseCache.clear_memory()  # a new run: only the file remains
    later = ScanCodeDetector(cache_path=path)
    assert later.detect(blob, data)[:4] == (("Apache-2.0",), None, "", True) and later.calls == 0
    LicenseCache.clear_memory()
    assert LicenseCache(path, "0.0.0-other-scancode").get(blob) is None  # keyed by ScanCode's version


# ----------------------------------------------------------------------------- propagation and decision


def test_propagation_covers_the_directory_and_below():
    dirs = [("", ("MIT",)), ("vendor/gpl/", ("GPL-3.0-only",)), ("docs/", ("CC-BY-4.0",))]
    assert propagate("src/a.py", dirs) == ["MIT"]
    assert propagate("vendor/gpl/x/y.c", dirs) == ["GPL-3.0-only", "MIT"]
    assert propagate("vendor/gplx.c", dirs) == ["MIT"]  # a sibling name is not a subdirectory
    assert propagate("a.py", []) == []


@pytest.mark.parametrize(
    ("gha", "detected", "expected"),
    [
        ("MIT", ["GPL-3.0-only"], "permissive"),  # the repository license takes precedence
        ("GPL-3.0", ["MIT"], "non_permissive"),
        ("NOASSERTION", [], "non_permissive"),
        ("NOASSERTION", ["MIT"], "permissive"),
        (None, [], "no_license"),
        (None, ["MIT", "LicenseRef-scancode-unknown-license-reference"], "permissive"),
        (None, ["LicenseRef-scancode-unknown-license-reference"], "non_permissive"),
        (None, ["MIT", "LicenseRef-scancode-generic-cla"], "permissive"),
        (None, ["LicenseRef-scancode-generic-cla"], "no_license"),
        (None, ["Apache-2.0", "MPL-2.0"], "non_permissive"),
    ],
)
def test_license_type_follows_the_papers_code(gha, detected, expected):
    assert license_type(gha, detected, PERMISSIVE, NON_LICENSE) == expected


def test_permissive_list_regenerates_identically(tmp_path, capsys):
    assert main(["licenses", "regenerate", "--output", str(tmp_path)]) == 0
    shipped = (Path(__file__).resolve().parents[1] / "filters" / "licenses" / "permissive.tsv").read_text()
    assert (tmp_path / "permissive.tsv").read_text() == shipped
    assert {"MIT", "Apache-2.0", "BSD-3-Clause", "CC0-1.0", "Unlicense", "BlueOak-1.0.0"} <= PERMISSIVE
    assert not {"GPL-3.0-only", "LGPL-2.1-only", "MPL-2.0", "AGPL-3.0-only"} & PERMISSIVE


# ------------------------------------------------------------------------------------------ the build


# No exact dedup here: the repositories share the json package's files, and every occurrence's
# license decision is what these tests look at.
RECIPE = """\
name: licenses-test
stages:
  - stage: select_repositories
  - stage: license
    max_bytes: 30000
    cache_path: null
  - stage: fetch_decode
  - stage: language
"""


@pytest.fixture(scope="module")
def licensed_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("lic")
    repos = []

    def repo(name: str, files: dict[str, bytes]) -> None:
        r = make_library_repo(root, name)
        for path, data in files.items():
            (r / path).parent.mkdir(parents=True, exist_ok=True)
            (r / path).write_bytes(data)
        git(r, "add", "-A")
        git(r, "commit", "-qm", "licenses")
        repos.append(r)

    repo(
        "mitproj",
        {
            "LICENSE": scancode_text("mit"),
            "vendor/gpl/COPYING": scancode_text("gpl-2.0"),
            "vendor/gpl/util.py": (Path(json.__file__).parent / "scanner.py").read_bytes(),
        },
    )
    repo("lgplproj", {"COPYING.LESSER": scancode_text("lgpl-2.1")})
    repo("apacheproj", {"LICENSE": dist_file("boto3", "LICENSE"), "NOTICE": dist_file("boto3", "NOTICE")})
    repo("dualproj", {"LICENSE": dist_file("cryptography", "LICENSE")})
    repo(
        "oddlicenses",
        {
            "LICENSE.png": (Path(shutil.__file__).parent / "idlelib" / "Icons" / "idle_48.png").read_bytes(),
            "COPYING": scancode_text("gpl-3.0"),
        },
    )  # binary; over max_bytes
    plain = init(root / "plain")
    shutil.copy(Path(json.__file__).parent / "decoder.py", plain / "decoder.py")
    git(plain, "add", "-A")
    git(plain, "commit", "-qm", "no license")
    repos.append(plain)
    archive = root / "archive"
    import_git([str(r) for r in repos], str(archive))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = root / "dataset"
    assert main(["build", "--archive", str(archive), "--output", str(out), "--pipeline", str(recipe), "--quiet"]) == 0
    return out


def test_build_fills_licenses_and_drops_non_permissive(licensed_build):
    manifest = pq.read_table(str(licensed_build / "manifest")).to_pylist()
    data = pq.read_table(str(licensed_build / "data")).to_pylist()
    rows = {(r["repo_name"], r["path"]): r for r in manifest}
    assert rows[("local/mitproj", "json/decoder.py")]["detected_licenses"] == ["MIT"]
    assert rows[("local/mitproj", "json/decoder.py")]["license_type"] == "permissive"
    assert ("local/mitproj", "vendor/gpl/util.py") not in rows  # the nested GPL directory
    assert not any(r["repo_name"] == "local/lgplproj" for r in manifest)
    assert {rows[k]["license_type"] for k in rows if k[0] == "local/apacheproj"} == {"permissive"}
    assert rows[("local/dualproj", "LICENSE")]["detected_licenses"] == ["Apache-2.0", "BSD-3-Clause"]
    assert rows[("local/plain", "decoder.py")]["license_type"] == "no_license"
    assert {r["license_type"] for r in manifest} | {r["license_type"] for r in data} == {"permissive", "no_license"}

    dropped = pq.read_table(str(licensed_build / "dropped")).to_pylist()
    non_permissive = {(r["repo_name"], r["path"]): r["detail"] for r in dropped if r["reason"] == "non_permissive"}
    assert non_permissive[("local/mitproj", "vendor/gpl/util.py")].startswith("licenses=GPL-2.0-only,MIT;")
    assert non_permissive[("local/lgplproj", "json/decoder.py")].startswith("licenses=LGPL-2.1-only;")


def test_failed_detections_are_reported(licensed_build):
    report = json.loads((licensed_build / "report.json").read_text())
    assert report["accounting"] == "ok"
    detection = report["license_detection"]
    assert detection["failed"] == {"binary": 1, "too_large": 1}
    # Every repository has a README.md: many candidate occurrences, fewer distinct blobs scanned.
    scanned = detection["scanned"]["all"] + sum(detection["failed"].values())
    assert detection["candidates"]["occurrences"] > scanned
    manifest = pq.read_table(str(licensed_build / "manifest")).to_pylist()
    odd = {r["path"]: r["license_type"] for r in manifest if r["repo_name"] == "local/oddlicenses"}
    assert odd["json/decoder.py"] == "no_license"  # failed detections contribute no license
    card = (licensed_build / "README.md").read_text()
    assert "license" in card.lower()
