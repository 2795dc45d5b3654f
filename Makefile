# Deep-learning course: one command builds it, one tests it.  `make help` lists every target.
#
#   make                 set up .venv and data/, then build dist/ (student release, solutions, zips)
#   make test            run every check (notebooks, grading through the zips, hygiene, unit tests)
#
# Variables can be set on the command line, e.g. `make test JOBS=1` or
# `make data COURSE_DATA_DIR=../shared/data`.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDEXPANSION:

# As root (CI, containers) the grader's sandbox user must be able to run .venv's interpreter,
# so prefer the system Python there over one installed under /root (pyenv, conda).
PYTHON ?= $(shell if [ "$$(id -u)" = 0 ] && /usr/bin/python3 -c "import venv, ensurepip" 2>/dev/null; \
            then echo /usr/bin/python3; else echo python3; fi)
VENV ?= .venv
PY := $(VENV)/bin/python
# The Gradescope image's interpreter, built by the zips' own setup.sh: local grading uses it, so a
# grade earned here is the grade Gradescope gives (no dlcourse, otter or d2l installed there).
GRADER_VENV ?= .grader-venv
JOBS ?= 2
D2L_VERSION := $(shell sed -n 's/^d2l_version: *//p' course.yml)
# Offline, data comes from a folder laid out like the course's shared data; a clone with such a
# folder beside it (../shared/data) uses it without being told.
COURSE_DATA_DIR ?= $(if $(wildcard ../shared/data/MANIFEST.tsv),$(abspath ../shared/data))
export COURSE_DATA_DIR

ASSIGNMENTS := $(sort $(patsubst assignments/%/,%,$(wildcard assignments/[0-9][0-9]_*/)))
LECTURES := $(sort $(patsubst lectures/%.ipynb,%,$(wildcard lectures/[0-9][0-9]_*.ipynb)))
TOOLING := course.yml $(filter-out autograder/bench%.py autograder/mutation%.py,$(wildcard autograder/*.py autograder/*.yml autograder/*.txt dlcourse/*.py)) \
           $(shell find autograder/harden -type f -not -path '*__pycache__*')
ZIPS := $(ASSIGNMENTS:%=dist/gradescope/%.zip)
LECTURE_OUT := $(LECTURES:%=dist/student/lectures/%.ipynb)

.PHONY: all help venv grader-venv browser data build lectures assignments test test-quick bench grade sync check clean distclean mutants mutants-changed

all: venv grader-venv data build ## set up .venv, the grading venv and data/, then build the whole course (the default)

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}'
	@echo "  assignment-NN_slug     build one assignment (student, solution, zip)"
	@echo "  lecture-NN_slug        build one lecture into the student release"
	@echo "  Assignments: $(ASSIGNMENTS)"

# --------------------------------------------------------------------------- environment

venv: $(VENV)/.installed ## create .venv from requirements.txt (d2l with --no-deps)

$(VENV)/.installed: requirements.txt course.yml pyproject.toml
	@$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "venv: installing python3-venv"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  else echo "venv: $(PYTHON) cannot make virtual environments; install python3-venv" \
	    "(Debian/Ubuntu) or set PYTHON=/path/to/python3.11+"; exit 1; fi; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps "d2l==$(D2L_VERSION)"
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

grader-venv: $(GRADER_VENV)/.installed ## build .grader-venv with the zips' own setup.sh (what Gradescope's image runs)

$(GRADER_VENV)/.installed: autograder/harden/image/setup.sh autograder/requirements.txt
	rm -rf $(GRADER_VENV)
	GRADER_SOURCE=autograder GRADER_VENV=$(GRADER_VENV) GRADER_PYTHON=$(PYTHON) \
	  PIP_DEFAULT_TIMEOUT=$${PIP_DEFAULT_TIMEOUT:-20} bash autograder/harden/image/setup.sh
	@touch $@

# tests/test_clients.py drives JupyterLab in a real Chromium through Playwright.
browser: ## make sure a Chromium exists for the browser test (root: Debian's, via apt-get)
	@if [ -n "$$COURSE_CHROMIUM" ] || [ -x /usr/bin/chromium ] || [ -x /usr/bin/chromium-browser ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "browser: installing Debian's chromium and chromium-driver (for tests/test_clients.py)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	elif $(PY) -c "import os, sys; from playwright.sync_api import sync_playwright as s; p = s().start(); \
	  e = p.chromium.executable_path; p.stop(); sys.exit(not os.path.isfile(e))" 2>/dev/null; then exit 0; \
	else \
	  echo "browser: no Chromium for tests/test_clients.py. Either run make as root on Debian/Ubuntu"; \
	  echo "  (it installs chromium with apt-get), or run '$(PY) -m playwright install chromium'"; \
	  echo "  (needs internet), or set COURSE_CHROMIUM=/path/to/chromium."; exit 1; \
	fi

data: $(VENV)/.installed ## fill data/ from COURSE_DATA_DIR (else download), checksums verified
	$(PY) -m dlcourse.data

# --------------------------------------------------------------------------- build

build: assignments lectures dist/student/MANIFEST.json ## build dist/student, dist/solution, dist/gradescope

assignments: $(ZIPS) ## build every assignment
lectures: $(LECTURE_OUT) ## build every lecture into the student release

dist/gradescope/%.zip: assignments/$$*/$$*.ipynb $(TOOLING) | $(VENV)/.installed
	$(PY) -m autograder.build assignment $*

dist/student/lectures/%.ipynb: lectures/%.ipynb $(TOOLING) | $(VENV)/.installed
	$(PY) -m autograder.build lecture $*

dist/student/MANIFEST.json: $(ZIPS) autograder/student_README.md requirements.txt pyproject.toml $(TOOLING)
	$(PY) -m autograder.build release

assignment-%: dist/gradescope/%.zip ; @:
lecture-%: dist/student/lectures/%.ipynb ; @:

# --------------------------------------------------------------------------- checks

test: ## run every test: lectures under load (one at a time), grading through the zips, hygiene, units (JOBS=2)
	@$(MAKE) --no-print-directory -j$(JOBS) all browser
	$(PY) -m pytest -n $(JOBS) --dist loadgroup --durations=20

test-quick: venv ## the fast loop: everything except the slow notebook/grading tests
	$(PY) -m pytest -n $(JOBS) -m "not slow"

BENCH_FLAGS ?= --limits --build --gpu --d2l --overheads --boundary
bench: ## time/memory of notebooks, grading under limits, build, d2l side by side -> dist/bench/ (WEEKS="01 03" BENCH_FLAGS=... PUBLISH=1)
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(PY) -m autograder.bench $(if $(WEEKS),--weeks $(WEEKS)) $(BENCH_FLAGS) $(if $(PUBLISH),--publish)

grade: $(GRADER_VENV)/.installed ## grade: make grade ASSIGNMENT=01_tensors SUBMISSION=file.ipynb|file.zip|folder [OUT=dir]
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSION)" || \
	  { echo "usage: make grade ASSIGNMENT=<slug> SUBMISSION=<file.ipynb|file.zip|folder> [OUT=<dir>]"; exit 2; }
	@$(MAKE) --no-print-directory dist/gradescope/$(ASSIGNMENT).zip
	$(PY) -m autograder.grade dist/gradescope/$(ASSIGNMENT).zip "$(SUBMISSION)" $(if $(OUT),--out "$(OUT)")

# Mutation analysis (autograder/mutation.py, docs/mutation.md): break each solution in small ways,
# grade every broken notebook through the zip, record the share its tests catch.
MUTANTS_PER_QUESTION ?= $(or $(N),6)
MUTANT_ZIPS = $(if $(ASSIGNMENT),$(foreach a,$(ASSIGNMENT),dist/gradescope/$(a).zip),$(ZIPS))
mutants: ## mutation score of the tests -> dist/mutants/ [ASSIGNMENT="01_tensors ..."] [N=6] [FAST=1] [ACCEPT_LOWER=1]
	@test -e $(GRADER_VENV)/.installed || $(MAKE) --no-print-directory grader-venv
	@$(MAKE) --no-print-directory -j$(JOBS) $(MUTANT_ZIPS)
	$(PY) -m autograder.mutation run $(ASSIGNMENT) -n $(MUTANTS_PER_QUESTION) -j $(JOBS) \
	  $(if $(FAST),--fast) $(if $(ACCEPT_LOWER),--accept-lower)

mutants-changed: ## re-measure only the assignments changed since their recorded mutation score (for CI)
	@changed="$$($(PY) -m autograder.mutation changed)"; \
	if [ -z "$$changed" ]; then echo "mutants-changed: every recorded mutation score is current"; \
	else echo "mutants-changed: $$changed"; $(MAKE) --no-print-directory mutants ASSIGNMENT="$$changed"; fi

sync: ## rewrite badges/setup cells from course.yml, strip outputs, regenerate README's weeks table
	$(PY) -m autograder.notebooks sync
	$(PY) -m autograder.readme sync

check: ## fail if any source notebook is not clean or in sync with course.yml, or README's table is stale
	$(PY) -m autograder.notebooks check
	$(PY) -m autograder.readme check

clean: ## remove dist/ and build/
	rm -rf dist build

distclean: clean ## also remove .venv/, .grader-venv/ and data/
	rm -rf $(VENV) $(GRADER_VENV) data
