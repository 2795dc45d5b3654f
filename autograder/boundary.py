"""What split grading costs: calls across the evaluator/executor boundary, per week.

    python -m autograder.boundary [--limits] [WEEK ...]

Grades each week's solution through its built zip and prints, from the judge's
``$HARDEN_STATS`` line: the number of calls the evaluator made into the executor, the
seconds spent crossing (request written to answer read, student code included), the bytes
carried, the peak memory of each process, the total grading time and the score.  With
``--limits`` every grading runs under 0.5 CPU and 768 MB (``bench.Limiter``), the budget
correct submissions must meet (<= 120 s, < 700 MB for both processes together).
``autograder/bench.py`` can call :func:`measure` and :func:`render`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from autograder import bench, config


def measure(slug: str, limited: bool = False) -> dict:
    out = config.BUILD / "boundary" / slug
    shutil.rmtree(out, ignore_errors=True)
    cmd = bench._grade_cmd(slug, out)
    lim = bench.Limiter(0.5, 768, f"boundary-{slug}") if limited else None
    stats_file = out.parent / f"{slug}.stats.jsonl"
    stats_file.parent.mkdir(parents=True, exist_ok=True)
    stats_file.unlink(missing_ok=True)
    env = bench.cpu_env() | {"HARDEN_STATS": str(stats_file)}
    start = time.perf_counter()
    try:
        if lim:
            cmd, enter = lim.wrap(cmd)
        else:
            enter = None
        res = bench.measure(cmd, config.ROOT, env=env, preexec_fn=enter,
                            timeout=bench.LIMIT_TIMEOUT)
        cg_peak = lim.peak_mb() if lim else None
    finally:
        if lim:
            lim.close()
    lines = stats_file.read_text().splitlines() if stats_file.is_file() else []
    cb = json.loads(lines[-1]) if lines else {}
    peaks = cb.get("peak_mb") or {}
    return {"assignment": slug, "score": bench._score(out, res.get("stdout", "")),
            "calls": cb.get("calls"), "boundary_s": round(cb.get("seconds") or 0, 2),
            "boundary_mb": round((cb.get("bytes") or 0) / 2**20, 1),
            "evaluator_mb": peaks.get("evaluator"), "executor_mb": peaks.get("executor"),
            "cgroup_peak_mb": cg_peak, "seconds": round(time.perf_counter() - start, 1),
            "limits": "0.5 CPU, 768 MB" if limited else "none"}


def render(rows: list[dict]) -> str:
    header = ["assignment", "score", "calls", "boundary_s", "boundary_mb", "evaluator_mb",
              "executor_mb", "cgroup_peak_mb", "seconds", "limits"]
    return bench.md_table(header, [[r.get(h) for h in header] for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.boundary", description=__doc__.split("\n")[0])
    parser.add_argument("weeks", nargs="*")
    parser.add_argument("--limits", action="store_true", help="grade under 0.5 CPU and 768 MB")
    args = parser.parse_args(argv)
    rows = []
    for slug in config.assignment_slugs():
        if args.weeks and not any(w in slug for w in args.weeks):
            continue
        rows.append(measure(slug, args.limits))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
