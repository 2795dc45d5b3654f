"""Every lecture notebook executes top to bottom in a fresh kernel, on a machine kept busy.

This is the only run of the lectures in `make test`, and it runs them under load on purpose:
beside each lecture one busy-loop process per usable core keeps every core busy (as other
users, a parallel test worker or a CPU quota do), and the lecture must still pass its quality
asserts and finish within twice the syllabus budget of a lecture (120 s on a quiet 2-core CPU).
Training budgets are counted in steps or epochs, never seconds, so the load can only make a
lecture slower, never worse.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import LECTURES, ROOT
from dlcourse.device import usable_cores

SYLLABUS_LECTURE_S = 120
# Twice the syllabus budget: the bound of a lecture that shares its cores with a busy process.
LOADED_BOUND_S = float(os.environ.get("COURSE_LOADED_BOUND_S", 2 * SYLLABUS_LECTURE_S))
BUSY_LOOPS = int(os.environ.get("COURSE_BUSY_LOOPS", usable_cores()))


def quiet_seconds(slug: str) -> float | None:
    """The lecture's time on a quiet machine, from the published benchmark table."""
    table = (ROOT / "docs" / "bench" / "latest.md").read_text()
    found = re.search(rf"^\| lectures/{slug} \| ([0-9.]+) \|", table, re.M)
    return float(found.group(1)) if found else None


@pytest.fixture
def busy_cores():
    """Keep every usable core busy for the duration of one test: BUSY_LOOPS spinning processes
    at the default priority (nice 0), stopped by their process ids afterwards."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(BUSY_LOOPS)]
    try:
        yield len(spinners)
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.xdist_group("lectures")  # one lecture at a time, so the load is the busy loops'
@pytest.mark.parametrize("slug", LECTURES)
def test_lecture_passes_on_a_busy_machine(slug, busy_cores, monkeypatch):
    # The kernel starts in lectures/: make it import this checkout's dlcourse, whatever
    # checkout the virtual environment was installed from.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    path = ROOT / "lectures" / f"{slug}.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=int(LOADED_BOUND_S), kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    load = os.getloadavg()[0]
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on any error
    seconds = time.perf_counter() - start
    quiet = quiet_seconds(slug)
    print(f"{slug}: {seconds:.1f} s beside {busy_cores} busy loops (load average {load:.1f} at "
          f"the start; quiet: {quiet if quiet is not None else '?'} s)")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert seconds <= LOADED_BOUND_S, (
        f"{slug} took {seconds:.0f} s under load; the bound is {LOADED_BOUND_S:.0f} s "
        f"(twice the syllabus's {SYLLABUS_LECTURE_S} s per lecture)")
