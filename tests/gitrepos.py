"""Real git repositories for tests, made with the git CLI from source files of installed packages."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Charles Babbage",
    "GIT_COMMITTER_EMAIL": "charles@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}

# Real source trees shipped with Python: the json and email packages of the standard library.
JSON_SRC = Path(json.__file__).parent
EMAIL_SRC = Path(email.__file__).parent


def git(repo: Path, *args: str, date: str | None = None, input: bytes | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env, input=input)
    return out.stdout.decode().strip()


def init(repo: Path, branch: str = "main") -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", branch)
    return repo


def copy_py_files(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.py")):
        shutil.copy(f, dest / f.name)


def make_library_repo(root: Path, name: str = "jsonlib") -> Path:
    """A small repository of the stdlib json package, two commits."""
    repo = init(root / name)
    copy_py_files(JSON_SRC, repo / "json")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "import json", date="2020-01-02T03:04:05+0200")
    (repo / "README.md").write_text("# jsonlib\n\nThe standard library's json package.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "readme", date="2021-06-07T08:09:10-0500")
    return repo


def make_sample_repo(root: Path, name: str = "sample", submodule: Path | None = None) -> Path:
    """A repository with several commits, an executable, a symlink, nested dirs, a non-UTF-8 file name,
    a tag (annotated) and a second branch; a submodule when ``submodule`` (another repo) is given."""
    repo = init(root / name)
    copy_py_files(EMAIL_SRC, repo / "src" / "email")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "import email package", date="2019-03-04T05:06:07+0100")

    deep = repo / "src" / "email" / "mime"
    copy_py_files(EMAIL_SRC / "mime", deep)
    tool = repo / "bin" / "tool.py"
    tool.parent.mkdir()
    shutil.copy(JSON_SRC / "tool.py", tool)
    tool.chmod(0o755)
    (repo / "docs").mkdir()
    os.symlink("../src/email/__init__.py", repo / "docs" / "email_init.py")
    # A Latin-1 file name (not valid UTF-8), as old repositories have.
    (repo / "docs").joinpath(os.fsdecode(b"caf\xe9.txt")).write_bytes("Café au lait\n".encode("latin-1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mime, tool, docs", date="2020-05-06T07:08:09+0000")
    git(repo, "tag", "-a", "v1.0", "-m", "release 1.0", date="2020-05-06T07:08:10+0000")

    if submodule is not None:
        git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(submodule), "vendor/lib")
        git(repo, "commit", "-qm", "add submodule", date="2021-01-01T00:00:00+0000")

    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "FEATURE.json").write_text(json.dumps({"feature": True}) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature", date="2021-02-02T00:00:00+0000")
    git(repo, "checkout", "-q", "main")
    return repo


def ls_tree(repo: Path, rev: str = "HEAD") -> dict[bytes, tuple[str, str]]:
    """git's own view of a tree: path bytes -> (mode, object id), recursively, files and submodules only."""
    out = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", rev], check=True, capture_output=True).stdout
    entries = {}
    for item in out.split(b"\0"):
        if item:
            meta, path = item.split(b"\t", 1)
            mode, _kind, sha = meta.decode().split()
            entries[path] = (mode, sha)
    return entries
