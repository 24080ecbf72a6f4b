"""Kaggle notebooks as training documents (StarCoder2, §2.4): the pure cores of the Kaggle source.

Input: Meta Kaggle Code (``<kernel version id>.ipynb`` files, ``layout``) and Meta Kaggle's tables
(``metadata``: KernelVersions, KernelLanguages, KernelVersionDatasetSources, DatasetVersions).

- ``script.decide_kaggle_notebook(path, text, metadata, config)`` -> ``KaggleScript`` | ``Drop`` | ``Fail``:
  the whole rule set for one notebook (conversion, length, syntax, template, dataset text);
- ``metadata``: the tables' row readers (for a pipeline's joins), ``kernel_metadata`` (one kernel
  version's joined rows -> ``KernelMetadata``) and ``index_tables`` (an in-memory join for small runs);
- ``template.strip_template``: Kaggle's starter cell removed; ``dataset_text.dataset_block``: the
  datasets' title and description as a comment block.
"""

from stack_v2.kaggle.dataset_text import dataset_block
from stack_v2.kaggle.layout import kernel_version_id, notebook_path
from stack_v2.kaggle.metadata import (
    DatasetVersion,
    KaggleIndex,
    KernelMetadata,
    KernelVersion,
    index_tables,
    kernel_metadata,
    read_rows,
)
from stack_v2.kaggle.script import KaggleConfig, KaggleScript, decide_kaggle_notebook
from stack_v2.kaggle.template import strip_template

__all__ = [
    "DatasetVersion",
    "KaggleConfig",
    "KaggleIndex",
    "KaggleScript",
    "KernelMetadata",
    "KernelVersion",
    "dataset_block",
    "decide_kaggle_notebook",
    "index_tables",
    "kernel_metadata",
    "kernel_version_id",
    "notebook_path",
    "read_rows",
    "strip_template",
]
