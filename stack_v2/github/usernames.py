"""Usernames replaced by ``username_0``, ``username_1``, ... in order of first appearance: in the speaker labels
and wherever a text names them as a whole word (with or without ``@``). Issues and pull requests share it. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable


def username_map(authors: Iterable[str]) -> dict[str, str]:
    return {author: f"username_{i}" for i, author in enumerate(dict.fromkeys(authors))}


def replacer(names: dict[str, str]):
    """A function replacing every name of ``names`` in a text, longest first, as a whole word only."""
    if not names:
        return lambda text: text
    # Longest first, so that "ann-lee" is replaced before "ann"; "ann" inside "annotate" is not a name.
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?![\w-])"
    )
    return lambda text: pattern.sub(lambda m: names[m.group(1)], text)
