"""A small byte-level BPE tokenizer trained in the test set-up on real code (standard-library sources), saved as a
tokenizer.json and loaded by path the way StarCoder2's tokenizer file is. Its special tokens are StarCoder2's."""

from __future__ import annotations

import json
import os
from pathlib import Path

from stack_v2.training.format import Sentinels

SPECIAL_TOKENS = list(Sentinels().all())  # StarCoder2's special tokens


def training_files() -> list[str]:
    """Python sources of the standard library's json and http packages."""
    root = Path(json.__file__).parent.parent
    return sorted(str(p) for package in ("json", "http") for p in (root / package).glob("*.py"))


def train_bpe(path: Path, vocab_size: int = 2000, texts=None) -> Path:
    """Train a byte-level BPE on ``texts`` (an iterable of strings; by default ``training_files()``) and save it
    to ``path`` (tokenizer.json)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    if texts is None:
        tokenizer.train(training_files(), trainer)
    else:
        tokenizer.train_from_iterator(texts, trainer)
    os.makedirs(path.parent, exist_ok=True)
    tokenizer.save(str(path))
    return path
