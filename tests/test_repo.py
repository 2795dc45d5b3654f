"""What a new user meets first: the README's table and commands, and a repository without binaries."""

from __future__ import annotations

import re
import subprocess

from autograder import config, readme
from conftest import ROOT


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def test_readme_weeks_table_is_generated_from_the_notebooks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.render(text) == text, "README.md's weeks table is stale: run `make sync`"
    rows = re.findall(r"^\| (\d+) \| `(\d\d_\w+)` \|", text, re.M)
    weeks = sorted(set(config.lecture_slugs()) | set(config.assignment_slugs()))
    assert [slug for _, slug in rows] == weeks, "the table must list every week, in order"


def test_readme_table_check_can_fail(tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = text.replace("| 1 | `01_tensors` |", "| 1 | `01_tensor` |")
    assert stale != text and readme.render(stale) != stale


def test_nothing_binary_is_committed():
    """Wheels, archives, images, weights or data in git would bloat every clone forever."""
    bad = []
    for rel in _tracked():
        path = ROOT / rel
        if not path.is_file():
            continue
        head = path.read_bytes()[:8192]
        if b"\0" in head or path.suffix.lower() in {".whl", ".zip", ".gz", ".tar", ".png", ".jpg",
                                                     ".pt", ".pth", ".npz", ".npy", ".pkl", ".so"}:
            bad.append(rel)
        elif path.stat().st_size > 1_000_000:
            bad.append(f"{rel} ({path.stat().st_size / 1e6:.1f} MB)")
    assert not bad, f"binary or huge files are committed: {bad}"


def test_ci_runs_only_the_readme_test_command():
    """`.ci/run` adds nothing a new user lacks: the README's `make test` must set everything up."""
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert any(c.startswith("make test") for c in commands)
    code = "\n".join(commands).lower()
    assert "chromium" not in code and "python3-venv" not in code and "pip install" not in code, \
        "set-up belongs in the Makefile, so `make test` works without .ci/run"
    assert re.search(r"^make test\b", (ROOT / "README.md").read_text(), re.M)
