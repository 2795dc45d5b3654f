"""Every lecture notebook executes top to bottom in a fresh kernel, with a per-cell time-out."""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import LECTURES, ROOT

CELL_TIMEOUT = int(os.environ.get("COURSE_CELL_TIMEOUT", "300"))


@pytest.mark.slow
@pytest.mark.parametrize("slug", LECTURES)
def test_lecture_runs_top_to_bottom(slug):
    path = ROOT / "lectures" / f"{slug}.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on any error
    seconds = time.perf_counter() - start
    print(f"{slug}: {seconds:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
