"""Unit tests for the build tooling: checking, rendering, cleaning, building, grading, mutants."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from autograder import build, config, grade, leaks, mutants, notebooks
from autograder.notebooks import NotebookError
from conftest import ROOT


def _nb(*cells):
    out = []
    for kind, text in cells:
        cell = {"cell_type": kind, "metadata": {}, "source": text}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        out.append(cell)
    return {"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


GOOD = [
    ("markdown", "# Title\n\n[![Open In Colab](x)](y)"),
    ("raw", "# ASSIGNMENT CONFIG\ndatasets: []"),
    ("code", "import sys\n# >>> colab setup\n# <<< colab setup\nimport otter\ngrader = otter.Notebook('00_demo.ipynb')"),
    ("raw", "# BEGIN QUESTION\nname: q1"),
    ("code", "def f(x):\n    \"\"\"Double x.\"\"\"\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"),
    ("raw", "# BEGIN TESTS"),
    ("code", '""" # BEGIN TEST CONFIG\npoints: 0\n""" # END TEST CONFIG\ndef test_f(f):\n    """Public: doubles 1."""\n    assert f(1) == 2'),
    ("code", '""" # BEGIN TEST CONFIG\nhidden: true\npoints: 1\n""" # END TEST CONFIG\ndef test_f_hidden(f):\n    """Hidden: doubles 21."""\n    assert f(21) == 42'),
    ("raw", "# END TESTS"),
    ("raw", "# END QUESTION"),
]


def test_check_accepts_a_well_formed_assignment():
    info = notebooks.check_otter_blocks(_nb(*GOOD), "t.ipynb")
    assert list(info["questions"]) == ["q1"]
    assert [t["hidden"] for t in info["questions"]["q1"]["tests"]] == [False, True]


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c.pop(9), "never closed"),
    (lambda c: c.pop(3), "outside a question"),
    (lambda c: c.__setitem__(3, ("raw", "# BEGIN QUESTION\npoints: 2")), "no `name:`"),
    (lambda c: c.__setitem__(3, ("raw", "# BEGIN QUESTION\nname: [q1")), "invalid YAML"),
    (lambda c: c.__setitem__(4, ("code", "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x")), "'# END SOLUTION'"),
    (lambda c: c.__setitem__(4, ("code", "def f(x)\n    return 2 * x")), "invalid Python"),
    (lambda c: c.__setitem__(6, ("code", "def test_a(f):\n    pass\ndef test_b(f):\n    pass")), "exactly one `def test_"),
    (lambda c: c.pop(1), "ASSIGNMENT CONFIG"),
    (lambda c: c.pop(8), "still open"),
])
def test_malformed_otter_blocks_name_the_file_and_cell(mutate, message):
    cells = list(GOOD)
    mutate(cells)
    with pytest.raises(NotebookError) as err:
        notebooks.check_otter_blocks(_nb(*cells), "assignments/x/x.ipynb")
    assert "assignments/x/x.ipynb" in str(err.value)
    assert message in str(err.value)
    if "ASSIGNMENT CONFIG" not in message:
        assert "cell " in str(err.value)


def test_broken_json_names_the_file_and_position(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [ {"cell_type": "code",, } ]}')
    with pytest.raises(NotebookError, match=r"broken\.ipynb: broken JSON at line 1, column"):
        notebooks.load(path)


def test_clean_strips_outputs_counts_and_machine_metadata():
    nb = _nb(("code", "1 + 1"), ("markdown", "hi"))
    nb["metadata"] = {"colab": {"provenance": []}, "widgets": {}, "kernelspec": {"name": "python3"},
                      "language_info": {"name": "python", "version": "3.11.7"}}
    nb["cells"][0].update(outputs=[{"output_type": "stream", "text": "2"}], execution_count=3,
                          metadata={"colab": {"id": "x"}, "tags": ["keep"]})
    clean = notebooks.clean(nb)
    assert clean["metadata"]["language_info"] == {"name": "python"}
    assert "colab" not in clean["metadata"] and "widgets" not in clean["metadata"]
    assert clean["cells"][0]["outputs"] == [] and clean["cells"][0]["execution_count"] is None
    assert clean["cells"][0]["metadata"] == {"tags": ["keep"]}
    assert notebooks.clean(clean) == clean  # idempotent


def test_render_generates_badge_and_colab_setup_from_course_config():
    cfg = {"public_repo": "https://github.com/org/repo", "branch": "main", "otter_version": "7.0.0",
           "d2l_version": "1.0.3", "grading_python": "3.12"}
    nb = notebooks.render(_nb(*GOOD), "assignment", "07_cnns", "x.ipynb", cfg)
    title, setup = nb["cells"][0]["source"], nb["cells"][2]["source"]
    assert "https://colab.research.google.com/github/org/repo/blob/main/assignments/07_cnns/07_cnns.ipynb" in title
    assert 'RELEASE = os.environ.get("COURSE_RELEASE_URL", "https://raw.githubusercontent.com/org/repo/main")' in setup
    assert "otter-grader==7.0.0" in setup and "d2l" not in setup
    assert 'manifest["assignments/07_cnns"]' in setup
    compile(setup, "setup", "exec")
    assert notebooks.render(nb, "assignment", "07_cnns", "x.ipynb", cfg) == nb  # idempotent
    lecture = notebooks.render(_nb(GOOD[0], ("code", "import sys\n# >>> colab setup\n# <<< colab setup\nimport d2l")),
                               "lecture", "07_cnns", "x.ipynb", cfg)
    assert "'--no-deps', 'd2l==1.0.3'" in lecture["cells"][1]["source"]
    assert "otter-grader" not in lecture["cells"][1]["source"]


def test_colab_setup_installs_only_missing_packages_a_notebook_imports():
    cfg = {"public_repo": "https://github.com/org/repo", "branch": "main", "otter_version": "7.0.0",
           "d2l_version": "1.0.3"}
    code = "import sys\n# >>> colab setup\n# <<< colab setup\nimport networkx as nx\nfrom peft import LoraConfig"
    lecture = notebooks.render(_nb(GOOD[0], ("code", code)), "lecture", "11_x", "x.ipynb", cfg)
    setup = lecture["cells"][1]["source"]
    compile(setup, "setup", "exec")
    assert "('networkx', 'networkx>=" in setup and "('peft', 'peft>=" in setup  # ranges from requirements.txt
    assert "torch_geometric" not in setup and "transformers" not in setup  # not imported here
    assert "find_spec(mod) is None" in setup  # Colab's own copies are never reinstalled
    plain = notebooks.render(_nb(GOOD[0], ("code", "import sys\n# >>> colab setup\n# <<< colab setup\nimport torch")),
                             "lecture", "01_x", "x.ipynb", cfg)
    assert "find_spec" not in plain["cells"][1]["source"]


def test_a_lecture_with_invalid_python_fails_with_the_cell_named():
    nb = _nb(("markdown", "# T"), ("code", "x = 1"), ("code", "for i in range(3)\n    print(i)"))
    with pytest.raises(NotebookError, match=r"lectures/x\.ipynb: cell 2 \(code, 'for i in range\(3\)'\): invalid Python"):
        notebooks.check_code_cells(nb, "lectures/x.ipynb")
    notebooks.check_code_cells(_nb(("code", "%matplotlib inline\n!ls\nx = 1")), "ok.ipynb")


def test_render_refuses_a_notebook_without_badge_or_setup_markers():
    with pytest.raises(NotebookError, match="badge"):
        notebooks.render(_nb(("markdown", "# T"), GOOD[2]), "lecture", "x", "x.ipynb")
    with pytest.raises(NotebookError, match="colab setup"):
        notebooks.render(_nb(GOOD[0], ("code", "import sys")), "lecture", "x", "x.ipynb")


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A copy of the repository's build inputs with config pointing at it."""
    for name in ("autograder", "dlcourse"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("course.yml", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "assignments" / "00_demo").mkdir(parents=True)
    monkeypatch.setattr(config, "ROOT", tmp_path)
    monkeypatch.setattr(config, "ASSIGNMENTS", tmp_path / "assignments")
    monkeypatch.setattr(config, "LECTURES", tmp_path / "lectures")
    monkeypatch.setattr(config, "DIST", tmp_path / "dist")
    monkeypatch.setattr(config, "BUILD", tmp_path / "build")
    monkeypatch.setattr(config, "DATA", tmp_path / "data")
    return tmp_path


@pytest.mark.slow
def test_build_makes_release_solution_and_zip_then_a_broken_source_changes_nothing(sandbox):
    src = sandbox / "assignments" / "00_demo" / "00_demo.ipynb"
    notebooks.save(_nb(*GOOD), src)
    paths = build.build_assignment("00_demo", log=lambda *_: None)
    assert (paths["student"] / "00_demo.ipynb").exists() and paths["zip"].exists()
    assert not list(paths["solution"].rglob("*.zip")), "Otter's stock zip is easy to upload by mistake"
    student = (paths["student"] / "00_demo.ipynb").read_text()
    assert "return 2 * x" not in student and "test_f_hidden" not in student
    with zipfile.ZipFile(paths["zip"]) as zf:
        assert "tests/q1.py" in zf.namelist()
        assert "test_f_hidden" in zf.read("tests/q1.py").decode()
    before = {p: p.read_bytes() for p in (sandbox / "dist").rglob("*") if p.is_file()}

    cells = list(GOOD)
    cells.pop(9)  # no END QUESTION
    notebooks.save(_nb(*cells), src)
    with pytest.raises(NotebookError, match=r"00_demo\.ipynb: cell 3 .*never closed"):
        build.build_assignment("00_demo", log=lambda *_: None)
    src.write_text("{ not json")
    with pytest.raises(NotebookError, match="broken JSON"):
        build.build_assignment("00_demo", log=lambda *_: None)
    after = {p: p.read_bytes() for p in (sandbox / "dist").rglob("*") if p.is_file()}
    assert after == before, "a failed build changed dist/"
    assert not list((sandbox / "build").glob("*")), "a failed build left staging folders behind"


@pytest.mark.slow
def test_build_refuses_to_leak_a_solution(sandbox):
    # an instructor ships a support file that still holds the solution
    cells = list(GOOD)
    cells[1] = ("raw", "# ASSIGNMENT CONFIG\nfiles: [support.py]")
    cells[4] = ("code", "def f(x):\n    # BEGIN SOLUTION\n    doubled = x + x  # addition, not a product\n"
                        "    return doubled\n    # END SOLUTION")
    cells[6] = ("code", 'def test_f(f):\n    """Public: doubles 1."""\n    assert f(1) == 2')
    folder = sandbox / "assignments" / "00_demo"
    notebooks.save(_nb(*cells), folder / "00_demo.ipynb")
    (folder / "support.py").write_text("def helper(x):\n    doubled = x + x  # addition, not a product\n")
    with pytest.raises(build.BuildError, match="would leak"):
        build.build_assignment("00_demo", log=lambda *_: None)
    assert not (sandbox / "dist" / "student").exists()


def test_a_missing_data_set_fails_the_build_with_the_fix(sandbox, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    cells = list(GOOD)
    cells[1] = ("raw", "# ASSIGNMENT CONFIG\ndatasets: [time-machine]")
    notebooks.save(_nb(*cells), sandbox / "assignments" / "00_demo" / "00_demo.ipynb")
    from dlcourse import data

    monkeypatch.setattr(data.urllib.request, "urlopen", _offline)
    with pytest.raises(build.BuildError) as err:
        build.build_assignment("00_demo", log=lambda *_: None)
    assert "timemachine.txt" in str(err.value) and "COURSE_DATA_DIR" in str(err.value)
    assert not (sandbox / "dist").exists()


def _offline(*args, **kwargs):
    raise OSError("network is unreachable")


def test_mutants_parse_and_insert_before_the_check_cell(tmp_path):
    path = tmp_path / "wrong_answers.py"
    path.write_text('"""doc"""\n# %% q1: triples instead\ndef f(x):\n    return 3 * x\n\n# %% q2: other\ny = 1\n')
    wrong = mutants.load(path)
    assert [(w.question, w.mistake) for w in wrong] == [("q1", "triples instead"), ("q2", "other")]
    nb = _nb(("code", "def f(x):\n    return 2 * x"), ("code", 'grader.check("q1")'))
    out = mutants.apply(nb, wrong[0])
    assert "return 3 * x" in out["cells"][1]["source"] and "grader.check" in out["cells"][2]["source"]
    with pytest.raises(ValueError, match="q2"):
        mutants.apply(nb, wrong[1])


def test_grade_reports_a_reason_when_the_zip_is_broken(tmp_path):
    bad_zip = tmp_path / "ag.zip"
    bad_zip.write_bytes(b"not a zip")
    sub = tmp_path / "s.ipynb"
    sub.write_text("{}")
    res = grade.grade(bad_zip, sub, out_dir=tmp_path / "out")
    assert res["score"] == 0 and "could not be graded" in res["output"]
    assert json.loads((tmp_path / "out" / "results.json").read_text())["score"] == 0


def test_grade_refuses_zip_submissions_with_unsafe_paths(tmp_path):
    ag = tmp_path / "ag.zip"  # a minimal hardened zip: the judge, its config, no tests
    harden = ROOT / "autograder" / "harden"
    with zipfile.ZipFile(ag, "w") as zf:
        for path in harden.rglob("*.py"):
            zf.write(path, "harden/" + path.relative_to(harden).as_posix())
        zf.writestr("harden.json", '{"assignment": "01_tensors"}')
    sub = tmp_path / "sub.zip"
    with zipfile.ZipFile(sub, "w") as zf:
        zf.writestr("../escape.ipynb", "{}")
    res = grade.grade(ag, sub)
    assert res["score"] == 0 and "unsafe path" in res["output"]
    assert not (tmp_path / "escape.ipynb").exists()


def test_question_scores_sums_tests_per_question():
    res = {"tests": [{"name": "Public Tests", "score": 0, "max_score": 0},
                     {"name": "q1 - 1", "score": 1, "max_score": 2},
                     {"name": "q1 - 2", "score": 1, "max_score": 1},
                     {"name": "q2", "score": 0, "max_score": 3}]}
    assert grade.question_scores(res) == {"Public Tests": (0, 0), "q1": (2, 3), "q2": (0, 3)}


def test_leak_finder_sees_solution_lines_and_markers(tmp_path):
    src = tmp_path / "a.ipynb"
    notebooks.save(_nb(*GOOD), src)
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "ok.py").write_text("def f(x):\n    ...\n")
    assert leaks.find_leaks(src, folder) == []
    (folder / "bad.py").write_text("assert f(21) == 42\n# BEGIN SOLUTION\n")
    problems = leaks.find_leaks(src, folder)
    assert any("assert f(21) == 42" in p for p in problems)
    assert any("authoring marker" in p for p in problems)


def test_leak_finder_sees_a_solution_line_pasted_into_markdown_or_metadata(tmp_path):
    line = "doubled = x + x  # addition, not a product"
    cells = list(GOOD)
    cells[4] = ("code", f"def f(x):\n    # BEGIN SOLUTION\n    {line}\n    return doubled\n    # END SOLUTION")
    cells.insert(4, ("markdown", f"Hint:\n\n    {line}"))  # the author pasted it into the prompt
    src = tmp_path / "a.ipynb"
    notebooks.save(_nb(*cells), src)
    folder = tmp_path / "student"
    folder.mkdir()
    student = _nb(("markdown", "# T"), ("raw", "fine"), ("markdown", f"Hint:\n\n    {line}"))
    notebooks.save(student, folder / "a.ipynb")
    problems = leaks.find_leaks(src, folder)
    assert problems and all("a.ipynb: cell 2 (markdown, 'Hint:')" in p for p in problems), problems
    student = _nb(("raw", f"see `{line}`"))
    student["metadata"] = {"note": line}
    notebooks.save(student, folder / "a.ipynb")
    problems = leaks.find_leaks(src, folder)
    assert any("cell 0 (raw," in p for p in problems), problems
    assert any("notebook metadata" in p for p in problems), problems


@pytest.mark.slow
def test_build_refuses_a_solution_line_pasted_into_a_markdown_prompt(sandbox):
    cells = list(GOOD)
    cells[4] = ("code", "def f(x):\n    # BEGIN SOLUTION\n    doubled = x + x  # addition, not a product\n"
                        "    return doubled\n    # END SOLUTION")
    cells.insert(4, ("markdown", "Write `f`. For example:\n\ndoubled = x + x  # addition, not a product"))
    notebooks.save(_nb(*cells), sandbox / "assignments" / "00_demo" / "00_demo.ipynb")
    with pytest.raises(build.BuildError, match=r"would leak:\n  00_demo\.ipynb: cell \d+ \(markdown, "
                                               r"'Write `f`\. For example:'\): private line"):
        build.build_assignment("00_demo", log=lambda *_: None)
    assert not (sandbox / "dist" / "student").exists()


def test_clean_drops_trailing_empty_cells_only():
    nb = _nb(("code", ""), ("markdown", "hi"), ("code", "  \n"), ("markdown", ""))
    assert [c["source"] for c in notebooks.clean(nb)["cells"]] == ["", "hi"]


def test_saved_notebooks_are_exactly_what_nbformat_writes(tmp_path):
    import nbformat

    nb = notebooks.clean(_nb(*GOOD))
    notebooks.save(nb, tmp_path / "x.ipynb")
    text = (tmp_path / "x.ipynb").read_text(encoding="utf-8")
    assert nbformat.writes(nbformat.read(tmp_path / "x.ipynb", as_version=4)) + "\n" == text
    raw = json.loads(text)
    assert raw["cells"][2]["source"][:2] == ["import sys\n", "# >>> colab setup\n"]  # lists of lines
    assert notebooks.load(tmp_path / "x.ipynb")["cells"] == nb["cells"]


def test_check_fails_on_a_notebook_whose_sources_are_single_strings(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "LECTURES", tmp_path / "lectures")
    monkeypatch.setattr(config, "ASSIGNMENTS", tmp_path / "assignments")
    (tmp_path / "lectures").mkdir()
    path = tmp_path / "lectures" / "01_x.ipynb"
    nb = notebooks.clean(notebooks.render(_nb(GOOD[0], GOOD[2], ("code", "a = 1\nb = 2")),
                                          "lecture", "01_x", path))
    notebooks.save(nb, path)
    assert notebooks.main(["check"]) == 0
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert notebooks.main(["check"]) == 1  # same content, one string per cell: not clean
    assert notebooks.main(["sync"]) == 0 and notebooks.main(["check"]) == 0


def test_export_cell_hides_only_the_kernels_tcp_note():
    import warnings

    cell = build._colab_safe_export(_nb(("code", "grader.export(pdf=False, run_tests=True)")))
    source = cell["cells"][0]["source"]
    assert "warnings.filterwarnings" in source and source.rstrip().endswith("grader.export(pdf=False, run_tests=True)")
    note = ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication "
            "(including code and outputs) is sent in plain text and is susceptible to eavesdropping.\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        exec(build.EXPORT_QUIET, {})
        for message in (note, note + "Traceback (most recent call last): ...\n", "some other error\n"):
            warnings.warn_explicit(message, RuntimeWarning, "utils.py", 115, module="otter.check.utils")
        warnings.warn_explicit(note, RuntimeWarning, "x.py", 1, module="somewhere.else")
    assert [str(w.message)[:20] for w in seen] == [note[:20], "some other error\n", note[:20]]


@pytest.mark.parametrize("line,generic", [
    ("self.base = base", True),                                   # a constructor keeping its argument
    ("net.load_state_dict(best_state)", True),                    # restoring a saved state
    ('rt_texts, rt_labels = data.load_sentences("rt-polarity")', True),  # loading course data
    ("self.base = base.weight.detach()", False),                  # anything more is an answer
    ("probs = torch.softmax(logits / temperature, dim=-1)", False),
    ("best_state = copy.deepcopy(net.state_dict())", False),
])
def test_leak_check_ignores_only_generic_lines(line, generic):
    assert bool(leaks.GENERIC.match(line)) is generic
