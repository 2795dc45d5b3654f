"""A fast grader for mutation analysis: run the solution notebook once, then per mutant re-run
only the changed cell(s) and that question's tests, in a forked copy of the notebook's process.

This is *not* the reference: ``make mutants`` grades through the Gradescope zip unless asked
for ``--fast``, and ``tests/test_mutation.py`` checks on a sample that both give the same
verdicts.  It runs with the grading interpreter (``.grader-venv``, what Gradescope's image
has), the zip's own ``files/`` (``dlcourse``, data) as working folder, and the zip's inert
``otter`` stand-in, like the hardened worker; it reads the zip's test files with ``ast`` and
seeds (42) before each test as the judge does, and applies the from-scratch rule's static
reading (``harden.json``'s forbidden lists).  It does not reproduce the sandbox's defences
against hostile code (mutants are not hostile) nor what a mutant changes in later questions.

Protocol (one JSON object per line): the server prints ``{"ready": ..., "baseline": ...}``;
then for each request ``{"question": q, "cells": [code, ...], "delete": [name, ...]}`` it
prints ``{"scores": {"q1": [score, max]}, "timeout": bool, "error": str}``.

    python -m autograder.mutation_fast <unzipped autograder dir> <solution notebook> [timeout]
"""

from __future__ import annotations

import ast
import io
import json
import os
import random
import select
import signal
import sys
import time
from pathlib import Path


def _seed(seed: int = 42) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    import torch

    torch.manual_seed(seed)


def _python(code: str) -> str:
    out = []
    for line in code.split("\n"):
        s = line.lstrip()
        out.append(line[: len(line) - len(s)] + "pass" if s.startswith(("%", "!")) else line)
    return "\n".join(out)


def run_cell(code: str, ns: dict) -> str:
    """Run one cell in ``ns``, its output swallowed; '' or the error."""
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()
    try:
        exec(compile(_python(code), "<cell>", "exec"), ns)
        return ""
    except BaseException as err:  # noqa: BLE001 - a failing cell is just a failing cell
        return f"{type(err).__name__}: {err}"
    finally:
        sys.stdout, sys.stderr = old


def parse_tests(tests_dir: Path) -> dict[str, list[dict]]:
    """{question: [{name, source, params, points, hidden}]} from Otter's test files."""
    out: dict[str, list[dict]] = {}
    for path in sorted(tests_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        qname = path.stem
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "name"):
                qname = ast.literal_eval(node.value)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            opts = {"points": None, "hidden": False}
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call):
                    opts |= {k.arg: ast.literal_eval(k.value) for k in dec.keywords if k.arg in opts}
            node.decorator_list = []
            out.setdefault(qname, []).append({
                "name": node.name, "source": ast.unparse(node),
                "params": [a.arg for a in node.args.args],
                "points": float(opts["points"] or 0), "hidden": bool(opts["hidden"])})
    return out


FORBIDDEN: dict[str, list[str]] = {}  # question -> names (the zip's harden.json)
SOURCES: list[str] = []  # the code cells run so far, mutated cells last (for the static reading)


def _breaks_rule(t: dict) -> bool:
    """The from-scratch rule, as the grader's trusted static reading applies it (the evaluator's
    own function); the executor's dynamic watch is not reproduced here."""
    names = FORBIDDEN.get(t.get("question", ""))
    if not names:
        return False
    from evaluator import static_forbidden

    return bool(static_forbidden(SOURCES, t["params"], names))


def run_tests(tests: list[dict], ns: dict) -> list[float, float]:
    score = total = 0.0
    for t in tests:
        total += t["points"]
        if _breaks_rule(t):
            continue
        _seed(42)
        test_ns = {"__name__": "grading_test"}
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = io.StringIO()
        try:
            exec(compile(t["source"], "<test>", "exec"), test_ns)
            test_ns[t["name"]](*[ns[p] for p in t["params"]])
            score += t["points"]
        except BaseException:  # noqa: BLE001 - any failure fails the test
            pass
        finally:
            sys.stdout, sys.stderr = old
    return [score, total]


def in_child(fn, timeout: float) -> dict:
    """Run ``fn() -> dict`` in a forked child; its result, or a time-out."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            result = fn()
        except BaseException as err:  # noqa: BLE001
            result = {"error": repr(err)}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([r], [], [], max(0.0, left))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return {"timeout": True}
        data = os.read(r, 1 << 16)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    return json.loads(text) if text else {"error": "the child died"}


def main(argv: list[str]) -> int:
    ag, notebook = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    timeout = float(argv[2]) if len(argv) > 2 else 120.0
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ag / "harden" / "otter_stub"))
    work = ag / "files"
    work.mkdir(exist_ok=True)
    os.chdir(work)
    sys.path.insert(1, str(work))
    import torch

    torch.set_num_threads(1)
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    tests = parse_tests(ag / "tests")
    for q, qtests in tests.items():
        for t in qtests:
            t["question"] = q
    config = json.loads((ag / "harden.json").read_text()) if (ag / "harden.json").is_file() else {}
    FORBIDDEN.update(config.get("forbidden") or {})
    sys.path.insert(2, str(ag / "harden"))
    ns: dict = {"__name__": "__main__"}
    _seed(42)
    errors = {}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            SOURCES.append(src)
            err = run_cell(src, ns)
            if err:
                errors[i] = err
    baseline = in_child(lambda: {"scores": {q: run_tests(t, ns) for q, t in tests.items()}}, timeout)
    print(json.dumps({"ready": True, "baseline": baseline.get("scores"), "cell_errors": errors}),
          flush=True)
    for line in sys.stdin:
        req = json.loads(line)

        def one(req=req):
            for name in req.get("delete", []):
                ns.pop(name, None)
            _seed(42)
            for code in req["cells"]:
                SOURCES.append(code)
                run_cell(code, ns)
            return {"scores": {req["question"]: run_tests(tests.get(req["question"], []), ns)}}

        res = in_child(one, timeout)
        print(json.dumps({"scores": res.get("scores", {}), "timeout": bool(res.get("timeout")),
                          "error": res.get("error", "")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
