"""Bad input to symlib.provenance and the helpers below it, symlib.rng and symlib.files: each case
raises the right exception type, naming the argument."""

import os
import re
import shutil
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import assert_clear_error
from symlib import files, provenance, rng

NAN = float("nan")
DF = pd.DataFrame({"a": [1, 2]})
FOLDER = os.path.join(tempfile.gettempdir(), f"symlib-bad-inputs-{os.getpid()}")  # made by the fixture below
FOLDER_CSV = os.path.join(FOLDER, "folder.csv")  # a folder whose name looks like a table
NEVER_WRITTEN = os.path.join(FOLDER, "never", "written.txt")
UNDER_A_FILE = os.path.join(__file__, "results")  # a folder that cannot exist
KEYS = rng.keys_from_seeds([0, 1])


@pytest.fixture(scope="module", autouse=True)
def _folders():
    os.makedirs(FOLDER_CSV)
    yield
    shutil.rmtree(FOLDER, ignore_errors=True)


def write_nothing(tmp):
    open(tmp, "w").close()


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


CASES = [
    # require: the parameter's value (ValueError naming the parameter), and require's own arguments
    case("require-below-low", lambda: provenance.require("steps", 0, int, low=1), ValueError, "steps", r"got 0\b"),
    case("require-float-for-int", lambda: provenance.require("steps", 2.0, int), ValueError, "steps", r"2\.0"),
    case("require-bool-for-int", lambda: provenance.require("steps", True, int), ValueError, "steps", "True"),
    case("require-string-for-float", lambda: provenance.require("lr", "0.1", float), ValueError, "lr", "'0.1'"),
    case("require-none-for-float", lambda: provenance.require("lr", None, float), ValueError, "lr", "None"),
    case("require-nan-with-low", lambda: provenance.require("lr", NAN, float, low=0.0), ValueError, "lr", "nan"),
    case("require-list-wrong-element", lambda: provenance.require("sizes", [1, "a"], list, each=int), ValueError,
         "sizes", r"\[1, 'a'\]"),
    case("require-list-empty", lambda: provenance.require("sizes", [], list, each=int), ValueError, "sizes", r"\[\]"),
    case("require-list-element-below-low", lambda: provenance.require("sizes", [3, 0], list, each=int, low=1),
         ValueError, "sizes", r"\[3, 0\]"),
    case("require-list-element-nan", lambda: provenance.require("rhos", [0.1, NAN], list, each=float, low=0.0),
         ValueError, "rhos", "nan"),
    case("require-not-a-choice", lambda: provenance.require("mode", "c", str, choices=("a", "b")), ValueError,
         "mode", "'c'"),
    case("require-each-of-a-scalar", lambda: provenance.require("sizes", 5, int, each=int), ValueError, "sizes",
         r"got 5\b"),
    case("require-each-of-a-string", lambda: provenance.require("names", "abc", str, each=str), ValueError, "names",
         "'abc'"),
    case("require-low-of-a-string", lambda: provenance.require("mode", "abc", str, low=1), ValueError, "mode",
         "'abc'"),
    case("require-int-for-bool", lambda: provenance.require("flag", 1, bool), ValueError, "flag", r"got 1\b"),
    case("require-name-empty", lambda: provenance.require("", 1, int), TypeError, "name", "''"),
    case("require-name-int", lambda: provenance.require(3, 1, int), TypeError, "name", r"got 3\b"),
    case("require-kind-string", lambda: provenance.require("steps", 1, "int"), TypeError, "kind", "'int'"),
    case("require-kind-tuple-with-string", lambda: provenance.require("steps", 1, (int, "float")), TypeError, "kind",
         "'float'"),
    case("require-kind-none", lambda: provenance.require("steps", 1, None), TypeError, "kind", "None"),
    case("require-each-string", lambda: provenance.require("sizes", [1], list, each="int"), TypeError, "each",
         "'int'"),
    case("require-low-string", lambda: provenance.require("steps", 1, int, low="1"), TypeError, "low", "'1'"),
    case("require-low-nan", lambda: provenance.require("steps", 1, int, low=NAN), ValueError, "low", "nan"),
    case("require-choices-string", lambda: provenance.require("mode", "a", str, choices="abc"), TypeError, "choices",
         "'abc'"),
    case("require-choices-int", lambda: provenance.require("mode", "a", str, choices=5), TypeError, "choices",
         r"got 5\b"),
    # save_table: df, path
    case("save-df-list", lambda: provenance.save_table([1, 2], os.path.join(FOLDER, "t.csv")), TypeError, "df",
         "list"),
    case("save-df-none", lambda: provenance.save_table(None, os.path.join(FOLDER, "t.csv")), TypeError, "df",
         "NoneType"),
    case("save-path-suffix", lambda: provenance.save_table(DF, os.path.join(FOLDER, "t.txt")), ValueError, "path",
         r"t\.txt'"),
    case("save-path-none", lambda: provenance.save_table(DF, None), TypeError, "path", "None"),
    case("save-path-int", lambda: provenance.save_table(DF, 3), TypeError, "path", r"got 3\b"),
    case("save-path-folder", lambda: provenance.save_table(DF, FOLDER_CSV), ValueError, "path", r"\.csv'"),
    # glue: name, value
    case("glue-name-empty", lambda: provenance.glue("", 1), TypeError, "name", "''"),
    case("glue-name-int", lambda: provenance.glue(3, 1.0), TypeError, "name", r"got 3\b"),
    case("glue-value-list", lambda: provenance.glue("x", [1]), TypeError, "value", "list"),
    case("glue-value-dict", lambda: provenance.glue("x", {"a": 1}), TypeError, "value", "dict"),
    case("glue-value-none", lambda: provenance.glue("x", None), TypeError, "value", "NoneType"),
    case("glue-value-array", lambda: provenance.glue("x", np.array([1.0, 2.0])), TypeError, "value", "ndarray"),
    # load_records: folder, chapters
    case("records-folder-missing", lambda: provenance.load_records(os.path.join(FOLDER, "nowhere"), ["a"]),
         ValueError, "folder", "nowhere'"),
    case("records-folder-none", lambda: provenance.load_records(None, ["a"]), TypeError, "folder", "None"),
    case("records-chapters-string", lambda: provenance.load_records(FOLDER, "toolkit"), TypeError, "chapters",
         "'toolkit'"),
    case("records-chapters-none", lambda: provenance.load_records(FOLDER, None), TypeError, "chapters", "None"),
    # rng.keys_from_seeds: seeds, stream
    case("keys-seed-negative", lambda: rng.keys_from_seeds([-1]), ValueError, "seeds", "-1"),
    case("keys-seed-string", lambda: rng.keys_from_seeds(["a"]), TypeError, "seeds", "'a'"),
    case("keys-seed-float", lambda: rng.keys_from_seeds([1.5]), TypeError, "seeds", "1.5"),
    case("keys-seed-bool", lambda: rng.keys_from_seeds([True]), TypeError, "seeds", "True"),
    case("keys-seeds-int", lambda: rng.keys_from_seeds(5), TypeError, "seeds", r"got 5\b"),
    case("keys-seeds-string", lambda: rng.keys_from_seeds("12"), TypeError, "seeds", "'12'"),
    case("keys-seeds-none", lambda: rng.keys_from_seeds(None), TypeError, "seeds", "None"),
    case("keys-stream-negative", lambda: rng.keys_from_seeds([1], stream=-1), ValueError, "stream", "-1"),
    case("keys-stream-string", lambda: rng.keys_from_seeds([1], stream="a"), TypeError, "stream", "'a'"),
    case("keys-stream-float", lambda: rng.keys_from_seeds([1], stream=1.0), TypeError, "stream", r"1\.0"),
    # rng.random_words: keys, stream, offset, count, check
    case("words-keys-list", lambda: rng.random_words(KEYS.tolist(), 0, 0, 4), TypeError, "keys", "list"),
    case("words-keys-float", lambda: rng.random_words(KEYS.double(), 0, 0, 4), TypeError, "keys", r"torch\.float64"),
    case("words-keys-one-dim", lambda: rng.random_words(KEYS[0], 0, 0, 4), ValueError, "keys", r"\(2,\)"),
    case("words-keys-three-columns", lambda: rng.random_words(torch.zeros(2, 3, dtype=torch.long), 0, 0, 4),
         ValueError, "keys", r"\(2, 3\)"),
    case("words-stream-negative", lambda: rng.random_words(KEYS, -1, 0, 4), ValueError, "stream", "-1"),
    case("words-stream-float", lambda: rng.random_words(KEYS, 1.5, 0, 4), TypeError, "stream", "1.5"),
    case("words-stream-vector", lambda: rng.random_words(KEYS, torch.tensor([1, 2]), 0, 4), TypeError, "stream",
         r"\(2,\)"),
    case("words-stream-float-tensor", lambda: rng.random_words(KEYS, torch.tensor(1.0), 0, 4), TypeError, "stream",
         r"torch\.float32"),
    case("words-offset-float", lambda: rng.random_words(KEYS, 0, 1.5, 4), TypeError, "offset", "1.5"),
    case("words-offset-negative", lambda: rng.random_words(KEYS, 0, -3, 4), ValueError, "offset", "-3"),
    case("words-offset-too-large", lambda: rng.random_words(KEYS, 0, 2 ** 64, 4), ValueError, "offset",
         "18446744073709551616"),
    case("words-count-negative", lambda: rng.random_words(KEYS, 0, 0, -1), ValueError, "count", "-1"),
    case("words-count-float", lambda: rng.random_words(KEYS, 0, 0, 2.5), TypeError, "count", "2.5"),
    case("words-count-bool", lambda: rng.random_words(KEYS, 0, 0, True), TypeError, "count", "True"),
    case("words-count-none", lambda: rng.random_words(KEYS, 0, 0, None), TypeError, "count", "None"),
    case("words-check-string", lambda: rng.random_words(KEYS, 0, 0, 4, check="no"), TypeError, "check", "'no'"),
    # rng.check_seed: seed, and the name it is given
    case("check-seed-negative", lambda: rng.check_seed(-1), ValueError, "seed", "-1"),
    case("check-seed-named", lambda: rng.check_seed(None, "test_seed"), TypeError, "test_seed", "None"),
    case("check-seed-numpy-float", lambda: rng.check_seed(np.float64(1.0)), TypeError, "seed", "float64"),
    # files.atomic_write: path, write
    case("atomic-path-none", lambda: files.atomic_write(None, write_nothing), TypeError, "path", "None"),
    case("atomic-path-int", lambda: files.atomic_write(3, write_nothing), TypeError, "path", r"got 3\b"),
    case("atomic-path-folder", lambda: files.atomic_write(FOLDER, write_nothing), ValueError, "path",
         re.escape(repr(FOLDER))),
    case("atomic-path-empty", lambda: files.atomic_write("", write_nothing), ValueError, "path", "folder"),
    case("atomic-write-none", lambda: files.atomic_write(NEVER_WRITTEN, None), TypeError, "write", "NoneType"),
    case("atomic-write-string", lambda: files.atomic_write(NEVER_WRITTEN, "text"), TypeError, "write", "str"),
    # files.require_writable: folder (named as the caller names it)
    case("writable-none", lambda: files.require_writable(None), TypeError, "cache_dir", "None"),
    case("writable-none-named", lambda: files.require_writable(None, "results_dir"), TypeError, "results_dir",
         "None"),
    case("writable-int", lambda: files.require_writable(3, "results_dir"), TypeError, "results_dir", r"got 3\b"),
    case("writable-under-a-file", lambda: files.require_writable(UNDER_A_FILE, "results_dir"), ValueError,
         "results_dir", "results'"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)
    assert not os.path.exists(os.path.dirname(NEVER_WRITTEN)), "a refused write created its folder"


def test_a_float_count_is_refused_not_rounded_up():
    # Was: torch.arange(2.5) has 3 entries, so 3 words came back for a count of 2.5.
    with pytest.raises(TypeError, match=r"^count must be a non-negative int, got 2\.5 \(float\)$"):
        rng.random_words(KEYS, 0, 0, 2.5)


def test_a_nan_parameter_is_refused_by_a_lower_bound():
    # Was: NaN < low is False, so a NaN learning rate passed require(..., low=1e-6).
    with pytest.raises(ValueError, match=r"^parameter 'lr' must be >= 1e-06, got nan$"):
        provenance.require("lr", NAN, float, low=1e-6)


def test_each_on_a_string_does_not_check_its_letters():
    # Was: accepted, each letter of "abc" being a str.
    with pytest.raises(ValueError, match=r"^parameter 'chapters' must be a list of str, got 'toolkit'$"):
        provenance.require("chapters", "toolkit", str, each=str)


@pytest.mark.parametrize("items, empty, match", [([1, "b"], "none", r"items must be strings, got 1 \(int\)"),
                                                 (["a"], None, r"empty must be a str, got None")])
def test_listing_refuses_what_it_cannot_write(items, empty, match):
    with pytest.raises(TypeError, match=match):
        provenance.listing(items, empty=empty)
