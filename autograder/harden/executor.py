"""The executor: the only process that runs student code (split grading, see evaluator.py).

Started by the judge as an unprivileged uid inside the kernel walls of ``sandbox.py``.  It
reads request frames (``codec``) from the fd in ``$HARDEN_CALL_IN`` and answers on
``$HARDEN_CALL_OUT``; both lead to the evaluator, never to the judge.  It is told to run the
notebook's cells one by one, then to look up names, call, read attributes, apply operators.
Every answer is plain data (numbers, strings, containers, tensors and arrays by value) or a
*handle*: an id in this process's object table, with the ids and qualified names of its
type's MRO, so the evaluator can answer ``isinstance`` without running anything here.

It never sees a test's source, an expected value, a nonce or a score: the evaluator sends
only the arguments of one call (tensors, modules, optimisers and generators it *mirrors*, and
the test's lambdas as source code plus closure values).  Lying here changes only what this
process returns, which the evaluator checks like any other answer.
"""

from __future__ import annotations

import builtins
import io
import os
import random
import signal
import sys
import traceback
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
import codec  # noqa: E402  (copied beside this file in _grader/)

IN = int(os.environ.pop("HARDEN_CALL_IN", "3"))
OUT = int(os.environ.pop("HARDEN_CALL_OUT", "4"))
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)


class CellTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise CellTimeout()


signal.signal(signal.SIGALRM, _on_alarm)


def _arm(seconds):
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 0.01), 1.0)


def _disarm():
    signal.setitimer(signal.ITIMER_REAL, 0, 0)


class _Sink(io.TextIOBase):
    def __init__(self, limit=64 * 1024):
        self.size, self.limit, self.kept = 0, limit, []

    def write(self, text):
        text = str(text)
        if self.size < self.limit:
            self.kept.append(text[: self.limit - self.size])
        self.size += len(text)
        return len(text)

    def isatty(self):
        return False


def _ipython_free(source):
    lines = []
    for line in source.splitlines():
        s = line.lstrip()
        lines.append(line[: len(line) - len(s)] + "pass" if s.startswith(("%", "!")) else line)
    return "\n".join(lines)


def _seed(seed):
    import numpy
    import torch

    random.seed(seed)
    numpy.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- object tables


class Tables:
    def __init__(self):
        self.handles: dict[int, object] = {}  # handle id -> object (kept alive)
        self.by_obj: dict[int, int] = {}      # id(object) -> handle id
        self.mirrors: dict[int, object] = {}  # evaluator's mirror id -> our copy
        self.mirror_of: dict[int, int] = {}   # id(our copy) -> mirror id
        self.seen: dict[int, tuple] = {}      # mirror id -> version key at the last sync
        self.orig: dict[int, object] = {}     # mirror id -> value of a plain tensor as sent
        self.next = 1

    def handle(self, obj) -> int:
        hid = self.by_obj.get(id(obj))
        if hid is None or self.handles.get(hid) is not obj:
            hid = self.next
            self.next += 1
            self.handles[hid] = obj
            self.by_obj[id(obj)] = hid
        return hid


T = Tables()
NS: dict = {"__name__": "__main__", "__builtins__": builtins}


def _qual(cls):
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"


def _version(t):
    g = t.grad
    return (t._version, t.requires_grad, id(g) if g is not None else None,
            g._version if g is not None else None, tuple(t.shape))


def encode_out(value, enc, depth):
    """Executor -> evaluator: plain data, tensors by value, everything else as a handle."""
    import numpy
    import torch

    if isinstance(value, torch.Tensor):
        mid = T.mirror_of.get(id(value))
        out = enc.tensor(value, depth, mid=mid)
        if value.requires_grad and value.grad_fn is not None:
            out["gh"] = T.handle(value)  # kept for a backward pass the evaluator may ask for
        elif mid is None:
            out["oid"] = T.handle(value)  # the evaluator keeps one tensor per object of ours
        return out
    if isinstance(value, numpy.ndarray):
        return enc.ndarray(value)
    if isinstance(value, numpy.generic) and type(value).__module__ == "numpy":
        return enc(value.item(), depth)
    for plain, conv in ((bool, bool), (int, int.__int__), (float, float.__float__),
                        (str, str.__str__)):
        if isinstance(value, plain) and type(value) is not plain and not isinstance(value, type):
            if plain is bool:
                return bool(int.__int__(value))
            return conv(value)
    if isinstance(value, tuple) and not hasattr(type(value), "_fields"):
        return {"$": "tuple", "v": [enc(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, list) and type(value) is not list:
        return [enc(v, depth + 1) for v in list.__iter__(value)]
    hid = T.handle(value)
    cls = value if isinstance(value, type) else type(value)
    mro = getattr(type(value), "__mro__", (type(value),))
    out = {"$": "handle", "id": hid, "tids": [id(c) for c in mro],
           "mro": [_qual(c) for c in mro], "call": callable(value)}
    if isinstance(value, type):
        out["tid"] = id(value)
        out["cls_mro"] = [_qual(c) for c in cls.__mro__]
    mid = T.mirror_of.get(id(value))
    if mid is not None:
        out["mid"] = mid
    return out


_LIB = {}


def _library():
    if not _LIB:
        import math

        import numpy
        import torch
        import torch.nn.functional as F

        _LIB.update(torch=torch, F=F, nn=torch.nn, np=numpy, numpy=numpy, math=math,
                    random=random)
    return _LIB


def _resolve(name: str):
    """A library object by qualified name (torch.nn.functional.softplus): torch/numpy/math only."""
    root = name.split(".")[0]
    if root not in ("torch", "numpy", "math", "builtins", "operator", "functools"):
        raise codec.FrameError(f"{name[:60]} is not a library object")
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise codec.FrameError(f"cannot resolve {name[:60]}")


def decode_in(tree, dec, depth):
    """Evaluator -> executor: mirrors (updated in place), handles, code, library objects."""
    import torch

    tag = tree.get("$")
    if tag == "ref":
        hid = tree.get("id")
        if hid not in T.handles:
            raise codec.FrameError(f"unknown handle {hid!r}")
        return T.handles[hid]
    if tag == "mtensor":
        return _mirror_tensor(tree, dec)
    if tag == "module":
        mid = tree["mid"]
        mod = T.mirrors.get(mid)
        if mod is None:
            mod = torch.load(io.BytesIO(dec.buf(tree["blob"])), weights_only=False)
            _adopt(mid, mod)
            for (name, pmid) in tree["tensors"]:
                t = _get_path(mod, name)
                _adopt(pmid, t)
            for path, kind, hook in tree.get("hooks", []):
                sub = _get_path(mod, path)
                fn = dec(hook)
                (sub.register_forward_pre_hook if kind == "_forward_pre_hooks"
                 else sub.register_forward_hook)(fn)
        _apply_module_state(mod, tree, dec)
        return mod
    if tag == "optim":
        mid = tree["mid"]
        opt = T.mirrors.get(mid)
        groups = [{k: dec(v) for k, v in g.items()} for g in tree["groups"]]
        if opt is None:
            if "clscode" in tree:  # a subclass the test defined, rebuilt from its source
                ns = dict(_library())
                exec(compile(str(tree["clscode"]), "<test class>", "exec"), ns)
                cls = ns[tree["cls"].rpartition(".")[2]]
            else:
                cls = _resolve(tree["cls"])
            opt = cls(groups)
            _adopt(mid, opt)
        else:
            for g, new in zip(opt.param_groups, groups):
                g.update(new)
        if "state" in tree:
            sd = dec(tree["state"])
            opt.load_state_dict({"state": sd, "param_groups": [
                {k: v for k, v in g.items() if k != "params"} | {"params": list(range(
                    sum(len(x["params"]) for x in opt.param_groups[:j]),
                    sum(len(x["params"]) for x in opt.param_groups[:j + 1])))}
                for j, g in enumerate(opt.param_groups)]})
        return opt
    if tag == "otensor":  # one of our own tensors, as the test changed it
        obj = T.handles.get(tree.get("id"))
        if not isinstance(obj, torch.Tensor):
            raise codec.FrameError("unknown tensor handle")
        _write(obj, dec.tensor(tree["v"]))
        return obj
    if tag == "iter":
        return iter(dec(tree["v"]))
    if tag == "mlist":
        mid = tree["mid"]
        obj = T.mirrors.get(mid)
        new = dec(tree["v"])
        if obj is None:
            _adopt(mid, new)
            return new
        if type(obj) is list:
            obj[:] = new
        else:
            obj.clear()
            obj.update(new)
        return obj
    if tag == "sched":
        mid = tree["mid"]
        opt = dec(tree["opt"])
        sched = T.mirrors.get(mid)
        state = dec(tree["state"])
        if sched is None:
            cls = _resolve(tree["cls"])
            saved = [dict(g) for g in opt.param_groups]
            if "lambdas" in tree:
                sched = cls(opt, [dec(f) for f in tree["lambdas"]])
            else:
                sched = cls(opt)
            for g, old in zip(opt.param_groups, saved):  # the constructor's step is undone
                g.update(old)
            _adopt(mid, sched)
        if hasattr(sched, "lr_lambdas"):
            state["lr_lambdas"] = [None] * len(sched.lr_lambdas)
        sched.load_state_dict(state)
        return sched
    if tag == "gen":
        mid = tree["mid"]
        g = T.mirrors.get(mid)
        if g is None:
            g = torch.Generator()
            _adopt(mid, g)
        g.set_state(torch.frombuffer(bytearray(dec.buf(tree["state"])), dtype=torch.uint8).clone())
        return g
    if tag == "lib":
        return _resolve(str(tree["name"]))
    if tag == "code":
        env = dict(_library())
        free = {k: dec(v, depth + 1) for k, v in zip(tree["free"], tree["vals"])}
        env.update(free)
        src = str(tree["src"])
        code = compile(src, "<test callable>", "exec")
        ns = dict(env)
        exec(code, ns)
        return ns[tree["name"]]
    return NotImplemented


_TEST_CLASSES: dict = {}


def _load_test_class(name, source):
    """A class a test defined, rebuilt from its source (called by torch.load for mirrored
    modules whose class the test wrote)."""
    key = (name, source)
    if key not in _TEST_CLASSES:
        ns = dict(_library())
        exec(compile(str(source), "<test class>", "exec"), ns)
        _TEST_CLASSES[key] = ns[name]
    return _TEST_CLASSES[key]


def _adopt(mid, obj):
    T.mirrors[mid] = obj
    T.mirror_of[id(obj)] = mid
    if hasattr(obj, "_version"):
        T.seen[mid] = None


def _mirror_tensor(tree, dec):
    import torch

    mid = tree["mid"]
    new = dec.tensor(tree["v"])
    old = T.mirrors.get(mid)
    if not new.requires_grad and not tree.get("param"):  # to tell a real change from a
        T.orig[mid] = new.detach().clone()               # perturb-and-restore
    if old is None:
        if tree.get("param"):
            new = torch.nn.Parameter(new.detach(), requires_grad=new.requires_grad)
            if tree["v"].get("grad"):
                new.grad = dec.tensor(tree["v"]["grad"], grad=False)
        _adopt(mid, new)
        T.seen[mid] = _version(new)
        return new
    _write(old, new)
    T.seen[mid] = _version(old)
    return old


def _write(old, new):
    """Make ``old`` hold ``new``'s values, grad and requires_grad, keeping its identity."""
    import torch

    with torch.no_grad():
        if old.shape == new.shape and old.dtype == new.dtype:
            old.copy_(new.detach())
        else:
            old.data = new.detach().clone()
    if old.is_leaf and old.requires_grad != new.requires_grad:
        old.requires_grad_(new.requires_grad)
    old.grad = new.grad


def _get_path(mod, name):
    obj = mod
    for p in (name.split(".") if name else []):
        obj = getattr(obj, p)
    return obj


def _apply_module_state(mod, tree, dec):
    for (name, training) in zip([n for n, _ in mod.named_modules()], tree.get("training", [])):
        _get_path(mod, name).training = bool(training) if name else bool(training)
    if tree.get("training"):
        mod.training = bool(tree["training"][0])
    for item in tree.get("state", []):
        _mirror_tensor(item, dec)


def sync_out(enc) -> list:
    """Every mirrored tensor that changed here, and mirrored modules/optimisers/generators."""
    import torch

    out = []
    for mid, obj in list(T.mirrors.items()):
        if isinstance(obj, torch.Tensor):
            key = _version(obj)
            if key != T.seen.get(mid):
                T.seen[mid] = key
                orig = T.orig.get(mid)
                if orig is not None and obj.grad is None and orig.shape == obj.shape and \
                        orig.dtype == obj.dtype and torch.equal(orig, obj.detach()):
                    continue  # touched but restored: nothing to write back
                if orig is not None:
                    T.orig[mid] = obj.detach().clone()
                out.append({"$": "mtensor", "mid": mid, "v": enc.tensor(obj)})
        elif isinstance(obj, torch.nn.Module):
            tensors = []
            for name, t in list(obj.named_parameters()) + list(obj.named_buffers()):
                if t is None:
                    continue
                tmid = T.mirror_of.get(id(t))
                if tmid is None or T.mirrors.get(tmid) is not t:
                    tensors.append([name, enc.tensor(t)])  # replaced here: by name
            out.append({"$": "module", "mid": mid,
                        "training": [m.training for _, m in obj.named_modules()],
                        "byname": tensors})
        elif isinstance(obj, torch.optim.Optimizer):
            groups = [{k: enc(v) for k, v in g.items() if k != "params" and _plain(v)}
                      for g in obj.param_groups]
            state = obj.state_dict()["state"]
            item = {"$": "optim", "mid": mid, "groups": groups, "state": enc(state)}
            if type(obj).__module__ != "torch.optim" and not type(obj).__module__.startswith("torch."):
                item["clsattrs"] = {k: enc(v) for k, v in vars(type(obj)).items()
                                    if not k.startswith("__") and _plain(v)}
            out.append(item)
        elif type(obj) in (list, dict):
            out.append({"$": "mlist", "mid": mid, "v": enc(obj)})
        elif isinstance(obj, torch.optim.lr_scheduler.LRScheduler):
            sd = {k: v for k, v in obj.state_dict().items() if k not in ("lr_lambdas", "_schedulers")}
            out.append({"$": "sched", "mid": mid, "state": enc(sd)})
        elif isinstance(obj, torch.Generator):
            out.append({"$": "gen", "mid": mid,
                        "state": enc.buf(obj.get_state().numpy().tobytes())})
    return out


def _plain(v):
    return v is None or type(v) in (bool, int, float, str) or (
        type(v) is tuple and all(type(x) in (int, float) for x in v))


# --------------------------------------------------------------------------- requests


def run_cell(msg):
    sink = _Sink()
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = sink
    state, detail = "ok", ""
    try:
        code = compile(_ipython_free(str(msg["source"])), f"<cell {int(msg['i'])}>", "exec")
        _arm(msg["timeout"])
        try:
            exec(code, NS)
        finally:
            _disarm()
    except CellTimeout:
        state, detail = "timeout", f"stopped after {float(msg['timeout']):g} s"
    except SystemExit as err:
        state, detail = "error", f"SystemExit({err.code!r}): exiting is ignored while grading"
    except KeyboardInterrupt:
        state, detail = "error", "KeyboardInterrupt"
    except BaseException as err:  # noqa: BLE001
        state = "error"
        try:
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()[-500:]
        except BaseException:  # noqa: BLE001
            detail = type(err).__name__
    finally:
        _disarm()
        sys.stdout, sys.stderr = old
    return {"state": state, "detail": detail}


_WATCH_CLASS = []
_FORBID_OBJECTS = {}  # name -> the library object, resolved before the notebook ran


def forbid_watch(names):
    """A torch function mode that records which of ``names`` (dotted torch functions) are
    called while it is active, by any route: ``torch.softmax``, ``F.softmax``, ``x.softmax``, an
    alias taken before grading, a module's forward.  Plain-Python library functions that torch
    cannot intercept (``clip_grad_norm_``) are found on the Python stack of any torch call they
    make.  Calls proceed (the evaluator fails the test); only the record matters."""
    if not _WATCH_CLASS:
        from torch.overrides import TorchFunctionMode

        class ForbidWatch(TorchFunctionMode):
            def __init__(self, targets, codes):
                super().__init__()
                self.targets, self.codes, self.hits = targets, codes, set()

            def __torch_function__(self, func, types, args=(), kwargs=None):
                try:
                    hit = self.targets.get(func)
                except TypeError:
                    hit = None
                if hit:
                    self.hits.add(hit)
                if self.codes:
                    frame, depth = sys._getframe(1), 0
                    while frame is not None and depth < 40:
                        if frame.f_code in self.codes:
                            self.hits.add(self.codes[frame.f_code])
                        frame, depth = frame.f_back, depth + 1
                return func(*args, **(kwargs or {}))

        _WATCH_CLASS.append(ForbidWatch)
    targets, codes = {}, {}
    for name in names:
        name = str(name)
        obj = _FORBID_OBJECTS.get(name)
        if obj is None:
            continue
        try:
            targets[obj] = name
        except TypeError:
            pass
        code = getattr(obj, "__code__", None)
        if code is not None:
            codes[code] = name
    return _WATCH_CLASS[0](targets, codes)


def _target(msg, dec):
    if "name" in msg and msg.get("op") == "lookup":
        return None
    return dec(msg["obj"])


def handle(msg, bufs):
    import torch

    hits = []
    op = msg.get("op")
    if op == "cell":
        return run_cell(msg), []
    if op == "seed":
        _seed(int(msg["seed"]))
        return {"ok": True}, []
    if op == "forbid_prepare":  # before the first cell: the originals, not a student's rebinding
        for name in msg.get("names", [])[:200]:
            try:
                _FORBID_OBJECTS[str(name)] = _resolve(str(name))
            except (codec.FrameError, AttributeError):
                pass
        return {"ok": True}, []
    if op == "reset":
        T.__init__()
        return {"ok": True}, []
    if op == "release":
        for hid in msg.get("ids", []):
            obj = T.handles.pop(hid, None)
            if obj is not None:
                T.by_obj.pop(id(obj), None)
        return {"ok": True}, []
    dec = codec.Decoder(bufs, decode_in)
    for item in msg.get("sync", []):
        dec(item)
    enc = codec.Encoder(encode_out)
    sink = _Sink()
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = sink
    try:
        _arm(msg.get("timeout", 60))
        try:
            if op == "lookup":
                name = str(msg["name"])
                if name not in NS:
                    raise NameError(f"name {name!r} is not defined in the notebook: did you rename "
                                    "or delete it, or did the cell that defines it fail?")
                result = NS[name]
            elif op == "call":
                fn = dec(msg["obj"])
                args = dec(msg["args"])
                kwargs = dec(msg["kwargs"])
                if msg.get("forbid"):
                    watch = forbid_watch(msg["forbid"])
                    try:
                        with watch:
                            result = fn(*args, **kwargs)
                    finally:
                        hits = sorted(watch.hits)
                else:
                    result = fn(*args, **kwargs)
            elif op == "getattr":
                result = getattr(dec(msg["obj"]), str(msg["name"]))
            elif op == "setattr":
                setattr(dec(msg["obj"]), str(msg["name"]), dec(msg["value"]))
                result = None
            elif op == "op":
                import operator

                obj = dec(msg["obj"])
                args = dec(msg["args"])
                name = str(msg["name"])
                fn = {"len": len, "float": float, "int": int, "bool": bool, "index": operator.index,
                      "str": str, "repr": repr, "contains": operator.contains,
                      "getitem": operator.getitem, "setitem": operator.setitem,
                      "iter": lambda o: list(iter(o))[:100000]}.get(name)
                if fn is None:
                    fn = getattr(operator, name, None) if not name.startswith("r") else None
                if name.startswith("r") and name[1:] in ("add", "sub", "mul", "truediv", "pow",
                                                          "matmul", "floordiv", "mod"):
                    fn = getattr(type(obj), f"__{name}__")
                    result = fn(obj, *args)
                    if result is NotImplemented:
                        result = getattr(operator, name[1:])(args[0], obj)
                elif fn is None:
                    raise TypeError(f"operator {name[:20]} is not supported")
                else:
                    result = fn(obj, *args)
            elif op == "grad":
                out = T.handles[int(msg["out"])]
                g = dec(msg["grad"])
                inputs = [T.mirrors[i] if kind == "m" else T.handles[i] for kind, i in msg["inputs"]]
                grads = torch.autograd.grad([out], inputs, [g], allow_unused=True, retain_graph=True)
                result = [None if x is None else x.detach() for x in grads]
            else:
                raise codec.FrameError(f"unknown request {str(op)[:20]!r}")
        finally:
            _disarm()
        value = enc(result)
        error = None
    except CellTimeout:
        value, error = None, ["TimeoutError", f"the call did not finish within {msg.get('timeout', 60)} s"]
    except BaseException as err:  # noqa: BLE001 - reported as the call's exception
        value = None
        try:
            error = [type(err).__name__ if type(err).__module__ == "builtins" else "Exception",
                     str(err)[:1000]]
        except BaseException:  # noqa: BLE001
            error = ["Exception", "an exception whose message could not be read"]
    finally:
        sys.stdout, sys.stderr = old
    try:
        sync = sync_out(enc)
    except BaseException as err:  # noqa: BLE001
        sync, error = [], ["Exception", f"the state could not be sent back: {str(err)[:200]}"]
    reply = {"value": value, "error": error, "sync": sync}
    if hits:
        reply["forbidden"] = hits
    return reply, enc.bufs


def main():
    here = os.getcwd()
    sys.path.insert(1, here)
    os.environ.update(HOME=here, MPLCONFIGDIR=f"{here}/.mpl", XDG_CACHE_HOME=f"{here}/.cache",
                      DLCOURSE_DATA=f"{here}/data")
    import matplotlib

    matplotlib.use("Agg")
    import numpy  # noqa: F401
    import torch  # noqa: F401

    while True:
        try:
            msg, bufs = codec.read_frame(IN)
        except (EOFError, OSError):
            break
        try:
            reply, out_bufs = handle(msg, bufs)
        except Exception as err:  # noqa: BLE001 - a bad request is answered, never fatal
            reply, out_bufs = {"value": None, "error": ["FrameError", f"{type(err).__name__}: "
                                                        f"{str(err)[:300]}"], "sync": []}, []
        reply["rid"] = msg.get("rid")
        try:
            codec.write_frame(OUT, reply, out_bufs)
        except (codec.FrameError, ValueError, TypeError) as err:
            codec.write_frame(OUT, {"value": None, "error": ["FrameError", str(err)[:300]], "sync": [],
                                    "rid": msg.get("rid")})
    os._exit(0)


if __name__ == "__main__":
    main()
