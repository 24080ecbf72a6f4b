"""Errors raised on purpose. The CLI prints ``str(exc)``: one line that names the input."""


class StackV2Error(Exception):
    """Base class for errors the CLI reports as one line (no traceback)."""


class ArchiveError(StackV2Error):
    """An archive (graph export or content store) is missing, unreadable or malformed."""


class SWHIDError(StackV2Error):
    """A SWHID given by the user is invalid or of an unsupported type."""


class GitImportError(StackV2Error):
    """A git repository could not be read for import."""
