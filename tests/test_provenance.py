"""symlib.provenance: the chapters' parameter checks, tables, glued values and provenance records."""

import os
import platform

import nbformat
import numpy as np
import pandas as pd
import pytest
from IPython.display import Markdown

from symlib import provenance


def test_require_accepts_valid_values():
    provenance.require("steps", 10, int, low=1)
    provenance.require("lr", 3e-3, float, low=1e-6)
    provenance.require("sizes", [1, 2], list, each=int, low=1)
    provenance.require("mode", "a", str, choices=("a", "b"))
    provenance.require("flag", True, bool)
    provenance.require("x", 2, (int, str))


def test_require_accepts_an_int_where_a_float_is_expected():
    provenance.require("time_budget", 1, float, low=1e-4)
    provenance.require("rhos", [0, 0.5], list, each=float)


@pytest.mark.parametrize("call, message", [
    (lambda: provenance.require("steps", 0, int, low=1), "parameter 'steps' must be >= 1, got 0"),
    (lambda: provenance.require("steps", 2.0, int), "parameter 'steps' must be of type int, got 2.0"),
    (lambda: provenance.require("steps", True, int), "parameter 'steps' must be of type int, got True"),
    (lambda: provenance.require("lr", True, float), "parameter 'lr' must be of type float, got True"),
    (lambda: provenance.require("lr", "0.1", float), "parameter 'lr' must be of type float, got '0.1'"),
    (lambda: provenance.require("sizes", [1, "a"], list, each=int), r"must be a list of int, got \[1, 'a'\]"),
    (lambda: provenance.require("sizes", [1, True], list, each=int), r"must be a list of int, got \[1, True\]"),
    (lambda: provenance.require("sizes", [], list, each=int), r"must be a non-empty list, got \[\]"),
    (lambda: provenance.require("sizes", [3, 0], list, each=int, low=1), r">= 1 \(each element\), got \[3, 0\]"),
    (lambda: provenance.require("mode", "c", str, choices=("a", "b")), r"must be one of \('a', 'b'\), got 'c'"),
    (lambda: provenance.require("flag", 1, bool), "parameter 'flag' must be of type bool, got 1"),
])
def test_require_names_the_parameter_the_expectation_and_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_require_rejects_a_bad_name():
    with pytest.raises(TypeError, match="name must be a non-empty str, got ''"):
        provenance.require("", 1, int)


def test_save_table_writes_csv_atomically_and_records_it(tmp_path, monkeypatch):
    manifest = tmp_path / "manifest.txt"
    monkeypatch.setenv(provenance.MANIFEST_ENV, str(manifest))
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]})
    path = provenance.save_table(df, tmp_path / "deep" / "x_table.csv")
    assert path == tmp_path / "deep" / "x_table.csv"
    pd.testing.assert_frame_equal(pd.read_csv(path), df)
    assert os.listdir(path.parent) == ["x_table.csv"], "no temp file is left"
    provenance.save_table(df, tmp_path / "y.csv")
    assert manifest.read_text().splitlines() == [str(path.resolve()), str((tmp_path / "y.csv").resolve())]


def test_save_table_without_manifest_and_bad_input(tmp_path, monkeypatch):
    monkeypatch.delenv(provenance.MANIFEST_ENV, raising=False)
    provenance.save_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert sorted(os.listdir(tmp_path)) == ["t.csv"]
    with pytest.raises(ValueError, match=r"path must end in \.csv, got '.*t\.txt'"):
        provenance.save_table(pd.DataFrame({"a": [1]}), tmp_path / "t.txt")
    with pytest.raises(TypeError, match="df must be a pandas DataFrame, got list"):
        provenance.save_table([1, 2], tmp_path / "u.csv")


@pytest.fixture
def glued(monkeypatch):
    """What reaches myst-nb's glue: (name, value, display) per call."""
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    return calls


@pytest.mark.parametrize("value, expected", [
    (np.float64(0.71), 0.71), (np.float32(0.5), 0.5), (np.int64(3), 3), (np.bool_(True), True),
    (np.array(2.5), 2.5), (0.25, 0.25), (7, 7), ("50,000", "50,000"),
])
def test_glue_passes_plain_python_values(glued, value, expected):
    provenance.glue("x", value)
    (name, plain, display), = glued
    assert (name, plain, display) == ("x", expected, False)
    assert type(plain) is type(expected)
    assert repr(plain) == repr(expected)  # the text/plain myst-nb stores: 0.71, never np.float64(0.71)


def test_glue_passes_markdown_through(glued):
    md = Markdown("- **a**: 1")
    provenance.glue("verdict", md)
    assert glued == [("verdict", md, False)]


def test_glue_rejects_what_it_cannot_render(glued):
    with pytest.raises(TypeError, match=r"value of glue 'x' must be a number.*got list"):
        provenance.glue("x", [1, 2])
    with pytest.raises(TypeError, match="name must be a non-empty str, got 3"):
        provenance.glue(3, 1.0)
    assert glued == []


def test_versions_names_what_the_run_ran_with():
    v = provenance.versions()
    assert v["python"] == platform.python_version()
    assert v["numpy"] == np.__version__ and v["pandas"] == pd.__version__
    assert v["git_dirty"] in (True, False, None)
    assert v["machine"].endswith(f"{os.cpu_count()} cores")
    assert set(v) >= {"torch", "scipy", "matplotlib", "symlib", "git_commit"}


def test_load_records_reads_the_executed_chapters(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["symlib"] = {"chapter": "tiny", "seconds": 1.5, "parameters": {"lr": 0.1}}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "norecord.ipynb")
    records = provenance.load_records(tmp_path, ["absent", "norecord", "tiny"])
    assert list(records) == ["tiny"] and records["tiny"]["parameters"] == {"lr": 0.1}
    with pytest.raises(ValueError, match="folder must be an existing folder of executed chapters, got '.*nowhere'"):
        provenance.load_records(tmp_path / "nowhere", ["tiny"])


def test_checklists_round_trip(tmp_path):
    import pandas as pd

    from symlib import provenance

    table = pd.DataFrame({"approach": ["a", "b"], "lr": [1e-3, 3e-3]})
    provenance.save_checklist({"runs": 12, "selected": table, "grid": {"lr": [1e-3, 3e-3]}}, tmp_path / "x_checklist.json")
    loaded = provenance.load_checklists(tmp_path, ["x", "y"])
    assert list(loaded) == ["x"] and loaded["x"]["runs"] == 12 and loaded["x"]["selected"][1]["lr"] == 3e-3
    with pytest.raises(ValueError, match=r"path must end in .json"):
        provenance.save_checklist({}, tmp_path / "x.txt")


def test_glue_draws_a_figure_once(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symlib import provenance

    glued = []
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.append((name, value, display)))
    fig = plt.figure()
    provenance.glue("fig", fig)
    assert glued == [("fig", fig, False)] and not plt.fignum_exists(fig.number)


@pytest.mark.parametrize("items, text", [([], "none"), (["a"], "a"), (["a", "b"], "a and b"),
                                         (["a", "b", "c"], "a, b and c"), (iter(["x, y", "z"]), "x, y and z")])
def test_listing_reads_as_english(items, text):
    assert provenance.listing(items) == text


def test_listing_names_what_is_empty():
    assert provenance.listing([], empty="no model") == "no model"
