"""Local grading cannot pass where Gradescope fails: it runs the image's own interpreter.

`make` builds `.grader-venv` with the zips' own setup.sh (the script Gradescope's image runs),
and `autograder.grade` grades with it.  `.venv` has packages the image lacks (dlcourse, otter,
d2l, PyYAML...): a submission that leans on one of them must lose the same points here as on
Gradescope, and the helper package must come from the zip's own copy.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder import grade, mutants, notebooks
from conftest import ROOT, built

SLUG = "01_tensors"
GRADER_PY = ROOT / ".grader-venv" / "bin" / "python"

needs_grader_venv = pytest.mark.skipif(
    not (ROOT / ".grader-venv" / ".installed").exists() and not os.environ.get("COURSE_GRADER_PYTHON"),
    reason="no .grader-venv: run `make grader-venv`")


@needs_grader_venv
def test_grading_uses_the_image_interpreter():
    assert grade.grading_python() != sys.executable
    probe = ("import importlib.util as u, sys; "
             "sys.exit(sum(u.find_spec(m) is not None for m in ('dlcourse', 'otter', 'd2l', 'yaml')))")
    proc = subprocess.run([grade.grading_python(), "-I", "-c", probe], cwd="/", capture_output=True)
    assert proc.returncode == 0, "the grading interpreter has packages Gradescope's image lacks"


@pytest.mark.slow
@needs_grader_venv
def test_an_answer_needing_a_dev_only_package_loses_points_locally_too(tmp_path, monkeypatch):
    paths = built(SLUG)
    wrong = mutants.WrongAnswer("q1", "imports PyYAML, which .venv has and Gradescope's image lacks",
                                "_course_q1 = pairwise_sq_dists\n\n\n"
                                "def pairwise_sq_dists(X, Y):\n"
                                "    import yaml  # noqa: F401\n"
                                "    return _course_q1(X, Y)\n")
    sub = tmp_path / f"{SLUG}.ipynb"
    notebooks.save(mutants.apply(notebooks.load(paths["solution"] / f"{SLUG}.ipynb"), wrong), sub)
    monkeypatch.delenv("COURSE_GRADER_PYTHON", raising=False)
    image_like = grade.question_scores(grade.grade(paths["zip"], sub))
    got, possible = image_like["q1"]
    assert got < possible, "local grading passed an answer that fails in Gradescope's image"
    # the same submission under .venv's interpreter would have kept the points: the check matters
    monkeypatch.setenv("COURSE_GRADER_PYTHON", sys.executable)
    dev = grade.question_scores(grade.grade(paths["zip"], sub))
    assert dev["q1"][0] == possible
    assert {q: s for q, s in image_like.items() if q != "q1"} == {q: s for q, s in dev.items() if q != "q1"}
