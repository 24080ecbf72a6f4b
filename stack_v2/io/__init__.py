"""What a build writes and how: Parquet shards (``parquet``), their rows and schemas (``rows``, ``schema``),
report.json (``report``), the dataset card (``card``; its configs and loading snippets ``card_configs``, its
markdown ``markdown``), the names of a dataset's outputs (``layout``) and publishing a version (``publish``).

Below the stages: nothing here imports ``stack_v2.stages`` or the orchestration above it; what a report or
card needs from the stages (the filter stages, their card sections) is passed in.
"""

__all__ = ["card", "card_configs", "layout", "markdown", "parquet", "publish", "report", "rows", "schema"]
