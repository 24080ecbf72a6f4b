"""The optional name detector: a Hugging Face token-classification model (StarPII, or any NER model) on disk.

Off by default: the paper ran StarPII on GPUs (about 800 A100-hours for 800 GB, docs/the-stack-v2.md §8.1), and only
names need a model, the other types having precise detectors here. Given a model directory, ``NameDetector`` loads
it on first use (so a Beam core can be pickled before it is loaded) through ``transformers.pipeline`` and returns
the spans of the entities whose group is a person name (``NAME`` for StarPII, ``PER``/``PERSON`` for common NER
models). Like the paper's inference, long files are cut into windows of ``window_tokens`` tokens without overlap;
the full-name filter (two words or more) is applied by ``detect``.

Needs ``transformers`` and ``torch`` (``pip install transformers torch``); they are imported only on first use.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

DEFAULT_LABELS = ("NAME", "PER", "PERSON")


class NameDetector:
    """``detector(text)`` -> (start, end) spans of person names; a ``detect.NameDetector``."""

    def __init__(
        self,
        model_path: str,
        *,
        labels: Iterable[str] = DEFAULT_LABELS,
        min_score: float = 0.5,
        window_tokens: int = 512,
        batch_size: int = 8,
        device: str = "cpu",
    ):
        self.model_path = model_path
        self.labels = frozenset(labels)
        self.min_score = min_score
        self.window_tokens = window_tokens
        self.batch_size = batch_size
        self.device = device
        self._pipe = None

    def __getstate__(self):  # workers load their own copy
        return {**self.__dict__, "_pipe": None}

    def _pipeline(self):
        if self._pipe is None:
            try:
                from transformers import pipeline
            except ImportError as exc:
                raise ImportError(
                    "the NER plugin needs transformers and torch: pip install transformers torch"
                ) from exc
            self._pipe = pipeline(
                "token-classification",
                model=self.model_path,
                tokenizer=self.model_path,
                aggregation_strategy="simple",
                device=self.device,
            )
        return self._pipe

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Character ranges of consecutive, non-overlapping windows of at most ``window_tokens`` tokens, cut
        at the last line break inside the budget when there is one (a name rarely spans lines)."""
        tokenizer = self._pipeline().tokenizer
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        starts = [start for start, _ in offsets]
        size = self.window_tokens - 2  # room for [CLS] and [SEP]
        out, pos = [], 0
        while pos < len(text):
            first = bisect.bisect_left(starts, pos)
            if first + size >= len(starts):
                out.append((pos, len(text)))
                break
            end = starts[first + size]
            cut = text.rfind("\n", pos, end)
            end = cut + 1 if cut >= pos else end
            out.append((pos, end))
            pos = end
        return out

    def __call__(self, text: str) -> list[tuple[int, int]]:
        if not text.strip():
            return []
        pipe = self._pipeline()
        ranges = self.windows(text)
        results = pipe([text[a:b] for a, b in ranges], batch_size=self.batch_size)
        spans = []
        for (offset, _), entities in zip(ranges, results):
            for entity in entities:
                if entity["entity_group"] in self.labels and entity["score"] >= self.min_score:
                    spans.append((offset + entity["start"], offset + entity["end"]))
        return spans
