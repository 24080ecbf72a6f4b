"""A build's run: its id and directory (the output version it may become), its ``run.json``, and the errors that
stop it. Shared by starting a build (``build``) and finishing it (``finish``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io import publish

RUN_INFO = "run.json"  # in the run directory: what finish_build needs when the launcher did not wait
SHARD = re.compile(r"^(?P<name>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


class RunNotFinished(StackV2Error):
    """The run's pipeline has not finished (or failed): its report or some of its shards are missing."""


class RunFailed(StackV2Error):
    """The run ended without a dataset (pipeline error, failure budget, nothing found): it stays unpublished."""


@dataclass(frozen=True)
class StartedBuild:
    output_dir: str
    run_id: str
    result: object  # the runner's PipelineResult
    finished: bool  # False: submitted only (``wait=False``); ``stack-v2 finish`` completes it

    @property
    def run_dir(self) -> str:
        return run_dir_of(self.output_dir, self.run_id)


def run_dir_of(output_dir: str, run_id: str) -> str:
    """A run writes the version it may become: ``<output>/versions/<run id>/`` (io/publish.py)."""
    return publish.version_dir(output_dir, run_id)


def abandon(output_dir: str, run_id: str, exc: BaseException) -> None:
    """A run that will not be published: say why in its run.json (kept for inspection), free the lock."""
    run_info = storage.join(run_dir_of(output_dir, run_id), RUN_INFO)
    try:
        info = json.loads(storage.read_text(run_info)) if storage.exists(run_info) else {"run_id": run_id}
        info.update(state="failed", error=" ".join(str(exc).split())[:2000] or type(exc).__name__)
        storage.write_text(run_info, json.dumps(info, indent=2) + "\n")
    except Exception:  # noqa: BLE001 - the store may be what failed; the lock matters more
        pass
    try:
        publish.release(output_dir, run_id)
    except Exception:  # noqa: BLE001 - a lock left behind by a dead process is taken over later
        pass
