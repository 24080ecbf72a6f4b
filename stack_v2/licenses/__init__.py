"""License detection (ScanCode), propagation by base path, and the permissive / no_license /
non_permissive decision of The Stack v2 (reference/stackv2_spec.md §3)."""
