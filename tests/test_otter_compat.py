"""Stock Otter assignments build and grade (issue 11, parts 4 and 5).

Two fixture assignments written for this course live in ``tests/fixtures/otter_styles/``
(outside ``assignments/``, so ``make`` never ships them):

* ``90_otter_raw``: raw-cell config; an OK-format (doctest) question, an exception-based
  question, a manual question, a question with ``points: [2, 1]``, ``files:`` and
  ``student_files:``;
* ``91_otter_fenced``: Otter's markdown ```` ```otter ```` blocks, no Colab badge, no setup cell,
  ``tests: ok_format: true`` (a test kept Otter's way, code + saved output, is checked in
  memory: committed notebooks carry no outputs).

Each is built through ``autograder.build`` into a temporary ``dist/`` and graded through its
zip: the solution gets full marks, the blank student copy 0, each known-wrong answer loses
exactly its question's points, and the manual question is reported as graded by hand.
"""

from __future__ import annotations

import copy
import json
import shutil
import zipfile

import pytest

from autograder import build, config, grade, mutants, notebooks
from autograder.harden import judge
from autograder.notebooks import NotebookError
from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "otter_styles"
SLUGS = ("90_otter_raw", "91_otter_fenced")
# autograded points per question (the manual q3 of 90_otter_raw is worth 2, graded by hand)
POINTS = {"90_otter_raw": {"q1": 2, "q2": 3, "q4": 3}, "91_otter_fenced": {"q1": 2, "q2": 3}}
# A sandbox user that does not exist: every grading gets its own free uid, so gradings run by
# other people on the same machine (a shared `grader-sandbox` user) cannot kill ours.
LIMITS = {"sandbox_user": "otter-compat-test-no-such-user"}


def _fixture_nb(slug):
    return notebooks.load(FIXTURES / slug / f"{slug}.ipynb")


@pytest.fixture
def assignments(tmp_path, monkeypatch):
    """config pointing at a temporary assignments/ + dist/ + build/ (the real dist/ is untouched)."""
    monkeypatch.setattr(config, "ASSIGNMENTS", tmp_path / "assignments")
    monkeypatch.setattr(config, "DIST", tmp_path / "dist")
    monkeypatch.setattr(config, "BUILD", tmp_path / "build")
    (tmp_path / "assignments").mkdir()
    return tmp_path / "assignments"


@pytest.fixture
def sources(monkeypatch):
    """config.ASSIGNMENTS pointing at the fixtures (their `files:` exist there)."""
    monkeypatch.setattr(config, "ASSIGNMENTS", FIXTURES)


def _problems(nb, slug):
    with pytest.raises(NotebookError) as err:
        build._check_assignment(nb, f"assignments/{slug}/{slug}.ipynb", slug)
    return err.value.problems, str(err.value)


# --------------------------------------------------------------------------- fast checks


def test_both_syntaxes_parse_with_resolved_points():
    raw = notebooks.check_otter_blocks(_fixture_nb("90_otter_raw"), "raw.ipynb")["questions"]
    assert [t["kind"] for t in raw["q1"]["tests"]] == ["ok", "ok"]
    assert [t["kind"] for t in raw["q2"]["tests"]] == ["exception", "exception"]
    assert raw["q3"]["manual"] and raw["q3"]["points"] == 2 and not raw["q3"]["tests"]
    assert [t["points"] for t in raw["q4"]["tests"]] == [2, 1]  # points: [2, 1]
    fenced = notebooks.check_otter_blocks(_fixture_nb("91_otter_fenced"), "f.ipynb")["questions"]
    assert list(fenced) == ["q1", "q2"]
    q1 = fenced["q1"]["tests"]
    assert [(t["kind"], t["hidden"], t["points"]) for t in q1] == [("ok", False, 1), ("ok", True, 1)]
    assert q1[0]["code"] == ">>> double(4)\n8"


def test_ok_tests_kept_otters_way_use_the_saved_output():
    """With `tests: ok_format: true`, a plain code test cell compares with its saved output
    (committed notebooks carry no outputs, so this form is built here in memory)."""
    nb = _fixture_nb("91_otter_fenced")
    cell = next(c for c in nb["cells"] if c["source"] == ">>> double(4)\n8")
    cell["source"] = "double(4)"
    with pytest.raises(NotebookError, match="no saved output"):
        notebooks.check_otter_blocks(nb, "f.ipynb")
    cell["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                        "data": {"text/plain": ["8"]}}]
    q1 = notebooks.check_otter_blocks(nb, "f.ipynb")["questions"]["q1"]["tests"]
    assert q1[0]["kind"] == "ok" and q1[0]["code"] == ">>> double(4)\n8"


def test_fixtures_pass_every_build_check(sources):
    for slug in SLUGS:
        info = build._check_assignment(_fixture_nb(slug), f"{slug}.ipynb", slug)
        assert {q: v["points"] for q, v in info["questions"].items() if not v["manual"]} == POINTS[slug]


def test_all_problems_of_a_notebook_are_listed_at_once(sources):
    nb = _fixture_nb("90_otter_raw")
    cells = nb["cells"]
    cells[0]["source"] = cells[0]["source"].replace("| 1 | Temperature conversion (OK-format tests) | 2 |",
                                                    "| 1 | Temperature conversion (OK-format tests) | 5 |")
    cells[1]["source"] += "\n  - missing.csv"                              # student_files: entry absent
    cells[2]["source"] = cells[2]["source"].replace("90_otter_raw.ipynb", "09_rnn.ipynb")  # copied week
    q4 = next(c for c in cells if c["source"].startswith("# BEGIN QUESTION\nname: q4"))
    q4["source"] = "# BEGIN QUESTION\nname: q4\npoints: [2, 1, 5]\nall_or_nothing: true"
    hidden = next(c for c in cells if "def test_running_max_hidden" in c["source"])
    hidden["source"] = hidden["source"].replace("points: 3\n", "")                # no explicit points
    problems, message = _problems(nb, "90_otter_raw")
    wanted = ["the points table shows 5 for question 'q1'", "missing.csv",
              "otter.Notebook('09_rnn.ipynb')", "points: [2, 1, 5]", "all_or_nothing",
              "hidden test test_running_max_hidden has no `points:`"]
    for text in wanted:
        assert any(text in p for p in problems), f"{text!r} not reported:\n{message}"
    assert f"{len(problems)} problems; change all of these" in message
    assert all("cell " in p for p in problems if "missing.csv" not in p), message


def test_a_points_table_that_disagrees_with_the_tests_fails(sources):
    nb = _fixture_nb("90_otter_raw")
    nb["cells"][0]["source"] = nb["cells"][0]["source"].replace("**Points:** 10", "**Points:** 12")
    problems, _ = _problems(nb, "90_otter_raw")
    assert problems == [p for p in problems if "**Points:** 12 but the tests carry 10" in p]
    assert len(problems) == 1


def test_otter_notebook_must_name_this_assignment(sources):
    nb = _fixture_nb("90_otter_raw")
    nb["cells"][2]["source"] = nb["cells"][2]["source"].replace('"90_otter_raw.ipynb"', '"09_rnn.ipynb"')
    problems, _ = _problems(nb, "90_otter_raw")
    assert len(problems) == 1 and "this assignment's is \"90_otter_raw.ipynb\"" in problems[0]
    assert "cell 2" in problems[0]


def test_a_hidden_test_needs_explicit_points_unless_the_question_gives_them():
    nb = _fixture_nb("91_otter_fenced")
    info = notebooks.check_otter_blocks(nb, "f.ipynb")  # q1: `points: 2` at question level: fine
    assert info["questions"]["q1"]["points"] == 2
    for cell in nb["cells"]:
        cell["source"] = cell["source"].replace("name: q1\npoints: 2", "name: q1")
    with pytest.raises(NotebookError, match=r"question 'q1': hidden test .* has no `points:`"):
        notebooks.check_otter_blocks(nb, "f.ipynb")


def test_a_point_list_of_the_wrong_length_names_the_question():
    nb = _fixture_nb("90_otter_raw")
    for cell in nb["cells"]:
        cell["source"] = cell["source"].replace("points: [2, 1]", "points: [2, 1, 1]")
    with pytest.raises(NotebookError, match=r"question 'q4' has `points: \[2, 1, 1\]` \(3 values\) but 2 test"):
        notebooks.check_otter_blocks(nb, "r.ipynb")


def test_uncompilable_generated_tests_are_named():
    problems = build._check_test_files({
        "solution tests/q1.py": "def test_a(x:\n    pass\n",
        "solution tests/q2.py": "OK_FORMAT = True\n\ntest = {'name': 'q2', 'points': None, 'suites': "
                                "[{'cases': [{'code': '>>> f(1\\n2', 'hidden': False}]}]}\n",
        "solution tests/q3.py": "def test_ok(f):\n    assert f(1) == 2\n"}, "x.ipynb")
    assert len(problems) == 2
    assert "tests/q1.py (question 'q1') does not compile" in problems[0]
    assert "tests/q2.py (question 'q2') holds a doctest line that does not compile" in problems[1]


def test_judge_reads_ok_files_and_point_lists_without_importing_them():
    ok = ("OK_FORMAT = True\n\ntest = {'name': 'q1', 'points': [3, 1], 'suites': [{'cases': ["
          "{'code': '>>> f(2)\\n4', 'hidden': False}, {'code': '>>> for i in range(2):\\n...     "
          "print(f(i))\\n0\\n2', 'hidden': True}], 'scored': True, 'setup': '', 'teardown': '', "
          "'type': 'doctest'}]}\n")
    exc = ("from otter.test_files import test_case\n\nOK_FORMAT = False\n\nname = 'q2'\n"
           "points = [10, 2]\n\n@test_case(hidden=False)\ndef test_a(f):\n    assert f(1) == 2\n\n"
           "@test_case(hidden=True)\ndef test_b(f):\n    assert f(2) == 4\n")
    tests = judge.parse_tests({"q1": ok, "q2": exc})
    got = [(t["id"], t["hidden"], t["points"]) for t in tests]
    assert got == [("q1/ok_0_0", False, 3), ("q1/ok_0_1", True, 1),
                   ("q2/test_a", False, 10), ("q2/test_b", True, 2)]
    assert tests[1]["examples"] == [{"source": "for i in range(2):\n    print(f(i))", "want": "0\n2"}]


def test_missing_badge_and_setup_cell_are_inserted():
    nb = notebooks.unfence(_fixture_nb("91_otter_fenced"))
    out = notebooks.ensure_generated_cells(nb, "91_otter_fenced")
    rendered = notebooks.render(out, "assignment", "91_otter_fenced", "x.ipynb")
    title, setup = rendered["cells"][0]["source"], rendered["cells"][2]["source"]
    assert "assignments/91_otter_fenced/91_otter_fenced.ipynb" in title
    assert notebooks._marker(rendered["cells"][1]) == "ASSIGNMENT CONFIG"
    assert 'grader = otter.Notebook("91_otter_fenced.ipynb")' in setup and "colab setup" in setup
    assert notebooks.ensure_generated_cells(out, "91_otter_fenced") == out  # idempotent


# --------------------------------------------------------------------------- build + grade


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both fixtures built into a temporary dist/ (module-wide: each build runs otter assign)."""
    tmp = tmp_path_factory.mktemp("otter_compat")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "ASSIGNMENTS", tmp / "assignments")
        mp.setattr(config, "DIST", tmp / "dist")
        mp.setattr(config, "BUILD", tmp / "build")
        paths = {}
        for slug in SLUGS:
            shutil.copytree(FIXTURES / slug, tmp / "assignments" / slug)
            paths[slug] = build.build_assignment(slug, log=lambda *_: None)
    return paths


def _grade(paths, nb_path, monkeypatch):
    monkeypatch.setenv("HARDEN_LIMITS", json.dumps(LIMITS))
    res = grade.grade(paths["zip"], nb_path)
    return res, {q: s for q, s in grade.question_scores(res).items()}


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_solution_gets_full_marks_and_blank_gets_zero(built, slug, monkeypatch):
    paths = built[slug]
    res, scores = _grade(paths, paths["solution"] / f"{slug}.ipynb", monkeypatch)
    auto = {q: s for q, s in scores.items() if q in POINTS[slug]}
    assert auto == {q: (p, p) for q, p in POINTS[slug].items()}, res
    assert res["score"] == sum(POINTS[slug].values())
    res, scores = _grade(paths, paths["student"] / f"{slug}.ipynb", monkeypatch)
    assert res["score"] == 0 and all(scores[q] == (0, p) for q, p in POINTS[slug].items()), res
    if slug == "90_otter_raw":
        manual = next(t for t in res["tests"] if t["name"] == "q3")
        assert manual["score"] == 0 and not manual.get("max_score")
        assert "graded by hand" in manual["output"]


@pytest.mark.slow
@pytest.mark.parametrize("slug,wrong", [(s, w) for s in SLUGS
                                        for w in mutants.load(FIXTURES / s / "wrong_answers.py")],
                         ids=lambda v: getattr(v, "question", v))
def test_each_wrong_answer_loses_exactly_its_questions_points(built, slug, wrong, tmp_path, monkeypatch):
    paths = built[slug]
    solution = notebooks.load(paths["solution"] / f"{slug}.ipynb")
    submission = tmp_path / f"{slug}.ipynb"
    try:
        wrong_nb = mutants.apply(solution, wrong)
    except ValueError:  # a question with hidden tests only has no grader.check cell: put the
        wrong_nb = copy.deepcopy(solution)  # wrong answer just before the export cell instead
        at = next(i for i, c in enumerate(wrong_nb["cells"]) if "grader.export(" in c["source"])
        wrong_nb["cells"].insert(at, {"cell_type": "code", "execution_count": None, "metadata": {},
                                      "outputs": [], "source": wrong.code})
    notebooks.save(wrong_nb, submission)
    res, scores = _grade(paths, submission, monkeypatch)
    expected = {q: (0 if q == wrong.question else p, p) for q, p in POINTS[slug].items()}
    assert {q: scores[q] for q in POINTS[slug]} == expected, (wrong.mistake, res)


@pytest.mark.slow
def test_files_student_files_and_hidden_cases_go_where_they_belong(built):
    paths = built["90_otter_raw"]
    assert (paths["student"] / "notes.txt").is_file() and (paths["student"] / "helpers.py").is_file()
    with zipfile.ZipFile(paths["zip"]) as zf:
        names = zf.namelist()
        assert "files/helpers.py" in names and not any(n.endswith("notes.txt") for n in names)
        harden = json.loads(zf.read("harden.json"))
        ok_file = zf.read("tests/q1.py").decode()
    assert harden["manual"] == [{"name": "q3", "points": 2}]
    assert "OK_FORMAT = True" in ok_file and "212.0" in ok_file
    public = (paths["student"] / "tests" / "q1.py").read_text()
    assert "OK_FORMAT = True" in public and "to_fahrenheit(0)" in public and "212.0" not in public
    student = (paths["student"] / "90_otter_raw.ipynb").read_text()
    assert "why is a running maximum never decreasing" in student  # manual prompt kept
    assert "can only stay or grow" not in student                    # its solution is not
    fenced = notebooks.load(built["91_otter_fenced"]["student"] / "91_otter_fenced.ipynb")
    assert notebooks.BADGE_PREFIX in fenced["cells"][0]["source"]
    assert any('otter.Notebook("91_otter_fenced.ipynb")' in c["source"] for c in fenced["cells"])


@pytest.mark.slow
def test_a_generated_test_that_does_not_compile_fails_the_build(assignments, monkeypatch):
    shutil.copytree(FIXTURES / "91_otter_fenced", assignments / "91_otter_fenced")
    real = build._ok_test_files

    def broken(info):
        files = real(copy.deepcopy(info))
        full, public = files["tests/q1.py"]
        return {"tests/q1.py": (full.replace("OK_FORMAT = True", "OK_FORMAT = = True"), public)}

    monkeypatch.setattr(build, "_ok_test_files", broken)
    with pytest.raises(build.BuildError, match=r"tests/q1\.py \(question 'q1'\) does not compile"):
        build.build_assignment("91_otter_fenced", log=lambda *_: None)
    assert not (config.DIST / "gradescope").exists()
