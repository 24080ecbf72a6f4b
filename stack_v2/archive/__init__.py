"""Where bytes come from: the SWH graph export (ORC), the content store, the Web API, import-git."""
