"""StarCoder2's training-document format, as pure functions: a repository's files -> documents.

A repository's files are put in a seeded random order and joined as::

    <repo_name>{repo_name}<file_sep>{path}\\n{content}<file_sep>{path}\\n{content}...<|endoftext|>

with the repository and path metadata (``metadata_rate`` of repositories), else as::

    <file_sep>{content}<file_sep>{content}...<|endoftext|>

File-level fill-in-the-middle: a repository is a candidate with probability ``fim_rate``; each file of a
candidate is transformed with probability ``fim_file_rate``: its content is cut at two uniformly random
character positions into prefix, middle and suffix, and the file's part after ``<file_sep>`` becomes

- PSM ``<fim_prefix>{path\\n}{prefix}<fim_suffix>{suffix}<fim_middle>{middle}``, or, with probability
  ``fim_spm_rate``,
- SPM ``<fim_prefix><fim_suffix>{suffix}<fim_middle>{path\\n}{prefix}{middle}`` (the StarCoder/Megatron
  variant: no prefix before ``<fim_suffix>``).

The path line stays at the start of the prefix, as in StarCoder2's repository-level FIM prompts. FIM is
applied to characters here; StarCoder2's Megatron code applies it to tokens after tokenization.

Every decision comes from a hash-seeded RNG of (seed, what is decided, repository, path), so a repository's
documents do not depend on the order its files arrive in, on other repositories or on the runner.

A repository whose document would exceed ``max_document_chars`` is split at file boundaries into several
documents (``part`` 0, 1, ...), each with the metadata header when the repository has metadata; a file
larger than the limit alone becomes a document of its own, never cut. A document carries its ``pieces``:
one per file, each starting with a sentinel (the header goes with the first file, ``<|endoftext|>`` with
the last), so a tokenizer whose special tokens are the sentinels counts a document as the sum of its pieces.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sentinels:
    """The special strings of the format (StarCoder2's by default). ``fim_pad`` is not written (it pads
    token-level FIM to a fixed length) but, like the others, a content holding it is left out."""

    eos: str = "<|endoftext|>"
    repo_name: str = "<repo_name>"
    file_sep: str = "<file_sep>"
    fim_prefix: str = "<fim_prefix>"
    fim_middle: str = "<fim_middle>"
    fim_suffix: str = "<fim_suffix>"
    fim_pad: str = "<fim_pad>"

    def __post_init__(self):
        values = self.all()
        if any(not v for v in values):
            raise ValueError("sentinels must be non-empty strings")
        for a in values:
            if any(a != b and a in b for b in values):
                raise ValueError(f"sentinel {a!r} is part of another sentinel (they must not overlap)")
        if len(set(values)) != len(values):
            raise ValueError("sentinels must be distinct")

    def all(self) -> tuple[str, ...]:
        return (
            self.eos,
            self.repo_name,
            self.file_sep,
            self.fim_prefix,
            self.fim_middle,
            self.fim_suffix,
            self.fim_pad,
        )


@dataclass(frozen=True)
class FormatConfig:
    seed: int = 0
    metadata_rate: float = 0.5
    fim_rate: float = 0.5
    fim_file_rate: float = 0.5
    fim_spm_rate: float = 0.5
    max_document_chars: int = 1_000_000  # 0: no limit
    sentinels: Sentinels = field(default_factory=Sentinels)

    def __post_init__(self):
        for name in ("metadata_rate", "fim_rate", "fim_file_rate", "fim_spm_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.max_document_chars < 0:
            raise ValueError(f"max_document_chars must be >= 0 (0: no limit), not {self.max_document_chars}")


@dataclass(frozen=True)
class File:
    path: str
    language: str | None
    content: str


@dataclass
class Document:
    """One training document: ``text`` is ``"".join(pieces)``; ``languages[i]`` is the language of piece i."""

    repo_name: str | None
    pieces: list[str]
    languages: list[str | None]
    has_metadata: bool = False
    fim_files: int = 0
    fim_spm: int = 0
    part: int = 0
    num_parts: int = 1

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def num_files(self) -> int:
        return len(self.pieces)


# -- decisions ------------------------------------------------------------------------------------


def hash64(seed: int, what: str, *names: str) -> int:
    """A 64-bit hash of (seed, what, names): BLAKE2b, in the standard library and the same everywhere."""
    key = "\0".join((str(seed), what, *names)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def rng(seed: int, what: str, *names: str) -> random.Random:
    """The RNG of one decision, seeded by ``hash64``: independent of every other decision."""
    return random.Random(hash64(seed, what, *names))


def order_key(seed: int, repo_name: str, path: str) -> int:
    """Files sorted by this are in a seeded random order (a shuffle that ignores the input's order)."""
    return hash64(seed, "order", repo_name, path)


def has_metadata(config: FormatConfig, repo_name: str) -> bool:
    return rng(config.seed, "metadata", repo_name).random() < config.metadata_rate


def is_fim_candidate(config: FormatConfig, repo_name: str) -> bool:
    return rng(config.seed, "fim", repo_name).random() < config.fim_rate


def leave_out_reason(sentinels: Sentinels, repo_name: str | None, path: str | None, content: str) -> str | None:
    """Why a file cannot be written so that it parses back unchanged, or None. Checked before rendering."""
    for value, reason in ((content, "content_contains_sentinel"), (path, "path_contains_sentinel")):
        if value is not None and any(s in value for s in sentinels.all()):
            return reason
    if path is not None and "\n" in path:
        return "path_contains_newline"  # the path line ends at the first newline
    if repo_name is not None and (any(s in repo_name for s in sentinels.all()) or "\n" in repo_name):
        return "repo_name_contains_sentinel"
    return None


# -- rendering ------------------------------------------------------------------------------------


def fim_body(sentinels: Sentinels, head: str, content: str, r: random.Random, spm: bool) -> str:
    """A file's part after ``<file_sep>``, transformed: ``head`` (the path line or "") starts the prefix."""
    a, b = sorted((r.randint(0, len(content)), r.randint(0, len(content))))
    prefix, middle, suffix = head + content[:a], content[a:b], content[b:]
    s = sentinels
    if spm:
        return f"{s.fim_prefix}{s.fim_suffix}{suffix}{s.fim_middle}{prefix}{middle}"
    return f"{s.fim_prefix}{prefix}{s.fim_suffix}{suffix}{s.fim_middle}{middle}"


def render_repository(repo_name: str, files: Iterable[File], config: FormatConfig) -> list[Document]:
    """A repository's documents (one, or its parts when split). ``files`` must pass ``leave_out_reason``."""
    s = config.sentinels
    ordered = sorted(files, key=lambda f: (order_key(config.seed, repo_name, f.path), f.path, f.content))
    if not ordered:
        return []
    meta = has_metadata(config, repo_name)
    candidate = is_fim_candidate(config, repo_name)
    header = f"{s.repo_name}{repo_name}" if meta else ""
    pieces: list[tuple[str, str | None, bool | None]] = []  # (piece, language, None | spm)
    for f in ordered:
        head = f"{f.path}\n" if meta else ""
        spm = None
        body = head + f.content
        if candidate:
            r = rng(config.seed, "fim-file", repo_name, f.path)
            if r.random() < config.fim_file_rate:
                spm = r.random() < config.fim_spm_rate
                body = fim_body(s, head, f.content, r, spm)
        pieces.append((s.file_sep + body, f.language, spm))
    parts = _split(pieces, len(header) + len(s.eos), config.max_document_chars)
    documents = []
    for index, part in enumerate(parts):
        texts = [p for p, _, _ in part]
        texts[0] = header + texts[0]
        texts[-1] += s.eos
        documents.append(
            Document(
                repo_name=repo_name,
                pieces=texts,
                languages=[lang for _, lang, _ in part],
                has_metadata=meta,
                fim_files=sum(spm is not None for _, _, spm in part),
                fim_spm=sum(bool(spm) for _, _, spm in part),
                part=index,
                num_parts=len(parts),
            )
        )
    return documents


def _split(pieces: list, overhead: int, limit: int) -> list[list]:
    """Pieces in order, cut into runs whose total length plus ``overhead`` stays within ``limit``; a piece
    that alone exceeds it is a run of its own."""
    if not limit:
        return [pieces]
    parts: list[list] = [[]]
    size = overhead
    for piece in pieces:
        if parts[-1] and size + len(piece[0]) > limit:
            parts.append([])
            size = overhead
        parts[-1].append(piece)
        size += len(piece[0])
    return parts


def render_record(content: str, language: str | None, config: FormatConfig) -> Document:
    """A document dataset's record (an issue, a pull request, a notebook, a page): its text + ``<|endoftext|>``,
    no header, no FIM, never split."""
    return Document(repo_name=None, pieces=[content + config.sentinels.eos], languages=[language])
