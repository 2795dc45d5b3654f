"""Bad and hostile submissions, generated from a built assignment, each with its expected outcome.

    python tests/bad_submissions.py 01_tensors OUT_DIR     # writes OUT_DIR/<name>/<file> + expected.json

Every fixture is made from the *built* notebooks of one assignment (the student release, the
solution, and one known-wrong answer from ``wrong_answers.py``), so it exercises the real zip.
Expected outcomes:

* ``reject``: score 0 and the student-visible reason contains ``reason``;
* ``full``: the submission still earns every point (the bad part was an extra cell);
* ``at_most_base``: a wrong answer plus a trick scores no more than the wrong answer alone;
* ``graded_below_full``: graded (not rejected), some points lost, never a crash;
* ``zero``: graded (not rejected) and scores 0 (the untouched student notebook).
"""

from __future__ import annotations

import copy
import io
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import config, mutants  # noqa: E402


def _code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": None, "metadata": {},
            "outputs": [], "source": source}


def _with_cell(nb: dict, source: str, after: str | None = None) -> dict:
    """A copy of ``nb`` with a code cell added after the first cell containing ``after`` (else at the end)."""
    nb = copy.deepcopy(nb)
    cell = _code(source)
    index = len(nb["cells"])
    if after is not None:
        index = next(i for i, c in enumerate(nb["cells"]) if after in "".join(c["source"])) + 1
    nb["cells"].insert(index, cell)
    for i, c in enumerate(nb["cells"]):
        c["id"] = f"cell-{i}"
    return nb


def _dump(nb: dict) -> bytes:
    return json.dumps(nb, indent=1).encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), blob)
    return buf.getvalue()


# Tricks appended after a wrong answer for q1 (each must not raise the q1 score).
TRICKS = {
    "trick_patch_grader": '''
import otter
grader.check = lambda *a, **k: True
otter.Notebook.check = lambda *a, **k: True
otter.Notebook.check_all = lambda *a, **k: True
''',
    "trick_patch_otter_test_classes": '''
import otter.test_files as tf
tf.test_case = lambda *a, **k: (lambda fn: (lambda *x, **y: None))
try:
    import otter.test_files.abstract_test as at
    at.TestCase.run = lambda *a, **k: None
except Exception:
    pass
''',
    "trick_edit_test_files": '''
import glob, os
payload = "from otter.test_files import test_case\\nname = 'q1'\\n@test_case(points=3, hidden=True)\\ndef test_q1_free():\\n    pass\\n"
targets = ["tests/q1.py", "../source/tests/q1.py", "/autograder/source/tests/q1.py"]
targets += glob.glob("/tmp/**/tests/q1.py", recursive=True)
for t in targets:
    try:
        os.makedirs(os.path.dirname(t) or ".", exist_ok=True)
        with open(t, "w") as f:
            f.write(payload)
    except OSError:
        pass
''',
    "trick_write_results_json": '''
import glob, json, os
fake = json.dumps({"score": 1000, "tests": [{"name": "q1", "score": 1000, "max_score": 3}]})
targets = ["../results/results.json", "/autograder/results/results.json", "results.json"]
targets += [os.path.join(d, "results.json") for d in glob.glob("/tmp/*/autograder/results")]
for t in targets:
    try:
        with open(t, "w") as f:
            f.write(fake)
    except OSError:
        pass
''',
    "trick_background_process_overwrites_results": '''
import subprocess, sys
loop = """
import glob, json, os, time
fake = json.dumps({"score": 1000, "tests": []})
end = time.time() + 120
while time.time() < end:
    for d in ["../results", "/autograder/results"] + glob.glob("/tmp/*/autograder/results"):
        try:
            with open(os.path.join(d, "results.json"), "w") as f:
                f.write(fake)
        except OSError:
            pass
    time.sleep(0.05)
"""
subprocess.Popen([sys.executable, "-c", loop], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''',
    "trick_lying_objects": '''
class Liar:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __repr__(self): return "tensor([[1., 9.], [2., 4.], [1., 13.]])"
    def __getattr__(self, name): return Liar()
    def __call__(self, *a, **k): return Liar()
    def __ge__(self, other): return True
    def __le__(self, other): return True
    def __lt__(self, other): return True
    def __sub__(self, other): return 0.0
    def __abs__(self): return 0.0
    def __iter__(self): return iter([])

class LyingTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

_wrong_q1 = pairwise_sq_dists
def pairwise_sq_dists(X, Y):
    out = _wrong_q1(X, Y)
    return out.as_subclass(LyingTensor) if X.shape[0] != 50 else Liar()
''',
    "trick_patch_torch_allclose_and_numpy_testing": '''
import numpy as np, torch, torch.testing
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
np.testing.assert_allclose = lambda *a, **k: None
np.allclose = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
_wrong_q1 = pairwise_sq_dists
def pairwise_sq_dists(X, Y):   # patch again at call time, from inside the graded function
    torch.allclose = lambda *a, **k: True
    torch.Tensor.all = lambda self, *a, **k: torch.tensor(True)
    return _wrong_q1(X, Y)
''',
    "trick_read_hidden_tests_and_replay": '''
import glob, os
found = []
# every place a Gradescope container (or this repo's local grading sandbox) keeps them
for pattern in ["/autograder/source/tests/*.py", "../source/tests/*.py", "/autograder/**/*.ipynb",
                "/autograder/**/*.zip", "/tmp/*/autograder/source/tests/q1.py",
                "/tmp/*/autograder/source/*.zip", "/tmp/*/tests/q1.py", os.path.expanduser("~/**/q1.py")]:
    for path in glob.glob(pattern, recursive=True):
        try:
            with open(path, "rb") as f:
                if b"cdist" in f.read():
                    found.append(path)
        except OSError:
            pass
if found:   # the hidden test names its reference (torch.cdist): replay it
    def pairwise_sq_dists(X, Y):
        return torch.cdist(X, Y) ** 2
print("readable hidden tests or solutions:", found)
''',
    "trick_background_thread_repatches": '''
import threading, time, torch
def keep_patching():
    while True:
        torch.allclose = lambda *a, **k: True
        torch.Tensor.__ge__ = lambda self, other: torch.ones((), dtype=torch.bool)
        time.sleep(0.0005)
threading.Thread(target=keep_patching, daemon=True).start()
''',
    "trick_forge_status_messages": '''
import json, os
for fd in range(3, 64):
    for q in ["q1/test_q1_matches_cdist", "q1/test_q1_nonnegative_self_distance"]:
        try:
            os.write(fd, (json.dumps({"event": "test", "id": q, "passed": True, "message": ""}) + "\\n").encode())
        except OSError:
            pass
print(json.dumps({"score": 1000}))
''',
}


def make_all(slug: str, out: Path) -> dict[str, dict]:
    """Write every fixture under ``out/<name>/`` and return ``{name: expectation}``."""
    student_nb = json.loads((config.DIST / "student" / "assignments" / slug / f"{slug}.ipynb").read_text())
    solution_nb = json.loads((config.DIST / "solution" / slug / f"{slug}.ipynb").read_text())
    wrong = {w.question: w for w in mutants.load(config.ASSIGNMENTS / slug / "wrong_answers.py")}
    base_nb = mutants.apply(solution_nb, wrong["q1"])
    others = [s for s in config.assignment_slugs() if s != slug]
    other_nb = None
    if others and (config.DIST / "student" / "assignments" / others[0] / f"{others[0]}.ipynb").exists():
        other_nb = (config.DIST / "student" / "assignments" / others[0] / f"{others[0]}.ipynb").read_bytes()
    name = f"{slug}.ipynb"
    fx: dict[str, tuple[dict[str, bytes], dict]] = {}

    def add(key, files, **expect):
        fx[key] = (files, expect)

    def reject(reason):
        return {"kind": "reject", "reason": reason}

    sol = _dump(solution_nb)
    blank = _dump(student_nb)
    add("blank_student_notebook", {name: blank}, kind="zero")
    add("empty_file", {name: b""}, **reject("is empty"))
    add("invalid_json", {name: blank[: len(blank) // 2]}, **reject("not valid notebook JSON"))
    add("non_utf8_bytes", {name: b"\xff\xfe" + "{ \u00e9 }".encode("latin-1") + b"\x80\x81"},
        **reject("not UTF-8"))
    old = copy.deepcopy(student_nb)
    old["nbformat"], old["nbformat_minor"] = 3, 0
    add("nbformat_too_old", {name: _dump(old)}, **reject("format version 3"))
    new = copy.deepcopy(student_nb)
    new["nbformat"] = 5
    add("nbformat_too_new", {name: _dump(new)}, **reject("format version 5"))
    r_kernel = copy.deepcopy(student_nb)
    r_kernel["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    r_kernel["metadata"]["language_info"] = {"name": "R"}
    add("non_python_kernel", {name: _dump(r_kernel)}, **reject("runs a R kernel"))
    add("no_notebook", {"answers.py": b"print('hello')\n"}, **reject("no notebook"))
    add("two_notebooks", {name: sol, "copy.ipynb": sol}, **reject("found 2 notebooks"))
    if other_nb is not None:
        add("wrong_assignment", {f"{others[0]}.ipynb": other_nb}, **reject(f"assignment {others[0]!r}"))
    no_setup = copy.deepcopy(solution_nb)
    no_setup["cells"] = [c for c in no_setup["cells"] if "# >>> colab setup" not in "".join(c["source"])]
    add("deleted_setup_cell", {name: _dump(no_setup)}, kind="graded_below_full")
    no_checks = copy.deepcopy(solution_nb)
    no_checks["cells"] = [c for c in no_checks["cells"]
                          if "grader.check" not in "".join(c["source"]) and
                          "grader.export" not in "".join(c["source"])]
    add("deleted_check_cells", {name: _dump(no_checks)}, kind="full")
    add("zip_without_notebook", {"submission.zip": _zip({"notes.txt": b"hi"})}, **reject("no notebook"))
    add("zip_with_dotdot_path", {"submission.zip": _zip({"../../evil.ipynb": sol})}, **reject("unsafe path"))
    add("zip_with_absolute_path", {"submission.zip": _zip({"/etc/evil.ipynb": sol})}, **reject("unsafe path"))
    add("zip_bomb", {"submission.zip": _zip({name: sol, "bomb.bin": b"\0" * (300 * 2**20)})},
        **reject("MB"))
    add("export_zip_positive_control", {"submission.zip": _zip({name: sol})}, kind="full")

    def extra(key, source, kind="full", note=None):
        add(key, {name: _dump(_with_cell(solution_nb, source, after="def pairwise_sq_dists"))},
            kind=kind, note=note)

    extra("infinite_loop", "while True:\n    pass\n", note="stopped after")
    extra("infinite_loop_swallowing_interrupts",
          "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n    except BaseException:\n        pass\n",
          note="was removed")
    extra("memory_bomb", "hog = []\nwhile True:\n    hog.append(bytearray(b'x' * 10**8))\n", note="memory")
    extra("print_50_mb", "for _ in range(50_000):\n    print('x' * 1000)\n")
    extra("sys_exit", "import sys\nsys.exit(3)\n", note="SystemExit")
    extra("os_exit", "import os\nos._exit(0)\n", note="crashed")
    extra("segfault", "import ctypes\nctypes.string_at(0)\n", note="crashed")
    extra("keyboard_interrupt", "raise KeyboardInterrupt\n", note="KeyboardInterrupt")

    add("wrong_answer_q1_alone", {name: _dump(base_nb)}, kind="base")
    for key, source in TRICKS.items():
        nb = _with_cell(base_nb, source, after="def pairwise_sq_dists")
        if key in ("trick_lying_objects",):  # must come after the wrong answer it wraps
            nb = mutants.apply(solution_nb, wrong["q1"])
            idx = next(i for i, c in enumerate(nb["cells"]) if 'grader.check("q1")' in "".join(c["source"]))
            nb["cells"].insert(idx, _code(source))
        add(key, {name: _dump(nb)}, kind="at_most_base")
    pickled = {name: _dump(base_nb),
               ".OTTER_LOG": b"\x80\x04\x95" + b"forged pickle: score 1000" + b".",
               "results.json": json.dumps({"score": 1000}).encode()}
    add("trick_submitted_log_and_pickle", {"submission.zip": _zip(pickled)}, kind="at_most_base")

    out.mkdir(parents=True, exist_ok=True)
    expected = {}
    for key, (files, expect) in fx.items():
        folder = out / key
        folder.mkdir()
        for fname, blob in files.items():
            (folder / fname).write_bytes(blob)
        expected[key] = expect
    (out / "expected.json").write_text(json.dumps(expected, indent=2))
    return expected


if __name__ == "__main__":
    print(json.dumps(make_all(sys.argv[1], Path(sys.argv[2])), indent=2))
