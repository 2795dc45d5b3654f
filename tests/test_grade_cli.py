"""`make grade` on one file and on a folder of submissions (a Gradescope export)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

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
    assert float(alice["score"]) == float(alice["max_score"]) == 20
    assert float(rows["bob"]["score"]) == 0
    assert float(rows["carol"]["score"]) == 0
    for who in ("alice", "bob", "carol"):
        results = next((out / who).rglob("results.json"))
        assert "tests" in json.loads(results.read_text())
