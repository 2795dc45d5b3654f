"""An assignment never re-asks what a lecture shows (issue 14, part 1): autograder/overlap.py.

Checked here: names are normalised (renaming variables does not hide a copied line), generic
lines never count, a lecture line pasted into a solution fails the build naming both cells,
a later lecture does not count against an earlier week, and no assignment of the course
re-asks a lecture today.
"""

from __future__ import annotations

import shutil

import pytest

from autograder import build, config, notebooks, overlap
from conftest import ASSIGNMENTS, ROOT


def test_renamed_variables_do_not_hide_a_copied_line():
    a = overlap.distinctive("shifted = O - O.max(dim=1, keepdim=True).values  # (n, q)")
    b = overlap.distinctive("Z = X - X.max(dim=1, keepdim=True).values")
    assert a is not None and a == b
    # a different method, keyword or constant is a different line
    assert a != overlap.distinctive("Z = X - X.min(dim=1, keepdim=True).values")
    assert a != overlap.distinctive("Z = X - X.max(dim=0, keepdim=True).values")
    # the same name used twice is not two different names
    assert overlap.distinctive("Z = X - Y.max(dim=1, keepdim=True).values") != a


@pytest.mark.parametrize("line", ["loss.backward()", "optimizer.zero_grad()", "X = X.reshape(n, -1)",
                                  "def softmax(O):", "import torch.nn.functional as F",
                                  "opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)",
                                  "perm = torch.randperm(len(X), generator=gen)", "# a comment", ""])
def test_generic_lines_never_count(line):
    assert overlap.distinctive(line) is None


def _copy_course(tmp_path, slug):
    shutil.copytree(config.ASSIGNMENTS / slug, tmp_path / "assignments" / slug)
    shutil.copytree(ROOT / "lectures", tmp_path / "lectures")
    return tmp_path / "assignments", tmp_path / "lectures"


def _paste_into_first_solution(path, line):
    nb = notebooks.load(path)
    for cell in nb["cells"]:
        text = notebooks.source(cell)
        if cell["cell_type"] == "code" and "# BEGIN SOLUTION" in text:
            indent = text.split("# BEGIN SOLUTION")[0].split("\n")[-1]
            cell["source"] = text.replace("# BEGIN SOLUTION\n", f"# BEGIN SOLUTION\n{indent}{line}\n", 1)
            notebooks.save(nb, path)
            return nb["cells"].index(cell)
    raise AssertionError("no solution block")


def test_a_lecture_line_pasted_into_a_solution_fails_naming_both_cells(tmp_path, monkeypatch):
    slug = "01_tensors"
    assignments, lectures = _copy_course(tmp_path, slug)
    assert overlap.find_overlaps(slug, assignments, lectures) == []
    # lecture 3's stable log-sum-exp shift, with the variable renamed
    lecture = notebooks.load(lectures / "03_classification.ipynb")
    lcell, lline = next((i, ln.strip()) for i, c in enumerate(lecture["cells"]) if c["cell_type"] == "code"
                        for ln in notebooks.source(c).splitlines()
                        if ".values.detach()" in ln and overlap.distinctive(ln))
    name = lline.split("=")[0].strip()
    pasted = lline.replace(name, "shift_by", 1)
    # week 1 is before week 3: not an overlap there ...
    cell = _paste_into_first_solution(assignments / slug / f"{slug}.ipynb", pasted)
    assert overlap.find_overlaps(slug, assignments, lectures) == []
    # ... but the same line in week 3's own assignment is, naming both cells
    target = "03_classification"
    shutil.copytree(config.ASSIGNMENTS / target, assignments / target)
    cell = _paste_into_first_solution(assignments / target / f"{target}.ipynb", pasted)
    found = [p for p in overlap.find_overlaps(target, assignments, lectures) if "shift_by" in p]
    assert len(found) == 1, found
    assert f"cell {cell}" in found[0] and f"lectures/03_classification.ipynb cell {lcell}" in found[0]
    # and the build refuses it
    monkeypatch.setattr(config, "ASSIGNMENTS", assignments)
    monkeypatch.setattr(overlap, "find_overlaps",
                        lambda s, a=None, lec=None, _f=overlap.find_overlaps: _f(s, assignments, lectures))
    with pytest.raises(notebooks.NotebookError, match="re-ask a lecture"):
        build.build_assignment(target, log=lambda *_: None)


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_no_assignment_re_asks_a_lecture(slug):
    assert overlap.find_overlaps(slug) == []
