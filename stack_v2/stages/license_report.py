"""The license stage's sections of report.json and of the dataset card: the rule that ran, the licenses it
set aside as mentions, and the evidence behind the files dropped as non_permissive (docs/the-stack-v2.md
§5.4.1); and the license files' detection outcomes.

report.json's sections are made of the stage's stats entries ``((section, key, detail), (n, bytes))``:
``license_classification`` holds ``rule: {name: 1}`` and ``mentions_set_aside: {license: license files}``;
``license_evidence`` holds ``"<repo> <license file>": {"<license> <match>": files dropped}`` for the
``MAX_EVIDENCE`` entries behind the most files, and ``(entries): {all, shown}``.
"""

from __future__ import annotations

import apache_beam as beam

from stack_v2.io.markdown import md_text
from stack_v2.licenses.precise import PAPER, PRECISE, mentions

CLASSIFICATION_STATS = "@license_classification"
EVIDENCE_STATS = "@license_evidence"
MAX_EVIDENCE = 50  # entries of license_evidence in report.json (the most files first); the rest are counted
CARD_EVIDENCE = 20  # of them in the card


def mention_stats(kv, rule: str):
    """License files (distinct blobs) in which the precise rule set a license aside, per license."""
    _blob, detection = kv
    if rule == PRECISE and detection.evidence is not None:
        for key in mentions(detection.evidence):
            yield (CLASSIFICATION_STATS, "mentions_set_aside", key), (1, 0)


class EvidenceStats(beam.PTransform):
    """((license file, evidence), 1) per dropped file -> report entries: the ``MAX_EVIDENCE`` entries behind
    the most files (ties by name, so every runner shows the same), and how many entries there are."""

    def expand(self, evidence):
        per_entry = evidence | "FilesPerEntry" >> beam.CombinePerKey(sum)
        top = (
            per_entry
            | "Top" >> beam.combiners.Top.Of(MAX_EVIDENCE, key=lambda kv: (kv[1], kv[0]))
            | "TopEntries" >> beam.FlatMap(lambda top: [((EVIDENCE_STATS, k[0], k[1]), (n, 0)) for (k, n) in top])
        )
        count = (
            per_entry
            | "Count" >> beam.combiners.Count.Globally()
            | "CountEntries"
            >> beam.FlatMap(
                lambda n: (
                    [
                        ((EVIDENCE_STATS, "(entries)", "all"), (n, 0)),
                        ((EVIDENCE_STATS, "(entries)", "shown"), (min(n, MAX_EVIDENCE), 0)),
                    ]
                    if n
                    else []
                )
            )
        )
        return (top, count) | "Entries" >> beam.Flatten()


RULE_TEXT = {
    PAPER: "every license ScanCode detects in a license file counts, as in the paper",
    PRECISE: (
        "every license ScanCode detects counts, except a license a file only mentions: named only by "
        "short matches (notice, tag, reference or intro rules of at most 20 tokens) whose words belong to the "
        "text of another license matched in full in the same file, where that text lies (the GPL in the PSF "
        "license's history table), or by short references that a sentence names as what something is "
        "compatible with while the file names a license of its own; the counted licenses then go through the "
        "paper's decision, `OR` included (docs/the-stack-v2.md §5.4.1)"
    ),
}


def card_section(report: dict) -> list[str]:
    """The card's sections on the license files' detection outcomes, the rule that classified them and the
    evidence behind the files dropped as non_permissive."""
    lines: list[str] = []
    detection = report.get("license_detection")
    if detection:
        lines += [
            "",
            "## License detection",
            "",
            "| outcome | reason | license files (distinct blobs) |",
            "|---|---|---:|",
        ]
        for outcome, reasons in detection.items():
            for reason, files in reasons.items():
                lines.append(f"| {outcome} | {reason} | {files:,} |")
    classification = report.get("license_classification")
    if classification:
        rule = next(iter(classification.get("rule", {})), "?")
        lines += ["", "## License classification", "", f"Rule `{rule}`: {RULE_TEXT.get(rule, rule)}."]
        if rule != PAPER:
            lines.append(f"The paper's rule, the recipe's `rule: paper`: {RULE_TEXT[PAPER]}.")
        set_aside = classification.get("mentions_set_aside")
        if set_aside:
            lines += ["", "| license set aside as a mention | license files |", "|---|---:|"]
            lines += [f"| {key} | {n:,} |" for key, n in set_aside.items()]
    evidence = report.get("license_evidence")
    if evidence:
        entries = evidence.get("(entries)", {})
        lines += [
            "",
            "## License evidence",
            "",
            f"Why files were dropped as non_permissive: {entries.get('shown', 0):,} of {entries.get('all', 0):,} "
            "(license file, license, ScanCode match) entries, the most files first; dropped/ has each file's.",
            "",
            "| license file | license and match | files dropped |",
            "|---|---|---:|",
        ]
        rows = [
            (n, where, what) for where, whats in evidence.items() if where != "(entries)" for what, n in whats.items()
        ]
        for n, where, what in sorted(rows, key=lambda r: (-r[0], r[1], r[2]))[:CARD_EVIDENCE]:
            lines.append(f"| {md_text(where, one_line=True)} | {md_text(what, one_line=True)} | {n:,} |")
    return lines
