"""The names of what a build writes into a dataset version: read by the build, by ``regenerate`` (which
rewrites some of them) and by ``publish`` (which replaces all of them at once). Pure."""

from __future__ import annotations

AUDIT_LOG = "optout-audit.jsonl"  # one line per opt-out request applied (regenerate)
GROUPED = "manifest-by-repo"  # the manifest grouped by repository, for opt-out lookups
REPORT_DIR = "report"  # the HTML report and its plots

# Every output of a build; a rebuild replaces them all, opt-out log and grouped manifest of earlier runs included.
OUTPUTS = (
    "data",
    "manifest",
    "dropped",
    "report.json",
    "README.md",
    "recipe.yaml",
    AUDIT_LOG,
    GROUPED,
    "jupyter-scripts",
    "jupyter-structured",
    REPORT_DIR,
)
