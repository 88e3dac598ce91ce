"""The printed book (make pdf; make check-book prints the quick build): every page, every figure, typeset math.

BOOK_PDF is the PDF (default _build/pdf/book.pdf), BOOK_HTML the build it was printed from (default
_build/html) and BOOK_TOC its _toc.yml (default the repository's). Skipped when there is no PDF.
"""

import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PDF = Path(os.environ.get("BOOK_PDF", ROOT / "_build" / "pdf" / "book.pdf")).resolve()
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
TOC = Path(os.environ.get("BOOK_TOC", ROOT / "_toc.yml")).resolve()
_spec = importlib.util.spec_from_file_location("print_pdf", ROOT / "book" / "print_pdf.py")
print_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(print_pdf)

BUILT = HTML / ".built"  # make book's stamp (the quick build has none: its PDF is always printed after it)
pytestmark = [
    pytest.mark.skipif(not PDF.exists(), reason=f"no PDF at {PDF} (run make pdf or make check-book)"),
    pytest.mark.skipif(PDF.exists() and BUILT.exists() and BUILT.stat().st_mtime > PDF.stat().st_mtime,
                       reason=f"{PDF} is older than the HTML build (run make pdf)"),
]


@pytest.fixture(scope="module")
def reader():
    from pypdf import PdfReader

    return PdfReader(PDF)


def html_pages() -> list[Path]:
    return [HTML / f"{doc}.html" for doc in print_pdf.toc_pages(TOC)]


def test_every_book_page_is_printed_in_toc_order(reader):
    pages = html_pages()
    assert len(reader.pages) >= len(pages)
    # One bookmark per book page, in toc order, each at a later page than the one before.
    titles = [item.title for item in reader.outline]
    assert titles == [print_pdf.title(p) for p in pages]
    starts = [reader.get_destination_page_number(item) for item in reader.outline]
    assert starts == sorted(set(starts)) and starts[0] == 0


def image_xobjects(resources, seen: set) -> int:
    """Image XObjects reachable from a page's resources (inside form XObjects too), each counted once."""
    count = 0
    xobjects = (resources or {}).get("/XObject")
    for ref in (xobjects.get_object() if xobjects is not None else {}).values():
        key = getattr(ref, "idnum", None) or id(ref)
        if key in seen:
            continue
        seen.add(key)
        obj = ref.get_object()
        if obj.get("/Subtype") == "/Image":
            count += 1
        elif obj.get("/Subtype") == "/Form":
            count += image_xobjects(obj.get("/Resources"), seen)
    return count


def test_figures_are_embedded(reader):
    # Each distinct figure of each page: Chromium embeds an image once per printed page it is on.
    figures = sum(len(set(re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', p.read_text()))) for p in html_pages())
    assert figures > 0, "the book has no figures to check"
    seen: set = set()
    embedded = sum(image_xobjects(page.get("/Resources"), seen) for page in reader.pages)
    assert embedded >= figures, f"{embedded} images in the PDF, {figures} figures in the HTML"


def test_math_is_typeset(reader):
    # A page with math is printed after MathJax ran: its TeX source is gone from the text.
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Learning with permutation symmetry" in re.sub(r"\s+", " ", text), "the PDF has no extractable text"
    for raw in ("\\(", "\\[", "$$"):
        assert raw not in text, f"raw TeX {raw!r} in the PDF"
