"""A per-process cache of loaded models: each loaded once per path, then shared by every thread of the process.

Beam runs a worker's bundles on several threads; a model (fastText, a TensorFlow SavedModel) is large and slow
to load, so it is loaded at most once per process and path, even when the threads ask for it together.
A load that raises is not cached: the next call tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Model = TypeVar("Model")


class ModelCache(Generic[Model]):
    """``cache.get(path)``: ``load(path)``'s result, loaded on the first call for that path."""

    def __init__(self, load: Callable[[str], Model]):
        self._load = load
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> Model:
        model = self._models.get(path)  # no lock once loaded: a dict read is atomic
        if model is None:
            with self._lock:  # one load per path even when a worker's threads start together
                model = self._models.get(path)
                if model is None:
                    model = self._models[path] = self._load(path)
        return model
