"""Python's cyclic garbage collector, tuned for a build's allocation pattern.

A build allocates millions of short-lived objects (records, tuples, encoded elements) while it holds a
large heap (Beam's modules, the runner's buffers, a stage's grouped values). With CPython's default
thresholds (700, 10, 10) the collector runs a young pass every 700 net allocations and, every hundred of
those, a full pass over the whole heap: about 2.5 of the 59 CPU-seconds of bench_build's 408 MB build and a
second of the one-repository build's 5.7 (seven full passes during imports and pipeline construction
alone). Almost nothing a build allocates is cyclic garbage, so fewer, later passes cost less and free the
same: (10000, 20, 100) leaves about 0.7 and 0.3 CPU-seconds. Reference counting still frees everything
acyclic at once; only cycles wait longer.

``tune()`` runs when the package is imported (stack_v2/__init__.py), so that the command, a worker that
loads the stages, and a program that drives builds from Python all start tuned; a program that wants
other thresholds sets them after importing stack_v2.

``skip_final_collection()`` is for a process about to exit (the ``stack-v2`` command calls it after its
command returned): the interpreter's finalisation otherwise collects the whole heap once more, tearing down
every module's cycles object by object, before the operating system takes the memory back anyway; that was
about 0.8 of the one-repository build's 5 CPU-seconds.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 100)  # young-generation allocations, then passes before each older one


def tune() -> None:
    """Raise the collector's thresholds to ``THRESHOLDS`` (never lower them: a caller's higher ones stay)."""
    current = gc.get_threshold()
    gc.set_threshold(*(max(now, ours) for now, ours in zip(current, THRESHOLDS)))


def skip_final_collection() -> None:
    """``gc.freeze()``: every live object leaves the collector's generations, so the interpreter's exit does
    not walk and tear down the heap's cycles. Only where the process ends next: frozen cycles are never
    collected (a long-lived program that calls it leaks every cycle alive at that moment)."""
    gc.freeze()
