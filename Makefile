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
JOBS ?= 2
D2L_VERSION := $(shell sed -n 's/^d2l_version: *//p' course.yml)
export COURSE_DATA_DIR

ASSIGNMENTS := $(sort $(patsubst assignments/%/,%,$(wildcard assignments/[0-9][0-9]_*/)))
LECTURES := $(sort $(patsubst lectures/%.ipynb,%,$(wildcard lectures/[0-9][0-9]_*.ipynb)))
TOOLING := course.yml $(filter-out autograder/bench%.py,$(wildcard autograder/*.py autograder/*.yml autograder/*.txt dlcourse/*.py)) \
           $(shell find autograder/harden -type f -not -path '*__pycache__*')
ZIPS := $(ASSIGNMENTS:%=dist/gradescope/%.zip)
LECTURE_OUT := $(LECTURES:%=dist/student/lectures/%.ipynb)

.PHONY: all help venv data build lectures assignments test test-quick bench grade sync check clean distclean

all: venv data build ## set up .venv and data/, then build the whole course (the default)

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}'
	@echo "  assignment-NN_slug     build one assignment (student, solution, zip)"
	@echo "  lecture-NN_slug        build one lecture into the student release"
	@echo "  Assignments: $(ASSIGNMENTS)"

# --------------------------------------------------------------------------- environment

venv: $(VENV)/.installed ## create .venv from requirements.txt (d2l with --no-deps)

$(VENV)/.installed: requirements.txt course.yml pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps "d2l==$(D2L_VERSION)"
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

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

test: ## run every test: notebooks, grading through the zips, hygiene, units (JOBS=2)
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(PY) -m pytest -n $(JOBS) --durations=20

test-quick: venv ## the fast loop: everything except the slow notebook/grading tests
	$(PY) -m pytest -n $(JOBS) -m "not slow"

BENCH_FLAGS ?= --limits --build --gpu --d2l --overheads
bench: ## time/memory of notebooks, grading under limits, build, d2l side by side -> dist/bench/ (WEEKS="01 03" BENCH_FLAGS=... PUBLISH=1)
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(PY) -m autograder.bench $(if $(WEEKS),--weeks $(WEEKS)) $(BENCH_FLAGS) $(if $(PUBLISH),--publish)

grade: ## grade: make grade ASSIGNMENT=01_tensors SUBMISSION=file.ipynb|file.zip|folder [OUT=dir]
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSION)" || \
	  { echo "usage: make grade ASSIGNMENT=<slug> SUBMISSION=<file.ipynb|file.zip|folder> [OUT=<dir>]"; exit 2; }
	@$(MAKE) --no-print-directory dist/gradescope/$(ASSIGNMENT).zip
	$(PY) -m autograder.grade dist/gradescope/$(ASSIGNMENT).zip "$(SUBMISSION)" $(if $(OUT),--out "$(OUT)")

sync: ## rewrite badges/setup cells from course.yml and strip outputs in every source notebook
	$(PY) -m autograder.notebooks sync

check: ## fail if any source notebook is not clean or not in sync with course.yml
	$(PY) -m autograder.notebooks check

clean: ## remove dist/ and build/
	rm -rf dist build

distclean: clean ## also remove .venv/ and data/
	rm -rf $(VENV) data
