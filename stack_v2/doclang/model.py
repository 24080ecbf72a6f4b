"""A fastText language-identification model (lid.176 or one like it): loaded once per process and path.

The model is used through ``fasttext_pybind``, the C++ binding every fastText wheel ships
(fasttext-wheel, fasttext, fasttext-numpy2-wheel): the Python wrapper's ``predict`` fails under
numpy 2 (``np.array(..., copy=False)``) and its ``load_model`` prints a warning; the binding has
neither problem and skips a numpy array per call. Predictions on one line are thread-safe.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from stack_v2.errors import StackV2Error
from stack_v2.model_cache import ModelCache

LABEL_PREFIX = "__label__"


def load_model(path: str):
    """The supervised fastText model at ``path`` (local, or any Beam filesystem URL), cached per process."""
    return _models.get(path)


def predict(model, line: str) -> tuple[str, float] | None:
    """(label without ``__label__``, probability) of the top class for one line of text (no newlines)."""
    found = model.predict(line + "\n", 1, 0.0, "replace")  # fastText reads a line up to its newline
    if not found:
        return None
    probability, label = found[0]
    # fastText adds 1e-5 to every probability before its log-exp round trip: the top one can exceed 1.
    return label.removeprefix(LABEL_PREFIX), min(1.0, probability)


def _load(path: str):
    import fasttext_pybind  # imported here: only workers that detect languages need it

    model = fasttext_pybind.fasttext()
    try:
        model.loadModel(_local_copy(path))
    except ValueError as exc:  # fastText's message names the file: "... cannot be opened for loading!"
        raise StackV2Error(f"fastText model {path}: {exc}") from exc
    if model.getArgs().model != fasttext_pybind.model_name.supervised:
        raise StackV2Error(f"fastText model {path}: not a supervised (classification) model")
    return model


_models = ModelCache(_load)


def _local_copy(path: str) -> str:
    """fastText reads local files only: a remote model (gs://, s3://, ...) is copied to a temporary file once."""
    if "://" not in path or os.path.exists(path):
        return path
    from apache_beam.io.filesystems import FileSystems

    local = os.path.join(tempfile.mkdtemp(prefix="stack-v2-fasttext-"), os.path.basename(path.rstrip("/")))
    try:
        with FileSystems.open(path) as source, open(local, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    except OSError as exc:  # Beam's BeamIOError is one
        raise StackV2Error(f"fastText model {path}: {' '.join(str(exc).split())}") from exc
    return local
