# Build, run and test the book and its companion library adlib.
#
#   make book       build the HTML site into _build/html (executes every notebook)
#   make test       adlib tests + strict nbval over book/ + browser checks of the site
#   make lab        JupyterLab on the notebooks, with adlib importable
#   make notebooks  re-execute every notebook in place (NB=path/to.ipynb for one)
#
# Every target first creates .venv (if missing) and installs requirements.txt and
# adlib (editable); that step is skipped while .venv/.installed is newer than
# requirements.txt and pyproject.toml.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# MathJax 3 is fetched from the npm registry at build time and served from the
# site itself, so the book works offline.  It lives in _assets/ (a static path
# of its own): Jupyter Book injects every .js found under _static/ into every
# page, which would load MathJax twice.
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR := _assets/mathjax
MATHJAX_STAMP := _assets/.mathjax-$(MATHJAX_VERSION)

# Environment for every notebook kernel (book build, nbval, make notebooks):
# a fixed hash seed (set/dict orderings in printed output) and no MPLBACKEND
# (a non-inline backend changes figure outputs).
export PYTHONHASHSEED := 0
unexport MPLBACKEND
# One BLAS thread: on a 2-core machine a multi-threaded OpenBLAS stalls small
# solves under load, which makes the measured cost ratios in notebooks noisy.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
# Prefer the kernelspec installed in .venv over any per-user one.
export JUPYTER_PREFER_ENV_PATH := 1
# Silence debugpy's "frozen modules" notice on kernel start-up.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# Graphviz's `dot` draws the computational graphs (adlib.graph); like chromium,
# it is a system package, checked before anything is installed or built.
CHECK_DOT = command -v dot >/dev/null || { echo "Graphviz's dot program is missing: it draws the book's computational graphs (adlib.graph). Install the Debian package graphviz: sudo apt-get install graphviz"; exit 1; }

# All notebooks of the book (never the copies under _build or checkpoints).
NOTEBOOKS = $(shell find book -name '*.ipynb' -not -path '*/.*' -not -path '*/_build/*' | LC_ALL=C sort)
NB ?= $(NOTEBOOKS)

# JupyterLab refuses to run as root unless told to.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

PYTEST := $(BIN)/python -m pytest
NBVAL_OPTS := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	-W "ignore:Overlapping options from comments and metadata:UserWarning"

.PHONY: help venv mathjax book test test-unit test-deep test-nbval test-site test-rosetta rosetta lab notebooks bench clean distclean

help:
	@echo "make book       build the site into _build/html (warnings are errors)"
	@echo "make test       unit tests, strict nbval over book/, browser checks of the site"
	@echo "make lab        start JupyterLab on the notebooks"
	@echo "make notebooks  re-execute notebooks in place (all, or NB=book/partN/x.ipynb)"
	@echo "make bench      gradient-cost benchmark of adlib (vs NumPy by hand and autograd)"
	@echo "make clean      remove _build and the downloaded MathJax (distclean: also .venv)"

# ---------------------------------------------------------------------------
# set-up

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(CHECK_DOT)
	@if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is required (PYTHON=$(PYTHON))")'; \
	  echo "creating $(VENV) with $$($(PYTHON) --version)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@# the `python3` kernel used by Jupyter Book, nbval and JupyterLab is this venv's python
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (adlib)" >/dev/null
	@touch $@

mathjax: $(MATHJAX_STAMP)

$(MATHJAX_STAMP):
	@command -v npm >/dev/null || { echo "npm is needed to fetch MathJax (apt-get install npm)"; exit 1; }
	rm -rf $(MATHJAX_DIR) _assets/.mathjax-download _assets/.mathjax-[0-9]*
	mkdir -p _assets/.mathjax-download
	npm pack --silent --pack-destination _assets/.mathjax-download mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf _assets/.mathjax-download/mathjax-$(MATHJAX_VERSION).tgz -C _assets/.mathjax-download
	mv _assets/.mathjax-download/package/es5 $(MATHJAX_DIR)
	rm -rf _assets/.mathjax-download
	@test -f $(MATHJAX_DIR)/tex-chtml.js
	@touch $@

# ---------------------------------------------------------------------------
# the book

# A fresh build every time: Sphinx only re-reads changed pages, so an incremental
# `-W` build could pass while an unchanged page still has a warning.
book: $(STAMP) $(MATHJAX_STAMP)
	@$(CHECK_DOT)
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The book is built. Open it in a browser:"
	@echo "    file://$(CURDIR)/_build/html/index.html"

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ARGS)

notebooks: $(STAMP)
	@if [ -z "$(strip $(NB))" ]; then echo "no notebooks under book/"; exit 0; fi
	@for nb in $(NB); do \
	  echo "executing $$nb"; \
	  $(BIN)/jupyter execute --inplace --kernel_name=python3 "$$nb"; \
	done

# ---------------------------------------------------------------------------
# tests

test: test-unit test-nbval test-site test-rosetta
	@echo "all checks passed"

# adlib's test suite and the self-test of the nbval set-up
test-unit: $(STAMP)
	$(PYTEST) tests --ignore=tests/site

# the property-based tests with many more examples (hypothesis profile "deep")
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(PYTEST) tests/test_properties.py

# strict nbval: every stored output of every notebook must be reproduced
test-nbval: $(STAMP)
	@if [ -z "$(strip $(NOTEBOOKS))" ]; then echo "no notebooks under book/ yet: nothing for nbval"; exit 0; fi
	$(PYTEST) $(NBVAL_OPTS) -p no:cacheprovider $(NOTEBOOKS)

# rendered-site checks in headless chromium; always on a fresh build
test-site: book
	$(PYTEST) tests/site

# Rosetta: the JAX and PyTorch versions of every rule of the book, checked with
# each framework's own checker and against adlib, in a venv of their own (the
# book itself never imports them).
# CPU builds only: torch 2.13.0 (a CPU wheel lies on this kind of machine's pip
# path; other versions pull multi-GB CUDA builds) and jax/jaxlib from PyPI.
ROSETTA_VENV ?= .venv-rosetta
ROSETTA_BIN := $(ROSETTA_VENV)/bin
ROSETTA_STAMP := $(ROSETTA_VENV)/.installed
ROSETTA_PACKAGES := "numpy>=2.0,<3" "scipy>=1.13,<2" "pytest>=8,<10" \
	torch==2.13.0 jax==0.10.2 jaxlib==0.10.2

$(ROSETTA_STAMP): pyproject.toml
	@if [ ! -x $(ROSETTA_BIN)/python ]; then $(PYTHON) -m venv $(ROSETTA_VENV); fi
	$(ROSETTA_BIN)/python -m pip install --quiet --disable-pip-version-check $(ROSETTA_PACKAGES)
	$(ROSETTA_BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

# ROSETTA_REQUIRE=1: a missing JAX or PyTorch fails instead of skipping
rosetta test-rosetta: $(ROSETTA_STAMP)
	ROSETTA_REQUIRE=1 $(ROSETTA_BIN)/python -m pytest tests/test_rosetta.py \
	  tests/test_kink_conventions.py -p no:cacheprovider -rs -W ignore::DeprecationWarning

# ---------------------------------------------------------------------------
# performance: ratios measured side by side in one run (see README, Benchmarks)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_grad.py

clean:
	rm -rf _build _assets/mathjax _assets/.mathjax-*

distclean: clean
	rm -rf $(VENV) $(ROSETTA_VENV)
