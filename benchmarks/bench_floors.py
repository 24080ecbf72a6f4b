"""Floors for bench_build.py: the least CPU three of the build's per-file tasks can cost, measured in this
process on an archive's content objects (one gzip file per distinct blob, named by its sha1; see
stack_v2/archive/content.py), so the build's throughput can be read against them.

- gunzip + sha1: read each object, ``zlib.decompress`` it (gzip's C path: header, inflate, CRC and
  length trailer) and check the sha1 of the bytes against the name, as fetch_decode verifies a blob;
- go-enry: ``get_language(path, data)``, ``is_vendor(path)`` and ``is_generated(path, data)`` on every
  object, with a path the blob has in the imported repositories (enry's rules read file names);
- the near-dedup signature pass alone: ``stack_v2.neardedup.minhash.signatures`` over the decoded texts
  (``stack_v2.decode.decode_content``, as fetch_decode decodes; binary and undecodable blobs have no
  text), in batches of 256 as the stage signs them, with the stage's default config.

Each floor counts process CPU time (``time.process_time``: user + system of every thread) around its
own work only, batch by batch; the one-off first calls (numba's compiled pass or its cache, enry's
library load) are left out and reported apart. MB are those the floor reads: decompressed bytes for
the first two, UTF-8 bytes of the decoded texts for the signatures.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

BATCH = 256  # objects read per batch; and texts per signature call, the near_dedup stage's batch_size
GZIP_WBITS = 31  # zlib's gzip container: header and CRC/length trailer checked in C


@dataclass
class Floor:
    files: int = 0
    bytes: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def timed(self, fn, *args):
        """fn(*args), its CPU and wall time added to this floor."""
        cpu, wall = time.process_time(), time.perf_counter()
        out = fn(*args)
        self.cpu_s += time.process_time() - cpu
        self.wall_s += time.perf_counter() - wall
        return out

    def summary(self) -> dict:
        mb = self.bytes / 1e6
        return {
            **asdict(self),
            "cpu_s": round(self.cpu_s, 3),
            "wall_s": round(self.wall_s, 3),
            "mb": round(mb, 2),
            "mb_per_cpu_s": round(mb / self.cpu_s, 2) if self.cpu_s else None,
        }


def content_paths(repos: list[Path]) -> dict[str, str]:
    """sha1 of each file's bytes -> its path in its repository (the first one, for duplicated contents)."""
    paths: dict[str, str] = {}
    for repo in repos:
        for f in sorted(repo.rglob("*")):
            if f.is_file() and ".git" not in f.relative_to(repo).parts:
                paths.setdefault(hashlib.sha1(f.read_bytes()).hexdigest(), f.relative_to(repo).as_posix())
    return paths


def gunzip_sha1(content_dir: Path, names: list[str]) -> list[bytes]:
    blobs = []
    for name in names:
        data = zlib.decompress((content_dir / name).read_bytes(), GZIP_WBITS)
        if hashlib.sha1(data).hexdigest() != name:  # fetch_blob's check; never expected here
            raise ValueError(f"{content_dir / name}: sha1 mismatch")
        blobs.append(data)
    return blobs


def enry_all(paths: list[str], blobs: list[bytes]) -> None:
    import enry

    for path, data in zip(paths, blobs):
        enry.get_language(path, data)
        enry.is_vendor(path)
        enry.is_generated(path, data)


def decoded_texts(blobs: list[bytes]) -> list[str]:
    from stack_v2.decode import decode_content

    return [d[0] for d in map(decode_content, blobs) if isinstance(d, tuple)]


def warm_up(config) -> dict:
    """The one-off costs of the first calls, so that the floors measure steady state."""
    import enry

    from stack_v2.neardedup.minhash import signatures

    started = time.process_time()
    enry.get_language("a.py", b"import os\n")
    enry_s = time.process_time() - started
    started = time.process_time()
    signatures(["warm up the compiled pass"], config)
    return {
        "enry_first_call_cpu_s": round(enry_s, 2),
        "minhash_first_call_cpu_s": round(time.process_time() - started, 2),
    }


def measure_floors(content_dir: Path, paths: dict[str, str]) -> dict:
    """The three floors over every object in ``content_dir``; ``paths``: sha1 -> a path of that content."""
    from stack_v2.neardedup.minhash import signatures
    from stack_v2.stages.near_dedup import NearDedupConfig

    config = NearDedupConfig().minhash()
    results = {"warm_up": warm_up(config)}
    fetch, enry_floor, minhash = Floor(), Floor(), Floor()
    names = sorted(os.listdir(content_dir))
    pending: list[str] = []
    for start in range(0, len(names), BATCH):
        batch = names[start : start + BATCH]
        blobs = fetch.timed(gunzip_sha1, content_dir, batch)
        nbytes = sum(map(len, blobs))
        fetch.files, fetch.bytes = fetch.files + len(blobs), fetch.bytes + nbytes
        enry_floor.timed(enry_all, [paths.get(n, n) for n in batch], blobs)
        enry_floor.files, enry_floor.bytes = enry_floor.files + len(blobs), enry_floor.bytes + nbytes
        pending += decoded_texts(blobs)  # not timed: decoding is fetch_decode's, no floor of these
        while len(pending) >= BATCH or (pending and start + BATCH >= len(names)):
            texts, pending = pending[:BATCH], pending[BATCH:]
            minhash.timed(signatures, texts, config)
            minhash.files += len(texts)
            minhash.bytes += sum(len(t.encode()) for t in texts)
    results["objects_without_path"] = sum(n not in paths for n in names)
    results["floors"] = {
        "gunzip_sha1": fetch.summary(),
        "enry": enry_floor.summary(),
        "minhash_signatures": minhash.summary(),
    }
    return results
