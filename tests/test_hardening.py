"""The hardened grader: every bad or hostile submission gets a fair verdict (issue: grading
that cannot be crashed or fooled).  Fixtures come from tests/bad_submissions.py."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, built

sys.path.insert(0, str(ROOT / "autograder"))
from harden import judge  # noqa: E402

SLUG = "01_tensors"
LIMITS = {"cell_timeout": 8, "total_timeout": 240}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user needs root, as on Gradescope")


def validate_results(results: dict) -> None:
    """Gradescope's documented results.json shape (what its harness accepts)."""
    assert isinstance(results.get("score"), (int, float)), "a top-level numeric score"
    assert isinstance(results.get("output", ""), str)
    assert results.get("stdout_visibility", "hidden") in VISIBILITY
    assert isinstance(results.get("tests"), list) and results["tests"], "a list of tests"
    for t in results["tests"]:
        assert isinstance(t.get("name"), str) and t["name"]
        assert isinstance(t.get("score"), (int, float)) and isinstance(t.get("max_score"), (int, float))
        assert 0 <= t["score"] <= max(t["max_score"], 0) + 1e-9
        assert t.get("visibility", "visible") in VISIBILITY
        assert isinstance(t.get("output", ""), str)


def _hidden_lines(zip_path: Path) -> set[str]:
    """Distinctive lines of hidden tests (what must never reach a student-visible field)."""
    lines = set()
    with zipfile.ZipFile(zip_path) as zf:
        tests = judge.load_tests_from_zip(zf)
    for t in tests:
        if t["hidden"]:
            lines.add(t["doc"])
            lines |= {ln.strip() for ln in t["source"].splitlines()
                      if len(ln.strip()) > 25 and not ln.strip().startswith(("def ", "import ", "return"))}
    return lines


@pytest.mark.slow
@needs_root
def test_every_bad_submission_gets_the_expected_verdict(tmp_path):
    paths = built(SLUG)
    sys.path.insert(0, str(ROOT / "tests"))
    import bad_submissions

    expected = bad_submissions.make_all(SLUG, tmp_path / "subs")
    assert len(expected) >= 30
    out = tmp_path / "grades"
    env = os.environ | {"HARDEN_LIMITS": json.dumps(LIMITS)}
    proc = subprocess.run([sys.executable, "-m", "autograder.grade", str(paths["zip"]),
                           str(tmp_path / "subs"), "--out", str(out), "-j", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["submission"]: r for r in csv.DictReader(open(out / "scores.csv"))}
    assert set(rows) == set(expected), "one CSV row per submission, none lost"
    results = {k: json.loads((out / k / "results.json").read_text()) for k in expected}
    for res in results.values():
        validate_results(res)
    full = 24.0  # every assignment is worth 24 points
    base = results["wrong_answer_q1_alone"]["score"]
    assert base < full
    table, problems = [], []
    for key, exp in expected.items():
        res = results[key]
        score, text = res["score"], res["output"] + "\n" + "\n".join(t.get("output", "") for t in res["tests"])
        kind = exp["kind"]
        ok = {"reject": score == 0 and exp.get("reason", "") in text,
              "full": score == full and (not exp.get("note") or exp["note"] in text),
              "graded_below_full": 0 < score < full and "could not be graded" not in res["output"],
              "zero": score == 0 and "could not be graded" not in res["output"],
              "at_most_base": score <= base,
              "base": score == base}[kind]
        table.append(f"| {key} | {kind}{' (' + (exp.get('reason') or exp.get('note') or '') + ')' if exp.get('reason') or exp.get('note') else ''} "
                     f"| {score:g} / {full:g} | {res.get('execution_time', '')} | {'ok' if ok else 'WRONG'} |")
        if not ok:
            problems.append(f"{key}: expected {exp}, got {score}: {res['output'][:300]}")
    report = ROOT / "dist" / "hardening"
    report.mkdir(parents=True, exist_ok=True)
    (report / "fixtures.md").write_text(
        "| fixture | expected | score | seconds | verdict |\n|---|---|---|---|---|\n"
        + "\n".join(table) + f"\n\nwrong answer alone (q1): {base:g} / {full:g}\n")
    assert not problems, "\n".join(problems)
    hidden = _hidden_lines(paths["zip"])
    for key, res in results.items():
        visible = json.dumps(res)
        leaked = [ln for ln in hidden if ln in visible]
        assert not leaked, f"{key}: hidden test text visible to the student: {leaked[:3]}"


@pytest.mark.slow
def test_the_same_submission_gets_the_same_grade_three_times(tmp_path):
    from autograder import grade

    paths = built(SLUG)
    runs = []
    for _ in range(3):
        res = grade.grade(paths["zip"], paths["solution"] / f"{SLUG}.ipynb")
        res.pop("execution_time", None)
        runs.append(res)
    assert runs[0] == runs[1] == runs[2]
    assert runs[0]["score"] == 24


# --------------------------------------------------------------------------- fast unit tests


def _nb(**over) -> bytes:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"language": "python"}},
          "cells": [{"cell_type": "code", "source": 'grader = otter.Notebook("01_tensors.ipynb")'}]}
    nb.update(over)
    return json.dumps(nb).encode()


@pytest.mark.parametrize("blob, reason", [
    (b"", "is empty"),
    (b"{ not json", "not valid notebook JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (_nb(nbformat=3), "version 3"),
    (_nb(metadata={"kernelspec": {"language": "julia"}}), "julia kernel"),
    (_nb(cells=[{"cell_type": "code", "source": 'otter.Notebook("02_x.ipynb")'}]), "assignment '02_x'"),
    (json.dumps([1, 2]).encode(), "not a notebook"),
])
def test_parse_notebook_rejects_with_a_reason(blob, reason):
    with pytest.raises(judge.Reject, match=reason):
        judge.parse_notebook("x.ipynb", blob, "01_tensors", judge.DEFAULTS)


def test_safe_unzip_refuses_traversal_and_bombs():
    def z(members):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for k, v in members.items():
                zf.writestr(k, v)
        return buf.getvalue()

    for bad in ("../x.ipynb", "/abs.ipynb", "a/../../x.ipynb", "C:/x.ipynb"):
        with pytest.raises(judge.Reject, match="unsafe path"):
            judge._safe_unzip(z({bad: b"{}"}), judge.DEFAULTS)
    with pytest.raises(judge.Reject, match="MB"):
        judge._safe_unzip(z({"big": b"\0" * (judge.DEFAULTS["max_unzipped_mb"] * 2**20 + 1)}), judge.DEFAULTS)
    assert judge._safe_unzip(z({"a/n.ipynb": b"{}"}), judge.DEFAULTS) == {"a/n.ipynb": b"{}"}


def test_results_show_public_messages_but_never_hidden_ones():
    tests = [{"id": "q1/a", "question": "q1", "hidden": False, "points": 0, "doc": "Public: shape"},
             {"id": "q1/b", "question": "q1", "hidden": True, "points": 2, "doc": "Hidden: SECRET doc"}]
    outcomes = {"q1/a": {"passed": False, "message": "wrong shape"},
                "q1/b": {"passed": False, "message": "expected 3.14159 SECRET"}}
    res = judge.compose(tests, outcomes, [], 1.0)
    validate_results(res)
    text = json.dumps(res)
    assert "wrong shape" in text and "SECRET" not in text and "3.14159" not in text
    assert res["score"] == 0 and res["tests"][0]["max_score"] == 2
    outcomes["q1/b"]["passed"] = True
    assert judge.compose(tests, outcomes, [], 1.0)["score"] == 2
