"""The built book, checked as a reader would see it: every page opened in headless Chromium, offline.

BOOK_HTML is the built site (default _build/html) and BOOK_ROOT the book whose executed chapters it
was built from (default: the repository). Skipped, with the reason, when there is no build.
Chromium runs with the network disabled (book/print_pdf.py's flags): what loads is what the build ships.
"""

import html as html_lib
import importlib.util
import os
import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
BOOK_ROOT = Path(os.environ.get("BOOK_ROOT", HTML.parents[1])).resolve()
_spec = importlib.util.spec_from_file_location("print_pdf", ROOT / "book" / "print_pdf.py")
print_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(print_pdf)
CHROMIUM = print_pdf.chromium()

pytestmark = [
    pytest.mark.skipif(not (HTML / "index.html").exists(), reason=f"no built book at {HTML} (run make book or make check-book)"),
]
PAGES = sorted((HTML / "book").glob("*.html")) if (HTML / "book").exists() else []
# Every page of the site, for the link check (_static holds the theme's templates, not pages).
SITE = sorted(p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts
              and not p.name.startswith(".")) if HTML.exists() else []

# Records, once the page has loaded, every image that failed to load.
PROBE = """<script>window.addEventListener('load', () => document.body.setAttribute('data-broken-images',
  [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src).join(' ')));</script>"""


def render(page: Path) -> str:
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(print_pdf.chromium_command(profile, "--dump-dom", probe.as_uri(), budget_ms=5000),
                                 capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def visible_text(dom: str) -> str:
    """The text a reader sees: tags, scripts, styles and code blocks removed, entities decoded."""
    dom = re.sub(r"<(script|style|pre|textarea)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_browser_is_offline(tmp_path):
    # The checks below prove that the book reads offline only if nothing from elsewhere can load.
    page = tmp_path / "remote.html"
    page.write_text('<html><body><img src="https://example.org/figure.png">' + PROBE + "</body></html>")
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(print_pdf.chromium_command(profile, "--dump-dom", page.as_uri(), budget_ms=3000),
                             capture_output=True, text=True, timeout=60)
    assert 'data-broken-images="https://example.org/figure.png"' in out.stdout


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
    assert "PosixPath(" not in text, "a cell's last expression (a saved path) was printed"
    assert 'class="output traceback' not in dom and "output error" not in dom
    assert 'class="output stderr' not in dom, "a cell wrote to stderr (a warning or an error)"
    # Math the renderer did not see (e.g. in glued Markdown, which is not parsed as MyST): raw $...$.
    prose = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<pre.*?</pre>|<code.*?</code>", " ", dom))  # code may hold $
    raw_math = re.findall(r"\$[A-Za-z\\{][^$<>]{0,40}\$", html_lib.unescape(prose))
    assert not raw_math, f"formulas left as raw text: {raw_math[:5]}"
    # Math, typeset offline by the MathJax shipped in _static: no formula is left as raw TeX.
    if 'class="math' in page.read_text():
        assert "<mjx-container" in dom, "the page has math but MathJax typeset none of it (offline)"
    assert "<mjx-merror" not in dom, "MathJax could not parse a formula"
    seen = visible_text(dom)
    for raw in ("\\(", "\\[", "$$"):
        assert raw not in seen, f"raw TeX {raw!r} is visible: ...{seen[max(0, seen.index(raw) - 80):seen.index(raw) + 80]}..."


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.links += [(tag, value) for name, value in attrs if name in ("href", "src") and value]


def test_every_local_link_resolves():
    assert SITE, f"no pages in {HTML}"
    broken, external = [], []
    for page in SITE:
        parser = _Links()
        parser.feed(page.read_text())
        for tag, link in parser.links:
            parts = urlsplit(link)
            if parts.netloc or parts.scheme in ("http", "https"):
                if tag in ("script", "link", "img", "iframe"):  # an offline reader would not get it
                    external.append(f"{page.relative_to(HTML)}: <{tag}> {link}")
                continue
            if parts.scheme or not parts.path:  # mailto:, data:, javascript:, #anchor
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(f"{page.relative_to(HTML)}: {link}")
    assert not broken, f"{len(broken)} local links lead nowhere: {broken[:10]}"
    assert not external, f"pages load resources from the network: {external[:10]}"


def executed_chapters() -> dict:
    return {p.stem: nbformat.read(p, as_version=4) for p in (BOOK_ROOT / "book").glob("*.ipynb")
            if not p.name.startswith(".")}  # hidden: an interrupted run's temp file, not a chapter


def test_every_chapter_ends_with_its_data():
    executed = executed_chapters()
    assert executed, f"no executed chapters in {BOOK_ROOT / 'book'}"
    for name, nb in executed.items():
        record = nb.metadata.get("symlib", {})
        assert record.get("seconds") is not None, f"{name}: no provenance record in the executed notebook"
        page = (HTML / "book" / f"{name}.html").read_text()
        section = re.search(r'<section id="data">(.*?)</section>', page, re.S)
        assert section, f"{name}: no Data section"
        downloads = [unquote(h) for h in re.findall(r'href="(\.\./_downloads/[^"]+)"', section.group(1))]
        names = [Path(h).name for h in downloads]
        expected = [Path(t).name for t in record["tables"]] + [f"{name}.ipynb", "params.yaml"]
        assert all(e in names for e in expected), f"{name}: Data links {names}, expected {expected}"
        assert names.count(f"{name}.ipynb") == 2, f"{name}: the executed and the source notebook are both linked"
        if name != "reproducibility":
            assert record["tables"], f"{name}: the chapter saved no results table"
        for href in downloads:  # the links point at the files themselves, not at look-alikes
            assert (HTML / "book" / href).resolve().stat().st_size > 0


def test_reproducibility_page_shows_every_record():
    records = {name: nb.metadata["symlib"] for name, nb in executed_chapters().items()
               if name != "reproducibility" and "symlib" in nb.metadata}
    assert records, "no chapter has a provenance record"
    text = page_text("reproducibility")
    for name, record in records.items():
        versions = record["versions"]
        for shown in (name, f"{record['seconds']:.1f}", record["finished"], versions["git_commit"][:10], versions["torch"],
                      versions["machine"],
                      *record["parameters"]):
            assert plain(str(shown)) in text, f"reproducibility page lacks {name}'s {shown!r}"


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


def markdown_text(line: str) -> str:
    """What a line of glued Markdown looks like on the page, in ``plain`` form: bold, list and quote marks,
    emphasis, inline code marks and link targets gone; $math$ as MathJax's \\(math\\) source."""
    line = re.sub(r"\*\*|^- |^> |`", "", line.strip())
    line = re.sub(r"\*([^*\s][^*]*)\*", r"\1", line)  # *emphasis*
    line = re.sub(r"\[([^]]+)\]\([^)]+\)", r"\1", line)
    line = re.sub(r"\$([^$]+)\$", r"\\(\1\\)", line)
    return plain(line)


def test_every_glue_reference_is_rendered():
    # myst-nb renders an unparseable value as nothing, silently: find each formatted value on its page.
    executed = executed_chapters()
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
                line = markdown_text(line)
                assert line in page_text(name), f"{name}: {ref!r} = {line!r} is not on the rendered page"
            count += 1
    assert count > 0
