"""Make the README's screenshot of `stack-v2 serve`: docs/img/serve-lookup.png.

    .venv/bin/python docs/img/make_screenshots.py [--dataset DIR] [--query OWNER_OR_REPO]

Serves the demo dataset (``demo-output/dataset`` when `make demo` made it, else the demo is built in a temporary
directory), looks up one of its repositories in Debian's headless Chromium driven by Playwright (as the browser
tests do: tests/browser.py), and saves the 1200x900 viewport as a PNG. Needs the test extra (Playwright) and the
chromium package."""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from browser import VIEWPORT, Server, lookup  # noqa: E402
from chromium import INSTALL_HINT, find_chromium  # noqa: E402

OUT = ROOT / "docs" / "img" / "serve-lookup.png"
# A demo repository with short paths, included files of three languages and dropped ones (its icons: binary).
DEFAULT_QUERY = "https://github.com/local/py-idlelib"
MAX_BYTES = 300_000


def demo_dataset(workdir: Path) -> Path:
    """demo-output/dataset if it is there, else the demo built under ``workdir``."""
    made = ROOT / "demo-output" / "dataset"
    if (made / "manifest").exists():
        return made
    from stack_v2.cli import main

    if main(["demo", "--workdir", str(workdir / "demo"), "--quiet"]) != 0:
        raise SystemExit("the demo build failed")
    return workdir / "demo" / "dataset"


def small_png(png: bytes) -> bytes:
    """The screenshot as an optimized PNG, down to a 256-colour palette when it is still too large (flat UI
    colours and text survive that unchanged to the eye)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        if out.tell() > MAX_BYTES:
            out = io.BytesIO()
            image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="a built dataset (default: the demo's)")
    parser.add_argument("--query", default=DEFAULT_QUERY, help=f"what to look up (default: {DEFAULT_QUERY})")
    parser.add_argument("--per-page", type=int, default=4, help="files per table page (default: 4)")
    parser.add_argument("--output", type=Path, default=OUT, help="the PNG (default: docs/img/serve-lookup.png)")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit(INSTALL_HINT)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="serve-screenshot-") as tmp:
        work = Path(tmp)
        dataset = args.dataset or demo_dataset(work)
        server = Server([dataset], work / "requests.sqlite", work / "serve.stderr")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, headless=True)
                page = browser.new_page(viewport=VIEWPORT)
                shown = lookup(page, server.url, args.query)  # through the form, as a visitor does
                if not shown:
                    raise SystemExit(f"the lookup of {args.query!r} found nothing:\n{page.inner_text('body')[:2000]}")
                # the same lookup with short pages, so that the dropped files and their reasons fit on screen
                page.goto(f"{server.url}lookup?{urlencode({'q': args.query, 'per_page': args.per_page})}")
                png = small_png(page.screenshot())
                browser.close()
        finally:
            server.stop()
    args.output.write_bytes(png)
    print(f"{args.output} ({len(png):,} bytes): {args.query} -> {', '.join(shown)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
