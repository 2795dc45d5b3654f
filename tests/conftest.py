"""Shared fixtures: paths, built assignments, and cached grading results."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import build, config, grade  # noqa: E402

# Several pytest workers share the CPU cores: one thread per notebook kernel avoids
# oversubscription (two 2-thread kernels on 2 cores run several times slower than 1-thread ones).
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _newest_input(slug: str) -> float:
    inputs = [config.ASSIGNMENTS / slug / f"{slug}.ipynb", ROOT / "course.yml"]
    inputs += [p for p in (ROOT / "autograder").glob("*.py") if not p.name.startswith("mutation")]
    inputs += list((ROOT / "dlcourse").glob("*.py"))
    inputs += list((ROOT / "autograder").glob("*.yml"))
    inputs += [p for p in (ROOT / "autograder" / "harden").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in inputs if p.exists())


@functools.cache
def built(slug: str) -> dict[str, Path]:
    """The dist/ outputs of an assignment, rebuilt first if any input is newer than the zip."""
    zip_path = config.DIST / "gradescope" / f"{slug}.zip"
    if not zip_path.exists() or zip_path.stat().st_mtime < _newest_input(slug):
        build.build_assignment(slug, log=lambda *_: None)
    return {"zip": zip_path, "student": config.DIST / "student" / "assignments" / slug,
            "solution": config.DIST / "solution" / slug}


@functools.cache
def solution_results(slug: str) -> dict:
    paths = built(slug)
    return grade.grade(paths["zip"], paths["solution"] / f"{slug}.ipynb")


ASSIGNMENTS = config.assignment_slugs()
LECTURES = config.lecture_slugs()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
