"""Opt-out requests: the documented JSON-lines format (manifests/OPTOUT_FORMAT.md), validation and matching."""

from stack_v2.optout.match import OptOutMatcher, is_github_url, normalized_repo_key, repo_key_expr
from stack_v2.optout.requests import ALL, OptOutFormatError, OptOutRequest, load_requests, parse_lines

__all__ = [
    "ALL",
    "OptOutFormatError",
    "OptOutMatcher",
    "OptOutRequest",
    "is_github_url",
    "load_requests",
    "normalized_repo_key",
    "parse_lines",
    "repo_key_expr",
]
