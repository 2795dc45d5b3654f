"""The sandboxed half of the grader: runs the student's cells, then the tests the judge sends.

The judge (``judge.py``) starts this file as an unprivileged user in a scratch folder that
holds no tests, no solution and no results path.  It speaks JSON lines:

* stdin, line 1: ``{"cells": [...], "skip": [i, ...], "cell_timeout": s, "seed": n}``
* stdin, line 2 (sent only after the notebook has run): ``{"tests": [...], "nonce": "..."}``
  where each test is ``{"id", "source", "params", "timeout"}``; a second batch may follow.
* the status pipe (its fd number in ``$HARDEN_STATUS_FD``): ``{"event": "cell", "i": i, "state": "start"|"ok"|"error"|"timeout", ...}``,
  ``{"event": "notebook_done"}``, ``{"event": "test", "id": ..., "passed": bool, "message": ...}``
  and ``{"event": "batch_done"}``.

Only plain JSON crosses back; nothing is pickled.  The judge decides the score.

What keeps the student's code from steering the tests (see autograder/README.md, "Hardened
grading", for the threat model and its limits):

* the tests arrive after the notebook has finished, so the notebook cannot read them;
* the tests run against *frozen copies* of torch, numpy, math and friends taken before any
  student code ran, with a private copy of the builtins, so patching ``torch.allclose``,
  ``numpy.testing`` or ``builtins`` changes nothing the tests see;
* every value that comes out of student code (a return value, an attribute of a student
  object) is *sanitised*: subclasses of int/float/str/tuple/list/dict/Tensor/ndarray become
  the plain type, and instances of the student's own classes are wrapped so that their
  ``__eq__``, ``__bool__``, ``__repr__``, ordering and hashing cannot be used by a test;
* after every call into student code the protected modules are restored to the snapshot.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import signal
import sys
import threading
import traceback
import types

STATUS = os.fdopen(int(os.environ.pop("HARDEN_STATUS_FD", "3")), "w", buffering=1)  # JSON events
_STDIN = os.fdopen(os.dup(0), "r")
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)  # student code reading stdin gets EOF, never the judge's messages
sys.stdin = open(os.devnull)

_emit_lock = threading.Lock()


def emit(**event) -> None:
    with _emit_lock:
        STATUS.write(json.dumps(event) + "\n")
        STATUS.flush()


class CellTimeout(BaseException):
    """Raised by the alarm when a cell (or a test) runs past its limit."""


def _on_alarm(signum, frame):
    raise CellTimeout()


signal.signal(signal.SIGALRM, _on_alarm)


def _arm(seconds: float) -> None:
    # Re-fires every second after the first expiry, so code that swallows one exception with
    # a bare ``except`` is interrupted again; the judge kills the process if that fails too.
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01), 1.0)


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0, 0)


# --------------------------------------------------------------------------- notebook phase


class _Sink:
    """stdout/stderr for student code: keeps the first 64 kB, counts and drops the rest."""

    def __init__(self, limit: int = 64 * 1024):
        self.kept, self.size, self.limit = [], 0, limit

    def write(self, text):
        text = str(text)
        if self.size < self.limit:
            self.kept.append(text[: self.limit - self.size])
        self.size += len(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def _ipython_free(source: str) -> str:
    """Turn IPython-only lines (``%magic``, ``!shell``) into ``pass`` so the cell compiles."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines.append(line[: len(line) - len(stripped)] + "pass  # (IPython-only line skipped)")
        else:
            lines.append(line)
    return "\n".join(lines)


def _seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    import torch

    torch.manual_seed(seed)


def run_notebook(job: dict, namespace: dict) -> None:
    sink = _Sink()
    skip = set(job.get("skip", []))
    for i, source in enumerate(job["cells"]):
        if i in skip:
            emit(event="cell", i=i, state="skipped")
            continue
        emit(event="cell", i=i, state="start")
        state, detail = "ok", ""
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = sink
        try:
            code = compile(_ipython_free(source), f"<cell {i}>", "exec")
            _arm(job["cell_timeout"])
            try:
                exec(code, namespace)
            finally:
                _disarm()
        except CellTimeout:
            state, detail = "timeout", f"stopped after {job['cell_timeout']:g} s"
        except SystemExit as err:
            state, detail = "error", f"SystemExit({err.code!r}): exiting is ignored while grading"
        except KeyboardInterrupt:
            state, detail = "error", "KeyboardInterrupt"
        except BaseException as err:  # noqa: BLE001 - any error in a student cell is reported
            state = "error"
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()[-500:]
        finally:
            _disarm()
            sys.stdout, sys.stderr = old_out, old_err
        emit(event="cell", i=i, state=state, detail=detail)
    emit(event="notebook_done", output_bytes=sink.size)


# --------------------------------------------------------------------------- protection

PROTECTED = ("builtins", "math", "operator", "random", "numpy", "numpy.linalg", "numpy.testing",
             "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg",
             "torch.testing", "torch.optim", "torch.autograd", "torch.func")
PROTECTED_TYPES: list = []  # filled with torch.Tensor and numpy.ndarray once imported


class Snapshot:
    """The protected modules' (and types') attributes as they were before student code ran."""

    def __init__(self):
        import importlib

        self.modules, self.dicts, self.types = {}, {}, {}
        for name in PROTECTED:
            try:
                mod = importlib.import_module(name)
            except ImportError:
                continue
            self.modules[name] = mod
            self.dicts[name] = dict(vars(mod))
        import numpy
        import torch

        PROTECTED_TYPES[:] = [torch.Tensor, numpy.ndarray, torch.nn.Module, torch.optim.Optimizer]
        for cls in PROTECTED_TYPES:
            self.types[cls] = dict(cls.__dict__)
        self.frozen = self._freeze()

    def restore(self) -> None:
        """Undo any change the student made to the protected modules and types."""
        for name, mod in self.modules.items():
            sys.modules[name] = mod
            current = vars(mod)
            for key, value in self.dicts[name].items():
                if current.get(key, _MISSING) is not value:
                    try:
                        setattr(mod, key, value)
                    except (AttributeError, TypeError):
                        pass
        for cls, saved in self.types.items():
            for key in list(cls.__dict__):
                if key not in saved:
                    try:
                        delattr(cls, key)
                    except (AttributeError, TypeError):
                        pass
            for key, value in saved.items():
                if cls.__dict__.get(key, _MISSING) is not value:
                    try:
                        setattr(cls, key, value)
                    except (AttributeError, TypeError):
                        pass
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)
        threading.setprofile(None)

    def _freeze(self) -> dict[str, types.ModuleType]:
        """Module objects whose attribute dicts are copies of the snapshot (tests import these)."""
        frozen = {}
        for name in self.modules:
            copy = types.ModuleType(name)
            copy.__dict__.update(self.dicts[name])
            frozen[name] = copy
        for name, copy in frozen.items():  # point submodule attributes at their frozen copies
            for key, value in list(copy.__dict__.items()):
                if isinstance(value, types.ModuleType) and value.__name__ in frozen:
                    copy.__dict__[key] = frozen[value.__name__]
        return frozen

    def test_builtins(self) -> dict:
        """A private builtins dict whose ``__import__`` hands out the frozen modules."""
        safe = dict(self.dicts["builtins"])
        real_import = safe["__import__"]
        frozen = self.frozen

        def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and name in frozen:
                if fromlist:
                    return frozen[name]
                return frozen[name.partition(".")[0]] if name.partition(".")[0] in frozen else frozen[name]
            return real_import(name, globals, locals, fromlist, level)

        safe["__import__"] = guarded_import
        return safe


_MISSING = object()


# --------------------------------------------------------------------------- sanitising

def _is_student_code(code) -> bool:
    return isinstance(code, types.CodeType) and code.co_filename.startswith("<cell ")


def _is_student_type(cls) -> bool:
    """A class whose methods were written in the notebook (defined in a ``<cell N>``)."""
    for klass in getattr(cls, "__mro__", ()):
        for value in vars(klass).values():
            func = getattr(value, "__func__", value)
            func = getattr(func, "fget", func)
            if _is_student_code(getattr(func, "__code__", None)):
                return True
    return False


class Untrusted:
    """Wraps an instance of a student-defined class for use by tests.

    Attribute reads, calls and arithmetic go to the real object and their results are
    sanitised; equality, ordering, truth value, hashing and repr are refused, because a
    student's class could make them say anything.
    """

    __slots__ = ("_obj", "_guard")

    def __init__(self, obj, guard):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_guard", guard)

    @property
    def __class__(self):  # isinstance(x, nn.Module) and friends see the real class
        return type(object.__getattribute__(self, "_obj"))

    def __getattr__(self, name):
        obj, guard = object.__getattribute__(self, "_obj"), object.__getattribute__(self, "_guard")
        return guard.call(getattr, obj, name)

    def __setattr__(self, name, value):
        obj, guard = object.__getattribute__(self, "_obj"), object.__getattribute__(self, "_guard")
        guard.call(setattr, obj, name, unwrap(value))

    def __call__(self, *args, **kwargs):
        obj, guard = object.__getattribute__(self, "_obj"), object.__getattribute__(self, "_guard")
        return guard.call(obj, *args, **kwargs)

    def _refuse(self, *args, **kwargs):
        raise TypeError("a test compared or printed an object of the submission's own class; "
                        "return plain numbers, tensors or containers instead")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __bool__ = __hash__ = __repr__ = __str__ = __format__ = _refuse


def _forward(op):
    def method(self, *args):
        obj, guard = object.__getattribute__(self, "_obj"), object.__getattribute__(self, "_guard")
        return guard.call(getattr(type(obj), op), obj, *map(unwrap, args))
    method.__name__ = op
    return method


for _op in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "pow", "rpow",
            "matmul", "rmatmul", "neg", "pos", "abs", "len", "iter", "next", "getitem",
            "setitem", "contains", "float", "int", "index"):
    setattr(Untrusted, f"__{_op}__", _forward(f"__{_op}__"))


def unwrap(value):
    if type(value) is Untrusted or isinstance(value, GuardedFunction):
        return object.__getattribute__(value, "_obj")
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(unwrap(v) for v in value)
    return value


class GuardedFunction:
    """A student function or class as the tests see it: results sanitised, state restored."""

    def __init__(self, obj, guard):
        self._obj, self._guard = obj, guard

    def __call__(self, *args, **kwargs):
        return self._guard.call(self._obj, *args, **kwargs)

    def __getattr__(self, name):
        return self._guard.call(getattr, self._obj, name)


class Guard:
    def __init__(self, snapshot: Snapshot):
        import numpy
        import torch

        self.snapshot, self.torch, self.numpy = snapshot, torch, numpy

    def call(self, fn, *args, **kwargs):
        args = tuple(unwrap(a) for a in args)
        kwargs = {k: unwrap(v) for k, v in kwargs.items()}
        try:
            result = fn(*args, **kwargs)
        finally:
            self.snapshot.restore()
        return self.sanitize(result)

    def wrap_name(self, value):
        """How a name from the student's namespace is handed to a test."""
        if isinstance(value, type) and _is_student_type(value):
            return value  # tests need isinstance(x, Value); instances are sanitised on the way out
        if isinstance(value, (types.FunctionType, types.MethodType)) or (
                callable(value) and _is_student_type(type(value))):
            return GuardedFunction(value, self)
        return self.sanitize(value)

    def sanitize(self, value, depth: int = 0):
        torch, numpy = self.torch, self.numpy
        if value is None or type(value) in (bool, int, float, complex, str, bytes):
            return value
        if depth > 20:
            raise TypeError("a returned container is nested too deeply")
        if isinstance(value, bool):
            return bool(int.__int__(value))
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, complex):
            return complex.__complex__(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, bytes):
            return bytes(memoryview(value))
        if isinstance(value, torch.Tensor):
            if _is_student_type(type(value)):
                with torch._C.DisableTorchFunction():
                    return torch.Tensor.as_subclass(value, torch.Tensor)
            return value
        if isinstance(value, numpy.ndarray):
            return value if not _is_student_type(type(value)) else numpy.asarray(value).view(numpy.ndarray)
        if isinstance(value, tuple):
            items = [self.sanitize(v, depth + 1) for v in tuple.__iter__(value)]
            return tuple(items) if not hasattr(value, "_fields") or _is_student_type(type(value)) \
                else type(value)(*items)
        if isinstance(value, list):
            return [self.sanitize(v, depth + 1) for v in list.__iter__(value)]
        if isinstance(value, dict):
            return {self.sanitize(k, depth + 1): self.sanitize(v, depth + 1)
                    for k, v in dict.items(value)}
        if isinstance(value, (set, frozenset)):
            return {self.sanitize(v, depth + 1) for v in set.__iter__(set(value))}
        if isinstance(value, type):
            return value
        if isinstance(value, (types.FunctionType, types.MethodType)) and \
                _is_student_code(getattr(getattr(value, "__func__", value), "__code__", None)):
            return GuardedFunction(value, self)
        if _is_student_type(type(value)):
            return Untrusted(value, self)
        return value


# --------------------------------------------------------------------------- test phase


def run_tests(batch: dict, namespace: dict, snapshot: Snapshot, guard: Guard) -> None:
    test_builtins = snapshot.test_builtins()
    for test in batch["tests"]:
        passed, message = False, ""
        snapshot.restore()
        _seed(batch.get("seed", 42))
        try:
            if test.get("kind") == "ok":
                _arm(test["timeout"])
                try:
                    passed, message = run_ok_test(test, namespace, snapshot, guard, test_builtins)
                finally:
                    _disarm()
                emit(event="test", id=test["id"], passed=passed is True,
                     message=str.__str__(message)[:2000], nonce=batch["nonce"])
                continue
            test_ns = {"__builtins__": test_builtins, "__name__": "grading_test"}
            exec(compile(test["source"], "<test>", "exec"), test_ns)
            fn = test_ns[test["function"]]
            args = []
            for param in test["params"]:
                if param not in namespace:
                    raise NameError(f"name {param!r} is not defined in the notebook: did you rename "
                                    "or delete it, or did the cell that defines it fail?")
                args.append(guard.wrap_name(namespace[param]))
            _arm(test["timeout"])
            try:
                fn(*args)
            finally:
                _disarm()
            passed = True
        except CellTimeout:
            message = f"the test did not finish within {test['timeout']:g} s"
        except AssertionError as err:
            message = str.__str__(str(err)) if type(err) is AssertionError else "assertion failed"
            message = message or "assertion failed"
        except BaseException as err:  # noqa: BLE001 - any failure of a test is a failed test
            try:
                message = f"{type(err).__name__}: {str.__str__(str(err))}"
            except BaseException:  # noqa: BLE001 - a lying __str__ gets no say
                message = type(err).__name__
        finally:
            _disarm()
            snapshot.restore()
        emit(event="test", id=test["id"], passed=passed and type(passed) is bool,
             message=message[:2000], nonce=batch["nonce"])
    emit(event="batch_done", nonce=batch["nonce"])


def _ok_globals(namespace: dict, snapshot: Snapshot, guard: Guard, test_builtins: dict) -> dict:
    """What an OK-format (doctest) case sees: the notebook's names, sanitised like the
    arguments of an exception-based test, with the frozen modules instead of the live ones."""
    glb = {"__builtins__": test_builtins, "__name__": "grading_test"}
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        try:
            if isinstance(value, types.ModuleType):
                glb[name] = snapshot.frozen.get(value.__name__, value)
            else:
                glb[name] = guard.wrap_name(value)
        except Exception:  # noqa: BLE001 - a value that cannot be sanitised stays out of reach
            pass
    return glb


def _same_output(want: str, got: str) -> bool:
    want, got = want.rstrip("\n"), got.rstrip("\n")
    return want == got or " ".join(want.split()) == " ".join(got.split())


def run_ok_test(test: dict, namespace: dict, snapshot: Snapshot, guard: Guard,
                test_builtins: dict) -> tuple[bool, str]:
    """Run an OK-format case as doctest does: each ``>>>`` example in turn, its printed output
    and the repr of its value compared with the expected lines (whitespace-insensitive)."""
    glb = _ok_globals(namespace, snapshot, guard, test_builtins)
    for example in test["examples"]:
        sink = _Sink()

        def hook(value, sink=sink):
            if value is not None:
                sink.write(repr(value) + "\n")

        old = sys.stdout, sys.stderr, sys.displayhook
        sys.stdout, sys.displayhook = sink, hook
        error = None
        try:
            exec(compile(example["source"], "<test>", "single"), glb)
        except CellTimeout:
            raise
        except BaseException as err:  # noqa: BLE001 - compared with an expected traceback below
            try:
                error = f"{type(err).__name__}: {str.__str__(str(err))}"
            except BaseException:  # noqa: BLE001 - a lying __str__ gets no say
                error = type(err).__name__
        finally:
            sys.stdout, sys.stderr, sys.displayhook = old
            snapshot.restore()
        want = example["want"]
        got = "".join(str.__str__(t) for t in sink.kept)
        line = example["source"].split("\n")[0]
        if want.startswith("Traceback (most recent call last)"):
            expected = [ln for ln in want.split("\n") if ln and not ln[0].isspace()][-1]
            if error is None or " ".join(error.split()) != " ".join(expected.split()):
                return False, f">>> {line}\nexpected the error: {expected}\ngot: {error or got}"
            continue
        if error is not None:
            return False, f">>> {line}\nraised {error}"
        if not _same_output(want, got):
            return False, f">>> {line}\nexpected:\n{want[:500]}\ngot:\n{got[:500]}"
    return True, ""


def main() -> None:
    # The judge may have moved the work folder into a private tmpfs (harden/sandbox.py): the
    # per-user paths follow the folder the worker actually runs in.
    here = os.getcwd()
    os.environ.update(HOME=here, MPLCONFIGDIR=f"{here}/.mpl", XDG_CACHE_HOME=f"{here}/.cache",
                      DLCOURSE_DATA=f"{here}/data")
    import matplotlib

    matplotlib.use("Agg")
    import numpy  # noqa: F401 - imported before the snapshot so the tests get the real one
    import torch  # noqa: F401

    snapshot = Snapshot()
    guard = Guard(snapshot)
    job = json.loads(_STDIN.readline())
    # the scratch folder holds the zip's copy of the course helpers (dlcourse/) and the
    # assignment's `files:`, importable as in Jupyter, where the notebook's folder is on the
    # path; appended, so it never shadows the standard library.  The grading interpreter
    # (.grader-venv, Gradescope's image) has no dlcourse installed, so the zip's copy is used.
    sys.path.append(os.getcwd())
    _seed(job.get("seed", 42))
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    run_notebook(job, namespace)
    snapshot.restore()
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()
             and t.name not in ("TMonitor",)]
    if extra:
        emit(event="note", text=f"background threads still running after the notebook: {extra[:5]}")
    while True:
        line = _STDIN.readline()
        if not line:
            break
        run_tests(json.loads(line), namespace, snapshot, guard)
    STATUS.flush()
    os._exit(0)  # skip atexit handlers the student may have registered


if __name__ == "__main__":
    main()
