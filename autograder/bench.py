"""Time and memory of every notebook, of grading each solution (also under Gradescope-like
limits), of the build, and side by side with d2l.

    python -m autograder.bench [--weeks 01 03] [--lectures-only | --assignments-only]
                               [--limits] [--build] [--gpu] [--d2l] [--overheads] [--boundary] [--publish]

Each notebook runs in a fresh kernel (as `make test` runs it) on the CPU (CUDA hidden); the
peak resident memory of the whole process tree (runner + kernel) is sampled every 50 ms.
Lines the notebooks print in the form ``RESULT <name> = <value> (target <text>)`` are
collected as their headline numbers.  Grading runs the solution through the built Gradescope
zip with ``python -m autograder.grade`` exactly as `make grade` does and reads the score from
the ``results.json`` it writes.

``--limits``    grades each solution again under 1 CPU + 1.5 GB and 0.5 CPU + 768 MB: a cgroup
                (v2: cpu.max/memory.max/memory.peak; v1: cfs quota/limit_in_bytes/
                max_usage_in_bytes) when one can be created, else ``taskset`` to one core
                (the memory cap is then reported, not enforced); the margin is to the
                syllabus budget of 120 s and 700 MB per grading run.
``--build``     times `make` in a throw-away copy of the working tree (reusing .venv and
                data/): from clean with -j1, from clean with -j2, and a no-op rebuild.
``--gpu``       runs the same notebooks again with the GPU when torch sees one.
``--d2l``       d2l's reference implementation against the course's (``autograder.bench_d2l``).
``--overheads`` what every notebook pays before its first line of work: interpreter and
                imports, a kernel start, loading Fashion-MNIST.
``--publish``   also writes docs/bench/<date>.md and docs/bench/latest.md.

Writes ``dist/bench/bench.json`` and ``dist/bench/bench.md`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from . import config

# The syllabus budget for grading one submission on Gradescope.
BUDGET_SECONDS = 120
BUDGET_MB = 700
# Gradescope-like containers: (label, CPUs, memory cap in MB).
LIMITS = [("1 CPU, 1.5 GB", 1.0, 1536), ("0.5 CPU, 768 MB", 0.5, 768)]
LIMIT_TIMEOUT = 900  # seconds for one limited grading run (0.5 CPU is slow)

RESULT_RE = re.compile(r"^RESULT (?P<name>[^=]+?) = (?P<value>\S+)(?: \(target (?P<target>.*)\))?\s*$",
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


# --------------------------------------------------------------------------- pure helpers


def parse_results(text: str) -> list[dict]:
    """The ``RESULT <name> = <value> (target <text>)`` lines of a notebook's output."""
    return [m.groupdict() for m in RESULT_RE.finditer(text)]


def score_of(results: dict) -> str:
    """``"20/20"`` from a Gradescope results.json (top-level score, else the tests' sum)."""
    tests = results.get("tests", [])
    possible = sum(float(t.get("max_score") or 0) for t in tests)
    got = results.get("score")
    got = float(got) if got is not None else sum(float(t.get("score") or 0) for t in tests)
    return f"{got:g}/{possible:g}"


def full_marks(score: str) -> bool:
    """True for ``"20/20"``-style scores with a positive maximum that is reached."""
    try:
        got, possible = (float(x) for x in score.split("/"))
    except ValueError:
        return False
    return possible > 0 and got >= possible


def margin(value: float | None, budget: float) -> str:
    """``"+88 s"``-style headroom (budget minus value), as a percentage of the budget too."""
    if value is None:
        return "-"
    left = budget - value
    return f"{left:+.0f} ({100 * left / budget:+.0f}%)"


def headline(r: dict) -> str:
    parts = [f"{x['name']} {x['value']}" + (f" (target {x['target']})" if x.get("target") else "")
             for x in r.get("results", [])]
    if r.get("score"):
        parts.append(f"score {r['score']}")
    return "; ".join(parts)


def md_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; ``None`` cells are written as ``-`` and pipes in cells are escaped."""
    def cell(x):
        return "-" if x is None else str(x).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def wanted(slug: str, weeks: list[str] | None) -> bool:
    """Does ``slug`` (``03_classification``) match one of ``weeks`` (``3``, ``03``, the slug)?"""
    return not weeks or any(slug == w or slug.startswith(w.zfill(2) + "_") for w in weeks)


# --------------------------------------------------------------------------- measuring


def measure(cmd: list[str], cwd: Path, env: dict | None = None, pythonpath: Path | None = None,
            preexec_fn=None, timeout: float | None = None) -> dict:
    """Run ``cmd``; return wall seconds, peak RSS (MB) of its process tree, exit code, output."""
    env = dict(os.environ if env is None else env)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=preexec_fn, start_new_session=True)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)  # the session this call started, nothing else
        out, err = proc.communicate()
    done.set()
    thread.join()
    return {"seconds": round(time.perf_counter() - start, 1), "peak_mb": round(peak / 2**20),
            "ok": proc.returncode == 0 and not timed_out, "returncode": proc.returncode,
            "timed_out": timed_out, "stdout": out, "stderr": err[-3000:]}


def cpu_env(env: dict | None = None) -> dict:
    """The environment with CUDA hidden, so that the CPU column is the CPU on any machine."""
    return {**(os.environ if env is None else env), "CUDA_VISIBLE_DEVICES": "", "DLCOURSE_DEVICE": "cpu"}


def bench_notebook(path: Path, env: dict | None = None) -> dict:
    res = measure([sys.executable, "-c", RUN_NOTEBOOK, str(path), str(path.parent)], path.parent,
                  env=env if env is not None else cpu_env())
    res["results"] = parse_results(res.pop("stdout"))
    return res


def _grade_cmd(slug: str, out: Path) -> list[str]:
    zip_path = config.DIST / "gradescope" / f"{slug}.zip"
    sub = config.DIST / "solution" / slug / f"{slug}.ipynb"
    return [sys.executable, "-m", "autograder.grade", str(zip_path), str(sub), "--out", str(out)]


def _score(out: Path, stdout: str) -> str:
    try:
        return score_of(json.loads((out / "results.json").read_text()))
    except (OSError, ValueError):
        m = re.search(r"score: (\S+) / (\S+)", stdout)
        return f"{m.group(1)}/{m.group(2)}" if m else "?"


def bench_grading(slug: str) -> dict:
    out = config.BUILD / "bench" / slug
    shutil.rmtree(out, ignore_errors=True)
    res = measure(_grade_cmd(slug, out), config.ROOT, env=cpu_env())
    res["score"] = _score(out, res.pop("stdout"))
    res["ok"] = res["ok"] and full_marks(res["score"])
    return res


# --------------------------------------------------------------------------- limits


class Limiter:
    """Run a command under a CPU and memory cap: cgroup v2, else cgroup v1, else taskset.

    ``backend`` says which; ``memory_enforced`` whether the memory cap is real.  The cgroup is
    created under this process's own cgroup (so it nests inside whatever limits already apply)
    and removed by ``close``.
    """

    def __init__(self, cpus: float, mem_mb: int, name: str):
        self.cpus, self.mem_mb, self.dirs = cpus, mem_mb, {}
        self.backend, self.memory_enforced, self.note = "taskset", False, ""
        limit = mem_mb * 2**20
        period = 100_000
        quota = int(cpus * period)
        errors = []
        try:
            self._v2(name, limit, quota, period)
            self.backend, self.memory_enforced = "cgroup v2", True
            return
        except OSError as err:
            errors.append(f"v2: {err}")
            self.close()
        try:
            self._v1(name, limit, quota, period)
            self.backend, self.memory_enforced = "cgroup v1", True
            return
        except OSError as err:
            errors.append(f"v1: {err}")
            self.close()
        self.note = ("no writable cgroup (" + "; ".join(errors) + "): CPU pinned to one core with "
                     "taskset, memory cap NOT enforced (peak compared with it instead)"
                     + ("; 0.5 CPU cannot be expressed with taskset, ran on 1 core" if cpus < 1 else ""))

    @staticmethod
    def _own(controller: str | None) -> str:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if (controller is None and ctrls == "") or (controller and controller in ctrls.split(",")):
                return path.lstrip("/")
        raise OSError(f"no {controller or 'unified'} entry in /proc/self/cgroup")

    def _mkdir(self, key: str, mount: Path, own: str, name: str) -> Path:
        parent = mount / own if (mount / own).is_dir() else mount
        d = parent / f"bench-{name}-{os.getpid()}"
        d.mkdir()
        self.dirs[key] = d
        return d

    def _v2(self, name: str, limit: int, quota: int, period: int) -> None:
        mount = Path("/sys/fs/cgroup")
        if not (mount / "cgroup.controllers").is_file():
            raise OSError("/sys/fs/cgroup is not a cgroup v2 hierarchy")
        d = self._mkdir("v2", mount, self._own(None), name)
        parent = d.parent
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        missing = [c for c in ("cpu", "memory") if c not in enabled]
        if missing:
            (parent / "cgroup.subtree_control").write_text(" ".join("+" + c for c in missing))
        (d / "cpu.max").write_text(f"{quota} {period}")
        (d / "memory.max").write_text(str(limit))
        if (d / "memory.swap.max").exists():
            (d / "memory.swap.max").write_text("0")
        if not (d / "memory.peak").exists():
            raise OSError("memory.peak missing (kernel < 5.19)")

    def _v1(self, name: str, limit: int, quota: int, period: int) -> None:
        mem = self._mkdir("memory", Path("/sys/fs/cgroup/memory"), self._own("memory"), name)
        cpu = self._mkdir("cpu", Path("/sys/fs/cgroup/cpu"), self._own("cpu"), name)
        (mem / "memory.limit_in_bytes").write_text(str(limit))
        if (mem / "memory.memsw.limit_in_bytes").exists():
            try:
                (mem / "memory.memsw.limit_in_bytes").write_text(str(limit))
            except OSError:
                pass  # no swap accounting: without swap the memory limit alone binds
        (cpu / "cpu.cfs_period_us").write_text(str(period))
        (cpu / "cpu.cfs_quota_us").write_text(str(quota))

    def wrap(self, cmd: list[str]):
        """The command to run and a ``preexec_fn`` that moves the child into the cgroup."""
        if self.backend == "taskset":
            return ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd], None
        procs = [d / "cgroup.procs" for d in self.dirs.values()]

        def enter():
            for p in procs:
                with open(p, "w") as f:
                    f.write(str(os.getpid()))
        return cmd, enter

    def peak_mb(self) -> int | None:
        f = {"cgroup v2": ("v2", "memory.peak"), "cgroup v1": ("memory", "memory.max_usage_in_bytes")}
        if self.backend not in f:
            return None
        key, name = f[self.backend]
        return round(int((self.dirs[key] / name).read_text()) / 2**20)

    def oom_killed(self) -> bool:
        try:
            if self.backend == "cgroup v2":
                text = (self.dirs["v2"] / "memory.events").read_text()
            elif self.backend == "cgroup v1":
                text = (self.dirs["memory"] / "memory.oom_control").read_text()
            else:
                return False
        except OSError:
            return False
        m = re.search(r"^oom_kill (\d+)", text, re.M)
        return bool(m and int(m.group(1)))

    def close(self) -> None:
        for d in self.dirs.values():
            for _ in range(50):  # the cgroup can be removed once its last process is gone
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        self.dirs = {}


def bench_limited(slug: str, label: str, cpus: float, mem_mb: int) -> dict:
    out = config.BUILD / "bench" / f"{slug}-limits"
    shutil.rmtree(out, ignore_errors=True)
    lim = Limiter(cpus, mem_mb, slug)
    try:
        cmd, enter = lim.wrap(_grade_cmd(slug, out))
        res = measure(cmd, config.ROOT, env=cpu_env(), preexec_fn=enter, timeout=LIMIT_TIMEOUT)
        cg_peak, oom = lim.peak_mb(), lim.oom_killed()
    finally:
        lim.close()
    score = _score(out, res.pop("stdout"))
    peak = cg_peak if cg_peak is not None else res["peak_mb"]
    over = not lim.memory_enforced and res["peak_mb"] > mem_mb
    passed = res["ok"] and full_marks(score) and not oom and not over
    return {"assignment": slug, "limits": label, "cpus": cpus, "mem_mb": mem_mb,
            "backend": lim.backend, "memory_enforced": lim.memory_enforced, "note": lim.note,
            "pass": passed, "score": score, "seconds": res["seconds"], "peak_mb": peak,
            "rss_peak_mb": res["peak_mb"], "oom_killed": oom, "timed_out": res["timed_out"],
            "over_unenforced_cap": over, "stderr": "" if passed else res["stderr"][-1500:],
            "margin_s": BUDGET_SECONDS - res["seconds"], "margin_mb": BUDGET_MB - peak}


# --------------------------------------------------------------------------- build


def bench_build(log=print) -> list[dict]:
    """`make` in a throw-away copy of the working tree: from clean -j1, from clean -j2, no-op."""
    venv = (config.ROOT / ".venv").resolve()
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=config.ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        repo = Path(tmp) / "repo"
        for name in filter(None, files):
            src = config.ROOT / name
            if src.is_file():
                (repo / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, repo / name)
        (repo / "data").symlink_to(config.DATA.resolve())
        # Reuse the venv as it is: never remake it (-o), whatever the copied files' dates.
        make = ["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed"]
        steps = [("from clean, -j1", True, 1), ("from clean, -j2", True, 2),
                 ("no-op rebuild, -j2", False, 2), ("no-op rebuild, -j1", False, 1)]
        for label, clean, jobs in steps:
            if clean:
                for d in ("dist", "build"):
                    shutil.rmtree(repo / d, ignore_errors=True)
            log(f"build: make -j{jobs} ({label})")
            res = measure([*make, f"-j{jobs}"], repo, env=env)
            built = len(list((repo / "dist" / "gradescope").glob("*.zip")))
            rows.append({"step": label, "jobs": jobs, "seconds": res["seconds"],
                         "peak_mb": res["peak_mb"], "ok": res["ok"], "zips": built,
                         "stderr": "" if res["ok"] else res["stderr"][-1500:]})
            log(f"  {res['seconds']:.1f} s, ok={res['ok']}, {built} zips")
    return rows


# --------------------------------------------------------------------------- overheads and GPU


OVERHEAD_PROBES = [
    ("python -c pass", "pass"),
    ("import torch", "import torch"),
    ("import torch, matplotlib.pyplot, dlcourse", "import torch, matplotlib.pyplot, dlcourse.plot, dlcourse.train"),
    ("import d2l.torch", "from d2l import torch as d2l"),
    ("load_fashion_mnist() full 60k+10k", "from dlcourse import data; data.load_fashion_mnist()"),
    ("load_fashion_mnist(subset=True) 6k+2k", "from dlcourse import data; data.load_fashion_mnist(subset=True)"),
]


def bench_overheads() -> list[dict]:
    """Seconds every notebook pays before its own work: interpreter, imports, data, kernel."""
    rows = []
    for label, code in OVERHEAD_PROBES:
        res = measure([sys.executable, "-c", code], config.ROOT, env=cpu_env())
        rows.append({"what": label, "seconds": res["seconds"], "peak_mb": res["peak_mb"], "ok": res["ok"]})
    with tempfile.TemporaryDirectory(prefix="bench-empty-") as tmp:
        import nbformat

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
        path = Path(tmp) / "empty.ipynb"
        nbformat.write(nb, path)
        res = bench_notebook(path)
        rows.append({"what": "kernel start + one cell (nbclient)", "seconds": res["seconds"],
                     "peak_mb": res["peak_mb"], "ok": res["ok"]})
    return rows


def gpu_name() -> str | None:
    """The name of the GPU torch sees (in a child process), or None."""
    code = "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or None


# --------------------------------------------------------------------------- report


def render(report: dict) -> str:
    m = report["machine"]
    out = [f"# Benchmarks, {m['date']}\n",
           f"Measured on {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB RAM, {m['platform']}, "
           f"Python {m['python']}, torch {m['torch']}, OMP_NUM_THREADS {m['omp_num_threads']}; "
           f"GPU: {m['gpu'] or 'none present'}. Load average at the start: {m['load_at_start']}.\n",
           f"Command: `{report['command']}`\n",
           "Figures committed to the repository must come from a quiet machine (nothing else "
           "running): on a shared machine times grow with the load.\n"]
    rows = report.get("rows", [])
    if rows:
        gpu = any(r.get("gpu_seconds") is not None for r in rows)
        header = ["notebook", "CPU wall s", "peak MB", "ok", "headline"]
        if gpu:
            header[2:2] = ["GPU wall s"]
        table = []
        for r in rows:
            line = [r["notebook"], r["seconds"], r["peak_mb"], "yes" if r["ok"] else "NO", headline(r)]
            if gpu:
                line[2:2] = [r.get("gpu_seconds")]
            table.append(line)
        out += ["## Notebooks and grading (CPU)\n",
                "Wall time includes the kernel start; peak memory is the resident memory of the "
                "whole process tree. `grading/` runs the solution through the Gradescope zip.\n",
                md_table(header, table)]
    if report.get("limits"):
        lim = report["limits"]
        notes = sorted({r["note"] for r in lim if r["note"]})
        out += [f"## Grading under Gradescope-like limits ({lim[0]['backend']})\n",
                f"Budget per grading run: {BUDGET_SECONDS} s and {BUDGET_MB} MB; the margin is what "
                "is left of it. Peak memory is the cgroup's peak (page cache included) where a "
                "cgroup was used, else the process tree's resident memory.\n"]
        out += [f"Note: {n}\n" for n in notes]
        out.append(md_table(
            ["assignment", "limits", "pass", "score", "wall s", "peak MB", "RSS peak MB",
             f"margin to {BUDGET_SECONDS} s", f"margin to {BUDGET_MB} MB"],
            [[r["assignment"], r["limits"], "yes" if r["pass"] else
              ("NO (OOM)" if r["oom_killed"] else "NO (time-out)" if r["timed_out"] else "NO"),
              r["score"], r["seconds"], r["peak_mb"], r["rss_peak_mb"],
              margin(r["seconds"], BUDGET_SECONDS), margin(r["peak_mb"], BUDGET_MB)] for r in lim]))
    if report.get("build"):
        out += ["## Build (`make` in a fresh copy, .venv and data/ reused)\n",
                md_table(["step", "wall s", "peak MB", "ok", "zips"],
                         [[b["step"], b["seconds"], b["peak_mb"], "yes" if b["ok"] else "NO", b["zips"]]
                          for b in report["build"]])]
    if report.get("overheads"):
        out += ["## Fixed costs (each in a fresh process)\n",
                md_table(["what", "wall s", "peak MB"],
                         [[o["what"], o["seconds"], o["peak_mb"]] for o in report["overheads"]])]
    if report.get("boundary"):
        from . import boundary

        out += ["## Split grading: the evaluator/executor boundary (0.5 CPU, 768 MB)\n",
                "Calls the tests made into the submission's process, the seconds from request to "
                "answer (student compute included: an upper bound on the crossing), megabytes "
                "carried, and each process's peak; `cgroup_peak_mb` is both together.\n",
                boundary.render(report["boundary"])]
    if report.get("d2l"):
        out += ["## Side by side with d2l (time to accuracy, same machine, same run)\n",
                "Seconds are training time (d2l's own per-epoch validation included, the "
                "curve's extra evaluation excluded); setup is data loading and model creation. "
                "See docs/benchmarks.md for what each run is and why the course is faster.\n",
                report["d2l"]["markdown"]]
    return "\n".join(out)


def _machine(gpu: str | None) -> dict:
    try:
        import torch  # noqa: F401  (version only; the measurements run in child processes)
        torch_version = torch.__version__
    except ImportError:
        torch_version = "?"
    cpu_model = "?"
    try:
        cpu_model = next(line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model, "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch_version, "gpu": gpu,
            "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "load_at_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset (one per core)"),
            "date": time.strftime("%Y-%m-%d")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", nargs="*", help="week numbers or slugs (default: all)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--lectures-only", action="store_true")
    group.add_argument("--assignments-only", action="store_true")
    parser.add_argument("--no-notebooks", action="store_true",
                        help="skip the notebook and plain grading runs (e.g. only --d2l)")
    parser.add_argument("--limits", action="store_true", help="grade under Gradescope-like limits")
    parser.add_argument("--build", action="store_true", help="time make from clean and a no-op rebuild")
    parser.add_argument("--gpu", action="store_true", help="also run the notebooks on the GPU")
    parser.add_argument("--d2l", action="store_true", help="side by side with d2l (weeks 03 04 07)")
    parser.add_argument("--d2l-epochs", type=int, default=10, help="d2l's epochs (the book: 10)")
    parser.add_argument("--d2l-time-limit", type=float, default=240.0,
                        help="stop a d2l run after the epoch that passes this many seconds")
    parser.add_argument("--overheads", action="store_true", help="time imports, data loading, kernel start")
    parser.add_argument("--boundary", action="store_true",
                        help="the cost of split grading per week: calls, seconds and bytes across the "
                             "evaluator/executor boundary, both processes' peaks (0.5 CPU, 768 MB)")
    parser.add_argument("--threads", type=int, help="set OMP_NUM_THREADS for every run "
                        "(default: torch's own choice, one thread per core)")
    parser.add_argument("--publish", action="store_true",
                        help="also write docs/bench/<date>.md and docs/bench/latest.md")
    args = parser.parse_args(argv)
    command = "python -m autograder.bench " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)

    gpu = None
    if args.gpu:
        gpu = gpu_name()
        print(f"GPU: {gpu}" if gpu else "--gpu: no GPU is present (torch.cuda.is_available() is "
              "False); the GPU column stays empty", flush=True)
    report = {"machine": _machine(gpu), "command": command.strip(), "rows": []}
    slugs = [s for s in sorted(set(config.lecture_slugs()) | set(config.assignment_slugs()))
             if wanted(s, args.weeks)]
    rows = report["rows"]
    for slug in slugs if not args.no_notebooks else []:
        nbs = []
        if not args.assignments_only and (config.LECTURES / f"{slug}.ipynb").exists():
            nbs.append(("lecture", config.LECTURES / f"{slug}.ipynb"))
        if not args.lectures_only and (config.DIST / "solution" / slug).exists():
            nbs.append(("solution", config.DIST / "solution" / slug / f"{slug}.ipynb"))
        for kind, path in nbs:
            r = {"notebook": f"{kind}s/{slug}" if kind == "lecture" else f"solution/{slug}",
                 "kind": kind, **bench_notebook(path)}
            if gpu:
                g = bench_notebook(path, env=dict(os.environ))
                r.update(gpu_seconds=g["seconds"], gpu_ok=g["ok"], gpu_results=g["results"])
            rows.append(r)
            print(_line(r), flush=True)
            if kind == "solution":
                g = bench_grading(slug)
                rows.append({"notebook": f"grading/{slug}", "kind": "grading", "results": [], **g})
                print(_line(rows[-1]), flush=True)
    if args.limits and not args.lectures_only:
        report["limits"] = []
        for slug in slugs:
            if not (config.DIST / "gradescope" / f"{slug}.zip").exists():
                continue
            for label, cpus, mem in LIMITS:
                r = bench_limited(slug, label, cpus, mem)
                report["limits"].append(r)
                print(f"limits {slug:28s} {label:16s} {'pass' if r['pass'] else 'FAIL'} {r['score']:>7s} "
                      f"{r['seconds']:6.1f} s {r['peak_mb']:5d} MB ({r['backend']})", flush=True)
    if args.build:
        report["build"] = bench_build()
    if args.overheads:
        report["overheads"] = bench_overheads()
    if args.boundary:
        from . import boundary

        report["boundary"] = [boundary.measure(slug, limited=True) for slug in slugs
                              if (config.DIST / "gradescope" / f"{slug}.zip").exists()]
    if args.d2l:
        from . import bench_d2l

        weeks = [w for w in bench_d2l.ANCHORS if not args.weeks or any(w == x.zfill(2)[:2] for x in args.weeks)]
        if weeks:
            report["d2l"] = bench_d2l.bench(weeks, None, args.d2l_epochs, args.d2l_time_limit)
    md = render(report)
    out = config.DIST / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1))
    (out / "bench.md").write_text(md)
    print("\n" + md)
    print(f"wrote {out / 'bench.md'} and bench.json")
    if args.publish:
        docs = config.ROOT / "docs" / "bench"
        docs.mkdir(parents=True, exist_ok=True)
        (docs / f"{report['machine']['date']}.md").write_text(md)
        (docs / "latest.md").write_text(md)
        print(f"published {docs / (report['machine']['date'] + '.md')} and {docs / 'latest.md'}")
    ok = all(r["ok"] for r in rows) and all(r["pass"] for r in report.get("limits", []))
    ok = ok and all(b["ok"] for b in report.get("build", []))
    return 0 if ok else 1


def _line(r: dict) -> str:
    gpu = f" GPU {r['gpu_seconds']:.1f} s" if r.get("gpu_seconds") is not None else ""
    return (f"{r['notebook']:36s} {r['seconds']:7.1f} s {r['peak_mb']:6d} MB{gpu}  "
            f"{'ok ' if r['ok'] else 'ERR'} {headline(r)}")


if __name__ == "__main__":
    sys.exit(main())
