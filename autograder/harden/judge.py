"""The trusted half of the grader: checks the submission, runs it in a sandbox, writes results.json.

Gradescope runs ``run_autograder``, which runs ``python -m harden.judge /autograder``.  The judge

1. locks the tests away (``/autograder/source`` becomes root-only) and reads them itself;
2. finds exactly one notebook in ``submission/`` (a zip is unpacked with limits on paths,
   sizes and counts) and checks it: UTF-8, JSON, nbformat 4, a Python kernel, this
   assignment's notebook;
3. runs the notebook in ``executor.py`` as an unprivileged user in a scratch folder, in its
   own session, and the tests in ``evaluator.py`` as another user; with
   a per-cell and a total time limit, a memory limit and capped output.  A cell that hangs,
   exhausts memory or kills the process is skipped and the notebook is run again without it,
   so the questions before and after it are still graded;
4. sends the public tests, then the hidden tests, and receives pass/fail as JSON lines;
5. kills every process the submission started, then computes the score from the points it
   read itself and writes ``results.json`` atomically.

Whatever goes wrong, a ``results.json`` with a score and a reason is written.  Only the
standard library is used here, so a broken scientific stack cannot stop the verdict.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    from . import sandbox
except ImportError:  # run as a script
    import sandbox  # type: ignore[no-redef]

DEFAULTS = {
    "cell_timeout": 120.0,      # seconds one cell may run
    "test_timeout": 60.0,       # seconds one test may run
    "total_timeout": 480.0,     # seconds for the whole submission, restarts included
    "caller_timeout": 600.0,    # what the caller (Gradescope's autograder timeout) allows;
                                # total_timeout is cut to leave a margin of >= 60 s below it
    "scratch_mb": 512,          # the sandbox's private /tmp (tmpfs, counted in its memory)
    "shm_mb": 64,               # its private /dev/shm
    "memory_mb": 1400,          # resident memory of the submission's processes
    "max_notebook_mb": 20,      # size of the submitted .ipynb
    "max_zip_members": 200,
    "max_unzipped_mb": 100,
    "max_restarts": 4,
    "sandbox_user": "grader-sandbox",
    "sandbox_uid": 64999,       # no such user: a free uid in [60999, 64999] per grading
    "seed": 42,
}


class Reject(Exception):
    """The submission cannot be graded; the message is shown to the student."""


# --------------------------------------------------------------------------- tests


def load_tests(tests_dir: Path) -> list[dict]:
    """Read Otter's test files (exception-based or OK format) without importing them."""
    files = {p.stem: p.read_text(encoding="utf-8") for p in tests_dir.glob("*.py")}
    return parse_tests(files)


def load_tests_from_zip(zf: zipfile.ZipFile) -> list[dict]:
    """The tests of a built autograder zip (for the course's own checks)."""
    return parse_tests({Path(n).stem: zf.read(n).decode() for n in zf.namelist()
                        if n.startswith("tests/") and n.endswith(".py")})


def parse_tests(files: dict[str, str]) -> list[dict]:
    """Every test of every file, in Otter's exception-based or OK (doctest) format.

    Nothing is imported or executed: exception-based files are read with ``ast``, OK files
    (``OK_FORMAT = True``, ``test = {...}``) with ``ast.literal_eval``.
    """
    tests = []
    for stem in sorted(files, key=_natural):
        tree = ast.parse(files[stem], filename=f"tests/{stem}.py")
        qname, file_points, ok_format, ok_spec = stem, None, False, None
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                if node.targets[0].id == "name":
                    qname = ast.literal_eval(node.value)
                elif node.targets[0].id == "points":
                    file_points = ast.literal_eval(node.value)
                elif node.targets[0].id == "OK_FORMAT":
                    ok_format = ast.literal_eval(node.value) is True
                elif node.targets[0].id == "test":
                    ok_spec = node.value
        if ok_format and ok_spec is not None:
            found, qname, file_points = _parse_ok(ast.literal_eval(ok_spec), stem)
        else:
            found = _parse_exception_based(tree, qname)
        _resolve_points(found, file_points)
        tests += found
    return tests


def _parse_exception_based(tree: ast.Module, qname: str) -> list[dict]:
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        opts = {"points": None, "hidden": False}
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call):
                for kw in dec.keywords:
                    if kw.arg in opts:
                        opts[kw.arg] = ast.literal_eval(kw.value)
        plain = ast.FunctionDef(name=node.name, args=node.args, body=node.body,
                                decorator_list=[], returns=None, type_comment=None,
                                lineno=node.lineno, col_offset=0)
        source = ast.unparse(ast.fix_missing_locations(ast.Module([plain], type_ignores=[])))
        found.append({"id": f"{qname}/{node.name}", "question": qname, "function": node.name,
                      "params": [a.arg for a in node.args.args], "source": source,
                      "hidden": bool(opts["hidden"]), "points": opts["points"],
                      "doc": (ast.get_docstring(node) or node.name).splitlines()[0]})
    return found


_PROMPT = re.compile(r"^(\s*)(>>>|\.\.\.)( |$)")


def doctest_examples(text: str) -> list[dict]:
    """The ``>>>`` examples of a doctest text as ``{"source", "want"}`` (what doctest compares)."""
    examples: list[dict] = []
    for line in str(text).split("\n"):
        m = _PROMPT.match(line)
        if m and m.group(2) == ">>>":
            examples.append({"source": [line[m.end():]], "want": []})
        elif m and examples and not examples[-1]["want"]:
            examples[-1]["source"].append(line[m.end():])
        elif examples and line.strip():
            examples[-1]["want"].append(line.rstrip())
    return [{"source": "\n".join(e["source"]), "want": "\n".join(e["want"])} for e in examples]


def _parse_ok(spec: dict, stem: str) -> tuple[list[dict], str, object]:
    """The cases of an OK-format test dict (``{"name", "points", "suites": [{"cases": ...}]}``)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("suites"), list):
        raise ValueError(f"tests/{stem}.py: an OK test needs a dict with a list of suites")
    qname = str(spec.get("name") or stem)
    found = []
    for s, suite in enumerate(spec["suites"]):
        if suite.get("type", "doctest") != "doctest" or suite.get("setup") or suite.get("teardown"):
            raise ValueError(f"tests/{stem}.py: only doctest suites without setup/teardown are "
                             "supported")
        for c, case in enumerate(suite.get("cases", [])):
            examples = doctest_examples(case.get("code", ""))
            first = examples[0]["source"].split("\n")[0] if examples else "(empty)"
            found.append({"id": f"{qname}/ok_{s}_{c}", "question": qname, "kind": "ok",
                          "function": None, "params": [], "source": "", "examples": examples,
                          "hidden": bool(case.get("hidden", False)), "points": case.get("points"),
                          "doc": f">>> {first}"[:120]})
    return found, qname, spec.get("points")


def _resolve_points(found: list[dict], file_points) -> None:
    """Otter's rules: a case's own points win; a file-level list gives case k its k-th entry;
    a file-level number is split over the cases without points."""
    if isinstance(file_points, (list, tuple)):
        if len(file_points) != len(found):
            raise ValueError(f"{len(file_points)} points for {len(found)} tests")
        for t, p in zip(found, file_points):
            t["points"] = p
        file_points = None
    unset = [t for t in found if t["points"] is None]
    if unset:
        rest = (file_points if file_points is not None else len(found)) - \
            sum(t["points"] for t in found if t["points"] is not None)
        for t in unset:
            t["points"] = max(rest, 0) / len(unset)


def _natural(text: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


# --------------------------------------------------------------------------- submission


def _safe_unzip(data: bytes, limits: dict) -> dict[str, bytes]:
    """The members of a submitted zip, refusing unsafe paths, bombs and huge archives."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Reject("the uploaded .zip file is not a valid zip archive") from None
    members = zf.infolist()
    if len(members) > limits["max_zip_members"]:
        raise Reject(f"the zip holds {len(members)} files; at most {limits['max_zip_members']} "
                     "are accepted")
    budget = limits["max_unzipped_mb"] * 2**20
    out = {}
    for info in members:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise Reject(f"the zip holds an unsafe path {name!r} (absolute or with '..'); "
                         "zip only your notebook")
        if info.is_dir():
            continue
        if info.file_size > budget:
            raise Reject(f"the zip member {name!r} unpacks to {info.file_size / 2**20:.0f} MB, "
                         f"more than the {limits['max_unzipped_mb']} MB allowed")
        with zf.open(info) as f:  # read at most the budget, whatever the header claims
            blob = f.read(budget + 1)
        if len(blob) > budget:
            raise Reject(f"the zip unpacks to more than {limits['max_unzipped_mb']} MB")
        budget -= len(blob)
        out[name] = blob
    return out


# What Otter's export zip, Jupyter, Colab or an OS put next to the notebook: expected, never a note.
_EXPECTED_EXTRAS = re.compile(r"""(^|/)(\.OTTER_LOG|__zip_filename__|\.DS_Store|Thumbs\.db|desktop\.ini)$
                                  |(^|/)(__MACOSX|\.ipynb_checkpoints)/
                                  |\.pdf$""", re.VERBOSE | re.IGNORECASE)


def _expected_extra(name: str) -> bool:
    return bool(_EXPECTED_EXTRAS.search(name.replace("\\", "/")))


def find_notebook(submission: Path, limits: dict) -> tuple[str, bytes, list[str]]:
    """(name, bytes, notes) of the one notebook in the submission folder."""
    notes: list[str] = []
    ignored: list[str] = []
    candidates: dict[str, bytes] = {}
    files = sorted(p for p in submission.rglob("*") if p.is_file() and not p.is_symlink())
    for path in files:
        rel = path.relative_to(submission).as_posix()
        if path.suffix.lower() == ".ipynb" and "__MACOSX" not in rel and \
                ".ipynb_checkpoints" not in rel:
            candidates[rel] = path.read_bytes()
        elif path.suffix.lower() == ".zip":
            for name, blob in _safe_unzip(path.read_bytes(), limits).items():
                if name.lower().endswith(".ipynb") and "__MACOSX" not in name and \
                        ".ipynb_checkpoints" not in name:
                    candidates[f"{rel}:{name}"] = blob
                elif not _expected_extra(name):
                    ignored.append(f"{name} (in {rel})")
        elif not _expected_extra(rel):
            ignored.append(rel)
    if ignored:  # one short line, only for files nobody expects next to the notebook
        shown = ", ".join(ignored[:3]) + (f" and {len(ignored) - 3} more" if len(ignored) > 3 else "")
        notes.append(f"only the notebook is graded; also uploaded: {shown}"[:200])
    if not candidates:
        raise Reject("no notebook (.ipynb) was found in the submission; upload your "
                     "assignment's .ipynb file (or the zip made by its export cell)")
    if len(candidates) > 1:
        raise Reject(f"found {len(candidates)} notebooks ({', '.join(sorted(candidates))}); "
                     "upload exactly one")
    (name, blob), = candidates.items()
    return name, blob, notes


class CodeCells(list):
    """The sources of a notebook's code cells (what the executor runs, in order), and where each
    one sits among *all* the notebook's cells, counted from 1 as JupyterLab shows them."""

    def __init__(self, sources=(), positions=()):
        super().__init__(sources)
        self.positions: list[int] = list(positions)


def describe_cell(cells: list[str], i: int) -> str:
    """How a student finds code cell ``i``: ``cell 14 (`def softmax(X):`)``."""
    if not isinstance(i, int) or not 0 <= i < len(cells):  # (events come from the sandbox)
        return f"cell {str(i)[:20]}"
    positions = getattr(cells, "positions", None)
    where = f"cell {positions[i]}" if positions and i < len(positions) else f"code cell {i + 1}"
    first = next((ln.strip() for ln in cells[i].splitlines() if ln.strip()), "")
    if len(first) > 40:
        first = first[:39] + "…"
    first = first.replace("`", "'")
    return f"{where} (`{first}`)" if first else where


def parse_notebook(name: str, blob: bytes, slug: str, limits: dict) -> list[str]:
    """The code cells of a submitted notebook, after checking that it is one we can grade."""
    if len(blob) > limits["max_notebook_mb"] * 2**20:
        raise Reject(f"{name} is {len(blob) / 2**20:.0f} MB; clear its outputs and resubmit "
                     f"(limit {limits['max_notebook_mb']} MB)")
    if not blob.strip():
        raise Reject(f"{name} is empty: save the notebook before uploading it")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Reject(f"{name} is not UTF-8 text (byte {err.start}); it is not a saved notebook. "
                     "Download it again from JupyterLab or Colab") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise Reject(f"{name} is not valid notebook JSON (line {err.lineno}, column {err.colno}: "
                     f"{err.msg}); was it edited by hand or truncated?") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise Reject(f"{name} is JSON but not a notebook (it has no list of cells)")
    major = nb.get("nbformat")
    if major != 4:
        raise Reject(f"{name} uses notebook format version {major!r}; this grader reads version "
                     "4 (what JupyterLab and Colab save). Open and re-save it in JupyterLab")
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    kernel = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    lang = str(kernel.get("language") or (meta.get("language_info") or {}).get("name") or "python")
    if lang.lower() != "python":
        raise Reject(f"{name} runs a {lang} kernel; this assignment must be done in Python")
    cells = CodeCells()
    for position, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        cells.append(source)
        cells.positions.append(position)
    names = set(re.findall(r"""otter\.Notebook\(\s*["']([^"']+?)(?:\.ipynb)?["']""", "\n".join(cells)))
    names |= {str(meta.get("otter", {}).get("assignment_name", slug))} if isinstance(
        meta.get("otter"), dict) else set()
    if names and slug not in names:
        raise Reject(f"{name} is the notebook of assignment {sorted(names)[0]!r}, but this "
                     f"Gradescope assignment is {slug!r}; upload the right notebook")
    return cells


# --------------------------------------------------------------------------- sandbox


def _sandbox_ids(limits: dict) -> tuple[int, int] | None:
    """(uid, gid) that runs the submission; None when not root (a developer's own machine)."""
    if os.geteuid() != 0:
        return None
    busy = set()
    for p in os.listdir("/proc"):
        try:
            busy.add(os.stat(f"/proc/{p}").st_uid) if p.isdigit() else None
        except OSError:  # the process ended while we looked
            pass
    try:
        entry = pwd.getpwnam(limits["sandbox_user"])
        ids = entry.pw_uid, entry.pw_gid
        if entry.pw_uid in busy:  # another grading runs as that user right now: the judge kills
            raise KeyError(entry.pw_uid)  # every process of its uid, so take a uid of our own
    except KeyError:  # no dedicated user (a developer's machine): a uid no process uses, so
        # parallel gradings never see, count or kill each other's processes
        base = int(limits["sandbox_uid"])
        free = [u for u in range(base - 4000, base + 1) if u not in busy]
        uid = free[secrets.randbelow(len(free))]
        ids = uid, uid

    def demote():
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])

    try:  # the interpreter must be reachable by that user (not under a private /root)
        subprocess.run([sys.executable, "-c", "import json"], preexec_fn=demote, check=True,
                       cwd="/", capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        raise RuntimeError(f"the sandbox user {ids[0]} cannot run {sys.executable} ({err}); "
                           "build the grading environment from a system-wide Python") from None
    return ids


def _prepare_workdir(source: Path, ids) -> Path:
    work = Path(tempfile.mkdtemp(prefix="submission-"))
    files = source / "files"
    if files.is_dir():
        shutil.copytree(files, work, dirs_exist_ok=True)
    grader = work / "_grader"
    grader.mkdir()
    for name in ("executor.py", "codec.py"):
        shutil.copy(HERE / name, grader / name)
    shutil.copytree(HERE / "otter_stub" / "otter", grader / "otter")
    if ids:
        for dirpath, dirnames, filenames in os.walk(work):
            os.chown(dirpath, *ids)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), *ids)
    os.chmod(work, 0o700)
    return work


def _evaluator_ids(exe_ids):
    """The evaluator's (uid, gid): never the executor's, so the student's processes can
    neither signal, ptrace nor read the memory of the process that runs the tests."""
    if exe_ids is None:
        return None
    busy = {exe_ids[0]}
    for p in os.listdir("/proc"):
        try:
            busy.add(os.stat(f"/proc/{p}").st_uid) if p.isdigit() else None
        except OSError:
            pass
    free = [u for u in range(55000, 59000) if u not in busy]
    uid = free[secrets.randbelow(len(free))]
    return uid, uid


def _prepare_evaluator_dir(ids, work: Path) -> Path:
    """The evaluator's own folder: its code and its own copy of the course files (dlcourse/,
    data/) that tests import, staged before the student's code can touch the executor's."""
    ev = Path(tempfile.mkdtemp(prefix="evaluator-"))
    for item in work.iterdir():
        if item.name == "_grader":
            continue
        if item.is_dir():
            shutil.copytree(item, ev / item.name, symlinks=True)
        else:
            shutil.copy(item, ev / item.name)
    for name in ("evaluator.py", "codec.py"):
        shutil.copy(HERE / name, ev / name)
    if ids:
        for dirpath, dirnames, filenames in os.walk(ev):
            os.chown(dirpath, *ids)
            for f in filenames:
                os.lchown(os.path.join(dirpath, f), *ids)
    os.chmod(ev, 0o700)
    return ev


def _session_pids(sid: int, uid: int | None) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            session = int(fields[3])
            owner = os.stat(f"/proc/{entry}").st_uid
        except (OSError, ValueError):
            continue
        if session == sid or (uid is not None and owner == uid):
            pids.append(int(entry))
    return pids


def _hwm_mb(pid: int) -> int | None:
    """A process's peak resident memory (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _kill_all(sid: int, uid: int | None) -> None:
    for _ in range(5):
        pids = [p for p in _session_pids(sid, uid) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def _debug_log():
    """Where the worker's own stderr goes: nowhere, unless HARDEN_DEBUG names a file."""
    path = os.environ.get("HARDEN_DEBUG")
    return open(path, "ab") if path else subprocess.DEVNULL


class Attempt:
    """One run of the worker: the notebook (minus skipped cells), then test batches."""

    def __init__(self, cells, skip, batches, limits, work, ids, deadline, cgroup=None,
                 private_work=False):
        self.events: list[dict] = []
        self.failure = None  # (kind, detail) when the worker died or was killed
        self.cgroup = cgroup
        # With a private mount namespace the worker runs in a tmpfs copy of the work folder
        # (sandbox.preexec), so every path it is given is relative to that copy.
        home = "/tmp/work" if private_work else str(work)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
               "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.mpl",
               "XDG_CACHE_HOME": f"{home}/.cache", "DLCOURSE_DATA": f"{home}/data",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
               "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1")}
        status_r, status_w = os.pipe()
        report_r, report_w = os.pipe()
        env["HARDEN_STATUS_FD"] = str(status_w)
        self.others: list[tuple[int, int | None]] = []  # (session, uid) to kill besides proc
        # Split grading: the executor (student code, uid ids) and the evaluator (tests,
        # another uid) talk over two pipes the judge never reads; the judge talks only
        # to the evaluator.
        to_exe_r, to_exe_w = os.pipe()
        from_exe_r, from_exe_w = os.pipe()
        script = "_grader/executor.py" if private_work else str(work / "_grader" / "executor.py")
        exe_env = dict(env, HARDEN_CALL_IN=str(to_exe_r), HARDEN_CALL_OUT=str(from_exe_w))
        exe_env.pop("HARDEN_STATUS_FD")
        ev_ids = _evaluator_ids(ids)
        ev_dir = _prepare_evaluator_dir(ev_ids, work)
        self.ev_dir = ev_dir
        try:
            self.executor = subprocess.Popen(
                [sys.executable, "-s", "-E", script], cwd=work, env=exe_env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=_debug_log(),
                pass_fds=(to_exe_r, from_exe_w),
                preexec_fn=sandbox.preexec(ids, cgroup, limits, private_work, report_w))
            self.others.append((self.executor.pid, ids[0] if ids else None))
            ev_env = {"PATH": env["PATH"], "HOME": str(ev_dir), "LANG": "C.UTF-8",
                      "DLCOURSE_DATA": str(ev_dir / "data"), "XDG_CACHE_HOME": str(ev_dir / ".cache"),
                      "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(ev_dir / ".mpl"),
                      "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                      "OMP_NUM_THREADS": env["OMP_NUM_THREADS"],
                      "MKL_NUM_THREADS": env["MKL_NUM_THREADS"],
                      "HARDEN_STATUS_FD": str(status_w), "HARDEN_CALL_OUT": str(to_exe_w),
                      "HARDEN_CALL_IN": str(from_exe_r)}
            self.proc = subprocess.Popen(
                [sys.executable, "-s", "-E", str(ev_dir / "evaluator.py")], cwd=ev_dir,
                env=ev_env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=_debug_log(), pass_fds=(status_w, to_exe_w, from_exe_r),
                preexec_fn=sandbox.preexec(ev_ids, None, limits | {"memory_mb": 4096}, False))
            self.others.append((self.proc.pid, ev_ids[0] if ev_ids else None))
        finally:
            for fd in (status_w, report_w, to_exe_r, to_exe_w, from_exe_r, from_exe_w):
                os.close(fd)
        with os.fdopen(report_r, "rb") as report:  # the child wrote and closed it before exec
            self.walls = report.read(4096).decode(errors="replace").strip()
        self.status = os.fdopen(status_r, "rb")
        os.set_blocking(self.proc.stdin.fileno(), False)  # a worker that stops reading
        self.ids, self.limits, self.deadline = ids, limits, deadline  # cannot block the judge
        forbidden = sorted({n for b in batches for t in b for n in t.get("forbidden", ())})
        self.send({"cells": cells, "skip": sorted(skip), "cell_timeout": limits["cell_timeout"],
                   "seed": limits["seed"], "forbidden": forbidden})
        self.batches = batches
        self._expected: set = set()
        self._current: list = []

    def send(self, message: dict, timeout: float = 10.0) -> bool:
        """Write one JSON line without ever blocking longer than ``timeout`` seconds."""
        data = memoryview((json.dumps(message) + "\n").encode())
        fd = self.proc.stdin.fileno()
        end = time.monotonic() + timeout
        try:
            while data:
                left = end - time.monotonic()
                if left <= 0:
                    self.send_failed = True
                    return False
                _, ready, _ = select.select([], [fd], [], min(left, 0.5))
                if ready:
                    try:
                        n = os.write(fd, data)
                    except BlockingIOError:
                        continue
                    data = data[n:]
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def run(self) -> None:
        buf = b""
        current_limit = None  # (deadline for the running cell/test, what it is)
        pending = list(self.batches)
        batch_nonce = None
        fd = self.status.fileno()
        while True:
            now = time.monotonic()
            if now > self.deadline:
                self.failure = ("total_timeout", None)
                break
            if current_limit and now > current_limit[0]:
                self.failure = ("hard_timeout", current_limit[1])
                break
            if getattr(self, "send_failed", False):
                self.failure = ("hard_timeout", current_limit[1] if current_limit else None)
                break
            pids = _session_pids(self.proc.pid, self.ids[0] if self.ids else None)
            if _rss_mb(pids) > self.limits["memory_mb"] or (self.cgroup and (
                    self.cgroup.oom_kills() or self.cgroup.usage_mb() > self.limits["memory_mb"])):
                self.failure = ("memory", current_limit[1] if current_limit else None)
                break
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                if self.proc.poll() is not None and not buf:
                    self.failure = ("died", current_limit[1] if current_limit else None)
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:  # the worker closed its end: it exited before finishing
                self.proc.wait()
                self.failure = ("died", current_limit[1] if current_limit else None)
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                kind = event.get("event")
                hard = self.limits["cell_timeout"] + 15
                if kind == "cell" and event.get("state") == "start":
                    current_limit = (time.monotonic() + hard, ("cell", event.get("i")))
                elif kind == "cell":
                    current_limit = None
                    self.events.append(event)
                elif kind == "note" and event.get("internal"):
                    self.stats = str(event.get("text", ""))[:300]
                elif kind == "note":
                    self.events.append(event)
                elif kind in ("notebook_done", "batch_done"):
                    if kind == "batch_done" and event.get("nonce") != batch_nonce:
                        continue
                    if kind == "batch_done" and isinstance(event.get("stats"), dict):
                        st = event["stats"]  # the evaluator's count of calls into the executor
                        self.stats = {k: st.get(k) for k in ("calls", "seconds", "bytes")}
                        self.stats["peak_mb"] = {  # high-water marks, read before they exit
                            "evaluator": _hwm_mb(self.proc.pid),
                            "executor": round(self.cgroup.peak_mb()) if self.cgroup else
                            _hwm_mb(self.executor.pid)}
                    self.events.append(event)
                    if not pending:
                        self.proc.stdin.close()
                        try:
                            self.proc.wait(timeout=min(30, max(self.deadline - time.monotonic(), 1)))
                        except subprocess.TimeoutExpired:
                            pass
                        return
                    batch = pending.pop(0)
                    batch_nonce = secrets.token_hex(16)
                    self.events.append({"event": "batch_start", "ids": [t["id"] for t in batch]})
                    first = batch[0]["id"] if batch else None
                    current_limit = (time.monotonic() + self.limits["test_timeout"] * max(len(batch), 1) + 30,
                                     ("test", first))
                    self._expected = {t["id"] for t in batch}
                    self._current = [t["id"] for t in batch]
                    self.send({"tests": batch, "nonce": batch_nonce, "seed": self.limits["seed"]})
                elif kind == "test" and event.get("nonce") == batch_nonce and \
                        event.get("id") in self._expected:
                    self._expected.discard(event["id"])
                    self.events.append(event)
                    nxt = next((t for t in self._current if t in self._expected), None)
                    current_limit = (time.monotonic() + self.limits["test_timeout"] + 15, ("test", nxt))


def run_submission(cells: list[str], tests: list[dict], source: Path, limits: dict):
    """Run the notebook and the tests, restarting without any cell that brings the worker down."""
    ids = _sandbox_ids(limits)
    start = time.monotonic()
    deadline = start + limits["total_timeout"]
    private_work = bool(ids) and sandbox.namespaces_usable()
    walls = set()
    skip: dict[int, str] = {}
    outcomes: dict[str, dict] = {}
    cell_events: dict[int, dict] = {}
    notes: list[str] = []
    public = [t for t in tests if not t["hidden"]]
    hidden = [t for t in tests if t["hidden"]]
    for attempt_no in range(limits["max_restarts"] + 1):
        todo = [[t for t in batch if t["id"] not in outcomes] for batch in (public, hidden)]
        todo = [[{k: t[k] for k in ("id", "function", "params", "source", "kind", "examples",
                                                  "forbidden")
                  if k in t} |
                 {"timeout": limits["test_timeout"]} for t in b] for b in todo if b]
        work = _prepare_workdir(source, ids)
        # the kernel's limit is the backstop a little above the judge's own (polled) limit
        cgroup = sandbox.create(f"harden-{os.getpid()}-{attempt_no}", limits["memory_mb"] + 128)
        attempt = None
        try:
            attempt = Attempt(cells, skip, todo, limits, work, ids, deadline, cgroup, private_work)
            walls.add(attempt.walls)
            attempt.run()
            if getattr(attempt, "stats", None):
                run_submission.stats = attempt.stats
            if attempt.failure and attempt.failure[0] == "died" and cgroup and cgroup.oom_kills():
                attempt.failure = ("memory", attempt.failure[1])
        finally:
            if attempt is not None:
                _kill_all(attempt.proc.pid, ids[0] if ids else None)
                for sid, uid in getattr(attempt, "others", []):
                    _kill_all(sid, uid)
                if getattr(attempt, "ev_dir", None):
                    shutil.rmtree(attempt.ev_dir, ignore_errors=True)
            if cgroup is not None:
                cgroup.remove()
            if attempt is not None:
                try:
                    attempt.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            shutil.rmtree(work, ignore_errors=True)
        if os.environ.get("HARDEN_DEBUG"):
            with open(os.environ["HARDEN_DEBUG"], "a") as log:
                log.write(json.dumps({"failure": attempt.failure, "events": attempt.events}) + "\n")
        for event in attempt.events:
            if event.get("event") == "cell":
                cell_events[event["i"]] = event
            elif event.get("event") == "test":
                outcomes[event["id"]] = {"passed": event.get("passed") is True,
                                         "message": str(event.get("message", ""))[:2000]}
            elif event.get("event") == "note" and event.get("text") not in notes:
                notes.append(str(event["text"])[:300])
        if attempt.failure is None:
            break
        kind, where = attempt.failure
        what = {"total_timeout": f"grading ran past the total limit of {limits['total_timeout']:g} s",
                "hard_timeout": "it did not stop when its time limit was reached",
                "memory": f"the submission used more than {limits['memory_mb']} MB of memory",
                "died": "the Python process running the notebook crashed or exited (os._exit, "
                        "a segfault, being killed)"}[kind]
        if kind == "total_timeout":
            notes.append(what)
            break
        if where and where[0] == "cell" and where[1] is not None:
            skip[where[1]] = what
            cell_events[where[1]] = {"i": where[1], "state": "removed", "detail": what}
            notes.append(f"{describe_cell(cells, where[1])} was removed and the notebook run again: {what}")
        elif where and where[0] == "test" and where[1] is not None:
            outcomes[where[1]] = {"passed": False, "message": f"this test brought the grader "
                                  f"down: {what}"}
            t = next((t for t in tests if t["id"] == where[1]), None)
            which = (f"public test '{_plain_doc(t['doc'])}'" if t and not t["hidden"] else
                     f"a hidden test of {t['question']}" if t else "a test")  # never a hidden name
            notes.append(f"{which} failed: {what}")
        else:
            notes.append(f"grading stopped: {what}")
            break
    for t in tests:
        outcomes.setdefault(t["id"], {"passed": False, "message": "the test could not be run"})
    for i, ev in sorted(cell_events.items()):
        if ev.get("state") in ("error", "timeout") and len(notes) < 30:
            notes.append(f"{describe_cell(cells, i)}: {ev.get('detail', '')}"[:400])
    run_submission.walls = sorted(walls)
    return outcomes, notes, time.monotonic() - start


# --------------------------------------------------------------------------- results


_DOC_PREFIX = re.compile(r"^\s*(public|hidden)(\s+tests?)?\s*:\s*", re.IGNORECASE)

HIDDEN_ADVICE = ("The hidden tests try other inputs (other shapes, batch sizes, dtypes, seeds): "
                 "check that your code does not depend on the example's values.")


def _plain_doc(doc: str) -> str:
    """A test's one-line docstring without the "Public:"/"Hidden:" the course starts it with."""
    return _DOC_PREFIX.sub("", doc, count=1).strip().rstrip(".") or doc


FROM_SCRATCH = ("this question asks for it from scratch", "the notebook reaches into torch's dispatch")


def compose(tests: list[dict], outcomes: dict, notes: list[str], elapsed: float) -> dict:
    """Gradescope's results.json: one entry per question, public messages in words, hidden
    tests only counted.  ``extra_data`` (stored by Gradescope, never shown to students) keeps
    each test's pass/fail for the instructor's gradebook (``autograder/gradebook.py``)."""
    questions: dict[str, list[dict]] = {}
    for t in tests:
        questions.setdefault(t["question"], []).append(t)
    entries, total = [], 0.0
    for q, qtests in questions.items():
        score = sum(t["points"] for t in qtests if outcomes[t["id"]]["passed"])
        possible = sum(t["points"] for t in qtests)
        lines = []
        pub = [t for t in qtests if not t["hidden"]]
        for t in pub:
            o = outcomes[t["id"]]
            lines.append(f"public test: {_plain_doc(t['doc'])} ... " +
                         ("passed" if o["passed"] else f"FAILED\n    {o['message']}"))
        hid = [t for t in qtests if t["hidden"]]
        # The from-scratch rule's verdicts name only the student's own call, never the test:
        # say them even for hidden tests (the evaluator writes them; see evaluator.ForbiddenCall).
        rule = sorted({str(outcomes[t["id"]].get("message", ""))[:400] for t in hid
                       if not outcomes[t["id"]]["passed"]
                       and str(outcomes[t["id"]].get("message", "")).startswith(FROM_SCRATCH)})
        lines += [f"hidden tests: {m}" for m in rule[:2]]
        if hid:
            failed = sum(not outcomes[t["id"]]["passed"] for t in hid)
            cases = "case" if len(hid) == 1 else "cases"
            if not failed:
                lines.append(f"hidden tests: all {len(hid)} passed")
            elif all(outcomes[t["id"]]["passed"] for t in pub):
                checks = "passes the public checks but fails" if pub else "fails"
                lines.append(f"{q}: your answer {checks} {failed} of {len(hid)} hidden {cases}. "
                             + HIDDEN_ADVICE)
            else:
                lines.append(f"hidden tests: {failed} of {len(hid)} failed; fix the public test "
                             "failures above first, then check that your code does not depend on "
                             "the example's values.")
        entries.append({"name": q, "score": round(score, 4), "max_score": round(possible, 4),
                        "output": "\n".join(lines), "visibility": "visible"})
        total += score
    output = "Graded by the course's hardened autograder."
    if notes:
        output += "\n" + "\n".join(f"- {n}" for n in notes)
    return {"score": round(total, 4), "output": output, "tests": entries,
            "stdout_visibility": "hidden", "execution_time": round(elapsed, 2),
            "extra_data": {"status": "graded",
                           "tests": {t["id"]: bool(outcomes[t["id"]]["passed"]) for t in tests}}}


def manual_entries(manual: list[dict]) -> list[dict]:
    """Questions graded by hand on Gradescope: listed, worth nothing here, never blocking."""
    return [{"name": str(q.get("name")), "score": 0.0, "max_score": 0.0,
             "output": f"This question ({q.get('points', 0):g} points) will be graded by hand "
                       "on Gradescope; it is not part of the autograder score.",
             "visibility": "visible"} for q in manual if isinstance(q, dict)]


def reject(tests: list[dict], reason: str, elapsed: float) -> dict:
    questions: dict[str, float] = {}
    for t in tests:
        questions[t["question"]] = questions.get(t["question"], 0) + t["points"]
    entries = [{"name": "Submission", "score": 0.0, "max_score": 0.0, "output": reason,
                "visibility": "visible"}]
    entries += [{"name": q, "score": 0.0, "max_score": round(p, 4),
                 "output": "not graded: see 'Submission'", "visibility": "visible"}
                for q, p in questions.items()]
    return {"score": 0.0, "output": f"The submission could not be graded: {reason}",
            "tests": entries, "stdout_visibility": "hidden", "execution_time": round(elapsed, 2),
            "extra_data": {"status": "rejected", "reason": reason}}


RESERVE = ".results.reserve"
RESERVE_BYTES = 4 * 2**20


def reserve_results(results_dir: Path) -> None:
    """Claim the space results.json needs before any student code runs: the sandbox writes
    only to its private tmpfs mounts where the platform allows, and this reserve covers the
    platforms where it does not (written, not sparse, so the blocks really are taken)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(results_dir / RESERVE, "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
    except OSError:
        pass


def write_results(results_dir: Path, results: dict) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / RESERVE).unlink(missing_ok=True)  # give the reserved space back first
    tmp = results_dir / f".results.{os.getpid()}.tmp"
    blob = json.dumps(results, indent=2)
    if len(blob) > RESERVE_BYTES // 2:  # never bigger than the space reserved for it
        results = dict(results, tests=results.get("tests", [])[:100], output=results.get("output", "")[:5000])
        blob = json.dumps(results, indent=2)[: RESERVE_BYTES // 2]
    tmp.write_text(blob)
    os.replace(tmp, results_dir / "results.json")


def effective_limits(config: dict) -> dict:
    """DEFAULTS < the assignment's limits < HARDEN_LIMITS; total_timeout at most the caller's
    limit minus a margin of max(60 s, 10 %), so the verdict is written before the caller gives up."""
    limits = DEFAULTS | config.get("limits", {}) | json.loads(os.environ.get("HARDEN_LIMITS", "{}"))
    caller = float(limits["caller_timeout"])
    margin = max(60.0, 0.1 * caller)
    limits["total_timeout"] = max(min(float(limits["total_timeout"]), caller - margin), 1.0)
    return limits


def judge(root: Path) -> dict:
    start = time.monotonic()
    source, results_dir = root / "source", root / "results"
    config = json.loads((source / "harden.json").read_text())
    # HARDEN_LIMITS (JSON) lets the course's own tests shorten the limits; a submission
    # cannot set the judge's environment.
    limits = effective_limits(config)
    if os.geteuid() == 0:  # the sandbox user must not read tests or write results
        os.chmod(source, 0o700)
        results_dir.mkdir(parents=True, exist_ok=True)
        os.chown(results_dir, 0, 0)
        os.chmod(results_dir, 0o755)
    (results_dir / "results.json").unlink(missing_ok=True)
    reserve_results(results_dir)
    tests = load_tests(source / "tests")
    forbidden = config.get("forbidden") or {}
    for t in tests:  # from-scratch questions: library calls the answer must not make
        if forbidden.get(t["question"]):
            t["forbidden"] = [str(n) for n in forbidden[t["question"]]]
    try:
        name, blob, notes = find_notebook(root / "submission", limits)
        cells = parse_notebook(name, blob, config["assignment"], limits)
    except Reject as err:
        results = reject(tests, str(err), time.monotonic() - start)
        results["tests"] += manual_entries(config.get("manual") or [])
        return results
    outcomes, run_notes, elapsed = run_submission(cells, tests, source, limits)
    results = compose(tests, outcomes, notes[:5] + run_notes, time.monotonic() - start)
    results["tests"] += manual_entries(config.get("manual") or [])
    results["extra_data"]["sandbox"] = getattr(run_submission, "walls", [])
    stats = getattr(run_submission, "stats", None)
    if stats:  # deterministic counts in results.json; times and peaks only where asked
        results["extra_data"]["call_boundary"] = {k: stats.get(k) for k in ("calls", "bytes")}
        if os.environ.get("HARDEN_STATS"):  # (autograder/boundary.py)
            with open(os.environ["HARDEN_STATS"], "a") as f:
                f.write(json.dumps(stats | {"elapsed": round(time.monotonic() - start, 2)}) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "/autograder")
    results = None
    try:
        results = judge(root)
        write_results(root / "results", results)
    except BaseException as err:  # noqa: BLE001 - the verdict must be written whatever happened
        results = {"score": 0.0, "output": f"The autograder itself failed ({type(err).__name__}: "
                   f"{str(err)[:300]}). Your submission was kept; please tell the course staff.",
                   "tests": [{"name": "Grader error", "score": 0.0, "max_score": 0.0,
                              "output": str(err)[:500], "visibility": "visible"}],
                   "stdout_visibility": "hidden", "extra_data": {"status": "error"}}
        try:
            write_results(root / "results", results)
        except BaseException:  # noqa: BLE001 - last resort: a minimal file, no temp file
            with open(root / "results" / "results.json", "w") as f:
                f.write('{"score": 0.0, "output": "The autograder failed", "tests": []}')
    print(f"score {results['score']}: {results['output'].splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
