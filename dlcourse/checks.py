"""Checks the assignments' public tests use on your own machine.

``forbidden_calls`` runs a function once and reports which of the named torch functions it
called.  Questions that ask for something "from scratch" use it in a public test, so you
learn the rule before you submit; Gradescope's grader enforces the same rule in its hidden
tests (on its own side, not with this helper).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Iterable

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["forbidden_calls", "lookup"]


def lookup(dotted: str) -> Any:
    """``torch.nn.functional.softmax`` -> the function (the longest importable module prefix,
    then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ValueError(f"cannot find {dotted!r}")


class _Recorder(TorchFunctionMode):
    """Notes every call, by any route (``torch.softmax``, ``F.softmax``, ``x.softmax``, a
    module's forward), of the functions it watches.  A plain-Python library function that torch
    does not route through here (``parameters_to_vector``) is noticed on the call stack of the
    torch operations it makes."""

    def __init__(self, watched: dict[Any, str]):
        super().__init__()
        self.watched = watched
        self.codes = {f.__code__: n for f, n in watched.items() if hasattr(f, "__code__")}
        self.seen: list[str] = []

    def _note(self, name: str) -> None:
        if name not in self.seen:
            self.seen.append(name)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            name = self.watched.get(func)
        except TypeError:  # an unhashable callable: never one we watch
            name = None
        if name is not None:
            self._note(name)
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code in self.codes:
                self._note(self.codes[frame.f_code])
            frame = frame.f_back
        return func(*args, **(kwargs or {}))


def forbidden_calls(fn: Callable, args: tuple = (), names: Iterable[str] = (),
                    kwargs: dict | None = None) -> list[str]:
    """Call ``fn(*args, **kwargs)`` once and return the names in ``names`` it called.

    >>> forbidden_calls(lambda x: x.softmax(dim=0), (torch.zeros(3),), ["torch.Tensor.softmax"])
    ['torch.Tensor.softmax']
    >>> forbidden_calls(lambda x: x.exp() / x.exp().sum(), (torch.zeros(3),), ["torch.softmax"])
    []
    """
    watched = {lookup(n): n for n in names}
    with _Recorder(watched) as recorder:
        fn(*args, **(kwargs or {}))
    return recorder.seen
