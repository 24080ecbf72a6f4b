"""Per-stage, per-reason Beam counters: on a real build (DirectRunner) they equal report.json's counts.

The build runs every kind of stage of the demo recipe on real code (standard-library packages, a fork,
web assets with a notebook, CPython's license text), with the malware stage on a ClamAV test database
(a real clamd; its signature matches a real ``email/charset.py``), an opt-out request, an origin that
does not exist and a content object the store lost: so there are kept, dropped and failed files in many
stages and for many reasons. The counters are read from the runner's PipelineResult and compared with
report.json: report.json is counted once, by the pipeline itself; the counters are what runners' UIs
(Dataflow, Spark, Flink) show while a job runs, and this test holds them to the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections import defaultdict

import apache_beam as beam
import clamav_fixtures
import pytest
from apache_beam.metrics.metric import MetricResults
from apache_beam.options.pipeline_options import PipelineOptions

from stack_v2.archive.import_git import import_git
from stack_v2.archive.location import ArchiveLocation
from stack_v2.build import BuildRequest, construct
from stack_v2.demo import make_assets_repo, make_demo_repos
from stack_v2.optout.requests import load_requests
from stack_v2.recipe import PIPELINES_DIR, load_recipe

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
