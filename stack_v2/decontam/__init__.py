"""Benchmark decontamination's pure core: patterns from benchmark files, one Aho-Corasick automaton (``matcher``)."""

__all__ = ["matcher"]
