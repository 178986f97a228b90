# lossbook: `make book` builds the site, `make test` runs every test. Each sets itself up.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_READY := $(VENV)/.installed
JS_READY := node_modules/.installed
CHROMIUM := /usr/bin/chromium
HTML := _build/html
# `make pdf`: the whole book as one PDF from Jupyter Book's LaTeX builder and XeLaTeX, with
# TeX from Debian (~350 MB, about a minute to install); `make book` links an up-to-date one
# from every page's download button.
PDF := _build/latex/book.pdf
TEX := /usr/bin/xelatex /usr/bin/latexmk /usr/bin/pdftoppm
TEX_PACKAGES := texlive-xetex texlive-latex-extra texlive-fonts-recommended fonts-freefont-otf latexmk poppler-utils
BOOK_SOURCES = _config.yml _toc.yml references.bib $(wildcard *.md chapters/*/*.md chapters/*/*.ipynb appendix/*.md appendix/*.ipynb lossfns/*.py _ext/*.py bench/results.json bench/tensors.json)
# Notebook outputs are cached by code cells only, so the cache is dropped whenever the
# library, the build extensions, the pinned packages or the stored benchmarks change:
# the book never shows outputs of older code.
SOURCE_HASH = $(shell cat lossfns/*.py _ext/*.py requirements.lock bench/results.json bench/tensors.json | sha256sum | cut -c1-16)

.PHONY: help book serve test lab lock clean bench pdf cells tex test-imports

help:
	@echo "make book   build the static site into $(HTML)"
	@echo "make serve  serve the built site on http://127.0.0.1:8000"
	@echo "make test   library, notebook, build and browser tests"
	@echo "make lab    JupyterLab on the project's environment"
	@echo "make bench  speed and accuracy benchmarks: rewrites bench/results.json"
	@echo "make lock   re-resolve requirements.in into requirements.lock"
	@echo "make pdf    the whole book as one PDF: $(PDF) (installs TeX from Debian)"
	@echo "make cells  write every notebook's install cell and binder/requirements.txt"

# Under make, Python writes the bytecode of what it imports, so each module is compiled once and
# only if something imports it. These machines set PYTHONDONTWRITEBYTECODE; with it, each test
# process compiled the repository's modules and pytest rewrote every test file again (a
# collection of all tests: 12.5 s of CPU, against 9 s with all compiled), and compiling every
# installed file up front (uv's --compile-bytecode) took 63 s of CPU.
unexport PYTHONDONTWRITEBYTECODE

# uv installs the lock: pip took 142 s into a fresh venv here (one package after another, mostly
# waiting on the package index; 78 s as four installs side by side), uv 12 s (4 s from its cache).
# The two environments freeze the same (`pip freeze --all`). uv is pinned and kept beside the
# venv's packages, not among them. It does not read pip's configuration, so a local wheel folder
# that pip is given in PIP_FIND_LINKS (these machines keep torch's CPU build there) is passed on.
UV_VERSION := 0.13.9
UV := $(VENV)/uv/bin/uv
$(PY_READY): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade --target $(VENV)/uv uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(BIN)/python \
	  $${PIP_FIND_LINKS:+--find-links "$$PIP_FIND_LINKS"} -r requirements.lock -e .
	touch $@

$(JS_READY): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# Grouped: one apt-get run makes all three.
$(TEX) &:
	if command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES) >/dev/null; \
	else echo "Install Debian's $(TEX_PACKAGES) (make pdf typesets with XeLaTeX)"; exit 1; fi

tex: $(TEX)

$(CHROMIUM):
	if command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Install Debian's chromium package (the browser test drives $(CHROMIUM))"; exit 1; fi

# The PDF, if `make pdf` made it after the last change to the book's sources (else nothing).
PDF_IF_FRESH = $$([ -s $(PDF) ] && [ -z "$$(find $(BOOK_SOURCES) -newer $(PDF) | head -1)" ] && echo $(PDF))
COLD_IF_CHANGED = if [ "$$(cat _build/.source-hash 2>/dev/null)" != "$(SOURCE_HASH)" ]; then \
	  echo "lossfns/ or _ext/ changed: building cold"; rm -rf _build; fi

# The install cells follow the repository's address (see _config.yml), so they are written first;
# the notebooks are executed into the build's cache one per CPU (tools/execute_notebooks.py),
# and the build renders them from it.
book: $(PY_READY) $(JS_READY) cells
	@$(COLD_IF_CHANGED)
	$(BIN)/python tools/execute_notebooks.py
	LOSSBOOK_PDF="$(PDF_IF_FRESH)" $(BIN)/jupyter-book build . --warningiserror --keep-going
	echo "$(SOURCE_HASH)" > _build/.source-hash
	@echo "The book is at $(CURDIR)/$(HTML)/index.html (make serve: http://127.0.0.1:8000)"

pdf: $(PDF)

$(PDF): $(PY_READY) $(TEX) $(BOOK_SOURCES)
	@$(COLD_IF_CHANGED)
	$(BIN)/python tools/execute_notebooks.py
	$(BIN)/jupyter-book build . --builder pdflatex --warningiserror --keep-going
	test -s $@ && touch $@
	echo "$(SOURCE_HASH)" > _build/.source-hash
	@echo "The PDF is at $(CURDIR)/$@"

cells: $(PY_READY)
	$(BIN)/python tools/run_anywhere.py

serve: book
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory $(HTML)

# Two test workers per core, since many tests mostly wait: pip on the package index in the
# fresh-environment tests (tests/test_run_anywhere.py; a fresh venv of requirements.lock took
# 4 min of wall for 1 min 25 s of CPU), Chromium on the page in the browser tests
# (tests/test_site.py on 2 workers: 4 min 32 s of CPU in 12 min 42 s; load average 5-8).
TEST_WORKERS = $$(( 2 * $$(nproc) ))
# The files that hold tests of the built book (marked `book`): the first round leaves them out and
# the second runs only them, all their tests (each worker collecting every file took 13 s of
# CPU, most of it imports; these two, 4 s).
BOOK_TESTS = $(shell grep -l 'mark\.book' tests/test_*.py)

# The Python set-up (with one collection of every test: test-imports, below) and the JavaScript
# install run side by side. Then two rounds. First every test that does not need the built book, the notebooks among them
# (tests/test_notebooks.py runs each once, as the build would, into the run's notebook cache).
# Then the site and the PDF are built from that cache, side by side, with no notebook executed
# again, and the files of the built book's tests (BOOK_TESTS) run; the PDF build starts beside
# them (tests/test_pdf.py waits for it).
# Beside the set-up and the first round, in the background:
# - Binder's requirements install into a fresh venv of their own, from the machine's Python
#   (tools/run_anywhere.py needs nothing else); tests/test_run_anywhere.py checks that environment.
# - Debian's Chromium and TeX install when missing; only the second round needs them. On a fresh
#   machine they took 27 s and 88 s (most of it TeX making its formats) before anything else ran.
test:
	run=$$(mktemp -d); status=0; \
	export LOSSBOOK_TEST_BINDER="$$run/binder"; \
	$(PYTHON) tools/run_anywhere.py --install-binder "$$LOSSBOOK_TEST_BINDER" & \
	$(MAKE) --no-print-directory $(CHROMIUM) $(TEX) > "$$run/debian.log" 2>&1 & debian=$$!; \
	$(MAKE) --no-print-directory --jobs=2 test-imports $(JS_READY) || { wait; exit 1; }; \
	export LOSSBOOK_NOTEBOOK_CACHE="$$run/jupyter_cache" LOSSBOOK_TEST_PDF="$$run/pdf"; \
	mkdir -p "$$LOSSBOOK_NOTEBOOK_CACHE" "$$LOSSBOOK_TEST_PDF/_build"; \
	$(BIN)/python -m pytest -m "not book" -n $(TEST_WORKERS) $(addprefix --ignore=,$(BOOK_TESTS)) || status=$$?; \
	wait $$debian || { cat "$$run/debian.log"; wait; exit 1; }; \
	cp -r "$$LOSSBOOK_NOTEBOOK_CACHE" "$$LOSSBOOK_TEST_PDF/_build/.jupyter_cache"; \
	{ $(BIN)/jupyter-book build . --path-output "$$LOSSBOOK_TEST_PDF" --builder pdflatex --warningiserror \
	    --keep-going > "$$LOSSBOOK_TEST_PDF/build.log" 2>&1 && echo 0 > "$$LOSSBOOK_TEST_PDF/status" \
	    || echo 1 > "$$LOSSBOOK_TEST_PDF/status"; } & \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(BOOK_TESTS) || status=$$?; \
	wait; rm -rf "$$run"; exit $$status

# The test processes import the same packages and test modules. One collection of every test
# compiles them first, for all: a collection that compiles them took 21 s of CPU, one that finds
# them compiled 9 s (each of make test's 8 workers collects). The rounds report collection errors.
test-imports: $(PY_READY)
	$(BIN)/python -m pytest --collect-only -q -n 0 > /dev/null || true

# Timing is noisy, so it is not part of `make test` (which runs the accuracy check and a
# smoke run); the Benchmarks appendix page draws what this writes.
bench: $(PY_READY)
	$(BIN)/python bench/speed.py --clock process --json bench/results.json
	$(BIN)/python bench/accuracy.py --json bench/results.json

lab: $(PY_READY)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 chapters

lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Every Python package, pinned: generated by \`make lock\` from requirements.in. Python 3.11."; \
	  .lock-venv/bin/python -m pip freeze; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf _build
