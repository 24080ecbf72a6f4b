"""Where bytes come from: the SWH graph export (ORC), the content store, the Web API, import-git."""

__all__ = [
    "content",
    "content_store",
    "fetch_contents",
    "git_objects",
    "graph_io",
    "graph_schema",
    "import_git",
    "import_state",
    "listing",
    "location",
    "orc",
    "selection",
    "swhid",
    "traverse",
    "traverse_steps",
    "webapi",
    "webapi_lister",
]
