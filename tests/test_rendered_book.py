"""The built book, checked as a reader would see it: every page opened in headless Chromium.

BOOK_HTML is the built site (default _build/html) and BOOK_ROOT the book whose executed chapters it
was built from (default: the repository). Skipped, with the reason, when there is no build.
"""

import html as html_lib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
BOOK_ROOT = Path(os.environ.get("BOOK_ROOT", HTML.parents[1])).resolve()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.skipif(not (HTML / "index.html").exists(), reason=f"no built book at {HTML} (run make book or make check-book)"),
]
PAGES = sorted((HTML / "book").glob("*.html")) if (HTML / "book").exists() else []

# Records, once the page has loaded, every image that failed to load.
PROBE = """<script>window.addEventListener('load', () => document.body.setAttribute('data-broken-images',
  [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src).join(' ')));</script>"""


def render(page: Path) -> str:
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_pages_exist():
    assert {p.stem for p in PAGES} >= {"intro", "toolkit", "reproducibility"}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_renders_cleanly(page):
    dom = render(page)
    broken = re.search(r'data-broken-images="([^"]*)"', dom)
    assert broken is not None, "the page did not finish loading"
    assert broken.group(1) == "", f"images that did not load: {broken.group(1)}"
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "Traceback (most recent call last)" not in text
    assert not re.search(r"&lt;Figure size \d+", dom), "a figure was printed as text instead of drawn"
    assert 'class="output traceback' not in dom and "output error" not in dom
    assert 'class="output stderr' not in dom, "a cell wrote to stderr (a warning or an error)"


def glue_values(nb) -> dict[str, str]:
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            key = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                prefix = out["metadata"]["scrapbook"].get("mime_prefix", "")
                data = {k.removeprefix(prefix): v for k, v in out.get("data", {}).items()}
                values[key] = data.get("text/markdown") or data.get("text/plain", "")
    return values


QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def plain(text: str) -> str:
    """Text without white space and with typographic quotes folded (Sphinx's smartquotes)."""
    return re.sub(r"\s+", "", html_lib.unescape(text)).translate(QUOTES)


def page_text(name: str) -> str:
    """The page's text with every tag removed, in ``plain`` form (markup shifts spaces around)."""
    return plain(re.sub(r"<[^>]+>", "", (HTML / "book" / f"{name}.html").read_text()))


def test_every_glue_reference_is_rendered():
    # myst-nb renders an unparseable value as nothing, silently: find each formatted value on its page.
    executed = {p.stem: nbformat.read(p, as_version=4) for p in (BOOK_ROOT / "book").glob("*.ipynb")
                if not p.name.startswith(".")}  # hidden: an interrupted run's temp file, not a chapter
    assert executed, f"no executed chapters in {BOOK_ROOT / 'book'}"
    glued = {name: glue_values(nb) for name, nb in executed.items()}
    texts = {name: "\n".join(c.source for c in nb.cells if c.cell_type == "markdown") for name, nb in executed.items()}
    texts.update({p.stem: p.read_text() for p in (BOOK_ROOT / "book").glob("*.md")})
    count = 0
    for name, text in texts.items():
        refs = re.findall(r"\{glue:?\w*\}`([^`]+)`", text) + re.findall(r"```\{glue:md\} (\S+)", text)
        for ref in refs:
            doc, _, key = ref.rpartition("::")
            key, _, spec = key.partition(":")
            values = glued.get(Path(doc).stem if doc else name, {})
            assert key in values, f"{name}: glue key {ref!r} is not glued"
            value = values[key].strip("'\"")
            if spec:
                value = format(float(value) if spec[-1] in "efgn%" else value, spec)
            assert value, f"{name}: {ref!r} is empty"
            for line in value.splitlines():  # Markdown: each line's text, its markup stripped
                line = plain(re.sub(r"\*\*|^- ", "", line.strip()))
                assert line in page_text(name), f"{name}: {ref!r} = {line!r} is not on the rendered page"
            count += 1
    assert count > 0
