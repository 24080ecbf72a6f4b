"""The repository stands alone: no tracked file cites a file outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what pointed outside before: the team's reference notes and the folder beside the clone
OUTSIDE = re.compile(r"reference/[a-z_]+\.md|stackv2_spec|\.\./shared\b|\bshared/fixtures\b")


def test_no_tracked_file_cites_a_path_outside_the_repository():
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout
    assert len(files.splitlines()) > 100  # the listing worked
    hits = []
    for rel in files.splitlines():
        path = ROOT / rel
        if rel == "tests/test_repository.py" or path.suffix in (".orc", ".parquet", ".png") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert hits == []
