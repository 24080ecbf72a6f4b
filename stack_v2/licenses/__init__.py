"""License detection (ScanCode), propagation by base path, and the permissive / no_license /
non_permissive decision of The Stack v2 (docs/the-stack-v2.md §5)."""

__all__ = ["candidates", "classify", "detect", "lists"]
