"""Live progress of a local build: what the workers have decided, per stage, shown as a bar with rate and ETA.

Beam's local runners report their metrics only once a job has finished (the in-process DirectRunner
returns from ``run()`` at the end; the local job service answers ``GetJobMetrics`` with nothing while
a job runs), so the workers tell the launcher themselves, through a directory on the launcher's machine:

- **Workers.** A stage DoFn made while the launcher watches carries the directory (``target()``); in the
  worker it calls ``attach`` (DoFn ``setup``, or ``Tracked``'s unpickling for plain callables). From then
  on, every counted outcome (``count``: kept, dropped, failed, per stage) adds to that process's tally,
  which a daemon thread writes to ``<dir>/<pid>-<random>.json`` twice a second (whole-file rename, so a
  reader never sees half a file). Workers in other processes (``multi_processing``, a worker pool, a
  Dask LocalCluster) reach the directory because they run on this machine; on a remote cluster the
  directory does not exist there and nothing is written (the bar then shows only the elapsed time).
- **Launcher.** ``Watch`` makes the directory, polls the tallies and draws a tqdm bar (a terminal), or a
  line every ``LINE_INTERVAL`` seconds (a log). ``estimate`` is the pure part: from per-stage counts and
  the stages' order, the fraction of stage-work done, the files settled and the stage under way.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import NamedTuple

FLUSH_INTERVAL = 0.5  # seconds between a worker's writes of its tally
POLL_INTERVAL = 0.5  # seconds between the launcher's reads
LINE_INTERVAL = 10.0  # seconds between progress lines when stderr is not a terminal

# The launcher's directory while it watches a build (None otherwise); read when a DoFn is made.
_target: str | None = None
# This process's tally, once a DoFn attached it to a directory.
_sink: _Sink | None = None
_sink_lock = threading.Lock()


# ---- worker side -------------------------------------------------------------------------------------------


class _Sink:
    """One process's per-stage counts: stage -> [files settled, files kept, bytes settled, bytes kept]."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json")
        self.counts: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        self.dirty = False
        threading.Thread(target=self._flush_loop, name="stack-v2-progress", daemon=True).start()
        atexit.register(self.flush)  # a worker process that ends between two flushes

    def add(self, stage: str, kept: bool, nbytes: int) -> None:
        with self.lock:
            c = self.counts.get(stage)
            if c is None:
                c = self.counts[stage] = [0, 0, 0, 0]
            c[0] += 1
            c[1] += kept
            c[2] += nbytes
            if kept:
                c[3] += nbytes
            self.dirty = True

    def flush(self) -> bool:
        """Write the tally; False once the directory is gone (the launcher stopped watching)."""
        with self.lock:
            if not self.dirty:
                return True
            text = json.dumps(self.counts)
            self.dirty = False
        try:
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except FileNotFoundError:
            return False
        return True

    def _flush_loop(self) -> None:
        global _sink
        while True:
            time.sleep(FLUSH_INTERVAL)
            if not self.flush():
                with _sink_lock:
                    if _sink is self:
                        _sink = None
                return


def target() -> str | None:
    """The directory a DoFn made now should report to (None when nobody watches)."""
    return _target


def attach(directory: str | None) -> None:
    """Send this process's counts to ``directory`` from now on (a worker's DoFn setup calls this)."""
    global _sink
    if directory is None or not os.path.isdir(directory):
        return  # not watched, or a worker on another machine
    with _sink_lock:
        if _sink is None or _sink.directory != directory:
            _sink = _Sink(directory)


def count(stage: str, outcome: str, nbytes: int | None) -> None:
    """One file settled by ``stage`` (outcome ``kept``, ``dropped`` or ``failed``); free when unwatched."""
    sink = _sink
    if sink is not None:
        sink.add(stage, outcome == "kept", nbytes or 0)


class Tracked:
    """A plain callable for ``beam.Map``/``FlatMap`` that attaches its worker to the launcher's progress
    directory when unpickled there (such callables have no ``setup`` of their own)."""

    def __init__(self, fn: Callable):
        self._fn, self._target = fn, _target

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __getstate__(self):
        return {"fn": self._fn, "target": self._target}

    def __setstate__(self, state):
        self._fn, self._target = state["fn"], state["target"]
        attach(self._target)


# ---- launcher side -----------------------------------------------------------------------------------------


class StageCount(NamedTuple):
    settled: int  # files the stage decided on (kept + dropped + failed)
    kept: int
    bytes: int
    kept_bytes: int


class Estimate(NamedTuple):
    fraction: float  # of all stage-work, 0..1 (an estimate until the first stage has seen every file)
    settled: int  # files with a final outcome: dropped or failed somewhere, or kept by the last stage
    files: int  # files the first stage has seen so far
    settled_bytes: int
    stage: str  # the first stage still at work ("" when all are done)


def read_counts(directory: str) -> dict[str, StageCount]:
    """Every worker's tally in ``directory``, summed per stage; a file being replaced is skipped."""
    totals: dict[str, list[int]] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name)) as f:
                tally = json.load(f)
        except (OSError, ValueError):
            continue
        for stage, counts in tally.items():
            t = totals.setdefault(stage, [0, 0, 0, 0])
            for i in range(4):
                t[i] += counts[i]
    return {stage: StageCount(*t) for stage, t in totals.items()}


def estimate(chain: Sequence[str], counts: dict[str, StageCount]) -> Estimate:
    """How far a build whose records pass the stages ``chain`` in order has got.

    Work is counted in stage-passes: each stage's expected input is what the stage before kept once that
    one is complete, and until then its input so far times its keep ratio so far.
    """
    empty = StageCount(0, 0, 0, 0)
    first = counts.get(chain[0], empty) if chain else empty
    expected, complete = float(first.settled), True
    done = total = 0.0
    settled = settled_bytes = 0
    stage = ""
    for i, name in enumerate(chain):
        c = counts.get(name, empty)
        total += expected
        done += min(c.settled, expected)
        complete = complete and c.settled >= expected
        if not complete and not stage:
            stage = name
        last = i == len(chain) - 1
        settled += c.settled if last else c.settled - c.kept
        settled_bytes += c.bytes if last else c.bytes - c.kept_bytes
        ratio = c.kept / c.settled if c.settled else 1.0
        expected = float(c.kept) if complete else expected * ratio
    if chain and first.settled == 0:
        stage = "listing"  # the traversal, before the first stage decides anything
    fraction = done / total if total else 0.0
    return Estimate(min(fraction, 1.0), settled, first.settled, settled_bytes, stage)


def _rate(n: float, seconds: float, unit: str) -> str:
    return f"{n / seconds:,.1f} {unit}/s" if seconds > 0 else f"- {unit}/s"


def describe(est: Estimate, seconds: float) -> str:
    """The words after the bar: files settled of files seen, rates, the stage under way."""
    at = "listing files" if est.stage == "listing" else f"at {est.stage}" if est.stage else "writing outputs"
    return (
        f"{est.settled:,}/{est.files:,} files, {_rate(est.settled, seconds, 'files')}, "
        f"{_rate(est.settled_bytes / 1e6, seconds, 'MB')}, {at}"
    )


class Watch:
    """While a build runs, show its progress on ``stream`` (a context manager; inactive when not ``enabled``).

    Sets this process's ``target()`` on entry, so the stages made inside report here.
    """

    def __init__(
        self, chain_of: Callable[[], Sequence[str]] | Sequence[str] = (), *, enabled: bool = True, stream=None
    ):
        self._chain_of = chain_of if callable(chain_of) else (lambda: chain_of)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.directory: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._bar = None
        self._last_line = 0.0
        self._shown = 0.0  # the bar never runs backwards, though the estimate may when keep ratios move
        self.last: Estimate | None = None

    def __enter__(self) -> Watch:
        global _target
        if self.enabled:
            self.directory = tempfile.mkdtemp(prefix="stack-v2-progress-")
            _target = self.directory
        return self

    def start(self) -> None:
        """Begin drawing (after the pipeline is built: the stages' order is known then)."""
        if not self.enabled or self._thread is not None:
            return
        self.chain = list(self._chain_of())
        self._started = time.monotonic()
        self._last_line = self._started
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=1000,
                file=self.stream,
                desc="stack-v2",
                leave=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
            )
        self._thread = threading.Thread(target=self._loop, name="stack-v2-progress-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            self._show(final=False)

    def _show(self, final: bool) -> None:
        est = estimate(self.chain, read_counts(self.directory))
        self.last = est
        self._shown = 1.0 if final else max(self._shown, est.fraction)
        seconds = time.monotonic() - self._started
        if self._bar is not None:
            self._bar.n = int(self._shown * 1000)
            self._bar.set_postfix_str(describe(est, seconds), refresh=False)
            self._bar.refresh()
        elif final or time.monotonic() - self._last_line >= LINE_INTERVAL:
            self._last_line = time.monotonic()
            if final:
                eta = "done"
            elif self._shown > 0:
                eta = f"ETA {_clock(seconds * (1 - self._shown) / self._shown)}"
            else:
                eta = "ETA -"
            print(
                f"[stack-v2] {100 * self._shown:3.0f}% {_clock(seconds)} {eta}: {describe(est, seconds)}",
                file=self.stream,
                flush=True,
            )

    def __exit__(self, exc_type, exc, tb) -> None:
        global _target
        _target = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            if exc_type is None:
                _flush_here()
                if _others_report(self.directory):
                    time.sleep(FLUSH_INTERVAL * 1.5)  # their last counts: a worker flushes every FLUSH_INTERVAL
                self._show(final=True)
            if self._bar is not None:
                self._bar.close()
        if self.directory:
            _detach_here(self.directory)
            for name in os.listdir(self.directory):
                os.unlink(os.path.join(self.directory, name))
            os.rmdir(self.directory)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _others_report(directory: str) -> bool:
    """Whether processes other than this one wrote tallies (workers of multi_processing, a pool, Dask)."""
    return any(not name.startswith(f"{os.getpid()}-") for name in os.listdir(directory))


def _flush_here() -> None:
    """This process's own workers (the in-process DirectRunner, LOOPBACK) write their last counts now."""
    sink = _sink
    if sink is not None:
        sink.flush()


def _detach_here(directory: str) -> None:
    global _sink
    with _sink_lock:
        if _sink is not None and _sink.directory == directory:
            _sink = None
