"""Publishing a dataset: versioned directories, a pointer written last, and one writer at a time.

Layout of a dataset ``DATASET`` (a local directory, ``s3://`` or ``gs://`` prefix)::

    DATASET/versions/<version>/   one complete dataset each (data/, manifest/, dropped/, report.json, ...)
    DATASET/current               local: a symlink to versions/<version>, the current version
    DATASET/CURRENT               object stores: a small object holding the current version's name
    DATASET/data, manifest, ...   local: fixed symlinks through ``current`` (current/data, ...), so ordinary
                                  clients read DATASET/data/... as before
    DATASET/.lock                 the writer's lock: who holds it, since when

A writer (``build``, ``finish``, ``optout apply``, ``manifest regenerate``) takes the lock, writes a new
version directory beside the current one, and publishes it by replacing the pointer: one rename of a
symlink locally, one PUT of a small object on S3 and GCS. Either is atomic, so at every instant a reader
resolving the pointer sees the previous complete dataset or the new one, never a mix; a writer killed at
any point leaves the pointer as it was. Readers that read several files resolve the pointer once
(``resolve``) and read under that version.

After publishing, versions other than the new one and the one it replaced are deleted: the previous one
stays for readers still reading it and for going back by hand. ``keep_previous=False`` (opt-outs) deletes
it too, so removed files do not linger.

The lock is created only if absent (``O_EXCL`` locally, a conditional PUT on S3 and GCS). A lock whose
holder was a process on this machine that no longer runs (killed) is stale and taken over, with a message;
any other lock stops the second writer with one line naming its holder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sys
import uuid

from stack_v2 import storage
from stack_v2.errors import StackV2Error

VERSIONS = "versions"
POINTER_LINK = "current"  # local
POINTER_OBJECT = "CURRENT"  # object stores
LOCK = ".lock"


class DatasetLocked(StackV2Error):
    """Another writer holds the dataset's lock."""


class LayoutError(StackV2Error):
    """The output holds something this module would overwrite (a dataset in the old flat layout)."""


def new_version_id() -> str:
    """Sortable by creation time, unique: ``20261204T181500Z-3f2a9c1b7d20``."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def version_dir(dataset: str, version: str) -> str:
    return storage.join(dataset, VERSIONS, version)


def list_versions(dataset: str) -> list[str]:
    return storage.list_names(storage.join(dataset, VERSIONS))


def current_version(dataset: str) -> str | None:
    """The current version's name, or None when nothing was published yet."""
    if storage.is_remote(dataset):
        try:
            return storage.read_text(storage.join(dataset, POINTER_OBJECT)).strip() or None
        except FileNotFoundError:
            return None
    link = os.path.join(dataset, POINTER_LINK)
    if not os.path.islink(link):
        return None
    return os.path.basename(os.readlink(link).rstrip("/"))


def resolve(dataset: str) -> str:
    """The directory to read ``dataset`` from: its current version; a directory that is itself one
    dataset (a version directory, or a copy made by hand) as it is."""
    dataset = storage.absolute(dataset)
    version = current_version(dataset)
    if version is not None:
        return version_dir(dataset, version)
    return dataset


ADOPTED = "adopted"  # the version a flat dataset's outputs are moved into


def check_layout(dataset: str, names) -> None:
    """Make ``dataset`` ready for versioned publishing. A local dataset in the flat layout (written by an
    older stack-v2, or copied without its symlinks) is adopted: its outputs are moved into
    ``versions/adopted/``, which becomes current. Each move is one rename; a writer killed meanwhile
    leaves them split between the two places, and the next writer finishes the moves. On object stores,
    where that would mean copying, such an output is refused."""
    if storage.is_remote(dataset):
        taken = [n for n in storage.list_names(dataset) if n in names]
        if taken:
            raise LayoutError(
                f"{dataset}: holds {', '.join(sorted(taken))} outside {VERSIONS}/ (a dataset in "
                "the flat layout of an older stack-v2, or other objects): choose another output "
                "or move them away"
            )
        return
    flat = [
        n for n in names if os.path.lexists(os.path.join(dataset, n)) and not os.path.islink(os.path.join(dataset, n))
    ]
    link = os.path.join(dataset, POINTER_LINK)
    if os.path.lexists(link) and not os.path.islink(link):
        raise LayoutError(
            f"{dataset}: {POINTER_LINK} is not a symlink (a dataset copied without its symlinks? "
            "copy with `cp -a` or shutil.copytree(symlinks=True))"
        )
    adopted = version_dir(dataset, ADOPTED)
    if not flat and not (os.path.isdir(adopted) and current_version(dataset) is None):
        return
    print(
        f"[stack-v2] {dataset}: moving the outputs of a flat-layout dataset into {VERSIONS}/{ADOPTED}/", file=sys.stderr
    )
    os.makedirs(adopted, exist_ok=True)
    for name in flat:
        os.replace(os.path.join(dataset, name), os.path.join(adopted, name))
    publish(dataset, ADOPTED, names)


def publish(dataset: str, version: str, names, *, keep_previous: bool = True) -> str | None:
    """Make ``version`` the current one (atomically), then delete the versions no longer needed.
    Returns the version it replaced. The caller holds the lock; the lock records the version being
    replaced, so that a writer killed after the pointer moved can be cleaned up after (``clean_up``)."""
    previous = current_version(dataset)
    holder = read_lock(dataset)
    if holder is not None and holder.get("run_id") == version and previous != version:
        set_lock(dataset, {**holder, "replacing": previous if keep_previous else None})
    failpoint("publish:before_pointer")
    if storage.is_remote(dataset):
        storage.write_text(storage.join(dataset, POINTER_OBJECT), version + "\n")
    else:
        _swap_symlink(os.path.join(dataset, POINTER_LINK), f"{VERSIONS}/{version}")
        root = version_dir(dataset, version)
        for name in names:  # links through `current` (never retargeted), for the names this version has
            link, present = os.path.join(dataset, name), os.path.lexists(os.path.join(root, name))
            if present and not os.path.lexists(link):
                os.symlink(f"{POINTER_LINK}/{name}", link)
            elif not present and os.path.islink(link):
                os.remove(link)
    failpoint("publish:after_pointer")
    clean_up(dataset, version, previous if keep_previous else None)
    return previous


def clean_up(dataset: str, current: str, previous: str | None) -> None:
    """Delete every version but ``current`` and ``previous``."""
    for other in list_versions(dataset):
        if other not in (current, previous):
            storage.delete(version_dir(dataset, other))


def failpoint(name: str) -> None:
    """Fault injection for the fault-injection tests: ``STACK_V2_FAILPOINT=<name>`` kills this process
    with SIGKILL here, as a crash or an out-of-memory kill would, at the worst moment."""
    if os.environ.get("STACK_V2_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _swap_symlink(link: str, target: str) -> None:
    tmp = os.path.join(os.path.dirname(link), f".{os.path.basename(link)}.{uuid.uuid4().hex}.tmp")
    os.symlink(target, tmp)
    os.replace(tmp, link)  # rename(2): atomic
    fd = os.open(os.path.dirname(link), os.O_RDONLY)
    try:
        os.fsync(fd)  # the new pointer survives a power cut once publish returned
    finally:
        os.close(fd)


# --- the lock ---------------------------------------------------------------------------------------


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a live pid from a reused one)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has finished


def _holder(run_id: str, command: str, detached: bool) -> dict:
    return {
        "run_id": run_id,
        "command": command,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "detached": detached,
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def read_lock(dataset: str) -> dict | None:
    try:
        text = storage.read_text(storage.join(dataset, LOCK))
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"run_id": "?", "command": "?", "host": "?", "pid": 0, "detached": True, "since": "?"}


def is_stale(holder: dict) -> bool:
    """A holder that ran on this machine, did not hand its run to ``finish`` and no longer runs."""
    if holder.get("detached") or holder.get("host") != socket.gethostname():
        return False
    start = _process_start(int(holder.get("pid") or 0))
    return start is None or start != holder.get("process_start")


def describe_holder(dataset: str, holder: dict) -> str:
    what = f"{holder.get('command')} run {holder.get('run_id')}"
    where = f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"
    if holder.get("detached"):
        return (
            f"{dataset} is locked by {what} (submitted without waiting; {where}): complete it with "
            f"`stack-v2 finish {dataset} --run {holder.get('run_id')}` or drop it with --rollback"
        )
    return f"{dataset} is locked by {what} ({where}): wait for it to end"


def _create_exclusive(dataset: str, text: str) -> bool:
    """Create the lock object only if absent; False when it exists."""
    uri = storage.join(dataset, LOCK)
    kind = storage.scheme(dataset)
    if kind == "s3":
        return _s3_create_exclusive(uri, text)
    if kind == "gs":
        return _gcs_create_exclusive(uri, text)
    path = storage.absolute(uri)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:  # not a directory, read-only, no permission: the output cannot be written
        raise storage.StorageError(f"output {dataset}: cannot be written ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def _s3_create_exclusive(uri: str, text: str) -> bool:
    from urllib.parse import urlparse

    import boto3
    import botocore.exceptions

    parsed = urlparse(uri)
    client = boto3.client("s3", endpoint_url=storage.s3_endpoint_url(), region_name=storage.s3_region())
    try:  # S3's conditional write: refused with 412 when the key exists
        client.put_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), Body=text.encode(), IfNoneMatch="*")
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode"
        ) in (409, 412):
            return False
        raise storage.StorageError(f"{uri}: taking the lock failed ({code or exc})") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise storage.StorageError(f"{uri}: taking the lock failed ({exc})") from exc
    return True


def _gcs_create_exclusive(uri: str, text: str) -> bool:
    from urllib.parse import urlparse

    try:
        from google.api_core import exceptions as gexc
        from google.cloud import storage as gcs
    except ImportError as exc:
        raise storage.StorageError(
            f"{uri}: locking a gs:// dataset needs google-cloud-storage (pip install 'stack-v2[gcp]')"
        ) from exc
    parsed = urlparse(uri)
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    client = gcs.Client.create_anonymous_client() if emulator else gcs.Client()
    blob = client.bucket(parsed.netloc).blob(parsed.path.lstrip("/"))
    try:  # generation 0: create only if no live object has the name
        blob.upload_from_string(text.encode(), if_generation_match=0)
    except gexc.PreconditionFailed:
        return False
    except gexc.GoogleAPIError as exc:
        raise storage.StorageError(f"{uri}: taking the lock failed ({exc})") from exc
    return True


def acquire(dataset: str, run_id: str, command: str, *, detached: bool = False) -> dict:
    """Take the dataset's lock for ``run_id`` or raise DatasetLocked naming the holder."""
    mine = _holder(run_id, command, detached)
    for _attempt in range(3):
        # Look first: a store that ignores the create-only condition (GCS emulators) still refuses a
        # writer that comes second; the conditional create closes the race on S3 and GCS themselves.
        holder = read_lock(dataset)
        if holder is None and _create_exclusive(dataset, json.dumps(mine) + "\n"):
            return mine
        holder = holder or read_lock(dataset)
        if holder is None:
            continue  # released meanwhile
        if holder.get("run_id") == run_id:  # finish taking over its own detached run
            set_lock(dataset, mine)
            return mine
        if not is_stale(holder):
            raise DatasetLocked(describe_holder(dataset, holder))
        print(
            f"[stack-v2] {dataset}: taking over the lock of {holder.get('command')} run {holder.get('run_id')} "
            f"(pid {holder.get('pid')} no longer runs); its unpublished version is left in "
            f"{VERSIONS}/ until the next publish",
            file=sys.stderr,
        )
        storage.delete(storage.join(dataset, LOCK))
    raise DatasetLocked(f"{dataset}: could not take the lock (another writer keeps taking it)")


def set_lock(dataset: str, holder: dict) -> None:
    storage.write_text(storage.join(dataset, LOCK), json.dumps(holder) + "\n")


def release(dataset: str, run_id: str) -> None:
    """Remove the lock if ``run_id`` holds it."""
    holder = read_lock(dataset)
    if holder is not None and holder.get("run_id") == run_id:
        storage.delete(storage.join(dataset, LOCK))
