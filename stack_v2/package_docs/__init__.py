"""Documentation from package distributions (sdists and wheels) as training documents: the pure core of
the package-documentation source.

``extract.extract_docs(filename, data, config)`` -> ``PackageDocs`` | ``Fail``: one document per
documentation file (``docs/``/``doc/`` Markdown, reStructuredText and HTML; top-level READMEs) and one
for the long description of the core metadata when it is not a README's text, each with the package's
name and version and the member's path. ``archives`` reads the distribution in memory, ``layout`` picks
the members, ``metadata`` reads PKG-INFO / METADATA, ``rst_text`` and ``html_text`` convert.

How this differs from StarCoder2's documentation data (for the dataset card): the paper crawled the
documentation websites of package managers' packages (found through libraries.io, Read the Docs),
CRAN and CTAN manuals (PDFs, converted to text), 23 hand-picked documentation websites and free
programming books, then removed near-duplicates within each website (MinHash, threshold 0.7). Here the
source is what a package ships: the documentation sources inside its sdist or wheel and its long
description, which covers packages without a hosted site and needs no crawl, but misses documentation
that exists only as a website (generated API references, tutorials kept outside the package) and
anything in PDF. Near-duplicates are removed later by the pipeline's near-dedup stage, across packages
rather than per website.
"""

from stack_v2.package_docs.extract import DocsConfig, PackageDoc, PackageDocs, extract_docs

__all__ = ["DocsConfig", "PackageDoc", "PackageDocs", "extract_docs"]
