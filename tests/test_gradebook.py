"""`make grade` on a folder: the instructor's gradebook (issue 11, part 4), and the student-facing
wording of results.json (issue 11, part 3).

The fast tests work on synthetic results; the slow one grades a fake Gradescope "Export
Submissions" download of week 1 through the real zip.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
import zipfile

import pytest
from conftest import ROOT, built

from autograder import grade, gradebook, mutants, notebooks

sys.path.insert(0, str(ROOT / "autograder"))
from harden import judge

SLUG = "01_tensors"

# Gradescope's export: submission folders -> Ruby-symbol keys (leading colons), as Ruby writes them.
METADATA = textwrap.dedent("""\
    submission_1001:
      :submitters:
      - :name: Ada Lovelace
        :sid: '1001'
        :email: ada@example.edu
      :created_at: 2026-09-08 23:58:01.123456000 -07:00
      :score: 24.0
    submission_1002:
      :submitters:
      - :name: Blank Student
        :sid: 1002
        :email: blank@example.edu
      :created_at: 2026-09-08 12:00:00.000000000 -07:00
      :score: 0.0
    submission_1003:
      :submitters:
      - :name: Pair One
        :sid: '2001'
        :email: one@example.edu
      - :name: Pair Two
        :sid: '2002'
        :email: two@example.edu
      :created_at: 2026-09-07 09:30:00.000000000 -07:00
      :score: !ruby/object:BigDecimal 18:0.18e2
    """)


# --------------------------------------------------------------------------- metadata


def test_metadata_is_read_from_ruby_symbol_keys_and_groups_are_joined():
    meta = gradebook.parse_metadata(METADATA)
    assert meta["submission_1001"] == {"name": "Ada Lovelace", "email": "ada@example.edu", "sid": "1001"}
    assert meta["submission_1002"]["sid"] == "1002"  # an unquoted SID is a YAML int
    assert meta["submission_1003"]["name"] == "Pair One; Pair Two"
    assert meta["submission_1003"]["sid"] == "2001; 2002"


@pytest.mark.parametrize("text", ["submission_1: [unclosed", "- just\n- a list\n",
                                  "submission_1:\n  :score: 3\n"])
def test_malformed_metadata_raises_a_clear_error(text):
    with pytest.raises(ValueError):
        gradebook.parse_metadata(text)


def test_missing_or_malformed_metadata_file_warns_and_leaves_columns_blank(tmp_path, capsys):
    assert gradebook.load_metadata(tmp_path) == {}
    (tmp_path / "submission_metadata.yml").write_text("submission_1: [unclosed")
    assert gradebook.load_metadata(tmp_path) == {}
    err = capsys.readouterr().err
    assert "submission_metadata.yml could not be read" in err and "left blank" in err


def test_an_unzipped_export_with_one_top_folder_is_found(tmp_path):
    (tmp_path / "assignment_42_export" / "submission_1").mkdir(parents=True)
    (tmp_path / "assignment_42_export" / "submission_metadata.yml").write_text(METADATA)
    assert gradebook.export_root(tmp_path) == tmp_path / "assignment_42_export"
    assert gradebook.export_root(tmp_path / "assignment_42_export") == tmp_path / "assignment_42_export"
    (tmp_path / "other").mkdir()
    assert gradebook.export_root(tmp_path / "other") == tmp_path / "other"


# --------------------------------------------------------------------------- rows and summary


def _tests():
    return [{"id": f"{q}/{name}", "question": q, "hidden": hidden, "points": pts, "doc": f"Public: {name}"}
            for q, name, hidden, pts in [("q1", "test_q1_shape", False, 0), ("q1", "test_q1_ref", True, 2),
                                         ("q1", "test_q1_edge", True, 2), ("q2", "test_q2_shape", False, 0),
                                         ("q2", "test_q2_ref", True, 3)]]


def _results(failing=()):
    tests = _tests()
    outcomes = {t["id"]: {"passed": t["id"] not in failing, "message": "no"} for t in tests}
    return judge.compose(tests, outcomes, [], 1.0)


def test_rows_have_a_column_per_question_and_per_test(tmp_path):
    rows = [gradebook.row("a", _results(), {"name": "A", "email": "a@x", "sid": "1"}),
            gradebook.row("b", _results({"q1/test_q1_ref", "q2/test_q2_ref"})),
            gradebook.row("c", judge.reject(_tests(), "no notebook", 0.1))]
    gradebook.write_csv(rows, tmp_path / "scores.csv")
    with open(tmp_path / "scores.csv") as f:
        reader = csv.DictReader(f)
        head = reader.fieldnames
        got = {r["submission"]: r for r in reader}
    assert head == ["submission", "name", "email", "sid", "status", "score", "max_score", "q1", "q2",
                    "q1/test_q1_shape", "q1/test_q1_ref", "q1/test_q1_edge", "q2/test_q2_shape",
                    "q2/test_q2_ref", "seconds", "reason"]
    assert got["a"]["name"] == "A" and got["a"]["score"] == "7" and got["a"]["max_score"] == "7"
    assert got["b"]["q1"] == "2" and got["b"]["q2"] == "0" and got["b"]["q1/test_q1_ref"] == "fail"
    assert got["b"]["q1/test_q1_edge"] == "pass" and got["b"]["status"] == "graded"
    assert got["c"]["status"] == "not graded" and got["c"]["reason"] == "no notebook"
    assert got["c"]["q1/test_q1_ref"] == "" and got["c"]["name"] == ""


def test_a_grading_failure_is_a_grader_error_not_the_students():
    status, reason = gradebook.status_of(grade._failure("grading took longer than 600 s"))
    assert (status, reason) == ("grader error", "grading took longer than 600 s")
    assert gradebook.status_of(judge.reject(_tests(), "is empty", 0.1)) == ("not graded", "is empty")
    assert gradebook.status_of(_results()) == ("graded", "")


def test_summary_numbers():
    rows = [gradebook.row("a", _results()), gradebook.row("b", _results({"q1/test_q1_ref"})),
            gradebook.row("c", _results({"q1/test_q1_ref", "q1/test_q1_edge", "q2/test_q2_ref"})),
            gradebook.row("d", judge.reject(_tests(), "empty", 0.1))]
    s = gradebook.summarize(rows, {"q1": 4, "q2": 3})
    q1, q2 = s["questions"]
    assert (q1["question"], q1["mean"], q1["full_marks"]) == ("q1", (4 + 2 + 0 + 0) / 4, 0.25)
    assert (q1["most_failed_test"], q1["failed_by"]) == ("q1/test_q1_ref", 2)
    assert (q2["mean"], q2["full_marks"], q2["failed_by"]) == ((3 + 3 + 0 + 0) / 4, 0.5, 1)
    assert (s["submissions"], s["graded"], s["not_graded"]) == (4, 3, 1)
    assert s["mean"] == (7 + 5 + 0 + 0) / 4


def test_write_all_makes_the_summary_and_a_png(tmp_path):
    rows = [gradebook.row(k, _results(f)) for k, f in [("a", ()), ("b", {"q2/test_q2_ref"})]]
    paths, summary = gradebook.write_all(rows, tmp_path)
    assert "| q2 | 3 | 1.50 | 50% | `q2/test_q2_ref` | 1 of 2 |" in paths["summary"].read_text()
    assert paths["histogram"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["mean"] == 5.5


# --------------------------------------------------------------------------- student-facing wording


def test_public_docs_are_not_doubled_and_hidden_failures_are_explained_without_details():
    tests = _tests()
    tests[1]["doc"] = tests[2]["doc"] = "Hidden: SECRET reference"
    res = judge.compose(tests, {t["id"]: {"passed": t["id"] != "q1/test_q1_ref", "message": "SECRET msg"}
                                for t in tests}, [], 1.0)
    q1 = res["tests"][0]["output"]
    assert "public test: test_q1_shape ... passed" in q1 and "Public:" not in q1
    assert "passes the public checks but fails 1 of 2 hidden cases" in q1
    assert "does not depend on the example's values" in q1
    visible = json.dumps({k: v for k, v in res.items() if k != "extra_data"})
    assert "SECRET" not in visible
    assert res["tests"][1]["output"].endswith("hidden tests: all 1 passed")


@pytest.mark.parametrize("doc, plain", [("Public: shape (n, m).", "shape (n, m)"),
                                        ("hidden test: other seeds", "other seeds"),
                                        ("Hidden-layer output is (n, h)", "Hidden-layer output is (n, h)"),
                                        ("returns a tensor", "returns a tensor")])
def test_doc_prefixes_are_stripped(doc, plain):
    assert judge._plain_doc(doc) == plain


def test_hidden_failures_after_public_failures_point_at_the_public_ones():
    res = _results({"q1/test_q1_shape", "q1/test_q1_ref"})
    out = res["tests"][0]["output"]
    assert "FAILED\n    no" in out and "1 of 2 failed; fix the public test failures above first" in out


def test_files_otters_export_adds_are_not_mentioned(tmp_path):
    nb = json.dumps({"nbformat": 4, "cells": []}).encode()
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.writestr(f"{SLUG}.ipynb", nb)
        zf.writestr(".OTTER_LOG", b"\x80\x04")
        zf.writestr("__zip_filename__", b"x.zip")
        zf.writestr("__MACOSX/._x", b"")
    name, _, notes = judge.find_notebook(tmp_path, judge.DEFAULTS)
    assert name.endswith(f"{SLUG}.ipynb") and notes == []
    for i in range(5):
        (tmp_path / f"extra{i}.py").write_text("x")
    _, _, notes = judge.find_notebook(tmp_path, judge.DEFAULTS)
    assert notes == ["only the notebook is graded; also uploaded: extra0.py, extra1.py, extra2.py and 2 more"]


def test_cells_are_numbered_as_jupyterlab_shows_them():
    nb = {"nbformat": 4, "metadata": {}, "cells": [
        {"cell_type": "markdown", "source": "# Title"},
        {"cell_type": "code", "source": ["import torch\n"]},
        {"cell_type": "raw", "source": "raw"},
        {"cell_type": "markdown", "source": "## q1"},
        {"cell_type": "code", "source": ["\n", "def softmax(X):\n", "    return X\n"]}]}
    cells = judge.parse_notebook("n.ipynb", json.dumps(nb).encode(), SLUG, judge.DEFAULTS)
    assert cells == ["import torch\n", "\ndef softmax(X):\n    return X\n"]  # what the worker runs
    assert judge.describe_cell(cells, 1) == "cell 5 (`def softmax(X):`)"
    assert judge.describe_cell(cells, 0) == "cell 2 (`import torch`)"
    assert judge.describe_cell(cells, 99) == "cell 99" and judge.describe_cell(cells, "x") == "cell x"


# --------------------------------------------------------------------------- through the real zip


@pytest.mark.slow
def test_a_gradescope_export_gives_a_gradebook(tmp_path):
    paths = built(SLUG)
    export = tmp_path / "assignment_export"
    solution = notebooks.load(paths["solution"] / f"{SLUG}.ipynb")
    wrong = next(w for w in mutants.load(ROOT / "assignments" / SLUG / "wrong_answers.py")
                 if w.question == "q4")  # passes q4's public test, fails a hidden one
    for folder in ("submission_1001", "submission_1002", "submission_1003"):
        (export / folder).mkdir(parents=True)
    notebooks.save(solution, export / "submission_1001" / f"{SLUG}.ipynb")
    (export / "submission_1002" / f"{SLUG}.ipynb").write_bytes(
        (paths["student"] / f"{SLUG}.ipynb").read_bytes())
    notebooks.save(mutants.apply(solution, wrong), export / "submission_1003" / f"{SLUG}.ipynb")
    (export / "submission_metadata.yml").write_text(METADATA)
    out = tmp_path / "grades"
    proc = subprocess.run([sys.executable, "-m", "autograder.grade", str(paths["zip"]), str(export),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"summary: {out / 'summary.md'}" in proc.stdout and "totals: 3 submissions" in proc.stdout

    with open(out / "scores.csv") as f:
        reader = csv.DictReader(f)
        head = reader.fieldnames
        rows = {r["submission"]: r for r in reader}
    results = {k: json.loads((out / k / "results.json").read_text()) for k in rows}
    questions = [q for q in grade.question_scores(results["submission_1001"])]
    assert len(questions) >= 6 and head[7:7 + len(questions)] == questions
    test_cols = [c for c in head if "/" in c]
    assert test_cols and all(c.split("/")[0] in questions for c in test_cols)
    ada, blank, pair = rows["submission_1001"], rows["submission_1002"], rows["submission_1003"]
    assert (ada["name"], ada["email"], ada["sid"]) == ("Ada Lovelace", "ada@example.edu", "1001")
    assert pair["name"] == "Pair One; Pair Two" and blank["sid"] == "1002"
    assert float(ada["score"]) == float(ada["max_score"]) == 24
    assert all(ada[c] == "pass" for c in test_cols)
    assert float(blank["score"]) == 0 and blank["status"] == "graded"
    assert any(pair[c] == "fail" for c in test_cols if c.startswith("q4/"))
    assert all(pair[c] == "pass" for c in test_cols if not c.startswith("q4/"))

    # the summary agrees with the graded results
    with open(out / "summary.csv") as f:
        summary = {r["question"]: r for r in csv.DictReader(f)}
    for q in questions:
        scores = [grade.question_scores(r)[q][0] for r in results.values()]
        assert float(summary[q]["mean"]) == pytest.approx(sum(scores) / 3, rel=1e-3)
    assert summary["q4"]["most_failed_test"].startswith("q4/") and summary["q4"]["failed_by"] == "2"
    assert "| q1 |" in (out / "summary.md").read_text()
    png = (out / "histogram.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert int.from_bytes(png[16:20], "big") > 100 and int.from_bytes(png[20:24], "big") > 100

    # what the student with the wrong answer reads
    q4 = next(t for t in results["submission_1003"]["tests"] if t["name"] == "q4")["output"]
    assert "passes the public checks but fails 1 of 2 hidden cases" in q4
    assert "Public:" not in json.dumps(results["submission_1003"]["tests"])
    hidden = [t for t in judge.load_tests_from_zip(zipfile.ZipFile(paths["zip"])) if t["hidden"]]
    for key, res in results.items():  # what students see: no hidden doc, name or id
        visible = json.dumps({k: v for k, v in res.items() if k != "extra_data"})
        leaked = [t["id"] for t in hidden if t["doc"] in visible or t["function"] in visible]
        assert not leaked, f"{key}: {leaked}"
