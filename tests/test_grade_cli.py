"""`make grade` on one file and on a folder of submissions (a Gradescope export)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT, built

SLUG = "01_tensors"


@pytest.mark.slow
def test_grading_a_folder_survives_broken_submissions_and_writes_one_csv(tmp_path):
    paths = built(SLUG)
    subs = tmp_path / "export"
    (subs / "alice").mkdir(parents=True)
    shutil.copy(paths["solution"] / f"{SLUG}.ipynb", subs / "alice" / f"{SLUG}.ipynb")
    (subs / "bob").mkdir()
    (subs / "bob" / f"{SLUG}.ipynb").write_text('{"cells": [ broken')
    (subs / "carol").mkdir()
    (subs / "carol" / "submission.zip").write_bytes(b"PK\x03\x04 not really a zip")
    out = tmp_path / "grades"
    proc = subprocess.run([sys.executable, "-m", "autograder.grade", str(paths["zip"]), str(subs),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rows = {r["submission"]: r for r in csv.DictReader(open(out / "scores.csv"))}
    assert set(rows) == {"alice", "bob", "carol"}
    alice = rows["alice"]
    assert float(alice["score"]) == float(alice["max_score"]) == 24
    assert float(rows["bob"]["score"]) == 0
    assert float(rows["carol"]["score"]) == 0
    assert alice["status"] == "graded" and not alice["reason"]
    assert rows["bob"]["status"] == rows["carol"]["status"] == "not graded"
    assert "not valid notebook JSON" in rows["bob"]["reason"] and "not a valid zip" in rows["carol"]["reason"]
    assert (out / "summary.md").is_file() and (out / "histogram.png").is_file()
    for who in ("alice", "bob", "carol"):
        results = next((out / who).rglob("results.json"))
        assert "tests" in json.loads(results.read_text())


def test_local_gradings_never_share_the_sandbox_user(tmp_path, monkeypatch):
    """Parallel local gradings each get a free uid (the judge kills every process of its uid)."""
    from autograder import grade

    seen = {}

    def fake_run(cmd, **kw):
        seen.update(json.loads(kw["env"]["HARDEN_LIMITS"]))
        return subprocess.CompletedProcess(cmd, 1, "", "")

    monkeypatch.setattr(grade.subprocess, "run", fake_run)
    monkeypatch.setenv("HARDEN_LIMITS", json.dumps({"cell_timeout": 8}))
    zipfile.ZipFile(tmp_path / "a.zip", "w").close()
    (tmp_path / "s.ipynb").write_text("{}")
    res = grade.grade(tmp_path / "a.zip", tmp_path / "s.ipynb")
    assert seen.items() >= (grade.LOCAL_LIMITS | {"cell_timeout": 8}).items()  # plus caller_timeout
    assert res["score"] == 0 and "wrote no results" in res["output"]
