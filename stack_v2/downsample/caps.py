"""Per-language caps in bytes of ``length_bytes`` (docs/the-stack-v2.md §7.7), from ``filters/downsampling.yaml``
or another file of the same form, or given in a recipe.

    caps:
      Java: 200_000_000_000     # bytes (GB = 10^9 bytes)
      Markdown: null            # listed, not capped

A language not listed is not capped; a listed language with ``null`` is not capped either (said, for the
reader). A cap is an integer >= 0; anything else is an error naming the file and the language.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from stack_v2.errors import StackV2Error
from stack_v2.resources import data_path

CAPS_FILE = data_path("filters/downsampling.yaml")


def _is_cap(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def check_caps(caps, where: str) -> dict[str, int]:
    """The capped languages of a ``{language: bytes or null}`` mapping; StackV2Error naming ``where`` if one is bad."""
    if not isinstance(caps, dict):
        raise StackV2Error(f"{where}: caps must be a mapping of language names to bytes (or null), got {caps!r}")
    for language, value in caps.items():
        if not isinstance(language, str) or not language:
            raise StackV2Error(f"{where}: caps has a key {language!r} that is not a language name")
        if not _is_cap(value):
            raise StackV2Error(
                f"{where}: caps.{language}={value!r} is not allowed (an integer >= 0, in bytes, or null)"
            )
    return {language: value for language, value in caps.items() if value is not None}


def load_caps(path: str | Path | None = None) -> dict[str, int]:
    """The capped languages of a caps file (the shipped ``filters/downsampling.yaml`` by default)."""
    path = Path(path or CAPS_FILE)
    where = f"downsampling caps {path}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackV2Error(f"{where}: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict) or set(data) != {"caps"}:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise StackV2Error(f"{where}: must hold one key, caps (found {keys})")
    return check_caps(data["caps"] or {}, where)
