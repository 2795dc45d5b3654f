"""Every assignment, graded through its built Gradescope zip (the code path Gradescope runs).

* the solution scores full marks on every question;
* the blank student notebook scores 0;
* every known-wrong answer in ``wrong_answers.py`` loses points on its own question. The first
  wrong answer of each question is graded alone and must change no other question's score
  (questions are independent); the others are graded in rounds, one wrong answer per question
  per round, where each loses its own question's points and every question outside the round
  keeps full marks. Rounds grade a week's 20-40 wrong answers in a handful of runs of the zip
  instead of one run each, which keeps ``make test`` inside CI's hour with fourteen weeks;
* the zip carries the hidden tests, the student release does not, and nothing private leaks.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from autograder import config, grade, leaks, mutants, notebooks
from conftest import ASSIGNMENTS, built, solution_results

def _wrong_by_question(slug):
    by_question: dict[str, list] = {}
    for w in mutants.load(config.ASSIGNMENTS / slug / "wrong_answers.py"):
        by_question.setdefault(w.question, []).append(w)
    return by_question


# The first wrong answer of each question, graded alone.
WRONG = [(slug, ws[0]) for slug in ASSIGNMENTS for ws in _wrong_by_question(slug).values()]
# Round r of a week: the (r+1)-th wrong answer of every question that has one, graded together.
ROUNDS = [(slug, r, [ws[r + 1] for ws in _wrong_by_question(slug).values() if len(ws) > r + 1])
          for slug in ASSIGNMENTS
          for r in range(max((len(ws) for ws in _wrong_by_question(slug).values()), default=1) - 1)]


def _source_info(slug):
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    return notebooks.check_otter_blocks(notebooks.load(src), src)


def _questions(slug):
    return {q: s for q, s in grade.question_scores(solution_results(slug)).items()
            if q != "Public Tests"}


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_assignment_shape(slug):
    """At least 6 questions, each with public and hidden tests and a known-wrong answer."""
    info = _source_info(slug)
    assert len(info["questions"]) >= 6, f"{slug}: only {len(info['questions'])} questions"
    wrong = {w.question for w in mutants.load(config.ASSIGNMENTS / slug / "wrong_answers.py")}
    for name, q in info["questions"].items():
        kinds = {t["hidden"] for t in q["tests"]}
        assert kinds == {True, False}, f"{slug} {name}: needs both public and hidden tests"
        assert all(t["doc"] for t in q["tests"]), f"{slug} {name}: every test needs a one-line docstring"
        assert name in wrong, f"{slug} {name}: no known-wrong answer in wrong_answers.py"


@pytest.mark.slow
@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_solution_scores_full_marks(slug):
    scores = _questions(slug)
    assert scores, "the grader reported no questions"
    short = {q: s for q, s in scores.items() if s[0] != s[1] or s[1] == 0}
    assert not short, f"{slug}: the solution loses points on {short}"
    info = _source_info(slug)
    assert set(scores) == set(info["questions"]), "graded questions differ from the notebook's"


@pytest.mark.slow
@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_blank_notebook_scores_zero(slug):
    paths = built(slug)
    res = grade.grade(paths["zip"], paths["student"] / f"{slug}.ipynb")
    scores = {q: s for q, s in grade.question_scores(res).items() if q != "Public Tests"}
    assert scores and all(m > 0 for _, m in scores.values()), "no graded questions"
    earned = {q: s for q, (s, _) in scores.items() if s}
    assert not earned, f"{slug}: the blank notebook earns points on {earned}"


@pytest.mark.slow
@pytest.mark.parametrize("slug,wrong", WRONG, ids=[f"{s}-{w.question}" for s, w in WRONG])
def test_wrong_answer_loses_only_its_question(slug, wrong, tmp_path):
    paths = built(slug)
    full = _questions(slug)
    solution_nb = notebooks.load(paths["solution"] / f"{slug}.ipynb")
    submission = tmp_path / f"{slug}.ipynb"
    notebooks.save(mutants.apply(solution_nb, wrong), submission)
    scores = grade.question_scores(grade.grade(paths["zip"], submission))
    got, possible = scores[wrong.question]
    assert got < possible, f"{slug} {wrong.question} ({wrong.mistake}): still scores {got}/{possible}"
    collateral = {q: scores.get(q) for q, s in full.items()
                  if q != wrong.question and scores.get(q) != s}
    assert not collateral, f"{slug} {wrong.question}: other questions changed too: {collateral}"


@pytest.mark.slow
@pytest.mark.parametrize("slug,round_no,wrongs", ROUNDS, ids=[f"{s}-round{r + 2}" for s, r, _ in ROUNDS])
def test_wrong_answers_graded_in_rounds_each_lose_their_question(slug, round_no, wrongs, tmp_path):
    paths = built(slug)
    full = _questions(slug)
    nb = notebooks.load(paths["solution"] / f"{slug}.ipynb")
    for wrong in wrongs:
        nb = mutants.apply(nb, wrong)
    submission = tmp_path / f"{slug}.ipynb"
    notebooks.save(nb, submission)
    scores = grade.question_scores(grade.grade(paths["zip"], submission))
    kept = [f"{w.question} ({w.mistake}): {scores[w.question][0]}/{scores[w.question][1]}"
            for w in wrongs if scores[w.question][0] >= scores[w.question][1]]
    assert not kept, f"{slug}: these known-wrong answers still score full marks: {kept}"
    touched = {w.question for w in wrongs}
    collateral = {q: scores.get(q) for q, s in full.items() if q not in touched and scores.get(q) != s}
    assert not collateral, f"{slug}: questions outside the round changed: {collateral}"


def test_every_wrong_answer_is_graded_once():
    for slug in ASSIGNMENTS:
        everyone = mutants.load(config.ASSIGNMENTS / slug / "wrong_answers.py")
        graded = [w for s, w in WRONG if s == slug] + [w for s, _, ws in ROUNDS if s == slug for w in ws]
        assert sorted(graded, key=repr) == sorted(everyone, key=repr), slug
        for s, _, ws in ROUNDS:
            assert len({w.question for w in ws}) == len(ws), "one wrong answer per question per round"


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_zip_holds_hidden_tests_and_release_does_not(slug):
    paths = built(slug)
    info = _source_info(slug)
    with zipfile.ZipFile(paths["zip"]) as zf:
        zipped = "\n".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/"))
        assert "files/dlcourse/data.py" in zf.namelist(), "the helper package is not in the zip"
        harden = json.loads(zf.read("harden.json"))
        names = zf.namelist()
        for needed in ("run_autograder", "setup.sh", "requirements.txt", "harden/judge.py",
                       "harden/executor.py", "harden/evaluator.py",
                       "harden/otter_stub/otter/__init__.py"):
            assert needed in names, f"{needed} is missing from the zip"
        assert not any(n.endswith((".ipynb", ".OTTER_LOG")) for n in names), "no solution in the zip"
    released = "\n".join(p.read_text() for p in (paths["student"] / "tests").glob("*.py"))
    for name, q in info["questions"].items():
        for t in q["tests"]:
            assert f"def {t['name']}(" in zipped, f"{t['name']} missing from the zip"
            if t["hidden"]:
                assert t["name"] not in released, f"hidden test {t['name']} is in the release"
            else:
                assert f"def {t['name']}(" in released, f"public test {t['name']} missing from the release"
    assert harden["assignment"] == slug


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_student_release_leaks_nothing(slug):
    paths = built(slug)
    assert leaks.find_leaks(config.ASSIGNMENTS / slug / f"{slug}.ipynb", paths["student"]) == []
    # the leak check itself must be able to fail: the solution folder is full of private lines
    assert leaks.find_leaks(config.ASSIGNMENTS / slug / f"{slug}.ipynb", paths["solution"])


def test_nothing_private_anywhere_in_the_student_release():
    """The whole release (lectures, README, MANIFEST, every assignment) holds no private line."""
    release = config.DIST / "student"
    for slug in ASSIGNMENTS:
        built(slug)
    if not (release / "MANIFEST.json").exists():
        from autograder import build

        build.build_release(log=lambda *_: None)
    for slug in ASSIGNMENTS:
        problems = leaks.find_leaks(config.ASSIGNMENTS / slug / f"{slug}.ipynb", release)
        assert not problems, f"{slug}: " + "\n".join(problems[:10])
