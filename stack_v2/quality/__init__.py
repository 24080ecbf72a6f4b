"""The training set's per-file statistics (``stats``), the paper's quality filters (``rules``) and language
selection (``languages``): pure cores, ``FileRecord -> FileRecord | Drop``, which ``stages`` wraps."""

__all__ = ["languages", "rules", "stats"]
