"""The tool versions a build records: ClamAV's engine and signature database when the recipe scans.

The signature container is built here by ClamAV's own ``sigtool --build --unsigned`` (a .cud: the same
512-byte header as the official main.cvd and daily.cvd, which freshclam would download), holding the
test database's EICAR signature.
"""

from __future__ import annotations

import subprocess

import clamav_fixtures
import pytest

from stack_v2.malware.clamav import ClamAVError, database_version, engine_version, find_binary
from stack_v2.malware.daemon import start_clamd
from stack_v2.recipe import parse_recipe
from stack_v2.tool_versions import clamav_versions, tool_versions

clamav_db, clamd = clamav_fixtures.clamav_db, clamav_fixtures.clamd


@pytest.fixture(scope="module")
def database(clamav_db, tmp_path_factory):
    """The test database's files plus ``daily.cud`` version 7, built by sigtool from its .hdb signature."""
    directory = tmp_path_factory.mktemp("signatures")
    build = tmp_path_factory.mktemp("sigtool")
    (build / "COPYING").write_text("The EICAR test file's signature (public test data).\n")
    (build / "daily.hdb").write_bytes((clamav_db.path / "test.hdb").read_bytes())
    subprocess.run(
        [find_binary("sigtool"), "--build=daily.cud", "--unsigned", "--cvd-version=7"],
        cwd=build,
        input="stack-v2 tests\n",
        capture_output=True,
        text=True,
        check=True,
    )  # asks the builder's name
    (directory / "daily.cud").write_bytes((build / "daily.cud").read_bytes())
    for name in ("test.hdb", "test.ndb"):
        (directory / name).write_bytes((clamav_db.path / name).read_bytes())
    return directory


def _recipe(tmp_path, malware: str):
    text = (
        f"name: scan\nstages:\n  - stage: select_repositories\n  - stage: fetch_decode\n  - stage: malware\n{malware}"
    )
    return parse_recipe(text, str(tmp_path / "scan.yaml"))


def test_the_database_version_comes_from_the_container_header(database):
    described = database_version(database)
    header = subprocess.run(
        [find_binary("sigtool"), "--info", str(database / "daily.cud")], capture_output=True, text=True, check=True
    ).stdout
    build_time = next(line.split(": ", 1)[1] for line in header.splitlines() if line.startswith("Build time:"))
    assert described.startswith("daily 7 (1 signatures, ")
    assert build_time.replace(":", "-") in described  # sigtool prints the header's 07-11 as 07:11
    assert described.endswith("; other signature files: test.hdb, test.ndb")


def test_a_container_without_a_header_is_an_error_that_names_it(database, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.cvd").write_bytes((database / "test.hdb").read_bytes())  # a text file under a container's name
    with pytest.raises(ClamAVError, match=r"main\.cvd: not a CVD/CLD/CUD container"):
        database_version(broken)


def test_a_scanning_recipe_records_the_engine_and_the_signatures(database, tmp_path):
    recipe = _recipe(tmp_path, f"    database: {database}\n    mode: clamscan\n")
    versions = tool_versions(recipe)
    assert versions["clamav"] == engine_version(find_binary("clamscan"))
    assert versions["clamav"].startswith("ClamAV 1.")
    assert versions["clamav-signatures"] == database_version(database)
    assert versions["apache-beam"]  # the distributions too


def test_a_clamd_socket_is_asked_for_its_versions(database, clamd, tmp_path):
    # The session's clamd loaded only .hdb/.ndb files: no database version to report.
    versions = clamav_versions(_recipe(tmp_path, f"    socket: {clamd.socket_path}\n"))
    assert versions == {
        "clamav": engine_version(find_binary("clamd")),
        "clamav-signatures": "not reported by clamd (it names only a daily database's version)",
    }
    # One that loaded a daily container names its version and build time.
    daily, _ = start_clamd(database, tmp_path / "clamd", timeout=60)
    try:
        versions = clamav_versions(_recipe(tmp_path, f"    socket: {daily.socket_path}\n"))
    finally:
        daily.stop()
    assert versions["clamav-signatures"].startswith("daily 7 (")


def test_an_unreachable_clamd_is_recorded_not_guessed(tmp_path):
    versions = clamav_versions(_recipe(tmp_path, f"    socket: {tmp_path / 'no-clamd.sock'}\n"))
    assert versions["clamav"].startswith("unknown: clamd at ") and "clamav-signatures" not in versions


def test_a_recipe_that_does_not_scan_records_no_clamav(tmp_path):
    assert clamav_versions(_recipe(tmp_path, "")) == {}
    assert "clamav" not in tool_versions(_recipe(tmp_path, ""))
