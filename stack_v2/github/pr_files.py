"""A pull request's files: which changed between its base and head trees, the paper's base-file rules, and
the YAML/JSON subsampling (The Stack v2 paper §2.3; thresholds from BigCode's code). Pure.

A changed file is a path in both trees with different contents. Additions and deletions are left out, as
in the paper. ``base_file_verdict`` then keeps a changed file's base version unless it is:

- over ``MAX_CHARS`` = 1,000,000 characters (``too_large``), or ``MAX_LINES`` = 100,000 lines or more
  (``too_many_lines``);
- under ``MIN_ALNUM`` = 0.25 alphanumeric (``alnum_fraction``);
- over ``MAX_HEX`` = 0.25 hexadecimal escapes, counted as BigCode counted them: ``2 * count("\\x") / len``
  (``hex_fraction``);
- of mean line length over 100 or longest line over 1,000 (``long_lines``), except prose formats (Markdown,
  reStructuredText, R Markdown, RDoc, AsciiDoc);
- Markdown without English, as the regular expression ``\\s+(the|be|to|of|and|that|have|with)\\s+`` finds it
  (``markdown_not_english``).

``subsample_data_files(files, seed, key)``: YAML and JSON base files are kept with probability 0.1 when they
make up more than half of the pull request's base bytes, or when their path names a package, lock, yarn,
output, swagger or openapi file (for JSON, the code's shorter list: pack, lock, output).
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from stack_v2.verdicts import Drop

MAX_CHARS, MAX_LINES = 1_000_000, 100_000
MIN_ALNUM, MAX_HEX = 0.25, 0.25
MAX_MEAN_LINE, MAX_LINE = 100, 1000
PROSE_EXTENSIONS = frozenset({"md", "markdown", "rst", "rmd", "rdoc", "adoc", "asciidoc"})
_ENGLISH = re.compile(r"\s+(the|be|to|of|and|that|have|with)\s+")
_YAML_PATHS = re.compile(r"pack|lock|yarn|output|swagger|openapi", re.IGNORECASE)
_JSON_PATHS = re.compile(r"pack|lock|output", re.IGNORECASE)
DATA_FILE_KEEP = 0.1


class ChangedFile(NamedTuple):
    path: str
    base: str
    head: str


def changed_paths(base_tree: dict[str, str], head_tree: dict[str, str]) -> list[str]:
    """Paths in both trees (path -> content id) whose contents differ, sorted."""
    return sorted(p for p, cid in base_tree.items() if p in head_tree and head_tree[p] != cid)


def extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def base_file_verdict(path: str, base: str) -> Drop | None:
    """None when the base version may be shown, else the rule that removes the file."""
    if len(base) > MAX_CHARS:
        return Drop("too_large", f"{len(base)} chars")
    lines = base.split("\n")
    if len(lines) >= MAX_LINES:
        return Drop("too_many_lines", f"{len(lines)} lines")
    if base:
        alnum = sum(c.isalnum() for c in base) / len(base)
        if alnum < MIN_ALNUM:
            return Drop("alnum_fraction", f"{alnum:.3f}")
        hex_fraction = base.count("\\x") * 2 / len(base)
        if hex_fraction > MAX_HEX:
            return Drop("hex_fraction", f"{hex_fraction:.3f}")
    ext = extension(path)
    if ext not in PROSE_EXTENSIONS:
        mean, longest = len(base) / len(lines), max(map(len, lines))
        if mean > MAX_MEAN_LINE or longest > MAX_LINE:
            return Drop("long_lines", f"mean {mean:.0f}, max {longest}")
    if ext in ("md", "markdown") and not _ENGLISH.search(base):
        return Drop("markdown_not_english", "")
    return None


def subsample_data_files(files: list[ChangedFile], seed: int, key: str) -> list[ChangedFile]:
    """The pull request's files without the YAML/JSON files the subsampling leaves out (seeded by ``key``)."""
    total = sum(len(f.base) for f in files) or 1
    data = [f for f in files if extension(f.path) in ("yaml", "yml", "json")]
    dominant = sum(len(f.base) for f in data) / total > 0.5
    kept = []
    for f in files:
        ext = extension(f.path)
        if ext in ("yaml", "yml", "json"):
            pattern = _JSON_PATHS if ext == "json" else _YAML_PATHS
            if (dominant or pattern.search(f.path)) and _draw(seed, key, f.path) >= DATA_FILE_KEEP:
                continue
        kept.append(f)
    return kept


def _draw(seed: int, key: str, path: str) -> float:
    digest = hashlib.sha1(f"{seed}\0{key}\0{path}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
