"""Execute one chapter with papermill into the copy the HTML is built from.

    python book/execute.py CHAPTER                 # full parameters from book/params.yaml
    python book/execute.py CHAPTER --quick         # the notebook's own (test-sized) defaults
    python book/execute.py CHAPTER -p steps 500    # override parameters (YAML values; 1e-3 is a number)
    python book/execute.py CHAPTER --out DIR       # write DIR/CHAPTER.ipynb instead of book/

CHAPTER is the name of a notebook in book/src (no folder, no suffix); -p may only name parameters
of its `parameters` cell. The source runs with its working directory book/src (as under nbval). A
chapter with an `executed_dir` parameter (the Reproducibility page) is told where the executed
chapters are: the --out folder.

The executed copy's metadata, nb.metadata["symlib"], is the chapter's provenance record: the
parameters it ran with (its notebook defaults overridden by params.yaml and -p), a hash of its
inputs, how long it ran, when it finished, the versions of everything it ran with, and the tables
it wrote. When the inputs hash the same as the recorded ones the chapter is not re-executed; only
its timestamp is refreshed for make. A "Data" section is appended to the copy, linking the tables
the chapter wrote (symlib.provenance.save_table), the executed and the source notebook, and the
chapter's section of book/params.yaml. The copy is written to a temp file and renamed, so an
interrupted run never leaves half a chapter.

Exit codes: 0 done, 1 the chapter failed, 2 a bad command line or parameter file.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
import yaml

import symlib.provenance
from symlib.experiments import symlib_source_hash
from symlib.files import atomic_write
from symlib.provenance import MANIFEST_ENV, RECORD_KEY, versions

BOOK = Path(__file__).resolve().parent
SRC = BOOK / "src"
PARAMS = BOOK / "params.yaml"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
# Versions that can change a chapter's numbers (git commit and dirty flag cannot: the source hashes do).
NUMERIC_VERSIONS = ("python", "torch", "numpy", "scipy", "pandas", "matplotlib", "symlib", "machine")
PROVENANCE_SOURCE = Path(symlib.provenance.__file__)  # glue and save_table shape what the page shows
# Fixed glibc malloc thresholds for the kernels this starts (they inherit the environment), as the
# Makefile sets them: freed activations are reused instead of being faulted back in every step,
# which otherwise makes the cost chapter's timings depend on the allocator's state.
for _name, _value in (("MALLOC_MMAP_THRESHOLD_", "67108864"), ("MALLOC_TRIM_THRESHOLD_", "134217728")):
    os.environ.setdefault(_name, _value)


class UsageError(Exception):
    """A bad command line or parameter file: reported as one line, exit code 2."""


class YamlLoader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, except that 1e-3 is a float (YAML 1.2) rather than a string."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(text: str, what: str) -> Any:
    """Parse ``text``; a syntax error becomes a one-line UsageError naming ``what`` and the position."""
    try:
        return yaml.load(text, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{what} is not valid YAML{where}: {problem}") from None


def chapter_source(chapter: str, src: Path) -> Path:
    """The source notebook of ``chapter``: a plain name of a notebook in ``src``, nothing else."""
    available = sorted(p.stem for p in src.glob("*.ipynb"))
    if not NAME.match(chapter) or not (src / f"{chapter}.ipynb").is_file():
        raise UsageError(f"chapter must be the name of a notebook in {src} (one of: {', '.join(available)}), "
                         f"got {chapter!r}")
    return src / f"{chapter}.ipynb"


def check_out(out: Path, src: Path) -> Path:
    """The output folder, which must not be the source folder (the copy would replace its source)."""
    out = Path(out).resolve()
    if out == src.resolve():
        raise UsageError(f"--out must not be the source folder {src}, got {str(out)!r}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out must be a folder, got the file {str(out)!r}")
    return out


def notebook_defaults(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameters a notebook declares in its `parameters` cell, with their default values.

    A default that is not a Python literal is kept as its source text (it cannot be read without
    running the chapter, and the record must still say what it was)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise UsageError(f"a chapter needs exactly one cell tagged 'parameters', found {len(cells)}")
    try:
        body = ast.parse(cells[0].source).body
    except SyntaxError as exc:
        raise UsageError(f"the parameters cell is not valid Python (line {exc.lineno}: {exc.msg})") from None
    defaults = {}
    for node in body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and node.value is not None:
                try:
                    defaults[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    defaults[target.id] = ast.unparse(node.value)
    return defaults


def given_parameters(chapter: str, known: dict[str, Any], quick: bool, overrides: list[tuple[str, str]],
                     params_file: Path) -> dict[str, Any]:
    """The parameters to pass: the chapter's params.yaml section (unless quick), then -p overrides.
    Every name must be one of ``known`` (a misspelt name would silently run with the default)."""
    def check(names, where: str) -> None:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"{where}: unknown parameter {unknown[0]!r} for chapter {chapter!r}; "
                             f"its parameters are: {', '.join(sorted(known))}")

    given: dict[str, Any] = {}
    if not quick:
        text = params_file.read_text(encoding="utf-8") if params_file.exists() else ""
        sections = load_yaml(text, str(params_file)) or {}
        if not isinstance(sections, dict):
            raise UsageError(f"{params_file} must map chapter names to parameters, got a {type(sections).__name__}")
        section = sections.get(chapter) or {}
        if not isinstance(section, dict):
            raise UsageError(f"{params_file}: section {chapter!r} must map parameter names to values, got {section!r}")
        check(section, f"{params_file} section {chapter!r}")
        given.update(section)
    check([name for name, _ in overrides], "-p")
    given.update({name: load_yaml(value, f"-p {name} {value!r}") for name, value in overrides})
    return given


def numeric_versions() -> dict[str, Any]:
    return {k: v for k, v in versions().items() if k in NUMERIC_VERSIONS}


def input_hash(source: Path, params: dict[str, Any]) -> str:
    """Hash of everything that can change the chapter's numbers: its source, every parameter it runs
    with, symlib's numeric source, the glue/table helpers, and the library versions and machine."""
    digest = hashlib.sha256()
    for part in (source.read_bytes(), json.dumps(params, sort_keys=True, default=str).encode(),
                 symlib_source_hash().encode(), PROVENANCE_SOURCE.read_bytes(),
                 json.dumps(numeric_versions(), sort_keys=True).encode()):
        digest.update(hashlib.sha256(part).digest())  # hash of hashes: parts cannot run into each other
    return digest.hexdigest()


def params_section(params_file: Path, chapter: str) -> str | None:
    """The chapter's section of the parameter file as written there (comments kept), or None."""
    lines = params_file.read_text(encoding="utf-8").splitlines() if params_file.exists() else []
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(chapter)}\s*:", line)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    return "\n".join(lines[start:end]).rstrip()


def data_cell(chapter: str, out: Path, source: Path, tables: list[Path], params_file: Path, quick: bool,
              overrides: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """The closing "Data" section: download links (copied into the HTML by Sphinx) to what the
    chapter wrote and ran from, as paths relative to the executed copy."""
    def link(path: Path, label: str | None = None) -> str:
        return f"{{download}}`{label or path.name} <{Path(os.path.relpath(path, out)).as_posix()}>`"

    lines = ["## Data", ""]
    if tables:
        lines.append("- Results (CSV): " + ", ".join(link(t) for t in tables))
    lines.append(f"- This chapter as executed (outputs, and its provenance record in the metadata): "
                 f"{link(out / f'{chapter}.ipynb')}")
    lines.append(f"- Its source, stored without outputs: {link(source, f'src/{source.name}')}")
    section = params_section(params_file, chapter)
    file_link = link(params_file, params_file.name)
    extra = "".join(f" and `-p {name} {value}`" for name, value in overrides)
    if not quick and section:
        lines.append(f"- Parameters: this copy ran with section `{chapter}` of {file_link}{extra}:")
    elif section:
        lines.append(f"- Parameters: this copy ran with the notebook's own quick, test-sized defaults{extra}; "
                     f"the book's full-size ones are section `{chapter}` of {file_link}:")
    else:
        lines.append(f"- Parameters: this copy ran with the notebook's defaults{extra}"
                     + (f" (it has no section in {file_link})." if params_file.exists() else "."))
    if section:
        lines += ["", "  ```yaml", *("  " + line for line in section.splitlines()), "  ```"]
    return nbformat.v4.new_markdown_cell("\n".join(lines), metadata={"tags": ["symlib-data"]})


def written_tables(manifest: Path) -> list[Path]:
    paths = manifest.read_text(encoding="utf-8").splitlines() if manifest.exists() else []
    return [Path(p) for p in dict.fromkeys(paths) if Path(p).is_file()]


def execute(chapter: str, *, quick: bool = False, overrides: list[tuple[str, str]] = (), out: Path = BOOK,
            force: bool = False, src: Path = SRC, params_file: Path = PARAMS) -> int:
    """Execute ``chapter`` (see the module docstring); return the exit code. Raises UsageError."""
    source = chapter_source(chapter, src)
    out = check_out(out, src)
    overrides = list(overrides)
    defaults = notebook_defaults(nbformat.read(source, as_version=4))
    given = given_parameters(chapter, defaults, quick, overrides, params_file)
    if "executed_dir" in defaults and "executed_dir" not in dict(overrides):
        given["executed_dir"] = Path(os.path.relpath(out, src)).as_posix()  # relative: the record stays portable
    effective = {**defaults, **given}
    digest = input_hash(source, effective)
    target = out / f"{chapter}.ipynb"
    if target.exists() and not force:
        try:
            old = nbformat.read(target, as_version=4).metadata.get(RECORD_KEY, {})
        except (OSError, ValueError):  # unreadable (e.g. not JSON): stale, so re-executed
            old = {}
        if old.get("input_hash") == digest and "seconds" in old:
            print(f"{chapter}: inputs unchanged, not re-executed")
            target.touch()
            return 0

    print(f"{chapter}: executing with {given or ('its quick defaults' if quick else 'its notebook defaults')}",
          flush=True)
    failure: list[str] = []

    def run(tmp: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            manifest = Path(scratch) / "tables.txt"
            previous = os.environ.get(MANIFEST_ENV)
            os.environ[MANIFEST_ENV] = str(manifest)  # the kernel inherits it; save_table appends to it
            start = time.perf_counter()
            try:
                papermill.execute_notebook(str(source), tmp, parameters=given, cwd=str(src), progress_bar=False,
                                           kernel_name="python3")
            except papermill.PapermillExecutionError as exc:
                failure.append(str(exc).strip())
                raise
            finally:
                if previous is None:
                    os.environ.pop(MANIFEST_ENV, None)
                else:
                    os.environ[MANIFEST_ENV] = previous
            seconds = time.perf_counter() - start
            tables = written_tables(manifest)
        nb = nbformat.read(tmp, as_version=4)
        for cell in nb.cells:  # the reader sees results, not the parameter plumbing
            tags = cell.metadata.setdefault("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        nb.cells.append(data_cell(chapter, out, source, tables, params_file, quick, overrides))
        nb.metadata[RECORD_KEY] = {
            "chapter": chapter, "input_hash": digest, "quick": quick, "parameters": effective,
            "seconds": round(seconds, 2), "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "versions": versions(), "tables": [Path(os.path.relpath(t, out)).as_posix() for t in tables]}
        nbformat.write(nb, tmp)

    try:
        atomic_write(target, run)
    except papermill.PapermillExecutionError:
        print(f"{chapter}: failed; {target} was left as it was.\n{failure[0]}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=Path(__file__).name, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", help="a chapter name: the stem of a notebook in book/src")
    parser.add_argument("--quick", action="store_true", help="use the notebook's quick defaults")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--out", type=Path, default=BOOK, help="folder for the executed copy")
    parser.add_argument("--force", action="store_true", help="execute even if the inputs did not change")
    # For tests: a throwaway source folder and parameter file.
    parser.add_argument("--src", type=Path, default=SRC, help=argparse.SUPPRESS)
    parser.add_argument("--params", type=Path, default=PARAMS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        return execute(args.chapter, quick=args.quick, overrides=[tuple(p) for p in args.p], out=args.out,
                       force=args.force, src=args.src.resolve(), params_file=args.params.resolve())
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
