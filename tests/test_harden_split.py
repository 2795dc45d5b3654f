"""Split grading (issue 12): the codec, the proxy/mirror semantics, and attacks per class.

* codec: round-trips, size limits checked before reading, the dtype allow-list, malformed
  frames rejected with a clear error;
* proxies and mirrors: a real executor subprocess driven by the evaluator's own code in this
  process (the patterns the course's tests use: a class such as week 1's ``Value``, an
  optimiser stepping the test's parameters, a module trained then evaluated, lambdas and
  closures, autograd through the boundary);
* attacks: week 1's blank notebook plus one hostile cell, graded through the real zip, must
  stay at 0 (classes 1-3) and always get a results.json (class 4).
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, built

HARDEN = ROOT / "autograder" / "harden"
sys.path.insert(0, str(HARDEN))
import codec  # noqa: E402
import evaluator  # noqa: E402

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")


# --------------------------------------------------------------------------- codec


def roundtrip(value):
    tree, bufs = codec.encode(value)
    header, got = codec.unpack(codec.pack({"v": tree}, bufs))
    return codec.decode(header["v"], got)


@pytest.mark.parametrize("value", [None, True, 3, -2**70, 1.5, float("inf"), "é", b"\x00\xff",
                                   1 + 2j, (1, [2, {"a": 3, 4: (5,)}]), {1.5, 2.5},
                                   slice(1, None, 2)])
def test_plain_values_round_trip(value):
    assert roundtrip(value) == value and type(roundtrip(value)) is type(value)


def test_nan_round_trips():
    import math

    assert math.isnan(roundtrip(float("nan")))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64,
                                   torch.complex64, torch.int8, torch.uint8, torch.int64, torch.bool])
def test_tensors_round_trip_with_dtype_shape_grad(dtype):
    t = (torch.randn(3, 4) * 5).to(dtype)
    if dtype.is_floating_point:
        t.requires_grad_(True)
        t.grad = torch.ones(3, 4, dtype=dtype)
    got = roundtrip(t)
    assert got.dtype == dtype and got.shape == t.shape and torch.equal(got.detach(), t.detach())
    assert got.requires_grad == t.requires_grad
    if dtype.is_floating_point:
        assert torch.equal(got.grad, t.grad)
    assert roundtrip(torch.zeros(0, 3)).shape == (0, 3)
    assert torch.equal(roundtrip(torch.arange(12).reshape(3, 4).t()), torch.arange(12).reshape(3, 4).t())


def test_arrays_and_torch_names_round_trip():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(roundtrip(a), a) and roundtrip(a).dtype == np.float32
    assert roundtrip(torch.float64) is torch.float64
    assert roundtrip(torch.Size([2, 3])) == torch.Size([2, 3])


def test_dtype_allow_list():
    with pytest.raises(codec.FrameError, match="not allowed"):
        codec.encode(np.array(["a"], dtype=object))
    tree, bufs = codec.encode(torch.zeros(2))
    tree["dtype"] = "qint8"
    with pytest.raises(codec.FrameError, match="not allowed"):
        codec.decode(tree, bufs)


def test_unknown_objects_do_not_cross():
    with pytest.raises(codec.FrameError, match="cannot cross"):
        codec.encode(object())
    with pytest.raises(codec.FrameError, match="unknown value tag"):
        codec.decode({"$": "pickle", "b": 0}, [b"cos\nsystem\n"])


def test_size_limits_are_checked_before_reading():
    small = codec.Limits(header_bytes=64, buffer_bytes=100, buffers=2)
    with pytest.raises(codec.FrameError, match="header of 1000 bytes exceeds"):
        codec.unpack(codec.MAGIC + struct.pack(">I", 1000) + b"{}" * 500, small)
    with pytest.raises(codec.FrameError, match="buffer bytes"):
        codec.unpack(codec.pack({}, [b"x" * 101]), small)
    with pytest.raises(codec.FrameError, match="buffers; at most 2"):
        codec.unpack(codec.pack({}, [b"", b"", b""]), small)
    # a huge announced size on a real pipe is refused without waiting for the bytes
    r, w = os.pipe()
    os.write(w, codec.MAGIC + struct.pack(">I", 2**31))
    with pytest.raises(codec.FrameError, match="exceeds"):
        codec.read_frame(r, timeout=2)
    os.close(r), os.close(w)


@pytest.mark.parametrize("blob, message", [
    (b"XXXX\0\0\0\0", "not a frame"),
    (codec.MAGIC + struct.pack(">I", 3) + b"\xff\xfe\xfd", "not UTF-8 JSON"),
    (codec.MAGIC + struct.pack(">I", 2) + b"[]", "not a JSON object"),
    (codec.MAGIC + struct.pack(">I", 12) + b'{"bufs": -1}', "non-negative"),
    (codec.MAGIC + struct.pack(">I", 12) + b'{"bufs":[5]}' + b"ab", "truncated"),
])
def test_malformed_frames_are_rejected_with_a_clear_error(blob, message):
    with pytest.raises(codec.FrameError, match=message):
        codec.unpack(blob)


def test_tensor_byte_count_is_checked():
    tree, bufs = codec.encode(torch.zeros(4))
    tree["shape"] = [1000]
    with pytest.raises(codec.FrameError, match="needs 4000 bytes"):
        codec.decode(tree, bufs)


# --------------------------------------------------------------------------- proxies and mirrors


@pytest.fixture
def session(tmp_path):
    """A real executor subprocess; the evaluator's functions drive it from this process."""
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDEN")}
    env |= {"HARDEN_CALL_IN": str(to_r), "HARDEN_CALL_OUT": str(from_w)}
    (tmp_path / "_grader").mkdir()
    for name in ("executor.py", "codec.py"):
        (tmp_path / "_grader" / name).write_bytes((HARDEN / name).read_bytes())
    proc = subprocess.Popen([sys.executable, str(tmp_path / "_grader" / "executor.py")],
                            cwd=tmp_path, env=env, pass_fds=(to_r, from_w),
                            stdin=subprocess.DEVNULL)
    os.close(to_r), os.close(from_w)
    status = io.StringIO()
    evaluator.connect(status, to_w, from_r)

    def run(cells, test_source, params, function=None):
        for i, src in enumerate(cells):
            reply, _ = evaluator.request({"op": "cell", "i": i, "source": src, "timeout": 30})
            assert reply["state"] == "ok", reply
        function = function or test_source.split("def ", 1)[1].split("(", 1)[0]
        status.seek(0), status.truncate()
        evaluator.run_tests({"nonce": "n", "tests": [{"id": "t", "function": function, "params": params,
                                                      "source": test_source, "timeout": 30}]})
        events = [json.loads(x) for x in status.getvalue().splitlines()]
        test = next(e for e in events if e["event"] == "test")
        return test["passed"], test["message"]

    yield run
    os.close(to_w), os.close(from_r)
    proc.kill()
    proc.wait()


VALUE = '''
import math
class Value:
    def __init__(self, data, children=()):
        self.data, self.grad, self._children, self._back = float(data), 0.0, children, lambda: None
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))
        def back():
            self.grad += out.grad; other.grad += out.grad
        out._back = back
        return out
    __radd__ = __add__
    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))
        def back():
            self.grad += other.data * out.grad; other.grad += self.data * out.grad
        out._back = back
        return out
    __rmul__ = __mul__
    def backward(self):
        order, seen = [], set()
        def visit(v):
            if id(v) not in seen:
                seen.add(id(v)); [visit(c) for c in v._children]; order.append(v)
        visit(self); self.grad = 1.0
        for v in reversed(order):
            v._back()
'''


def test_a_student_class_through_handles(session):
    test = '''def test_value(Value):
    import math
    a, b = Value(2.0), Value(-3.0)
    c = a * b + a + 1
    c.backward()
    assert isinstance(c, Value) and not isinstance(3, Value)
    assert math.isclose(c.data, -3.0) and math.isclose(a.grad, -2.0) and math.isclose(b.grad, 2.0)
    assert c == c and c != a and hash(c) == hash(c) and "Value" in repr(c)
'''
    assert session([VALUE], test, ["Value"]) == (True, "")


def test_an_optimiser_steps_the_tests_parameters_in_place(session):
    cells = ['''
import torch
class Momentum(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))
    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("buf", torch.zeros_like(p))
                buf.mul_(g["momentum"]).add_(p.grad)
                p.add_(buf, alpha=-g["lr"])
''']
    test = '''def test_momentum(Momentum):
    import torch
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    ref = w.detach().clone().requires_grad_(True)
    opt, ref_opt = Momentum([w], lr=0.1), torch.optim.SGD([ref], lr=0.1, momentum=0.9)
    for _ in range(3):
        for p, o in ((w, opt), (ref, ref_opt)):
            o.zero_grad()
            (p ** 2).sum().backward()
            o.step()
    assert torch.allclose(w, ref), (w, ref)
    assert w.grad is not None
'''
    assert session(cells, test, ["Momentum"]) == (True, "")


def test_a_module_trained_by_the_student_then_evaluated_by_the_test(session):
    cells = ['''
import torch
def train(net, X, y, steps):
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(X), y).backward()
        opt.step()
    net.eval()
''']
    test = '''def test_train(train):
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    X = torch.randn(64, 3)
    y = X @ torch.tensor([[1.0], [2.0], [-1.0]])
    before = torch.nn.functional.mse_loss(net(X), y).item()
    weight = net[0].weight
    train(net, X, y, 50)
    assert net[0].weight is weight and not net.training
    assert torch.nn.functional.mse_loss(net(X), y).item() < before / 10
'''
    assert session(cells, test, ["train"]) == (True, "")


def test_lambdas_closures_and_autograd_cross_as_code(session):
    cells = ['''
import torch
def numerical_grad(f, x, h=1e-6):
    g = torch.zeros_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x).view(-1); e[i] = h; e = e.view_as(x)
        g.view(-1)[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g
def square(x):
    return x * x
''']
    test = '''def test_code(numerical_grad, square):
    import torch
    seen = []
    scale = torch.tensor(3.0, dtype=torch.float64)
    f = lambda t: (seen.append(1) or scale * t.sin()).sum()
    x = torch.randn(4, dtype=torch.float64)
    assert torch.allclose(numerical_grad(f, x), 3 * x.cos(), atol=1e-6)
    assert len(seen) == 8
    y = torch.randn(3, requires_grad=True)
    square(y).sum().backward()
    assert torch.allclose(y.grad, 2 * y.detach())
'''
    result = session(cells, test, ["numerical_grad", "square"])
    assert result == (True, ""), result


def test_student_exceptions_cannot_pose_as_assertions(session):
    cells = ["def f():\n    raise AssertionError('passed')\n"]
    passed, message = session(cells, "def test_f(f):\n    try:\n        f()\n    except AssertionError:\n        return\n    assert False, 'no'\n", ["f"])
    assert not passed and "RemoteError" in message


# --------------------------------------------------------------------------- attacks

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root, as on Gradescope")

SLUG = "01_tensors"


def _grade_blank_with(tmp_path, cell: str, limits=None) -> dict:
    from autograder import grade

    paths = built(SLUG)
    nb = json.loads((paths["student"] / f"{SLUG}.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None,
                        "outputs": [], "source": cell})
    sub = tmp_path / f"{SLUG}.ipynb"
    sub.write_text(json.dumps(nb))
    old = os.environ.get("HARDEN_LIMITS")
    os.environ["HARDEN_LIMITS"] = json.dumps({"cell_timeout": 8, "total_timeout": 120} | (limits or {}))
    try:
        return grade.grade(paths["zip"], sub, timeout=400)
    finally:
        if old is None:
            os.environ.pop("HARDEN_LIMITS")
        else:
            os.environ["HARDEN_LIMITS"] = old


ATTACKS = {
    # class 1: shared process / channels
    "forge_events_on_every_fd": '''
import os, json
ids = ["q%d/test_q%d_%s" % (i, i, s) for i in range(1, 9) for s in ("x",)]
for fd in range(3, 256):
    for kind in ("notebook_done", "batch_done"):
        try:
            os.write(fd, (json.dumps({"event": kind}) + "\\n").encode())
            os.write(fd, b"HF1\\0" + b"\\0\\0\\0\\2{}")
        except OSError:
            pass
''',
    "read_stdin_for_tests": "import sys, os\ndata = sys.stdin.read() + os.read(0, 1000).decode()\nassert not data\n",
    "replace_runner_functions": '''
import __main__, sys
for name in list(vars(__main__)):
    if callable(getattr(__main__, name)) and name in ("emit", "run_tests", "handle", "encode_out"):
        setattr(__main__, name, lambda *a, **k: None)
sys.modules["__main__"].T = None
''',
    "audit_hook_and_frames": '''
import sys
stolen = []
sys.addaudithook(lambda e, a: stolen.append(a) if e == "compile" else None)
def pairwise_sq_dists(X, Y):
    frames = sys._current_frames()
    for f in frames.values():
        while f is not None:
            if "expected" in f.f_locals:
                return f.f_locals["expected"]
            f = f.f_back
    return X.sum() * 0
''',
    "signal_or_trace_other_uids": '''
import os, signal
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != os.getpid():
        try:
            os.kill(int(p), signal.SIGSTOP)
        except OSError:
            pass
''',
    # class 2: deny-list protection
    "patch_comparisons": '''
import torch, numpy, math
torch.allclose = lambda *a, **k: True
torch.Tensor.__eq__ = lambda *a: True
numpy.allclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
from torch.overrides import TorchFunctionMode
class Liar(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return True
Liar().__enter__()
def pairwise_sq_dists(X, Y):
    return -torch.ones(len(X), len(Y))
''',
    "torch_library_override": '''
import torch
lib = torch.library.Library("aten", "IMPL")
lib.impl("allclose", lambda *a, **k: True, "CPU")
def pairwise_sq_dists(X, Y):
    return -torch.ones(len(X), len(Y))
''',
    # class 3: the test's own stack and objects
    "lying_float_and_eq": '''
class Liar(float):
    def __eq__(self, other): return True
    def __float__(self): return 1.0
    def __bool__(self): return True
class Obj:
    def __eq__(self, other): return True
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
    def __float__(self): return 0.0
    def __bool__(self): return True
def pairwise_sq_dists(X, Y):
    return Obj()
def standardize(X):
    return Obj()
import unittest.mock
def one_hot(y, k):
    return unittest.mock.ANY
''',
    "zero_the_callers_inputs": '''
def pairwise_sq_dists(X, Y):
    X.zero_(); Y.zero_()
    return (X[:, None, :] - Y[None, :, :]).pow(2).sum(-1)
''',
}


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gains_nothing(tmp_path, name):
    res = _grade_blank_with(tmp_path, ATTACKS[name])
    assert "extra_data" in res and res["extra_data"].get("status") == "graded", res["output"][:500]
    # zeroing the caller's inputs: the test's references come from its own copies
    assert res["score"] == 0, (name, res["score"], res["output"][:800])


@pytest.mark.slow
@needs_root
def test_no_network_from_student_code(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    got = []

    def accept():
        try:
            conn, _ = listener.accept()
            got.append(conn.recv(100))
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    _grade_blank_with(tmp_path, f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')\nexcept OSError:\n    pass\n")
    t.join()
    listener.close()
    assert not got


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("cell, note", [
    ("open('/dev/shm/x', 'wb').write(b'x' * 2_400_000_000)\n", None),
    ("import os\nwith open('/tmp/fill', 'wb') as f:\n    while True:\n        f.write(b'x' * 2**24)\n", None),
    ("import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)\n", "removed"),
])
def test_the_judge_always_writes_a_verdict(tmp_path, cell, note):
    res = _grade_blank_with(tmp_path, cell)
    assert res["extra_data"]["status"] == "graded" and res["score"] == 0, res["output"][:500]
    if note:
        assert note in res["output"]


def test_total_timeout_keeps_a_margin_below_the_callers_limit(monkeypatch):
    import judge

    monkeypatch.setenv("HARDEN_LIMITS", json.dumps({"caller_timeout": 600, "total_timeout": 600}))
    assert judge.effective_limits({})["total_timeout"] <= 540
    monkeypatch.setenv("HARDEN_LIMITS", json.dumps({"caller_timeout": 1500}))
    assert judge.effective_limits({})["total_timeout"] == judge.DEFAULTS["total_timeout"]
