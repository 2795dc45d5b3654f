"""Gradescope for real: build the image from a zip's own setup.sh and grade with run_autograder.

tests/clients/gradescope_image.sh lays out a private root with /autograder exactly as
Gradescope does (never the machine's real /autograder), runs setup.sh as root, then
/autograder/run_autograder, and we validate results.json against Gradescope's format.
The pip cache is kept under dist/cache/, keyed on the zip's requirements and setup.sh, so
only the first build downloads anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile

import pytest

from conftest import ROOT, built
from test_hardening import validate_results

SLUG = "01_tensors"


@pytest.mark.slow
@pytest.mark.clients
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"),
                    reason="needs root, unshare and chroot to lay out a private /autograder")
def test_gradescope_image_builds_and_grades(tmp_path):
    paths = built(SLUG)
    with zipfile.ZipFile(paths["zip"]) as zf:
        key = hashlib.sha256(zf.read("requirements.txt") + zf.read("setup.sh")).hexdigest()[:16]
        setup = zf.read("setup.sh").decode()
    commands = "\n".join(ln for ln in setup.splitlines() if not ln.lstrip().startswith("#"))
    for heavy in ("miniforge", "mamba", "conda", "chromium", "playwright", "texlive", "pandoc",
                  "otter-grader"):
        assert heavy not in commands.lower(), f"setup.sh must stay lean: it installs {heavy}"
    cache = ROOT / "dist" / "cache" / f"gradescope-pip-{key}"
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(ROOT / "tests" / "clients" / "gradescope_image.sh"),
                           str(paths["zip"]), str(paths["solution"] / f"{SLUG}.ipynb"), str(out),
                           str(cache)], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    image = json.loads((out / "image.json").read_text())
    setup_log = (out / "setup.log").read_text()
    assert "+cpu" in setup_log, "the image should install CPU-only torch:\n" + setup_log[-2000:]
    results = json.loads((out / "results.json").read_text())
    validate_results(results)
    assert results["score"] == 20, results["output"]
    evidence = ROOT / "dist" / "clients"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / "gradescope_image.json").write_text(json.dumps(image | {"score": results["score"]}))
    print(f"\nGradescope image: setup {image['setup_seconds']} s, venv {image['venv_mb']} MB, "
          f"grading {image['grade_seconds']} s")
