""""From scratch" enforced (issue 13, part 4): a question's config names forbidden functions.

The fixture ``tests/fixtures/otter_styles/92_from_scratch`` has three questions: q1 (softmax,
forbids every library softmax and log_softmax), q2 (flattening, forbids the plain-Python
``parameters_to_vector``) and q3 (probabilities, where any call is fine: its solution calls
``torch.softmax``, and so do the tests of q1 for their reference).  Built through the real
build and graded through its zip:

* the solution keeps every point, so neither the tests' own reference calls nor another
  question's use of the same function count against an answer;
* each answer of ``wrong_answers.py`` computes the right values through a forbidden function,
  by a different route (the function, the method, an alias imported earlier, a computed name,
  a wrapper installed over the library's function, torch's function modes switched off), and
  loses exactly its question's points, with a message that names the function (switching
  torch's function modes off costs every from-scratch question: it could blind the watch for
  all of them);
* the forbidden list goes to ``harden.json`` only, never into the student's notebook or tests.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from autograder import build, config, grade, mutants, notebooks
from autograder.harden import evaluator
from conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "otter_styles" / "92_from_scratch"
SLUG = "92_from_scratch"
POINTS = {"q1": 3, "q2": 2, "q3": 2}
LIMITS = {"sandbox_user": "forbidden-test-no-such-user"}
WRONG = mutants.load(FIXTURE / "wrong_answers.py")


def test_the_build_rejects_a_name_that_is_not_a_torch_function(monkeypatch):
    monkeypatch.setattr(config, "ASSIGNMENTS", FIXTURE.parent)
    nb = notebooks.load(FIXTURE / f"{SLUG}.ipynb")
    cell = next(c for c in nb["cells"] if notebooks.source(c).startswith("# BEGIN QUESTION\nname: q2"))
    cell["source"] = "# BEGIN QUESTION\nname: q2\nforbidden: [torch.nn.Conv2d, numpy.dot, torch.no_such_fn]"
    with pytest.raises(notebooks.NotebookError) as err:
        build._check_assignment(nb, f"{SLUG}.ipynb", SLUG)
    text = str(err.value)
    for name in ("torch.nn.Conv2d", "numpy.dot", "torch.no_such_fn"):
        assert name in text, text
    assert "cell " in text and "q2" in text


def test_the_static_reading_finds_references_and_tampering():
    names = ["torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"]
    clean = ["import torch", "def helper(O):\n    E = (O - O.max()).exp()\n    return E / E.sum()",
             "def softmax(O):\n    return helper(O)", "print(torch.softmax(torch.zeros(2), 0))"]
    assert evaluator.static_forbidden(clean, ["softmax"], names) == []
    via_helper = clean[:1] + ["def helper(O):\n    return O.softmax(1)", clean[2]]
    assert "O.softmax" in evaluator.static_forbidden(via_helper, ["softmax"], names)[0]
    alias = ["from torch.nn.functional import softmax as sm", "def softmax(O):\n    return sm(O, 1)"]
    assert "sm (torch.nn.functional.softmax)" in evaluator.static_forbidden(alias, ["softmax"], names)[0]
    by_string = ["def softmax(O):\n    return getattr(O, 'softmax')(1)"]
    assert evaluator.static_forbidden(by_string, ["softmax"], names)
    tamper = ["import torch", "torch._C._set_torch_function_mode = None",
              "def softmax(O):\n    return O.exp() / O.exp().sum(1, keepdim=True)"]
    assert "dispatch machinery" in evaluator.static_forbidden(tamper, ["softmax"], names)[0]
    # a student's own attribute that shares a forbidden function's name is not a reference
    own = ["import torch", "class Value:\n    def __init__(self, x):\n        self.grad = 0.0\n"
           "    def step(self):\n        self.grad += 1.0\n        return self.grad"]
    assert evaluator.static_forbidden(own, ["Value"], ["torch.autograd.grad"]) == []
    assert evaluator.static_forbidden(own + ["def g(v):\n    return torch.autograd.grad(v, v)"],
                                      ["g"], ["torch.autograd.grad"])
    rebind = ["import torch", "torch.softmax = print",
              "def softmax(O):\n    return O.exp() / O.exp().sum(1, keepdim=True)"]
    assert evaluator.static_forbidden(rebind, ["softmax"], names)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("from_scratch")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "ASSIGNMENTS", tmp / "assignments")
        mp.setattr(config, "DIST", tmp / "dist")
        mp.setattr(config, "BUILD", tmp / "build")
        shutil.copytree(FIXTURE, tmp / "assignments" / SLUG)
        return build.build_assignment(SLUG, log=lambda *_: None)


def _grade(paths, nb_path, monkeypatch):
    monkeypatch.setenv("HARDEN_LIMITS", json.dumps(LIMITS))
    res = grade.grade(paths["zip"], nb_path)
    return res, grade.question_scores(res)


@pytest.mark.slow
def test_the_rule_stays_out_of_the_students_files(built):
    with zipfile.ZipFile(built["zip"]) as zf:
        harden = json.loads(zf.read("harden.json"))
    assert set(harden["forbidden"]) == {"q1", "q2"}
    assert "torch.Tensor.softmax" in harden["forbidden"]["q1"]
    student = (built["student"] / f"{SLUG}.ipynb").read_text()
    assert "forbidden:" not in student and "parameters_to_vector]" not in student


@pytest.mark.slow
def test_the_solution_keeps_every_point(built, monkeypatch):
    res, scores = _grade(built, built["solution"] / f"{SLUG}.ipynb", monkeypatch)
    assert {q: scores[q] for q in POINTS} == {q: (p, p) for q, p in POINTS.items()}, res


@pytest.mark.slow
@pytest.mark.parametrize("wrong", WRONG, ids=lambda w: w.mistake[:40])
def test_a_forbidden_call_loses_its_question_with_a_message_naming_it(built, wrong, tmp_path,
                                                                        monkeypatch):
    solution = notebooks.load(built["solution"] / f"{SLUG}.ipynb")
    at = next(i for i, c in enumerate(solution["cells"]) if "grader.export(" in notebooks.source(c))
    solution["cells"].insert(at, {"cell_type": "code", "execution_count": None, "metadata": {},
                                  "outputs": [], "source": wrong.code})
    submission = tmp_path / f"{SLUG}.ipynb"
    notebooks.save(solution, submission)
    res, scores = _grade(built, submission, monkeypatch)
    # Reaching into torch's dispatch machinery could switch the watch off for every question,
    # so it costs every from-scratch question (q1, q2); any other mistake only its own.
    losing = {"q1", "q2"} if "torch._C" in wrong.code else {wrong.question}
    expected = {q: (0 if q in losing else p, p) for q, p in POINTS.items()}
    assert {q: scores[q] for q in POINTS} == expected, (wrong.mistake, res)
    failed = [t for t in res["tests"] if t.get("name", "").startswith(wrong.question)
              and t.get("max_score") and t["score"] < t["max_score"]]
    text = " ".join(t.get("output", "") for t in failed)
    assert "from scratch" in text, text
    named = "dispatch machinery" if "torch._C" in wrong.code else \
        "softmax" if wrong.question == "q1" else "parameters_to_vector"
    assert named in text, text
