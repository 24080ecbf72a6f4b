"""The failure budget: how many files a build may fail before it refuses to publish (pure, no Beam).

A failed file is one whose evidence could not be read (a missing content object, a store that kept
answering errors, an unreadable license file): publishing without it would give a dataset that looks good
and is not. A few failures are the archive's normal state (SWH misses some objects); many mean an outage
or a mistake. Each stage, and the build as a whole, may fail at most ``max(files, fraction * input)``
files (the recipe's ``failure_budget``); past that the build exits non-zero and the previous dataset
stays current.

A requested origin or SWHID that yields nothing (a typo, or an object not in the archive) is a mistake in
the input, whatever the budget.
"""

from __future__ import annotations

# select's failures that mean a requested subject gave no file at all (stack_v2.archive.traverse)
NOTHING_LISTED = frozenset(
    {
        "no_full_visit",
        "snapshot_not_in_export",
        "release_not_in_export",
        "revision_not_in_export",
        "no_default_branch",
        "unsupported_target",
        "no_files",
        "directory_not_in_export",
    }
)


def evaluate(report: dict, budget) -> dict:
    """report.json's ``failure_budget`` section: the budget (``recipe.FailureBudget``), and per stage and
    overall what was used."""
    stages = {}
    for st in report["stages"]:
        n_in, n_failed = st["input"]["files"], st["failed"]["files"]
        stages[st["stage"]] = {"input": n_in, "failed": n_failed, "allowed": budget.allowed(n_in)}
    total_in, total_failed = report["totals"]["input"]["files"], report["totals"]["failed"]["files"]
    total = {"input": total_in, "failed": total_failed, "allowed": budget.allowed(total_in)}
    exceeded = [name for name, s in stages.items() if s["failed"] > s["allowed"]]
    if total["failed"] > total["allowed"]:
        exceeded.append("total")
    return {"fraction": budget.fraction, "files": budget.files, "stages": stages, "total": total, "exceeded": exceeded}


def describe_excess(section: dict) -> str:
    """One line: the worst overrun first, then how many more."""
    parts = []
    for name in section["exceeded"]:
        s = section["total"] if name == "total" else section["stages"][name]
        where = "in all" if name == "total" else f"in stage {name}"
        parts.append(f"{s['failed']:,} of {s['input']:,} files failed {where} (budget {s['allowed']:,})")
    budget = f"max({section['files']}, {section['fraction']:g} x input)"
    return f"{'; '.join(parts)}; the recipe's failure_budget allows {budget}"


def nothing_listed(requested: dict[str, list[str]], problems: list[tuple[str, str]]) -> list[str]:
    """Requested subjects that a listing problem says gave no file, as ``subject (reason)``. ``requested``
    maps each subject (origin URL, SWHID) to the strings that name it in a problem's detail (the URL; the
    SWHID, its object id, its origin); ``problems`` are (detail, reason) pairs of select's failed rows."""
    found = []
    for subject, needles in requested.items():
        reasons = sorted(
            {
                reason
                for detail, reason in problems
                if reason in NOTHING_LISTED and any(_names(detail or "", n) for n in needles if n)
            }
        )
        if reasons:
            found.append(f"{subject} ({', '.join(reasons)})")
    return found


def _names(detail: str, needle: str) -> bool:
    """``subject: detail`` rows name their subject first; a revision's names its id as a word."""
    return detail.startswith(f"{needle}: ") or needle in detail.split()
