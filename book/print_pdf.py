"""Print the built book to one PDF, in _toc.yml order, with headless Chromium and no network.

    python book/print_pdf.py                                   # _build/html -> _build/pdf/book.pdf
    python book/print_pdf.py --html DIR --toc TOC --out FILE   # e.g. the quick build

Each page of the toc (the root first) is loaded from disk with the network disabled, so what is
printed is what an offline reader sees: MathJax (shipped in _static) has typeset the formulas and
the figures are the PNGs of the build. The pages are printed two at a time (one per core), then
joined with pypdf, with one bookmark per page; the PDF is written atomically.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Every request that is not to the machine itself goes to a closed port or resolves to nothing.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND"]
QUIET = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_command(profile: str | Path, *args: str, budget_ms: int = 8000) -> list[str]:
    """A headless, offline Chromium command with a fresh profile. ``budget_ms`` of virtual time lets
    the page's scripts (MathJax) finish before the DOM is dumped or the page printed."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    return [exe, *QUIET, *OFFLINE, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *args]


def toc_pages(toc: Path) -> list[str]:
    """The documents of a Jupyter Book toc (root, then chapters and their sections), in order."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"toc must be a Jupyter Book _toc.yml with a 'root', got {str(toc)!r}")
    pages = [data["root"]]

    def walk(entries: list) -> None:
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk([{k: v for k, v in data.items() if k in ("parts", "chapters", "sections")}])
    return [str(Path(p).with_suffix("")) for p in pages]


# Paper cannot scroll: code wraps instead of hiding behind a scroll bar, and a scrollable box no
# longer leaves an empty frame at the foot of a page when its content moves to the next one.
PRINT_CSS = """<style media="print">
pre { white-space: pre-wrap !important; overflow: visible !important; overflow-wrap: anywhere; }
div.highlight, div.cell_output, div.output, .bd-article-container { overflow: visible !important; }
</style>"""


def print_page(page: Path, pdf: Path) -> None:
    # A hidden copy beside the page, so that its relative links (images, MathJax) still resolve.
    copy = page.with_name(f".print-{page.name}")
    copy.write_text(page.read_text(encoding="utf-8").replace("</head>", PRINT_CSS + "</head>", 1), encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(chromium_command(profile, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                                                  copy.as_uri()),
                                 capture_output=True, text=True, timeout=180)
    finally:
        copy.unlink()
    if out.returncode != 0 or not pdf.exists():
        raise RuntimeError(f"chromium could not print {page}: {out.stderr[-2000:]}")


def title(page: Path) -> str:
    match = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.S)
    text = html.unescape(match.group(1)).strip() if match else page.stem
    return re.sub(r"\s+[—-]\s+[^—-]*$", "", text) or page.stem  # drop the " — book title" suffix


def print_book(html_dir: Path, toc: Path, out: Path, jobs: int = 2) -> Path:
    """Print every toc page of the build in ``html_dir`` and join them into ``out``; return ``out``."""
    from pypdf import PdfWriter

    from symlib.files import atomic_write

    pages = [Path(html_dir).resolve() / f"{doc}.html" for doc in toc_pages(toc)]
    absent = [str(p) for p in pages if not p.exists()]
    if absent:
        raise ValueError(f"html_dir must hold every page of the toc, missing: {', '.join(absent)}")
    with tempfile.TemporaryDirectory() as scratch:
        pdfs = [Path(scratch) / f"{i:03d}.pdf" for i in range(len(pages))]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(print_page, pages, pdfs))

        def join(tmp: str) -> None:
            writer = PdfWriter()
            for page, pdf in zip(pages, pdfs):
                writer.append(str(pdf), outline_item=title(page))
            with open(tmp, "wb") as f:
                writer.write(f)

        return atomic_write(out, join)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built HTML")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml", help="the book's _toc.yml (page order)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf", help="the PDF to write")
    args = parser.parse_args(argv)
    try:
        out = print_book(args.html, args.toc, args.out)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(f"The book is in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
