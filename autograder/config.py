"""Paths and the course configuration (``course.yml``, ``autograder/otter.yml``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
ASSIGNMENTS = ROOT / "assignments"
DIST = ROOT / "dist"
BUILD = ROOT / "build"  # scratch space for staged builds (git-ignored)
HELPER_PACKAGE = ROOT / "dlcourse"
DATA = ROOT / "data"

REQUIRED_KEYS = ("public_repo", "branch", "otter_version", "d2l_version", "grading_python")


@functools.cache
def course() -> dict[str, Any]:
    """``course.yml``, checked for the keys the build needs."""
    cfg = yaml.safe_load((ROOT / "course.yml").read_text(encoding="utf-8"))
    missing = [k for k in REQUIRED_KEYS if k not in (cfg or {})]
    if missing:
        raise SystemExit(f"course.yml: missing {', '.join(missing)}")
    cfg["grading_python"] = str(cfg["grading_python"])
    return cfg


@functools.cache
def otter_defaults() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "autograder" / "otter.yml").read_text(encoding="utf-8"))


def assignment_slugs() -> list[str]:
    return sorted(p.name for p in ASSIGNMENTS.glob("[0-9][0-9]_*") if p.is_dir())


def lecture_slugs() -> list[str]:
    return sorted(p.stem for p in LECTURES.glob("[0-9][0-9]_*.ipynb"))
