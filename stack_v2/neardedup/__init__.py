"""MinHash near-deduplication's pure core: shingles, signatures, LSH bands and estimated Jaccard (``minhash``)."""

__all__ = ["minhash"]
