"""License detection with ScanCode, each distinct blob once.

ScanCode (``licensedcode.detection.detect_licenses(query_string=..., deadline=...)``, as the paper's
code calls it) loads its index once per process; every symbol of every detected expression becomes
its SPDX key (``LicenseRef-scancode-<key>`` where ScanCode has no SPDX id). The same license files
recur across millions of repositories, and a blob's bytes fix its result, so results are cached by
blob_id: in memory for the process (shared by a worker's bundles) and in SQLite on disk (kept between
runs, keyed by ScanCode's version so an upgrade starts afresh). That cache is the exact fast path:
a hit gives the identical result without running ScanCode. With the licenses it keeps what ScanCode
matched (``evidence.FileLicenses``: rules, kinds, extents, coverage), which the precise rule weighs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from importlib.metadata import version
from typing import NamedTuple

from stack_v2.decode import decode_content
from stack_v2.licenses.evidence import EVIDENCE_VERSION, FileLicenses, from_scancode
from stack_v2.verdicts import Drop

# The paper's code calls detect_licenses(deadline=100). ScanCode's ``deadline`` is an absolute
# time.time() value, so a literal 100 lies in 1970 and stops matching at once (on 32.5 it finds
# nothing, not even a plain MIT text); we read the paper's intent as a 100-second budget per file.
DEADLINE_SECONDS = 100.0
MAX_LICENSE_FILE_BYTES = 1024 * 1024  # larger "license" files (huge READMEs) are not scanned


def default_cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "stack-v2", "license-cache.sqlite")


class Detection(NamedTuple):
    """Licenses found in one blob, or why detection failed (then ``licenses`` is empty)."""

    licenses: tuple[str, ...]
    failure: str | None = None  # binary | undecodable | too_large | timeout | error
    detail: str = ""
    cached: bool = False
    evidence: FileLicenses | None = None  # what ScanCode matched (None when detection failed)


class LicenseCache:
    """blob_id -> (licenses, evidence), in memory and (when a path is given) in SQLite, safe across threads and
    processes. The table ``detections`` holds both; an older cache's ``licenses`` table (no evidence) is
    left alone, and its blobs are scanned again."""

    _memory: dict[tuple[str, str], tuple[tuple[str, ...], FileLicenses]] = {}  # shared by every instance
    _lock = threading.Lock()

    def __init__(self, path: str | None, scancode_version: str):
        self._path, self._version = path, scancode_version
        self._db = None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS detections (scancode TEXT, blob_id TEXT, licenses TEXT, evidence TEXT, "
                "PRIMARY KEY (scancode, blob_id))"
            )
            self._db.commit()

    def get(self, blob_id: str) -> tuple[tuple[str, ...], FileLicenses] | None:
        key = (self._version, blob_id)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            if self._db is None:
                return None
            row = self._db.execute(
                "SELECT licenses, evidence FROM detections WHERE scancode = ? AND blob_id = ?", key
            ).fetchone()
            if row is None:
                return None
            found = tuple(json.loads(row[0])), FileLicenses.from_json(json.loads(row[1]))
            self._memory[key] = found
            return found

    def put(self, blob_id: str, licenses: tuple[str, ...], evidence: FileLicenses) -> None:
        key = (self._version, blob_id)
        with self._lock:
            self._memory[key] = licenses, evidence
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO detections VALUES (?, ?, ?, ?)",
                    (*key, json.dumps(licenses), json.dumps(evidence.to_json())),
                )
                self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @classmethod
    def clear_memory(cls) -> None:
        with cls._lock:
            cls._memory.clear()


class ScanCodeDetector:
    """Loads ScanCode's index on first use (seconds) and turns texts into sorted SPDX keys."""

    _load_lock = threading.Lock()

    def __init__(
        self, deadline: float = DEADLINE_SECONDS, max_bytes: int = MAX_LICENSE_FILE_BYTES, cache_path: str | None = None
    ):
        self.deadline, self.max_bytes = deadline, max_bytes
        self.scancode_version = version("scancode-toolkit")
        # Keyed by what the evidence records too: a cache filled by an older recording is not read.
        self.cache = LicenseCache(cache_path, f"{self.scancode_version}+evidence-{EVIDENCE_VERSION}")
        self._index = None
        self.calls = 0  # ScanCode runs (cache misses)

    def load(self) -> None:
        with self._load_lock:
            if self._index is None:
                from licensedcode.cache import get_index, get_licenses_db, get_licensing

                self._index, self._licensing, self._db = get_index(), get_licensing(), get_licenses_db()

    def _spdx(self, key: str) -> str:
        license_ = self._db.get(key)
        return license_.spdx_license_key if license_ and license_.spdx_license_key else f"LicenseRef-scancode-{key}"

    def scan(self, text: str) -> tuple[tuple[str, ...], FileLicenses]:
        """ScanCode's licenses in ``text`` as sorted, distinct SPDX keys, and what it matched (may raise, may
        exceed the deadline)."""
        from licensedcode.detection import detect_licenses

        self.load()
        keys = set()
        deadline = time.time() + self.deadline
        detections = list(detect_licenses(query_string=text, index=self._index, deadline=deadline))
        for detection in detections:
            if not detection.license_expression:
                continue
            for symbol in self._licensing.license_symbols(detection.license_expression):
                keys.add(self._spdx(symbol.key))
        return tuple(sorted(keys)), from_scancode(detections, text, self._index, self._spdx)

    def spdx_keys(self, text: str) -> tuple[str, ...]:
        """ScanCode's licenses in ``text`` as sorted, distinct SPDX keys."""
        return self.scan(text)[0]

    def detect(self, blob_id: str, data: bytes) -> Detection:
        """The blob's licenses (cached by blob_id), or a failure with its reason; never raises."""
        cached = self.cache.get(blob_id)
        if cached is not None:
            return Detection(cached[0], cached=True, evidence=cached[1])
        if len(data) > self.max_bytes:
            return Detection((), "too_large", f"length={len(data)} > {self.max_bytes}")
        decoded = decode_content(data)
        if isinstance(decoded, Drop):  # binary or undecodable
            return Detection((), decoded.reason, decoded.detail)
        self.calls += 1
        started = time.perf_counter()
        try:
            licenses, evidence = self.scan(decoded[0])
        except Exception as exc:  # ScanCode's own failure: reported, the run goes on
            return Detection((), "error", f"{type(exc).__name__}: {exc}"[:500])
        elapsed = time.perf_counter() - started
        if elapsed > self.deadline:  # ScanCode stops matching at the deadline: the result may be partial
            return Detection((), "timeout", f"{elapsed:.1f} s > deadline {self.deadline} s")
        self.cache.put(blob_id, licenses, evidence)
        return Detection(licenses, evidence=evidence)
