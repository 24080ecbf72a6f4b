"""Where outputs go: a local directory, ``s3://bucket/prefix`` or ``gs://bucket/prefix``, through one API.

Every URI maps to a pyarrow file system and a path in it. Local writes go to a temporary name in the
same directory and are renamed; object stores have no rename, but an object appears only once its upload
(single or multipart) completed, so a reader never sees half a file either way.

S3 follows the AWS conventions (credentials from the usual chain, ``AWS_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_S3`` for S3-compatible servers, ``AWS_REGION``/``AWS_DEFAULT_REGION``); GCS uses
Google's application-default credentials (on Dataflow: the workers' service account), or the emulator
``STORAGE_EMULATOR_HOST`` names.
"""

from __future__ import annotations

import os
import threading
import uuid
from urllib.parse import urlparse

import pyarrow.fs as pafs

from stack_v2.errors import StackV2Error

OBJECT_STORE_SCHEMES = ("s3", "gs")
_FS_CACHE: dict[tuple, pafs.FileSystem] = {}
_FS_LOCK = threading.Lock()


class StorageError(StackV2Error):
    """A URI that cannot be used, or a listing or transfer that failed; the message names the URI."""


def s3_endpoint_url() -> str | None:
    """The S3 endpoint the AWS SDKs would use, from the standard environment variables."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def s3_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def s3_filesystem(unsigned: bool = False) -> pafs.S3FileSystem:
    """One S3 file system per process and setting (pyarrow's clients are thread-safe and pool connections)."""
    endpoint = s3_endpoint_url()
    key = ("s3", unsigned, endpoint, s3_region())
    with _FS_LOCK:
        fs = _FS_CACHE.get(key)
        if fs is None:
            kwargs: dict = {"region": s3_region(), "anonymous": unsigned}
            if endpoint:
                parsed = urlparse(endpoint)
                kwargs["endpoint_override"] = parsed.netloc or parsed.path
                kwargs["scheme"] = parsed.scheme or "https"
            fs = _FS_CACHE[key] = pafs.S3FileSystem(**kwargs)
        return fs


def _gcs_filesystem() -> pafs.FileSystem:
    """Google's application-default credentials; ``STORAGE_EMULATOR_HOST`` (the variable Google's client
    libraries read) points at a GCS emulator instead, without credentials."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST") or None
    key = ("gs", emulator)
    with _FS_LOCK:
        fs = _FS_CACHE.get(key)
        if fs is None:
            if emulator:
                parsed = urlparse(emulator if "://" in emulator else f"http://{emulator}")
                fs = pafs.GcsFileSystem(anonymous=True, endpoint_override=parsed.netloc, scheme=parsed.scheme)
            else:
                fs = pafs.GcsFileSystem()
            _FS_CACHE[key] = fs
        return fs


def scheme(uri: str) -> str:
    parsed = urlparse(uri)
    return "" if len(parsed.scheme) <= 1 else parsed.scheme  # a drive letter is not a scheme


def is_remote(uri: str) -> bool:
    return scheme(uri) in OBJECT_STORE_SCHEMES


def check_uri(uri: str, what: str = "output") -> str:
    """``uri`` if this module can write it, else a StorageError naming it."""
    kind = scheme(uri)
    if kind not in ("", "file", *OBJECT_STORE_SCHEMES):
        raise StorageError(f"{what} {uri!r}: unsupported scheme {kind!r} (use a local path, s3:// or gs://)")
    if kind in OBJECT_STORE_SCHEMES and not urlparse(uri).netloc:
        raise StorageError(f"{what} {uri!r}: a {kind}:// URI needs a bucket name")
    return uri


def absolute(uri: str) -> str:
    """Local paths made absolute (workers may run in another directory); URIs unchanged."""
    kind = scheme(uri)
    if kind in OBJECT_STORE_SCHEMES:
        return uri.rstrip("/")
    return os.path.abspath(urlparse(uri).path if kind == "file" else uri)


def filesystem(uri: str, unsigned: bool = False) -> tuple[pafs.FileSystem, str]:
    """(pyarrow file system, path within it) for ``uri``."""
    kind = scheme(check_uri(uri, "path"))
    if kind in OBJECT_STORE_SCHEMES:
        parsed = urlparse(uri)
        path = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        return (s3_filesystem(unsigned) if kind == "s3" else _gcs_filesystem()), path
    return pafs.LocalFileSystem(), absolute(uri)


def join(base: str, *parts: str) -> str:
    if not is_remote(base):
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def dirname(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[0] if is_remote(uri) else os.path.dirname(uri)


def basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] if is_remote(uri) else os.path.basename(uri)


def _wrap(uri: str, action: str, exc: Exception) -> StorageError:
    return StorageError(f"{uri}: {action} failed ({' '.join(str(exc).split())[:300]})")


def temporary_path(path: str) -> str:
    """A hidden name beside local ``path`` to write to before renaming (listings skip hidden names)."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")


def write_bytes(uri: str, data) -> None:
    """Write ``data`` (bytes or an Arrow buffer) to ``uri`` so that no reader ever sees a partial file."""
    if not is_remote(uri):
        path = absolute(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = temporary_path(path)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return
    fs, path = filesystem(uri)
    try:
        with fs.open_output_stream(path) as f:
            f.write(data)
    except OSError as exc:
        raise _wrap(uri, "writing", exc) from exc


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError:  # callers tell a missing file from a failing store
        raise
    except OSError as exc:
        raise _wrap(uri, "reading", exc) from exc


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def file_type(uri: str) -> pafs.FileType:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type


def exists(uri: str) -> bool:
    return file_type(uri) != pafs.FileType.NotFound


def is_dir(uri: str) -> bool:
    return file_type(uri) == pafs.FileType.Directory


def list_names(uri: str) -> list[str]:
    """Names directly under directory ``uri`` (empty when it does not exist)."""
    fs, path = filesystem(uri)
    if not is_remote(uri):
        return sorted(info.base_name for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))
    # Object stores: from the objects under the prefix (not every server lists "directories" alike)
    return sorted({p[len(path) + 1 :].split("/", 1)[0] for p in _object_paths(fs, path)})


def _object_paths(fs: pafs.FileSystem, path: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return [i.path for i in infos if i.type == pafs.FileType.File]


def list_files(uri: str, suffix: str = "") -> list[str]:
    """Paths (within ``filesystem(uri)``) of the files under ``uri`` at any depth ending with ``suffix``,
    sorted, without hidden ones (temporary files are ``.name.tmp``)."""
    fs, path = filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(suffix) and not i.base_name.startswith(".")
    )


def delete(uri: str) -> None:
    """Remove the file or the directory tree at ``uri``; nothing there is fine."""
    fs, path = filesystem(uri)
    kind = fs.get_file_info(path).type
    try:
        if kind == pafs.FileType.File:
            fs.delete_file(path)
        elif kind == pafs.FileType.Directory and not is_remote(uri):
            fs.delete_dir(path)
        elif kind == pafs.FileType.Directory:
            try:
                fs.delete_dir_contents(path, missing_dir_ok=True)  # batched deletes where the store has them
            except OSError:
                for object_path in _object_paths(fs, path):  # one by one
                    fs.delete_file(object_path)
            try:  # the directory's own marker object, when there is one
                fs.delete_dir(path)
            except OSError:
                pass
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _wrap(uri, "deleting", exc) from exc


def copy_tree(source: str, target: str) -> int:
    """Copy the file or tree ``source`` to ``target`` in the same store (server-side on S3 and GCS);
    returns the number of files copied."""
    fs, src = filesystem(source)
    kind = fs.get_file_info(src).type
    _, dst = filesystem(target)
    if kind == pafs.FileType.File:
        pairs = [(src, dst)]
    else:
        infos = fs.get_file_info(pafs.FileSelector(src, recursive=True, allow_not_found=True))
        pairs = [(i.path, dst + i.path[len(src) :]) for i in infos if i.type == pafs.FileType.File]
    try:
        for a, b in pairs:
            if isinstance(fs, pafs.LocalFileSystem):  # object stores have no directories to make
                fs.create_dir(b.rsplit("/", 1)[0], recursive=True)
            fs.copy_file(a, b)
    except OSError as exc:
        raise _wrap(source, f"copying to {target}", exc) from exc
    return len(pairs)


def upload_tree(local_dir: str, target: str) -> int:
    """Copy the files under local directory ``local_dir`` to ``target``; returns their number."""
    count = 0
    for root, _dirs, names in os.walk(local_dir):
        for name in names:
            local = os.path.join(root, name)
            with open(local, "rb") as f:
                write_bytes(join(target, *os.path.relpath(local, local_dir).split(os.sep)), f.read())
            count += 1
    return count
