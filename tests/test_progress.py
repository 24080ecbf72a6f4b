"""Progress of a local build: the estimate from per-stage counts, and tallies that cross processes.

The runners' own processes (multi_processing, a worker pool, Dask) are covered in test_runners.py,
which checks each build's last progress line against its report.json.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle

from stack_v2 import progress
from stack_v2.progress import StageCount, estimate

CHAIN = ["select", "license", "exact_dedup", "fetch_decode"]


def test_nothing_decided_yet_is_the_listing():
    est = estimate(CHAIN, {})
    assert (est.fraction, est.settled, est.files, est.stage) == (0.0, 0, 0, "listing")


def test_a_stage_half_way_with_the_keep_ratio_so_far():
    counts = {
        "select": StageCount(100, 80, 1000, 800),  # complete: 20 dropped
        "license": StageCount(40, 20, 400, 200),  # half of its 80, keeping half so far
        "exact_dedup": StageCount(10, 10, 100, 100),
    }
    est = estimate(CHAIN, counts)
    # expected inputs: select 100, license 80, exact_dedup 40 (80 x 1/2), fetch_decode 40 (nothing seen: ratio 1)
    assert est.fraction == (100 + 40 + 10 + 0) / (100 + 80 + 40 + 40)
    assert est.settled == 20 + 20 + 0  # dropped by select and license; nothing reached the last stage
    assert (est.files, est.stage) == (100, "license")
    assert est.settled_bytes == 200 + 200


def test_a_finished_build_is_whole_and_every_file_settled():
    counts = {
        "select": StageCount(423, 423, 6110, 6110),
        "license": StageCount(423, 370, 6110, 5040),
        "exact_dedup": StageCount(370, 357, 5040, 5030),
        "fetch_decode": StageCount(357, 338, 5030, 4920),
    }
    est = estimate(CHAIN, counts)
    assert (est.fraction, est.settled, est.files, est.stage) == (1.0, 423, 423, "")
    assert est.settled_bytes == 6110


def test_the_estimate_tracks_the_true_share_of_stage_work():
    import random

    rng = random.Random(7)
    files = [[rng.random() < 0.8 for _ in CHAIN] for _ in range(200)]  # kept by each stage or not
    passes = sum(sum(all(keeps[:i]) for i in range(len(CHAIN))) for keeps in files)  # stage inputs, in all
    counts = {s: [0, 0, 0, 0] for s in CHAIN}
    done = 0
    for i, name in enumerate(CHAIN):  # stage by stage, as Beam runs them between shuffles
        for keeps in files:
            if all(keeps[:i]):
                counts[name][0] += 1
                counts[name][1] += keeps[i]
                done += 1
                fraction = estimate(CHAIN, {s: StageCount(*c) for s, c in counts.items()}).fraction
                assert 0.0 <= fraction <= 1.0
                if i > 0:  # until the first stage has seen every file, the total is not known
                    assert abs(fraction - done / passes) < 0.08, (name, done)
    assert fraction == 1.0


def _count_in_child(tracked_bytes: bytes) -> None:
    fn = pickle.loads(tracked_bytes)  # attaches this process to the launcher's directory
    for n in fn(3):
        progress.count("select", "kept" if n else "dropped", 100)


def _numbers(n: int):
    return range(n)


def test_a_worker_process_reports_through_the_directory_of_the_pickled_callable():
    out = io.StringIO()
    with progress.Watch(["select"], stream=out) as watch:
        tracked = progress.Tracked(_numbers)  # made while watched: carries the directory
        watch.start()
        child = multiprocessing.get_context("spawn").Process(target=_count_in_child, args=(pickle.dumps(tracked),))
        child.start()
        child.join()
        assert child.exitcode == 0
        names = os.listdir(watch.directory)
        assert names and all(name.startswith(f"{child.pid}-") for name in names)
        assert progress.read_counts(watch.directory) == {"select": StageCount(3, 2, 300, 200)}
        directory = watch.directory
    assert watch.last.settled == 3 and watch.last.fraction == 1.0
    assert "100%" in out.getvalue() and "done: 3/3 files" in out.getvalue()
    assert not os.path.exists(directory)  # the launcher cleans up
    assert progress.target() is None


def test_unwatched_counting_writes_nothing_and_a_quiet_watch_makes_no_directory():
    progress.count("select", "kept", 10)
    assert progress._sink is None
    with progress.Watch(["select"], enabled=False) as watch:
        watch.start()
        assert watch.directory is None and progress.target() is None
