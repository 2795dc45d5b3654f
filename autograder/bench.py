"""Time and memory of every notebook, and of grading each solution through its zip.

    python -m autograder.bench [--weeks 01 03] [--lectures-only | --assignments-only]

Each notebook runs in a fresh kernel (as `make test` runs it); the peak resident memory of
the whole process tree (runner + kernel) is sampled every 50 ms.  Grading runs the solution
through the built Gradescope zip exactly as `make grade` does.  Lines the notebooks print in
the form ``RESULT <name> = <value> (target <text>)`` are collected as their headline numbers.
Writes ``dist/bench/bench.json`` and ``dist/bench/bench.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from . import config

RESULT_RE = re.compile(r"^RESULT (?P<name>[^=]+?) = (?P<value>\S+)(?: \(target (?P<target>[^)]*)\))?",
                       re.M)

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
for cell in nb.cells:
    for out in cell.get("outputs", []):
        if out.get("name") == "stdout":
            sys.stdout.write(out.get("text", ""))
"""


def _measure(cmd: list[str], cwd: Path) -> dict:
    """Run ``cmd``; return wall seconds, peak RSS (MB) of its process tree, exit code, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    done.set()
    thread.join()
    return {"seconds": round(time.perf_counter() - start, 1), "peak_mb": round(peak / 2**20),
            "ok": proc.returncode == 0, "stdout": out, "stderr": err[-2000:]}


def bench_notebook(path: Path) -> dict:
    res = _measure([sys.executable, "-c", RUN_NOTEBOOK, str(path), str(path.parent)], path.parent)
    res["results"] = [m.groupdict() for m in RESULT_RE.finditer(res.pop("stdout"))]
    return res


def bench_grading(slug: str) -> dict:
    zip_path = config.DIST / "gradescope" / f"{slug}.zip"
    sub = config.DIST / "solution" / slug / f"{slug}.ipynb"
    res = _measure([sys.executable, "-m", "autograder.grade", str(zip_path), str(sub),
                    "--out", str(config.BUILD / "bench" / slug)], config.ROOT)
    m = re.search(r"score: (\S+) / (\S+)", res.pop("stdout"))
    res["score"] = f"{m.group(1)}/{m.group(2)}" if m else "?"
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", nargs="*", help="week numbers or slugs (default: all)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--lectures-only", action="store_true")
    group.add_argument("--assignments-only", action="store_true")
    args = parser.parse_args(argv)

    def wanted(slug: str) -> bool:
        return not args.weeks or any(slug.startswith(w.zfill(2)) or slug == w for w in args.weeks)

    rows = []
    for slug in filter(wanted, sorted(set(config.lecture_slugs()) | set(config.assignment_slugs()))):
        if not args.assignments_only and (config.LECTURES / f"{slug}.ipynb").exists():
            r = bench_notebook(config.LECTURES / f"{slug}.ipynb")
            rows.append({"notebook": f"lectures/{slug}", "kind": "lecture", **r})
            print(_line(rows[-1]), flush=True)
        if not args.lectures_only and (config.DIST / "solution" / slug).exists():
            r = bench_notebook(config.DIST / "solution" / slug / f"{slug}.ipynb")
            rows.append({"notebook": f"solution/{slug}", "kind": "solution", **r})
            print(_line(rows[-1]), flush=True)
            g = bench_grading(slug)
            rows.append({"notebook": f"grading/{slug}", "kind": "grading", "results": [], **g})
            print(_line(rows[-1]), flush=True)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    out = config.DIST / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    md = ["| notebook | wall s | peak MB | ok | headline |", "|---|---|---|---|---|"]
    md += [_md(r) for r in rows]
    (out / "bench.md").write_text(f"Measured {machine['date']} on {machine['cpus']} CPUs, "
                                  f"{machine['platform']}, Python {machine['python']}.\n\n"
                                  + "\n".join(md) + "\n")
    print(f"\nwrote {out / 'bench.md'} and bench.json")
    return 0 if all(r["ok"] for r in rows) else 1


def _headline(r: dict) -> str:
    parts = [f"{x['name']} {x['value']}" + (f" (target {x['target']})" if x.get("target") else "")
             for x in r.get("results", [])]
    if r.get("score"):
        parts.append(f"score {r['score']}")
    return "; ".join(parts)


def _line(r: dict) -> str:
    return f"{r['notebook']:36s} {r['seconds']:7.1f} s {r['peak_mb']:6d} MB  {'ok ' if r['ok'] else 'ERR'} {_headline(r)}"


def _md(r: dict) -> str:
    return f"| {r['notebook']} | {r['seconds']} | {r['peak_mb']} | {'yes' if r['ok'] else 'NO'} | {_headline(r)} |"


if __name__ == "__main__":
    sys.exit(main())
