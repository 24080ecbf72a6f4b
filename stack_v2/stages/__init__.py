"""The build's stages: one module per stage, each ending in its ``DEFINITION`` (docs/adding-a-stage.md).

Public surface:

- ``registry``: every stage a recipe may name (``STAGES``, ``RECIPE_STAGES``), ``definition``,
  ``filter_stages`` and ``card_parts``;
- ``stage``: what a stage is (``Stage``, ``StageContext``) and its output contract;
- ``base``: what stage modules share (``ApplyCore``, ``routed``, ``Drop``, ``Fail``, counters);
- the stage modules themselves, whose transforms and configs tests and benchmarks use directly.

Stage modules import from the floors below (cores, ``io``, ``archive``, the vocabulary), never from each
other except ``base`` and ``stage``.
"""

__all__ = [
    "base",
    "decontaminate",
    "doc_language",
    "downsample",
    "drop_extensions",
    "exact_dedup",
    "fetch_decode",
    "language",
    "license",
    "malware",
    "near_dedup",
    "notebooks",
    "optout",
    "pii",
    "quality",
    "registry",
    "select_languages",
    "select_repos",
    "stage",
]
