"""Gradescope for real: every week graded in the image built from its zip's own setup.sh.

tests/clients/gradescope_image.sh lays out a private root shaped like Gradescope's image (never
the machine's real /, /opt or /autograder), runs the zip's setup.sh there as root, then, for each
submission, a fresh /autograder and /autograder/run_autograder.  Every week is graded three
times in it: the solution must earn full marks on every question, the blank student notebook 0,
and the first known-wrong answer of wrong_answers.py must lose points on its own question and
on no other.

One image serves every zip whose setup.sh and requirements.txt are byte-identical (the image is
keyed on their hash, so a week that needs other packages gets its own image).  It is built once
per key, under a lock shared by the pytest workers, and the pip cache under dist/cache/ is
reused, so only the first build downloads anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import zipfile

import pytest

from autograder import config, grade, mutants, notebooks
from conftest import ASSIGNMENTS, ROOT, built
from test_hardening import validate_results

SCRIPT = ROOT / "tests" / "clients" / "gradescope_image.sh"
CACHE = ROOT / "dist" / "cache"
HEAVY = ("miniforge", "mamba", "conda", "chromium", "playwright", "texlive", "pandoc", "otter-grader")

pytestmark = [
    pytest.mark.slow, pytest.mark.clients,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"),
                       reason="needs root, unshare and chroot to lay out a private image"),
]


def _image_key(zip_path) -> str:
    with zipfile.ZipFile(zip_path) as zf:
        return hashlib.sha256(zf.read("setup.sh") + b"\0" + zf.read("requirements.txt")).hexdigest()[:16]


def _image(zip_path):
    """The image for this zip's setup.sh + requirements.txt, built once (locked across workers)."""
    key = _image_key(zip_path)
    image = CACHE / f"gradescope-image-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"gradescope-image-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (image / ".built").exists():
            proc = subprocess.run(["bash", str(SCRIPT), "build", str(zip_path), str(image),
                                   str(CACHE / "gradescope-pip")],
                                  capture_output=True, text=True, timeout=1500)
            assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return image


def _grade_in_image(zip_path, image, out, submissions):
    proc = subprocess.run(["bash", str(SCRIPT), "grade", str(zip_path), str(image), str(out),
                           *map(str, submissions)], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = []
    for n in range(1, len(submissions) + 1):
        path = out / str(n) / "results.json"
        assert path.exists(), f"run_autograder wrote no results.json:\n" + \
            (out / str(n) / "run.log").read_text()[-2000:]
        res = json.loads(path.read_text())
        validate_results(res)
        res["_seconds"] = float((out / str(n) / "seconds").read_text())
        results.append(res)
    return results


def _scores(res):
    return {q: s for q, s in grade.question_scores(res).items() if q != "Public Tests"}


def test_setup_sh_is_lean_and_installs_cpu_torch():
    paths = built(ASSIGNMENTS[0])
    with zipfile.ZipFile(paths["zip"]) as zf:
        setup = zf.read("setup.sh").decode()
    commands = "\n".join(ln for ln in setup.splitlines() if not ln.lstrip().startswith("#"))
    for heavy in HEAVY:
        assert heavy not in commands.lower(), f"setup.sh must stay lean: it installs {heavy}"
    image = _image(paths["zip"])
    log = (image / "setup.log").read_text()
    assert "+cpu" in log, "the image should install CPU-only torch:\n" + log[-2000:]
    info = json.loads((image / "image.json").read_text())
    print(f"\nGradescope image: setup {info['setup_seconds']} s, venv {info['venv_mb']} MB")


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_week_graded_right_in_gradescope_image(slug, tmp_path):
    paths = built(slug)
    image = _image(paths["zip"])
    wrong = mutants.load(config.ASSIGNMENTS / slug / "wrong_answers.py")[0]
    wrong_nb = tmp_path / "wrong" / f"{slug}.ipynb"
    wrong_nb.parent.mkdir()
    notebooks.save(mutants.apply(notebooks.load(paths["solution"] / f"{slug}.ipynb"), wrong), wrong_nb)
    solution, blank, mistaken = _grade_in_image(
        paths["zip"], image, tmp_path / "out",
        [paths["solution"] / f"{slug}.ipynb", paths["student"] / f"{slug}.ipynb", wrong_nb])

    full = _scores(solution)
    assert full and all(m > 0 for _, m in full.values()), f"{slug}: no graded questions"
    short = {q: s for q, s in full.items() if s[0] != s[1]}
    assert not short, f"{slug}: the solution loses points in the image on {short}\n" + solution["output"]
    assert solution["score"] == sum(m for _, m in full.values())

    earned = {q: s for q, (s, _) in _scores(blank).items() if s}
    assert not earned, f"{slug}: the blank notebook earns points in the image on {earned}"
    assert blank["score"] == 0

    got = _scores(mistaken)
    lost, possible = got[wrong.question]
    assert lost < possible, f"{slug} {wrong.question} ({wrong.mistake}): full marks in the image"
    collateral = {q: got[q] for q in full if q != wrong.question and got[q] != full[q]}
    assert not collateral, f"{slug}: the wrong {wrong.question} changed other questions: {collateral}"

    evidence = ROOT / "dist" / "clients" / "gradescope_image"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / f"{slug}.json").write_text(json.dumps({
        "solution": [solution["score"], sum(m for _, m in full.values()), solution["_seconds"]],
        "blank": [blank["score"], blank["_seconds"]],
        "wrong": [wrong.question, mistaken["score"], mistaken["_seconds"]]}))
    print(f"\n{slug} in the image: solution {solution['score']:g} ({solution['_seconds']} s), "
          f"blank {blank['score']:g}, wrong {wrong.question} {mistaken['score']:g}")
