"""Training documents from a dataset (``stack-v2 export``, docs/training.md): ``format`` renders a repository's
files as StarCoder2's documents (metadata, file-level FIM, the split of large repositories), ``parse`` reads a
document back into its files, ``pipeline`` is the Beam plumbing, ``export`` runs and publishes it, ``report``
writes its report.json and card."""

from stack_v2.training.format import FormatConfig, Sentinels
from stack_v2.training.parse import parse_document

__all__ = ["FormatConfig", "Sentinels", "parse_document"]
