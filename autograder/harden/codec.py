"""Frames and values crossing between the evaluator (tests) and the executor (student code).

A *frame* is ``b"HF1\\0"``, a 4-byte big-endian length of a UTF-8 JSON header, the header, then
the raw buffers the header lists (``"bufs": [n0, n1, ...]``).  Every length is checked against
:class:`Limits` *before* anything is read, and a malformed frame raises :class:`FrameError`
with a sentence saying what was wrong.  Nothing is ever unpickled from a frame.

A *value* is JSON with tagged objects (``{"$": tag, ...}``):

* plain: ``None``/``bool``/``int``/``str`` as JSON; floats as JSON or ``{"$": "f", "v": "nan"}``;
  ``complex``, ``bytes`` (a buffer), ``tuple``, ``list``, ``dict`` (str/int keys), ``set``;
* ``tensor``/``ndarray``: dtype (from :data:`DTYPES` only), shape, ``requires_grad``, a buffer
  of exactly ``numel * itemsize`` bytes, optionally ``grad`` (a tensor) and ``mid`` (the
  evaluator's id of a mirrored tensor);
* ``dtype``/``size``/``device`` by name;
* whatever else the encoding side cannot send by value goes through its ``other`` hook, which
  returns a tagged object of its own (``handle``, ``ref``, ``code``, ``fn``, ``module``, ...),
  and the decoding side's ``other`` hook turns those back into objects.

Only the standard library is needed to read frames (the judge may); torch and numpy are
imported lazily for the values.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time

MAGIC = b"HF1\0"


class FrameError(ValueError):
    """A frame or value that breaks the protocol; the message says how."""


class Limits:
    def __init__(self, header_bytes=8 * 2**20, buffer_bytes=512 * 2**20, buffers=4096,
                 depth=32, items=200_000):
        self.header_bytes, self.buffer_bytes, self.buffers = header_bytes, buffer_bytes, buffers
        self.depth, self.items = depth, items


DEFAULT_LIMITS = Limits()

DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128", "uint8",
          "int8", "int16", "int32", "int64", "bool")
_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "complex64": 8,
             "complex128": 16, "uint8": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "bool": 1}
NP_DTYPES = tuple(d for d in DTYPES if d != "bfloat16")


# --------------------------------------------------------------------------- frames


def pack(header: dict, bufs: list = ()) -> bytes:
    header = dict(header, bufs=[len(b) for b in bufs])
    blob = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return MAGIC + struct.pack(">I", len(blob)) + blob + b"".join(bytes(b) for b in bufs)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError("no complete frame before the deadline")
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                continue
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limits: Limits = DEFAULT_LIMITS, timeout: float | None = None):
    """(header, [buffers]) of the next frame on ``fd``; lengths checked before reading."""
    deadline = None if timeout is None else time.monotonic() + timeout
    head = _read_exact(fd, 8, deadline)
    return _parse(head, lambda n: _read_exact(fd, n, deadline), limits)


def unpack(blob: bytes, limits: Limits = DEFAULT_LIMITS):
    """(header, [buffers]) of one frame held in memory (tests, and the size checks)."""
    view = memoryview(blob)
    pos = [0]

    def take(n):
        if pos[0] + n > len(view):
            raise FrameError(f"the frame is truncated: {n} more bytes announced, "
                             f"{len(view) - pos[0]} present")
        out = bytes(view[pos[0]:pos[0] + n])
        pos[0] += n
        return out

    header, bufs = _parse(take(8), take, limits)
    if pos[0] != len(view):
        raise FrameError(f"{len(view) - pos[0]} bytes follow the frame")
    return header, bufs


def _parse(head: bytes, take, limits: Limits):
    if len(head) != 8 or head[:4] != MAGIC:
        raise FrameError(f"not a frame: expected magic {MAGIC!r}, got {head[:4]!r}")
    (n,) = struct.unpack(">I", head[4:])
    if n > limits.header_bytes:
        raise FrameError(f"frame header of {n} bytes exceeds the limit of {limits.header_bytes}")
    try:
        header = json.loads(take(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise FrameError(f"frame header is not UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not a JSON object")
    sizes = header.pop("bufs", [])
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise FrameError("frame 'bufs' must be a list of non-negative integers")
    if len(sizes) > limits.buffers:
        raise FrameError(f"frame announces {len(sizes)} buffers; at most {limits.buffers}")
    if sum(sizes) > limits.buffer_bytes:
        raise FrameError(f"frame announces {sum(sizes)} buffer bytes; at most {limits.buffer_bytes}")
    return header, [take(s) for s in sizes]


def write_frame(fd: int, header: dict, bufs: list = (), timeout: float | None = None) -> None:
    data = memoryview(pack(header, bufs))
    deadline = None if timeout is None else time.monotonic() + timeout
    while data:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError("the other side did not read the frame in time")
            _, ready, _ = select.select([], [fd], [], wait)
            if not ready:
                continue
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            continue
        data = data[n:]


# --------------------------------------------------------------------------- values


class Encoder:
    """value -> (JSON tree, buffers).  ``other(value, encoder)`` handles what is not plain data
    (it returns a tagged dict); without it such a value is an error."""

    def __init__(self, other=None, limits: Limits = DEFAULT_LIMITS):
        self.other, self.limits, self.bufs, self.items = other, limits, [], 0

    def buf(self, data) -> int:
        self.bufs.append(bytes(data))
        return len(self.bufs) - 1

    def __call__(self, value, depth: int = 0):
        self.items += 1
        if depth > self.limits.depth or self.items > self.limits.items:
            raise FrameError("value nested too deeply or holds too many items")
        t = type(value)
        if value is None or t in (bool, int, str):
            return value
        if t is float:
            return value if math.isfinite(value) else {"$": "f", "v": repr(value)}
        if t is complex:
            return {"$": "complex", "re": self(value.real), "im": self(value.imag)}
        if t is bytes:
            return {"$": "bytes", "b": self.buf(value)}
        if t is tuple:
            return {"$": "tuple", "v": [self(v, depth + 1) for v in value]}
        if t is list:
            return [self(v, depth + 1) for v in value]
        if t is dict and all(type(k) in (str, int) for k in value):
            return {"$": "dict", "k": [k for k in value], "v": [self(v, depth + 1) for v in value.values()]}
        if t is slice:
            return {"$": "slice", "v": [self(value.start), self(value.stop), self(value.step)]}
        if value is Ellipsis:
            return {"$": "ellipsis"}
        if t in (set, frozenset) and all(type(k) in (str, int, float) for k in value):
            return {"$": "set", "v": [self(v, depth + 1) for v in sorted(value, key=repr)]}
        torch = _torch()
        if torch is not None:
            if t is torch.dtype:
                return {"$": "dtype", "v": str(value).removeprefix("torch.")}
            if t is torch.Size:
                return {"$": "size", "v": [int(d) for d in value]}
            if t is torch.device:
                return {"$": "device", "v": str(value)}
        if self.other is not None:
            out = self.other(value, self, depth)
            if out is not NotImplemented:
                return out
        if torch is not None and isinstance(value, torch.Tensor):
            return self.tensor(value, depth)
        if t.__module__ == "numpy" and t.__name__ == "ndarray":
            return self.ndarray(value)
        raise FrameError(f"a {t.__module__}.{t.__qualname__} cannot cross the boundary")

    def tensor(self, value, depth: int = 0, mid=None, grad=True) -> dict:
        """A torch.Tensor (or subclass, read as a plain tensor) by value."""
        torch = _torch()
        with torch._C.DisableTorchFunction():
            plain = torch.Tensor.detach(value)
            name = str(plain.dtype).removeprefix("torch.")
            if name not in DTYPES:
                raise FrameError(f"tensor dtype {name} is not allowed")
            if plain.layout != torch.strided or plain.device.type != "cpu":
                raise FrameError("only dense CPU tensors cross the boundary")
            flat = plain.contiguous().reshape(-1)
            raw = flat.view(torch.uint8) if flat.numel() and name != "bool" else flat.to(torch.uint8)
            out = {"$": "tensor", "dtype": name, "shape": list(plain.shape),
                   "rg": bool(value.requires_grad), "b": self.buf(raw.numpy().tobytes())}
            if grad and value.grad is not None and value.is_leaf:
                out["grad"] = self.tensor(value.grad, depth + 1, grad=False)
        if mid is not None:
            out["mid"] = mid
        return out

    def ndarray(self, value) -> dict:
        import numpy

        arr = numpy.asarray(value).view(numpy.ndarray)
        if arr.dtype.name not in NP_DTYPES:
            raise FrameError(f"array dtype {arr.dtype.name} is not allowed")
        return {"$": "ndarray", "dtype": arr.dtype.name, "shape": list(arr.shape),
                "b": self.buf(numpy.ascontiguousarray(arr).tobytes())}


class Decoder:
    """(JSON tree, buffers) -> value.  ``other(tree, decoder)`` builds tagged objects it knows."""

    def __init__(self, bufs, other=None, limits: Limits = DEFAULT_LIMITS):
        self.bufs, self.other, self.limits, self.items = bufs, other, limits, 0

    def buf(self, i):
        if type(i) is not int or not 0 <= i < len(self.bufs):
            raise FrameError(f"buffer index {i!r} out of range")
        return self.bufs[i]

    def __call__(self, tree, depth: int = 0):
        self.items += 1
        if depth > self.limits.depth or self.items > self.limits.items:
            raise FrameError("value nested too deeply or holds too many items")
        t = type(tree)
        if tree is None or t in (bool, int, float, str):
            return tree
        if t is list:
            return [self(v, depth + 1) for v in tree]
        if t is not dict or "$" not in tree:
            raise FrameError(f"malformed value: {str(tree)[:80]}")
        tag = tree["$"]
        try:
            if tag == "f":
                if tree["v"] not in ("nan", "inf", "-inf"):
                    raise FrameError("bad float")
                return float(tree["v"])
            if tag == "complex":
                return complex(self(tree["re"]), self(tree["im"]))
            if tag == "bytes":
                return bytes(self.buf(tree["b"]))
            if tag == "tuple":
                return tuple(self(v, depth + 1) for v in _list(tree["v"]))
            if tag == "dict":
                keys, vals = _list(tree["k"]), _list(tree["v"])
                if len(keys) != len(vals) or not all(type(k) in (str, int) for k in keys):
                    raise FrameError("dict keys must be str or int, one per value")
                return {k: self(v, depth + 1) for k, v in zip(keys, vals)}
            if tag == "slice":
                a, b, c = (self(v, depth + 1) for v in _list(tree["v"]))
                if not all(v is None or type(v) is int for v in (a, b, c)):
                    raise FrameError("slice bounds must be integers or None")
                return slice(a, b, c)
            if tag == "ellipsis":
                return Ellipsis
            if tag == "set":
                return {self(v, depth + 1) for v in _list(tree["v"])}
            if tag == "dtype":
                return _dtype(tree["v"])
            if tag == "size":
                return _torch().Size([int(d) for d in _list(tree["v"])])
            if tag == "device":
                return _torch().device(str(tree["v"]))
            if tag == "tensor":
                return self.tensor(tree)
            if tag == "ndarray":
                return self.ndarray(tree)
        except (KeyError, TypeError) as err:
            raise FrameError(f"malformed {tag!r} value ({err})") from None
        if self.other is not None:
            out = self.other(tree, self, depth)
            if out is not NotImplemented:
                return out
        raise FrameError(f"unknown value tag {str(tag)[:40]!r}")

    def tensor(self, tree, grad=True):
        torch = _torch()
        name, shape = tree["dtype"], _list(tree["shape"])
        if name not in DTYPES:
            raise FrameError(f"tensor dtype {str(name)[:20]} is not allowed")
        if not all(type(d) is int and d >= 0 for d in shape):
            raise FrameError("tensor shape must be non-negative integers")
        numel = math.prod(shape)
        raw = self.buf(tree["b"])
        if len(raw) != numel * _ITEMSIZE[name]:
            raise FrameError(f"tensor of shape {shape} and dtype {name} needs "
                             f"{numel * _ITEMSIZE[name]} bytes, got {len(raw)}")
        dtype = getattr(torch, name)
        if numel == 0:
            out = torch.empty(shape, dtype=dtype)
        elif name == "bool":
            out = torch.frombuffer(bytearray(raw), dtype=torch.uint8).to(torch.bool).reshape(shape)
        else:
            out = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
        if tree.get("rg"):
            if not (out.is_floating_point() or out.is_complex()):
                raise FrameError("only floating tensors can require grad")
            out.requires_grad_(True)
        if grad and isinstance(tree.get("grad"), dict):
            g = self.tensor(tree["grad"], grad=False)
            if g.shape == out.shape:
                out.grad = g
        return out

    def ndarray(self, tree):
        import numpy

        name, shape = tree["dtype"], _list(tree["shape"])
        if name not in NP_DTYPES:
            raise FrameError(f"array dtype {str(name)[:20]} is not allowed")
        if not all(type(d) is int and d >= 0 for d in shape):
            raise FrameError("array shape must be non-negative integers")
        dtype = numpy.dtype(name)
        raw = self.buf(tree["b"])
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise FrameError(f"array of shape {shape} and dtype {name} has the wrong byte count")
        return numpy.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).copy()


def _list(v):
    if type(v) is not list:
        raise FrameError("expected a JSON list")
    return v


def _dtype(name):
    if name not in DTYPES:
        raise FrameError(f"dtype {str(name)[:20]} is not allowed")
    return getattr(_torch(), name)


def _torch():
    try:
        import torch
    except ImportError:  # the judge reads frames without torch
        return None
    return torch


def encode(value, other=None, limits: Limits = DEFAULT_LIMITS) -> tuple[object, list]:
    enc = Encoder(other, limits)
    tree = enc(value)
    return tree, enc.bufs


def decode(tree, bufs, other=None, limits: Limits = DEFAULT_LIMITS):
    return Decoder(bufs, other, limits)(tree)
