"""book/execute.py, the chapter runner, on a throwaway chapter in tmp_path (one kernel run per test at most)."""

import datetime
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("book_execute", ROOT / "book" / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)

PARAMETERS = 'lr = 0.1\nsteps = 3\nresults_dir = "results"\nexecuted_dir = "."'
BODY = """import pandas as pd
from symlib.provenance import require, save_table

require("lr", lr, float)
save_table(pd.DataFrame({"lr": [lr], "lr_type": [type(lr).__name__], "steps": [steps]}),
           f"{results_dir}/tiny_values.csv")
print("ran")"""


def write_chapter(src: Path, name: str = "tiny", body: str = BODY) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"),
                nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    src.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, src / f"{name}.ipynb")
    return src / f"{name}.ipynb"


@pytest.fixture
def book(tmp_path):
    """A source folder with one chapter, a parameter file with its section, and an output folder."""
    src = tmp_path / "src"
    write_chapter(src)
    params = tmp_path / "params.yaml"
    params.write_text("# full size\ntiny:\n  steps: 5   # the book's value\n\nother:\n  x: 1\n")
    return src, params, tmp_path / "out"


def run(book, *args: str) -> int:
    src, params, out = book
    return execute.main([*args, "--src", str(src), "--params", str(params), "--out", str(out)])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_misspelt_parameter_is_an_error_listing_the_known_ones(book, capsys):
    assert run(book, "tiny", "-p", "stesp", "4") == 2
    err = one_line_error(capsys)
    assert "unknown parameter 'stesp'" in err and "executed_dir, lr, results_dir, steps" in err
    assert not book[2].exists(), "nothing was executed"


def test_misspelt_name_in_the_parameter_file_is_an_error(book, capsys):
    book[1].write_text("tiny:\n  stpes: 5\n")
    assert run(book, "tiny") == 2
    assert "unknown parameter 'stpes'" in one_line_error(capsys)


@pytest.mark.parametrize("chapter", ["../src/tiny", "src/tiny", "tiny.ipynb", "missing", "", ".tiny"])
def test_only_a_plain_chapter_name_of_the_source_folder(book, capsys, chapter):
    assert run(book, chapter) == 2
    assert "chapter must be the name of a notebook" in one_line_error(capsys)
    assert not book[2].exists()


def test_absolute_chapter_path_is_refused(book, capsys):
    src, params, out = book
    assert run(book, str(src / "tiny")) == 2
    assert f"got {str(src / 'tiny')!r}" in one_line_error(capsys)
    assert sorted(p.name for p in src.iterdir()) == ["tiny.ipynb"]


def test_out_must_not_be_the_source_folder(book, capsys):
    src, params, out = book
    before = (src / "tiny.ipynb").read_bytes()
    assert execute.main(["tiny", "--src", str(src), "--params", str(params), "--out", str(src)]) == 2
    assert "--out must not be the source folder" in one_line_error(capsys)
    assert (src / "tiny.ipynb").read_bytes() == before


@pytest.mark.parametrize("text, value", [("1e-3", 0.001), ("1E3", 1000.0), ("-2.5e+2", -250.0), ("1.5e3", 1500.0),
                                         ("[1e-3, 2]", [0.001, 2]), ("3", 3), ("0.5", 0.5), ("e3", "e3"),
                                         ("1e", "1e"), ("'1e-3'", "1e-3"), ("true", True)])
def test_yaml_values_read_scientific_notation_as_numbers(text, value):
    parsed = execute.load_yaml(text, "-p x")
    assert parsed == value and type(parsed) is type(value)


def test_yaml_syntax_error_in_a_value_is_one_line_and_exit_2(book, capsys):
    assert run(book, "tiny", "-p", "lr", "[1, 2") == 2
    err = one_line_error(capsys)
    assert err.startswith("execute.py: error: -p lr '[1, 2' is not valid YAML at line 1")


def test_yaml_syntax_error_in_the_parameter_file_is_one_line_and_exit_2(book, capsys):
    book[1].write_text("tiny:\n  steps: [5\n")
    assert run(book, "tiny") == 2
    err = one_line_error(capsys)
    assert f"{book[1]} is not valid YAML at line" in err


def test_input_hash_covers_source_and_parameters(book):
    src = book[0]
    base = execute.input_hash(src / "tiny.ipynb", {"lr": 0.1})
    assert execute.input_hash(src / "tiny.ipynb", {"lr": 0.1}) == base
    assert execute.input_hash(src / "tiny.ipynb", {"lr": 0.2}) != base
    write_chapter(src, body=BODY + "\n")
    assert execute.input_hash(src / "tiny.ipynb", {"lr": 0.1}) != base


def test_execution_writes_the_provenance_record_and_the_data_section(book, capsys):
    src, params, out = book
    assert run(book, "tiny", "-p", "lr", "1e-3") == 0
    target = out / "tiny.ipynb"
    nb = nbformat.read(target, as_version=4)
    record = nb.metadata["symlib"]
    # Everything it ran with: defaults, then the parameter file (steps), then -p (lr, a float).
    assert record["parameters"] == {"lr": 0.001, "steps": 5, "results_dir": "results", "executed_dir": "../out"}
    table = src / "results" / "tiny_values.csv"
    assert table.read_text().splitlines()[1] == "0.001,float,5"
    assert record["tables"] == ["../src/results/tiny_values.csv"] and record["quick"] is False
    assert 0 < record["seconds"] < 120
    finished = datetime.datetime.fromisoformat(record["finished"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - finished).total_seconds()) < 120
    assert set(record["versions"]) >= {"python", "torch", "numpy", "scipy", "pandas", "matplotlib", "symlib",
                                       "git_commit", "git_dirty", "machine"}
    assert re.fullmatch(r"[0-9a-f]{64}", record["input_hash"])
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
    # The Data section: every link is relative to the executed copy and leads to the file.
    data = nb.cells[-1]
    assert data.cell_type == "markdown" and data.source.startswith("## Data")
    links = re.findall(r"\{download\}`[^`<]*<([^>]+)>`", data.source)
    assert [Path(link).name for link in links] == ["tiny_values.csv", "tiny.ipynb", "tiny.ipynb", "params.yaml"]
    assert {(out / link).resolve() for link in links} == {table.resolve(), target.resolve(), (src / "tiny.ipynb").resolve(),
                                                          params.resolve()}
    assert "steps: 5   # the book's value" in data.source and "`-p lr 1e-3`" in data.source
    assert not any(p.name.startswith(".") for p in out.iterdir()), "no temp file is left"

    # Unchanged inputs: not re-executed; the copy is kept as it was.
    capsys.readouterr()
    before = target.read_bytes()
    assert run(book, "tiny", "-p", "lr", "1e-3") == 0
    assert "inputs unchanged" in capsys.readouterr().out
    assert target.read_bytes() == before


def test_failing_chapter_exits_1_and_leaves_the_copy(book, capsys):
    src, params, out = book
    write_chapter(src, name="broken", body='raise ValueError("parameter \'lr\' must be > 0, got -1")')
    out.mkdir()
    (out / "broken.ipynb").write_text("old")
    assert run(book, "broken", "--quick") == 1
    err = capsys.readouterr().err
    assert "broken: failed" in err and "parameter 'lr' must be > 0, got -1" in err
    assert (out / "broken.ipynb").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["broken.ipynb"], "no temp file is left"


def test_defaults_are_read_from_the_parameters_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('a = 1_000\nb: float = 2e-3\nc = [1, "x"]\nd = list(range(3))  # an expression\n'
                                          'import math', metadata={"tags": ["parameters"]})]
    assert execute.notebook_defaults(nb) == {"a": 1000, "b": 0.002, "c": [1, "x"], "d": "list(range(3))"}
    nb.cells[0].source = "a = ("
    with pytest.raises(execute.UsageError, match=r"the parameters cell is not valid Python \(line 1"):
        execute.notebook_defaults(nb)
    nb.cells[0].metadata.tags = []
    with pytest.raises(execute.UsageError, match="exactly one cell tagged 'parameters', found 0"):
        execute.notebook_defaults(nb)
