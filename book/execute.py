"""Execute one chapter with papermill into the copy the HTML is built from.

    python book/execute.py CHAPTER                 # full parameters from book/params.yaml
    python book/execute.py CHAPTER --quick         # the notebook's own (test-sized) defaults
    python book/execute.py CHAPTER -p steps 500    # override parameters (YAML values)
    python book/execute.py CHAPTER --out DIR       # write DIR/CHAPTER.ipynb instead of book/

The source book/src/CHAPTER.ipynb runs with its working directory book/src (as under nbval). The
output records a hash of its inputs (source, parameters, symlib's source); when they have not
changed the chapter is not re-executed, only its timestamp is refreshed for make. The result is
written to a temp file and renamed, so an interrupted run never leaves half a chapter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import nbformat
import papermill
import yaml

from symlib.experiments import atomic_write, symlib_source_hash

BOOK = Path(__file__).resolve().parent
SRC = BOOK / "src"


def parameters(chapter: str, quick: bool, overrides: list[tuple[str, str]]) -> dict:
    params = {} if quick else dict((yaml.safe_load((BOOK / "params.yaml").read_text()) or {}).get(chapter) or {})
    params.update({k: yaml.safe_load(v) for k, v in overrides})
    return params


def input_hash(source: Path, params: dict) -> str:
    payload = source.read_bytes() + json.dumps(params, sort_keys=True).encode() + symlib_source_hash().encode()
    return hashlib.sha256(payload).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter")
    parser.add_argument("--quick", action="store_true", help="use the notebook's quick defaults")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--out", type=Path, default=BOOK, help="folder for the executed copy")
    parser.add_argument("--force", action="store_true", help="execute even if the inputs did not change")
    args = parser.parse_args()

    source = SRC / f"{args.chapter}.ipynb"
    if not source.exists():
        parser.error(f"no chapter source {source}")
    params = parameters(args.chapter, args.quick, args.p)
    digest = input_hash(source, params)
    target = args.out / f"{args.chapter}.ipynb"
    if target.exists() and not args.force:
        old = nbformat.read(target, as_version=4).metadata.get("symlib", {}).get("input_hash")
        if old == digest:
            print(f"{args.chapter}: inputs unchanged, not re-executed")
            target.touch()
            return 0

    print(f"{args.chapter}: executing with {params or 'its quick defaults'}", flush=True)

    def execute(tmp: str) -> None:
        papermill.execute_notebook(str(source), tmp, parameters=params, cwd=str(SRC), progress_bar=False,
                                   kernel_name="python3")
        nb = nbformat.read(tmp, as_version=4)
        for cell in nb.cells:  # the reader sees results, not the parameter plumbing
            tags = cell.metadata.setdefault("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        nb.metadata["symlib"] = {"input_hash": digest, "parameters": params}
        nbformat.write(nb, tmp)

    atomic_write(target, execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
