"""Repository hygiene: clean committed notebooks, agreeing requirement files, honest README."""

from __future__ import annotations

import json
import subprocess

import yaml

from autograder import notebooks
from conftest import ROOT


def _tracked_notebooks():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    files = out.stdout.split() or [str(p.relative_to(ROOT)) for _, _, p in notebooks.sources()]
    return [ROOT / f for f in files]


def test_committed_notebooks_carry_no_outputs_or_machine_metadata():
    problems = []
    for path in _tracked_notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell.get("outputs") or cell.get("execution_count") is not None:
                problems.append(f"{path.name} cell {i}: outputs or execution count")
            extra = set(cell.get("metadata", {})) - set(notebooks.CELL_METADATA_KEEP)
            if extra:
                problems.append(f"{path.name} cell {i}: metadata {sorted(extra)}")
        extra = set(nb.get("metadata", {})) - set(notebooks.NOTEBOOK_METADATA_KEEP)
        if extra:
            problems.append(f"{path.name}: notebook metadata {sorted(extra)} (colab, widgets, ...)")
    assert not problems, "run `make sync`:\n" + "\n".join(problems)


def test_sources_are_in_sync_with_course_config():
    stale = notebooks.sync(write=False)
    assert not stale, f"run `make sync`: {[str(p) for p in stale]}"


def _requirement_lines(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_environment_yml_agrees_with_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    reqs = _requirement_lines((ROOT / "requirements.txt").read_text())
    assert sorted(pip) == sorted(reqs)
    course = yaml.safe_load((ROOT / "course.yml").read_text())
    assert f"otter-grader=={course['otter_version']}" in reqs, "course.yml and requirements.txt pin different otter-grader"
    assert not any(r.lower().startswith("d2l") for r in reqs), "d2l must be installed with --no-deps, not listed"


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "`make`" in readme and "`make test`" in readme


def test_every_lecture_has_an_assignment_with_the_same_slug():
    from autograder import config

    assert config.lecture_slugs() == config.assignment_slugs()


def test_student_readme_gives_the_one_command_for_data():
    text = (ROOT / "autograder" / "student_README.md").read_text()
    for command in ("python -m dlcourse.data --week 03", "python -m dlcourse.data fashion-mnist-subset",
                    "python -m dlcourse.data --from /path/to/folder --week 03"):
        assert command in text, command


def _built(pattern):
    import pytest

    from autograder import config

    found = sorted(config.DIST.glob(pattern))
    if not found:
        pytest.skip(f"dist/{pattern} is not built (run `make build`)")
    return found


def _nbformat_bytes(path):
    import nbformat

    return nbformat.writes(nbformat.read(path, as_version=nbformat.NO_CONVERT)) + "\n"


def test_notebooks_are_byte_equal_to_what_nbformat_writes():
    """Otherwise JupyterLab opens them already marked modified, and diffs are whole cells."""
    paths = _tracked_notebooks() + _built("student/**/*.ipynb")
    bad = [str(p) for p in paths if _nbformat_bytes(p) != p.read_text(encoding="utf-8")]
    assert not bad, "not as nbformat writes them (run `make sync` / `make build`):\n" + "\n".join(bad)


def test_student_notebooks_end_without_an_empty_cell():
    bad = []
    for path in _built("student/**/*.ipynb"):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        if cells and not "".join(cells[-1]["source"]).strip():
            bad.append(str(path))
    assert not bad, bad


def test_solution_folders_hold_no_uploadable_zip():
    zips = [p for folder in _built("solution/*") for p in folder.rglob("*.zip")]
    assert not zips, f"Otter's stock autograder zip (no hardened grader) left in {zips}"
