"""Red-team suite of issue 12: attacks on the grading API, graded as a black box.

Every attack in ``tests/redteam/attacks.py`` is a week-1 submission that tries to raise its
score, leak hidden tests, reach the network or break results.json.  They are all graded
through ``autograder.grade.grade(zip, submission)`` (the same call for today's grader and
for the executor/evaluator redesign), two at a time, with short limits.  The verdict of one
attack is the list of *holes* it opened:

* ``score``: it scored more than its base (the blank notebook, or the solution with one
  known-wrong answer, graded alone in the same run);
* ``results``: results.json is not valid (``validate_results``) or was not written by the
  judge itself (grade.py's fallback after a crash or time-out);
* ``leak``: a line or docstring of a hidden test (from the zip's tests) is in a field the
  student sees (``output``, every test's ``name`` and ``output``);
* ``listener``: the 127.0.0.1 listener this test opened for the attack got a connection;
* ``regrade``: a second grading (5 attacks) gave another score or other per-question scores;
* ``survivor``: a process the attack recorded is still alive after grading;
* ``residue``: files it left in /tmp or /dev/shm outlive grading.

Attacks that succeed against today's grader are xfail (``KNOWN_HOLES_BEFORE_SPLIT``); the
table of attack -> class -> verdict goes to ``dist/redteam/report.md``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, built

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "autograder"))
from harden import judge  # noqa: E402
from redteam import attacks as rt  # noqa: E402
from test_hardening import validate_results  # noqa: E402

SLUG = "01_tensors"
# Short limits so the whole suite fits in a few minutes on 2 cores (as test_hardening does).
LIMITS = {"cell_timeout": 4, "test_timeout": 6, "total_timeout": 30, "max_restarts": 2}
JOBS = 2
GRADE_TIMEOUT = 150
REGRADE = ["c1_forge_with_nonce_from_stack", "c2_torch_function_mode_left_active",
           "c3_mutate_inputs_in_place", "c4_fill_tmp_and_leave", "c5_tcp_from_notebook"]
# REDTEAM_ZIP grades another built zip of this week (e.g. a branch's grader) with the same
# attacks; REDTEAM_OUT puts its report elsewhere (default dist/redteam).
REPORT = Path(os.environ.get("REDTEAM_OUT") or ROOT / "dist" / "redteam")

# Attacks that beat the single-process grader of commit 06cffa6 (37 of 53; the table of that
# run is in the closing note of the stop that landed issue 12).  The executor/evaluator split
# defeats all of them: c3_mutate_inputs_in_place by the in-place rule, c5_read_tests_from_disk
# because dist/solution and dist/gradescope are owner-only.  Any attack listed here again is
# a known, accepted hole (xfail), with its reason in the commit that adds it.
KNOWN_HOLES_BEFORE_SPLIT: set[str] = set()  # emptied: the split (issue 12) defeats them all

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user needs root, as on Gradescope")


# --------------------------------------------------------------------------- listener


class Listener:
    """A TCP listener on 127.0.0.1 (a free port) that records every connection and byte."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections, self.received = 0, b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(2)
            with conn:
                try:
                    while len(self.received) < 1 << 20:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        self.received += chunk
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


# --------------------------------------------------------------------------- verdicts


def hidden_texts(zip_path: Path) -> list[str]:
    """What must never reach the student: hidden tests' docstrings and distinctive lines."""
    with zipfile.ZipFile(zip_path) as zf:
        tests = judge.load_tests_from_zip(zf)
    out = set()
    for t in tests:
        if not t["hidden"]:
            continue
        out.add(t["doc"])
        for line in t["source"].splitlines():
            line = line.strip()
            if len(line) >= 24 and not line.startswith(("def ", "import ", "from ", "return ")):
                out.add(line)
    return sorted(out)


def visible_text(results: dict) -> str:
    parts = [str(results.get("output", ""))]
    for t in results.get("tests", []) or []:
        parts += [str(t.get("name", "")), str(t.get("output", ""))]
    return "\n".join(parts)


def per_question(results: dict) -> dict:
    return {t.get("name"): t.get("score") for t in results.get("tests", []) or []}


def judge_wrote_it(results: dict) -> bool:
    """grade.py's own fallback (the judge crashed, hung or wrote nothing) has this shape."""
    return not any(t.get("name") == "Grading error" for t in results.get("tests", []) or [])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not a survivor
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def after_grading(prefixes: list[str]) -> tuple[list[int], list[str]]:
    """(surviving recorded pids, leftover files) of one attack; kills and removes them."""
    survivors, leftovers = [], []
    for prefix in prefixes:
        for path in glob.glob(prefix + "*"):
            if path.endswith(".pids"):
                with contextlib.suppress(OSError):
                    for pid in {int(x) for x in Path(path).read_text().split() if x.isdigit()}:
                        if _alive(pid):
                            survivors.append(pid)
                            with contextlib.suppress(OSError):
                                os.kill(pid, signal.SIGKILL)
            else:
                leftovers.append(path)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)
    return survivors, leftovers


# --------------------------------------------------------------------------- grading


@contextlib.contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_suite(work: Path) -> dict:
    """Grade every attack (and the bases, and a second grading of a sample); return verdicts."""
    from autograder import grade

    paths = dict(built(SLUG))
    if os.environ.get("REDTEAM_ZIP"):
        paths["zip"] = Path(os.environ["REDTEAM_ZIP"]).resolve()
    tag = secrets.token_hex(4)
    base_nbs = rt.bases(SLUG)
    subs = work / "subs"
    subs.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, Path]] = []
    for name, nb in base_nbs.items():
        p = subs / f"base_{name}.ipynb"
        p.write_text(json.dumps(nb))
        jobs.append((f"base:{name}", p))
    listeners, prefixes = {}, {}
    for a in rt.ATTACKS:
        listeners[a.name] = Listener()
        prefixes[a.name] = [f"/tmp/redteam-{tag}-{a.name}", f"/dev/shm/redteam-{tag}-{a.name}"]
        nb = rt.build(a, base_nbs, listeners[a.name].port, *prefixes[a.name])
        d = subs / a.name
        d.mkdir(exist_ok=True)
        (d / f"{SLUG}.ipynb").write_text(json.dumps(nb))
        jobs.append((a.name, d / f"{SLUG}.ipynb"))
    slow = {a.name for a in rt.ATTACKS if a.slow}
    jobs.sort(key=lambda j: j[0] not in slow)  # the long ones first, so the pool ends evenly
    jobs += [(f"regrade:{n}", subs / n / f"{SLUG}.ipynb") for n in REGRADE]

    results, seconds = {}, {}

    def one(key: str, path: Path):
        t0 = time.monotonic()
        res = grade.grade(paths["zip"], path, timeout=GRADE_TIMEOUT)
        seconds[key] = time.monotonic() - t0
        name = key.split(":", 1)[-1]
        extra = after_grading(prefixes[name]) if name in prefixes else ([], [])
        print(f"redteam: {key}: {res.get('score')} in {seconds[key]:.1f} s", file=sys.stderr, flush=True)
        return res, extra

    t0 = time.monotonic()
    with _env(HARDEN_LIMITS=json.dumps(LIMITS)), \
            concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
        futures = {pool.submit(one, k, p): k for k, p in jobs}
        for fut in concurrent.futures.as_completed(futures):
            k = futures[fut]
            try:
                results[k] = fut.result()
            except Exception as err:  # noqa: BLE001 - one broken grading must not hide the rest
                results[k] = ({"score": None, "output": f"harness error: {err!r}", "tests": []}, ([], []))
    total_seconds = time.monotonic() - t0
    time.sleep(0.5)
    for lis in listeners.values():
        lis.close()

    hidden = hidden_texts(paths["zip"])
    base_scores = {k.split(":", 1)[1]: r[0]["score"] for k, r in results.items() if k.startswith("base:")}
    verdicts = {}
    for a in rt.ATTACKS:
        res, (survivors, leftovers) = results[a.name]
        holes = []
        base = base_scores[a.base]
        score = res.get("score")
        if not isinstance(score, (int, float)) or score > base + 1e-9:
            holes.append(f"score {score} > base {base}")
        try:
            validate_results(res)
            if not judge_wrote_it(res):
                holes.append("results: the judge wrote no results.json (" +
                             str(res.get("output", ""))[:120].replace("\n", " ") + ")")
        except AssertionError as err:
            holes.append(f"results: invalid ({err})")
        seen = visible_text(res)
        leaked = [h for h in hidden if h in seen]
        if leaked:
            holes.append(f"leak: {len(leaked)} hidden line(s), e.g. {leaked[0][:60]!r}")
        lis = listeners[a.name]
        if lis.connections or lis.received:
            holes.append(f"listener: {lis.connections} connection(s), {len(lis.received)} bytes")
        if a.name in REGRADE:
            again = results[f"regrade:{a.name}"][0]
            if again.get("score") != score or per_question(again) != per_question(res):
                holes.append(f"regrade: {score} then {again.get('score')}")
        if survivors:
            holes.append(f"survivor: {len(survivors)} process(es) outlived grading")
        if leftovers:
            holes.append(f"residue: {len(leftovers)} file(s) left in /tmp or /dev/shm")
        verdicts[a.name] = {"cls": a.cls, "what": a.what, "base": a.base, "base_score": base,
                            "score": score, "holes": holes, "seconds": round(seconds.get(a.name, 0), 1),
                            "output": str(res.get("output", ""))[:400]}
    return {"verdicts": verdicts, "bases": base_scores, "total_seconds": round(total_seconds, 1),
            "gradings": len(jobs)}


def write_report(suite: dict) -> str:
    lines = ["# Red-team suite (issue 12): verdicts against this grader", "",
             f"zip: `{os.environ.get('REDTEAM_ZIP') or 'dist/gradescope/' + SLUG + '.zip (this checkout)'}`", "",
             f"{len(suite['verdicts'])} attacks, {suite['gradings']} gradings in "
             f"{suite['total_seconds']} s ({JOBS} at a time, limits {json.dumps(LIMITS)}); "
             f"base scores: {json.dumps(suite['bases'])}.", "",
             "| attack | class | base | score | verdict | holes | s |", "|---|---|---|---|---|---|---|"]
    for name, v in suite["verdicts"].items():
        verdict = "HOLE" if v["holes"] else "holds"
        known = " (known)" if name in KNOWN_HOLES_BEFORE_SPLIT else ""
        holes = "; ".join(v["holes"]).replace("|", "/") or "-"
        lines.append(f"| {name} | {v['cls']}: {rt.CLASSES[v['cls']]} | {v['base']} ({v['base_score']:g}) "
                     f"| {v['score']} | {verdict}{known} | {holes} | {v['seconds']} |")
    lines += ["", "## What each attack does", ""]
    lines += [f"- `{a.name}` (class {a.cls}): {a.what}" for a in rt.ATTACKS]
    text = "\n".join(lines) + "\n"
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "report.md").write_text(text)
    (REPORT / "verdicts.json").write_text(json.dumps(suite, indent=2))
    return text


_SUITE: dict = {}


def suite() -> dict:
    """Graded once per pytest run, even with xdist (workers share it through a locked file)."""
    if _SUITE:
        return _SUITE
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    REPORT.mkdir(parents=True, exist_ok=True)
    cache = REPORT / "verdicts.json"
    with open(REPORT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if run_id and cache.exists():
            data = json.loads(cache.read_text())
            if data.get("run_id") == run_id:
                _SUITE.update(data)
                return _SUITE
        work = Path(os.environ.get("TMPDIR", "/tmp")) / f"redteam-suite-{os.getpid()}"
        try:
            data = run_suite(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        data["run_id"] = run_id
        report = write_report(data)
        print(report)
        _SUITE.update(data)
    return _SUITE


def _param(a):
    marks = [pytest.mark.xfail(strict=False, reason="defeated only by the executor/evaluator split (issue 12)")] \
        if a.name in KNOWN_HOLES_BEFORE_SPLIT else []
    return pytest.param(a.name, id=a.name, marks=marks)


def test_the_suite_covers_every_class():  # quick: no grading
    names = [a.name for a in rt.ATTACKS]
    assert len(names) == len(set(names)) >= 40
    assert {a.cls for a in rt.ATTACKS} == set(rt.CLASSES)
    assert set(REGRADE) <= set(names) and len(REGRADE) == 5
    assert KNOWN_HOLES_BEFORE_SPLIT <= set(names)


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("name", [_param(a) for a in rt.ATTACKS])
def test_attack_is_defeated(name):
    v = suite()["verdicts"][name]
    assert not v["holes"], f"{name} (class {v['cls']}: {v['what']}): " + "; ".join(v["holes"]) + \
        f"\nresults output: {v['output']}"


@pytest.mark.slow
@needs_root
def test_report_is_written_and_bases_score_as_expected():
    data = suite()
    assert data["bases"]["blank"] == 0, "the blank notebook is the zero baseline"
    assert 0 < data["bases"]["wrong_q1"] < 24 and 0 < data["bases"]["wrong_q2"] < 24
    text = (REPORT / "report.md").read_text()
    assert all(f"| {a.name} |" in text for a in rt.ATTACKS)
