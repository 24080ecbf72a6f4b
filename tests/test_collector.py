"""The cyclic collector: tuned when the package is imported, and skipped at the command's exit
(stack_v2/collector.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
from importlib.metadata import entry_points

from stack_v2 import collector


def test_importing_the_package_raises_the_collectors_thresholds_and_never_lowers_them():
    assert all(now >= ours for now, ours in zip(gc.get_threshold(), collector.THRESHOLDS))
    before = gc.get_threshold()
    try:
        gc.set_threshold(50_000, 50, 500)
        collector.tune()
        assert gc.get_threshold() == (50_000, 50, 500)
        gc.set_threshold(700, 10, 10)
        collector.tune()
        assert gc.get_threshold() == collector.THRESHOLDS
    finally:
        gc.set_threshold(*before)


# Prints, after the command returned and before the interpreter's finalisation, whether the heap is frozen.
EXIT_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen objects:", gc.get_freeze_count(), flush=True))
from stack_v2 import cli
sys.argv = ["stack-v2", *sys.argv[1:]]
cli.entry()
"""


def _frozen(stdout: str) -> int:
    return int(stdout.rsplit("frozen objects:", 1)[1])


def test_the_command_freezes_the_heap_before_it_exits_and_keeps_main_exit_code(tmp_path):
    ok = subprocess.run([sys.executable, "-c", EXIT_PROBE, "report", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "usage: stack-v2 report" in ok.stdout
    assert _frozen(ok.stdout) == 0  # argparse's --help exits inside main: nothing to skip
    missing = tmp_path / "no-such-dataset"
    bad = subprocess.run([sys.executable, "-c", EXIT_PROBE, "report", str(missing)], capture_output=True, text=True)
    assert bad.returncode == 2, bad.stderr  # main's own exit code for a bad input
    assert f"report: {missing}: no such directory" in bad.stderr
    assert _frozen(bad.stdout) > 10_000  # after main returned: the imported modules' objects at least


def test_the_installed_command_is_the_entry_that_freezes():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "stack-v2"]
    assert script.value == "stack_v2.cli:entry"


def test_a_running_program_is_not_frozen_by_importing_or_tuning():
    collector.tune()
    assert gc.get_freeze_count() == 0
