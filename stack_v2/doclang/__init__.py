"""Natural language of documentation files (Markdown, reStructuredText, HTML, AsciiDoc, RDoc, Org, Text).

- ``html_text``: the visible text of an HTML page (also used by the HTML quality filter);
- ``prose``: a documentation file's natural-language text, code and markup removed;
- ``model``: a fastText language-ID model (Facebook's lid.176), loaded once per process;
- ``detect``: the pure core, ``detect_language(content, language, model_path) -> (code, p) | None``.

Nothing is imported here, so that ``html_text`` loads without fastText.
"""
