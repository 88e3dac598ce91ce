# Two commands: `make book` (HTML in _build/html) and `make test`. Both create .venv if missing.
# `make pdf` prints the built book to _build/pdf/book.pdf. SCHEDULER=tcp://host:8786 runs the
# chapters' training sweeps on that Dask cluster (see README, "Rerunning on several machines").
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Chapter order matters only for the last one: reproducibility collects the others' records.
CHAPTERS := toolkit averaging original overfitting learning_curves cost choosing_group sizes
EXECUTED := $(CHAPTERS:%=book/%.ipynb)
SYMLIB := $(shell find symlib -name '*.py')
BOOK_INPUTS := _config.yml _toc.yml $(wildcard book/*.md) book/references.bib
# --all: pages glue values from other chapters, a dependency Sphinx's incremental build cannot see.
JB := $(VENV)/bin/jupyter-book build -W -n --keep-going --all
PDF := _build/pdf/book.pdf
QUICK_HTML := _build/quick/_build/html

# glibc returns freed blocks above 128 kB to the OS and faults them back in on the next step, so
# timings of large sets would measure the allocator's state (a DeepSets step at n = 4,096 took
# ~3,600 page faults). Fixed thresholds keep freed activations for reuse, in every chapter's kernel
# and nbval's. book/execute.py sets the same for direct runs.
export MALLOC_MMAP_THRESHOLD_ := 67108864
export MALLOC_TRIM_THRESHOLD_ := 134217728

ifdef SCHEDULER
# symlib.experiments.sweep reads it in every chapter's kernel (papermill passes the environment on).
export SYMLIB_SCHEDULER := $(SCHEDULER)
endif

.PHONY: book pdf test check-book chapter clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither" >&2)
	touch $@

book/%.ipynb: book/src/%.ipynb book/params.yaml book/execute.py $(SYMLIB) | $(STAMP)
	$(PY) book/execute.py $*

book/reproducibility.ipynb: book/src/reproducibility.ipynb $(EXECUTED) book/execute.py | $(STAMP)
	$(PY) book/execute.py reproducibility --force

book: _build/html/.built
	@echo "The book is in _build/html: python -m http.server -d _build/html"

_build/html/.built: $(EXECUTED) book/reproducibility.ipynb $(BOOK_INPUTS) | $(STAMP)
	$(JB) .
	touch $@

# The whole book, in _toc.yml order, printed offline by headless Chromium and joined into one PDF.
pdf: $(PDF)
	@echo "The PDF is $(PDF)"

$(PDF): _build/html/.built book/print_pdf.py | $(STAMP)
	$(PY) book/print_pdf.py --html _build/html --toc _toc.yml --out $@

# One chapter with other parameters, e.g. make chapter NAME=averaging ARGS="-p steps 3000"
chapter: $(STAMP)
	$(PY) book/execute.py $(NAME) --force $(ARGS)

# Library tests and nbval over every chapter source (quick defaults), then the quick book in a browser.
test: $(STAMP)
	$(PY) -m pytest
	$(MAKE) --no-print-directory check-book

# A test-sized build in _build/quick (quick parameters), opened page by page in headless Chromium with
# no network (math typeset, every local link resolves), then printed to PDF and the PDF checked.
check-book: $(STAMP)
	rm -rf _build/quick-src
	mkdir -p _build/quick-src/book
	cp _config.yml _toc.yml _build/quick-src/
	cp book/*.md book/references.bib _build/quick-src/book/
	for c in $(CHAPTERS) reproducibility; do $(PY) book/execute.py $$c --quick --force --out _build/quick-src/book; done
	$(JB) _build/quick-src --path-output _build/quick
	BOOK_HTML=$(QUICK_HTML) BOOK_ROOT=_build/quick-src $(PY) -m pytest tests/test_rendered_book.py
	$(PY) book/print_pdf.py --html $(QUICK_HTML) --toc _build/quick-src/_toc.yml --out _build/quick/book.pdf
	BOOK_PDF=_build/quick/book.pdf BOOK_HTML=$(QUICK_HTML) BOOK_TOC=_build/quick-src/_toc.yml $(PY) -m pytest tests/test_pdf.py

clean:
	rm -rf _build book/*.ipynb book/.*.tmp.ipynb book/_results book/_cache
