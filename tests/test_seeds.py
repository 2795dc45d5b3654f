"""Same submission, same grade, whatever the seed: training-dependent hidden tests are robust.

A hidden test whose outcome depends on training (its name says it learns, reaches or
converges) must pass for the solution on 20 of 20 global seeds and fail for the known-broken
answer of its question (from wrong_answers.py) on 20 of 20.  The tests run in this process on
the solution notebook's own definitions, seeding torch/numpy/random before each run as the
grader does, so a threshold that passes "by luck" shows up here.
"""

from __future__ import annotations

import os
import random
import re
import zipfile
from contextlib import contextmanager

import pytest

from conftest import ASSIGNMENTS, ROOT, built

import sys

sys.path.insert(0, str(ROOT / "autograder"))
from harden import judge  # noqa: E402

from autograder import mutants, notebooks  # noqa: E402

TRAINING = re.compile(r"learns|reaches|converges|trains|_accuracy$|validation_perplexity")
SEEDS = range(20)


def _training_tests(slug: str) -> list[dict]:
    with zipfile.ZipFile(built(slug)["zip"]) as zf:
        return [t for t in judge.load_tests_from_zip(zf) if t["hidden"] and TRAINING.search(t["function"])]


CASES = [(slug, t["id"]) for slug in ASSIGNMENTS for t in _training_tests(slug)]


@contextmanager
def _cwd(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _code_cells(nb: dict) -> list[str]:
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = notebooks.source(cell)
        # what grading needs: the definitions, not Otter's checks or the Colab bootstrap
        src = "\n".join(ln for ln in src.splitlines()
                        if not re.match(r"\s*(grader\s*=|grader\.|import otter)", ln))
        cells.append(src)
    return cells


def _namespace(nb: dict, folder) -> dict:
    import torch

    torch.manual_seed(0)
    ns: dict = {"__name__": "__main__"}
    with _cwd(folder):
        for i, src in enumerate(_code_cells(nb)):
            exec(compile(src, f"<cell {i}>", "exec"), ns)
    return ns


def _outcomes(test: dict, ns: dict, seeds=SEEDS) -> list[bool]:
    import numpy as np
    import torch

    scope: dict = {}
    exec(compile(test["source"], "<test>", "exec"), scope)
    fn = scope[test["function"]]
    results = []
    for seed in seeds:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            fn(*[ns[p] for p in test["params"]])
            results.append(True)
        except Exception:  # noqa: BLE001 - a failing assertion or a crash both fail the test
            results.append(False)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("slug, test_id", CASES)
def test_training_test_passes_on_every_seed_and_fails_for_the_broken_answer(slug, test_id):
    test = next(t for t in _training_tests(slug) if t["id"] == test_id)
    paths = built(slug)
    solution = notebooks.load(paths["solution"] / f"{slug}.ipynb")
    ns = _namespace(solution, paths["solution"])
    good = _outcomes(test, ns)
    assert all(good), f"{test_id}: the solution fails on seeds {[s for s, ok in zip(SEEDS, good) if not ok]}"

    # The known-broken answers for this test: the question's wrong answers that fail it at the
    # grader's own seed.  Each must fail on every seed (a broken model never passes by luck).
    broken_any = False
    for broken in mutants.load(ROOT / "assignments" / slug / "wrong_answers.py"):
        if broken.question != test["question"]:
            continue
        bad_ns = dict(ns)
        exec(compile(broken.code, "<wrong answer>", "exec"), bad_ns)
        if _outcomes(test, bad_ns, seeds=[42]) == [True]:
            continue  # wrong in another way (another of the question's tests catches it)
        broken_any = True
        bad = _outcomes(test, bad_ns)
        assert not any(bad), (f"{test_id}: the known-broken answer ({broken.mistake}) passes on seeds "
                              f"{[s for s, ok in zip(SEEDS, bad) if ok]}")
    assert broken_any, f"{test_id}: no wrong answer in wrong_answers.py fails this test; add one"
