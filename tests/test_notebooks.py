"""The chapter sources: stored clean, parameterized, and consistent with params.yaml and the toc."""

import ast
import re
import subprocess
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "book" / "src").glob("*.ipynb"))
PARAMS = yaml.safe_load((ROOT / "book" / "params.yaml").read_text())


def parameter_names(nb) -> set[str]:
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets}


def test_every_chapter_is_in_toc_and_makefile():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {Path(c["file"]).name for c in toc["chapters"]}
    makefile = (ROOT / "Makefile").read_text()
    chapters = set(re.search(r"^CHAPTERS := (.*)$", makefile, re.M).group(1).split())
    assert {p.stem for p in SOURCES} == listed == chapters | {"reproducibility"}
    assert set(PARAMS["reproducibility"]["chapters"]) == chapters


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_source_is_clean_and_parameterized(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "sources are stored without outputs"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "a chapter opens with # Title"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "exactly one parameters cell, the first code cell"
    # The full parameters must name only parameters the chapter has (a typo would be silently ignored).
    assert set(PARAMS.get(path.stem) or {}) <= parameter_names(nb)
    # Parameters are validated right after they are set.
    assert "require(" in code[1].source


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_chapter_leaves_provenance_to_the_runner(path):
    # book/execute.py records parameters, timing and versions in the executed notebook, and
    # symlib.provenance.glue glues plain numbers: chapters carry none of that plumbing.
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    for plumbing in ("Chapter(", ".finish(", "set_printoptions(legacy", "from myst_nb import glue",
                     "from symlib.experiments import require"):
        assert plumbing not in code, f"{path.stem} still uses {plumbing!r}"
    if "glue(" in code:
        assert re.search(r"from symlib\.provenance import .*\bglue\b", code), "glue comes from symlib.provenance"


def test_reproducibility_reads_the_executed_chapters():
    nb = nbformat.read(ROOT / "book" / "src" / "reproducibility.ipynb", as_version=4)
    assert "executed_dir" in parameter_names(nb), "book/execute.py passes the executed chapters' folder"


def test_generated_files_are_not_tracked():
    tracked = subprocess.run(["git", "ls-files", "book"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    generated = [f for f in tracked.stdout.split() if re.match(r"book/(_results|_cache)/|book/[^/]+\.ipynb$", f)]
    assert not generated, f"generated files are tracked by git: {generated[:5]}"


def test_bad_parameter_is_a_clear_error(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="parameter 'seed' must be >= 0, got -1"):
        papermill.execute_notebook(str(ROOT / "book" / "src" / "toolkit.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"seed": -1}, cwd=str(tmp_path), progress_bar=False,
                                   kernel_name="python3")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path):
    # papermill parses the parameters cell line by line; a line it cannot parse (e.g. a comment
    # holding "=") is dropped with a warning, and the parameter is then "unknown" to it.
    found = set(papermill.inspect_notebook(str(path)))
    assert found == parameter_names(nbformat.read(path, as_version=4))
