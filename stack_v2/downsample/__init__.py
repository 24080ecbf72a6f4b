"""Downsampling for the train sets (docs/the-stack-v2.md §7.7): per-language caps (``caps``) and the pure
selection the ``downsample`` stage distributes (``select``). No Beam here."""
