"""Per-stage, per-reason Beam counters: on a real build (DirectRunner) they equal report.json's counts.

The build runs every kind of stage of the demo recipe on real code (standard-library packages, a fork,
web assets with a notebook, CPython's license text), with the malware stage on a ClamAV test database
(a real clamd; its signature matches a real ``email/charset.py``), an opt-out request, an origin that
does not exist and a content object the store lost: so there are kept, dropped and failed files in many
stages and for many reasons. The counters are read from the runner's PipelineResult and compared with
report.json here, independently of ``io.metrics_report``'s own comparison (tested after it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from collections import defaultdict

import apache_beam as beam
import clamav_fixtures
import pytest
from apache_beam.metrics.metric import MetricResults
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask.dask_runner import DaskRunnerResult

from stack_v2.archive.import_git import import_git
from stack_v2.archive.location import ArchiveLocation
from stack_v2.build import BuildRequest, construct
from stack_v2.cli import main
from stack_v2.demo import make_assets_repo, make_demo_repos
from stack_v2.io import metrics_report as mr
from stack_v2.optout.requests import load_requests
from stack_v2.recipe import PIPELINES_DIR, load_recipe
from stack_v2.stages import registry

clamav_db = clamav_fixtures.clamav_db
PACKAGES = ("json", "email", "xmlrpc")  # xmlrpc carries CPython's LICENSE.txt: non_permissive


@pytest.fixture(scope="module")
def world(tmp_path_factory, clamav_db):
    root = tmp_path_factory.mktemp("metrics")
    repos = make_demo_repos(str(root / "repos"), PACKAGES) + [make_assets_repo(str(root / "repos"))]
    fork = root / "repos" / "json-fork"
    subprocess.run(["git", "clone", "-q", repos[0], str(fork)], check=True, capture_output=True)
    optout_repo = make_demo_repos(str(root / "repos"), ("urllib",))[0]
    archive = root / "archive"
    import_git([*repos, str(fork), optout_repo], str(archive))
    lost = hashlib.sha1((root / "repos" / "py-email" / "base64mime.py").read_bytes()).hexdigest()
    os.remove(archive / "content" / lost)  # fetch_decode: failed, missing
    recipe = root / "recipe.yaml"
    text = (PIPELINES_DIR / "demo.yaml").read_text()
    assert "  - stage: malware\n" in text
    recipe.write_text(text.replace("  - stage: malware\n", f"  - stage: malware\n    database: {clamav_db.path}\n"))
    optouts = root / "optouts.jsonl"
    optouts.write_text(json.dumps({"owner": "local", "repos": ["py-urllib"], "received": "2026-01-02"}) + "\n")
    origins = [f"https://github.com/local/{os.path.basename(r)}" for r in [*repos, str(fork), optout_repo]]
    return {"root": root, "archive": archive, "recipe": recipe, "optouts": optouts, "origins": origins}


@pytest.fixture(scope="module")
def run(world):
    """The build's pipeline run directly (to keep its PipelineResult): (result, report.json)."""
    req = BuildRequest(
        ArchiveLocation(str(world["archive"])),
        str(world["root"] / "out"),
        load_recipe(str(world["recipe"])),
        origins=[*world["origins"], "https://github.com/local/none"],
        optouts=load_requests(world["optouts"]),
    )
    run_dir = world["root"] / "out" / ".run-test"
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    construct(p, req, str(run_dir))
    result = p.run()
    result.wait_until_finish()
    return result, json.loads((run_dir / "report.json").read_text())


def counters_by_name(result) -> dict:
    """{(namespace, name): committed value summed over steps}, straight from the runner."""
    values = defaultdict(int)
    for r in result.metrics().query()[MetricResults.COUNTERS]:
        assert r.committed is not None  # the DirectRunner commits its metrics
        values[(r.key.metric.namespace, r.key.metric.name)] += r.committed
    return values


def test_counters_equal_report_per_stage_and_reason(run):
    result, report = run
    counters = counters_by_name(result)
    assert report["accounting"] == "ok"
    seen_reasons = set()
    for st in report["stages"]:
        stage = st["stage"]
        for outcome in ("input", "kept"):
            assert counters.get((stage, outcome), 0) == st[outcome]["files"], (stage, outcome)
            assert counters.get((stage, f"bytes_{outcome}"), 0) == st[outcome]["bytes"], (stage, outcome)
        for outcome in ("dropped", "failed"):
            named = {
                name[len(outcome) + 1 :]: v
                for (ns, name), v in counters.items()
                if ns == stage and name.startswith(f"{outcome}_")
            }
            assert named == {reason: c["files"] for reason, c in st["reasons"][outcome].items()}, (stage, outcome)
            assert sum(named.values()) == st[outcome]["files"]
            for reason, c in st["reasons"][outcome].items():
                assert counters.get((stage, f"bytes_{outcome}_{reason}"), 0) == c["bytes"], (stage, reason)
                seen_reasons.add((stage, outcome, reason))
    # the build exercised drops and failures in many stages, not just kept files
    assert {
        ("select_repositories", "failed", "no_full_visit"),
        ("select_repositories", "dropped", "duplicate_repository"),
        ("optout", "dropped", "opted_out"),
        ("license", "dropped", "non_permissive"),
        ("exact_dedup", "dropped", "exact_duplicate"),
        ("fetch_decode", "failed", "missing"),
        ("fetch_decode", "dropped", "binary"),
        ("long_lines", "dropped", "avg_line_length"),
        ("malware", "dropped", "malware"),
    } <= seen_reasons
    malware = next(st for st in report["stages"] if st["stage"] == "malware")
    assert malware["input"]["files"] > malware["kept"]["files"] > 0
    # the notebooks branch: scripts per language and structured forms
    assert report["notebooks"]["scripts"] == {"Python": counters[("notebooks", "script_Python")]} == {"Python": 1}
    assert report["notebooks"]["structured"] == {"all": counters[("notebooks", "structured")]}


def test_report_from_counters_is_the_report_and_the_check_says_beam_metrics(run):
    result, report = run
    stages = [st["stage"] for st in report["stages"]]
    counters = mr.query_counters(result, [*stages, mr.NOTEBOOKS])
    assert counters.committed and not counters.unavailable and mr.has_committed_metrics(result, stages)
    from_metrics = mr.report_from_counters(counters.values, stages, registry.filter_stages())
    for key in ("stages", "totals", "filters", "notebooks"):
        assert from_metrics[key] == report[key], key
    assert mr.metrics_check(result, report) == {
        "metrics_source": "beam_metrics",
        "metrics_check": {"counters": "committed", "result": "ok"},
    }
    # A report that disagrees with the counters is named, stage, outcome and reason, and not trusted.
    changed = json.loads(json.dumps(report))
    license_stage = next(st for st in changed["stages"] if st["stage"] == "license")
    license_stage["reasons"]["dropped"]["non_permissive"]["files"] += 1
    check = mr.metrics_check(result, changed)
    assert check["metrics_source"] == "dropped_table" and check["metrics_check"]["result"] == "mismatch"
    mismatches = check["metrics_check"]["mismatches"]
    assert any(m.startswith("stage license dropped/non_permissive: report") for m in mismatches)


def test_build_records_the_metrics_source(world, tmp_path):
    """The CLI's build (run_build) writes metrics_source and metrics_check into report.json."""
    recipe = tmp_path / "small.yaml"
    recipe.write_text(
        "name: small\nstages:\n  - stage: select_repositories\n  - stage: exact_dedup\n"
        "  - stage: fetch_decode\n  - stage: language\n"
    )
    out = tmp_path / "dataset"
    assert (
        main(
            [
                "build",
                "--archive",
                str(world["archive"]),
                "--output",
                str(out),
                "--pipeline",
                str(recipe),
                "--quiet",
                "--origin",
                "https://github.com/local/py-email",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["metrics_source"] == "beam_metrics"
    assert report["metrics_check"] == {"counters": "committed", "result": "ok"}
    fetch = report["stages"][2]
    assert fetch["reasons"]["failed"] == {"missing": {"files": 1, "bytes": fetch["failed"]["bytes"]}}


def test_runner_without_metrics_falls_back_to_the_dropped_table(run, caplog):
    """DaskRunner's result (the real class) raises NotImplementedError for metrics()."""
    _result, report = run
    with caplog.at_level(logging.INFO, logger="stack_v2"):
        check = mr.metrics_check(DaskRunnerResult(client=None, futures=[]), report)
    assert check["metrics_source"] == "dropped_table"
    assert check["metrics_check"]["result"] == "unavailable" and "not implemented" in check["metrics_check"]["detail"]
    assert "dropped table" in caplog.text


class _AttemptedOnly:
    """A runner's result that reports attempted values only (committed None), as some portable runners do."""

    def __init__(self, result):
        self._results = result.metrics().query()[MetricResults.COUNTERS]

    def metrics(self):
        outer = self

        class _Metrics:
            def query(self, filter=None):
                found = [r for r in outer._results if MetricResults.matches(filter, r.key)]
                return {MetricResults.COUNTERS: [type(r)(r.key, None, r.attempted) for r in found]}

        return _Metrics()


def test_attempted_only_counters_are_checked_but_not_the_source(run):
    result, report = run
    check = mr.metrics_check(_AttemptedOnly(result), report)
    assert check == {"metrics_source": "dropped_table", "metrics_check": {"counters": "attempted", "result": "ok"}}


@pytest.mark.parametrize(
    "name, parsed",
    [
        ("kept", ("files", "kept", "")),
        ("bytes_input", ("bytes", "input", "")),
        ("dropped_non_permissive", ("files", "dropped", "non_permissive")),
        ("bytes_failed_sha1_mismatch", ("bytes", "failed", "sha1_mismatch")),
        ("detection_scanned", None),
        ("dropped_", None),
        ("signed", None),
    ],
)
def test_counter_names(name, parsed):
    assert mr.parse_counter_name(name) == parsed
