"""Mutation analysis of every question's tests (``make mutants``).

How strong are an assignment's hidden tests?  Break each question's solution in small, realistic
ways ("mutants") and grade each broken notebook through the real Gradescope zip: a mutant is
*killed* when its question loses points, and it *survives* when the tests do not notice.

* **Operators** (``OPERATORS``) work on the AST of the answer cell and touch only nodes inside
  the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION``.  The mutated node (or
  statement) is unparsed and spliced back into the cell's text, so every other line, comments
  included, is unchanged.  A mutant must compile; duplicates (same code) and no-ops are dropped.
* **Known-wrong answers** (``wrong_answers.py``, see ``mutants.py``) are mutants too, always
  graded and expected to be killed 100%.
* **Sampling**: at most ``max_per_question`` operator mutants per question, picked
  deterministically (round-robin over operators, each operator's mutants in the order of their
  stable hash), so the same notebook always gives the same sample.
* **Equivalent mutants** (a change that cannot alter behaviour) are marked by the author in
  ``assignments/<slug>/equivalent_mutants.yml`` by question and the mutant's stable hash, with
  a reason; they are counted apart.  score = killed / (total - equivalent).
* **Recorded scores**: ``assignments/<slug>/mutation_score.json`` holds the score and the
  SHA-256 of the source notebook it was measured on.  ``tests/test_mutation_scores.py`` (fast)
  fails when an assignment has no recorded score or its notebook changed since; ``make
  mutants`` re-measures and refuses to record a lower score unless ``ACCEPT_LOWER=1``.

    python -m autograder.mutation run [SLUG ...] [-n MAX_PER_QUESTION] [-j JOBS] [--accept-lower]
    python -m autograder.mutation changed      # the slugs whose notebook changed since measured
    python -m autograder.mutation table        # the recorded scores as a markdown table
    python -m autograder.mutation list SLUG    # the mutants, without grading them
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import datetime
import difflib
import hashlib
import json
import os
import re
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from . import config, mutants, notebooks

DEFAULT_MAX_PER_QUESTION = 6
SCORE_FILE = "mutation_score.json"
EQUIVALENTS_FILE = "equivalent_mutants.yml"
_BEGIN = re.compile(r"^\s*#\s*BEGIN SOLUTION\b")
_END = re.compile(r"^\s*#\s*END SOLUTION\b")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Block:
    """The solution lines of one answer cell: 1-based, inclusive, markers excluded."""

    question: str
    cell: int  # index of the answer cell in the source notebook
    first: int
    last: int


@dataclass
class Mutant:
    question: str
    operator: str
    description: str
    cell: int | None  # source cell index (None for a known-wrong answer)
    code: str  # the mutated cell (operator mutants) or the wrong answer's code
    diff: str  # unified diff of the solution block
    key: str  # stable hash: question + mutated block text
    known_wrong: bool = False


@dataclass
class Verdict:
    mutant: Mutant
    status: str  # killed | survived | equivalent | error
    score: tuple[float, float] | None = None
    collateral: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0


# --------------------------------------------------------------------------- blocks


def solution_blocks(code: str) -> list[tuple[int, int]]:
    """The (first, last) 1-based lines strictly between each BEGIN/END SOLUTION pair."""
    out, start = [], None
    for k, line in enumerate(code.split("\n"), start=1):
        if _BEGIN.match(line):
            start = k + 1
        elif _END.match(line) and start is not None:
            if k - 1 >= start:
                out.append((start, k - 1))
            start = None
    return out


def question_blocks(nb: dict[str, Any], path: Path | str) -> dict[str, list[Block]]:
    """Every question's solution blocks, from ``notebooks.check_otter_blocks``."""
    info = notebooks.check_otter_blocks(nb, path)
    out: dict[str, list[Block]] = {}
    for name, q in info["questions"].items():
        out[name] = [Block(name, i, a, b) for i in q["solution_cells"]
                     for a, b in solution_blocks(notebooks.source(nb["cells"][i]))]
    return out


def block_text(code: str, first: int, last: int) -> str:
    return "\n".join(code.split("\n")[first - 1 : last])


def mutant_key(question: str, mutated_block: str) -> str:
    """Stable id of a mutant: its question and its mutated solution block (dedented)."""
    text = question + "\n" + textwrap.dedent(mutated_block).strip("\n")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- splicing


class _Spliced(Exception):
    pass


def _offsets(code: str) -> list[int]:
    starts, pos = [], 0
    for line in code.split("\n"):
        starts.append(pos)
        pos += len(line.encode()) + 1
    return starts


def _replace_span(code: str, node: ast.AST, text: str) -> str:
    """Replace the source of ``node`` (an expression) with ``text`` (positions are UTF-8 bytes)."""
    raw = code.encode()
    starts = _offsets(code)
    a = starts[node.lineno - 1] + node.col_offset
    b = starts[node.end_lineno - 1] + node.end_col_offset
    return (raw[:a] + text.encode() + raw[b:]).decode()


def _indent_of(code: str, lineno: int) -> str:
    line = code.split("\n")[lineno - 1]
    return line[: len(line) - len(line.lstrip())]


def _replace_lines(code: str, first: int, last: int, new_lines: list[str]) -> str:
    lines = code.split("\n")
    return "\n".join(lines[: first - 1] + new_lines + lines[last:])


_ATOMS = (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript, ast.List, ast.Tuple,
          ast.Dict, ast.Set)


def _expr_text(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if isinstance(node, _ATOMS) else f"({text})"


# --------------------------------------------------------------------------- operators
#
# An operator is a function (tree, code, block) -> iterator of (description, new_code).  It
# looks only at nodes that lie inside the block's lines; the new code is the cell with one
# change spliced in.  ``mutate_cell`` checks every result (compiles, differs, lines outside
# the block unchanged) and removes duplicates.

Edit = tuple[str, str]
Operator = Callable[[ast.Module, str, tuple[int, int]], Iterator[Edit]]
OPERATORS: dict[str, Operator] = {}


def operator(name: str) -> Callable[[Operator], Operator]:
    def register(fn: Operator) -> Operator:
        OPERATORS[name] = fn
        return fn
    return register


def _inside(node: ast.AST, block: tuple[int, int]) -> bool:
    return (hasattr(node, "lineno") and node.end_lineno is not None
            and block[0] <= node.lineno and node.end_lineno <= block[1])


def _nodes(tree: ast.AST, block: tuple[int, int], kind: type | tuple[type, ...]) -> list[Any]:
    return [n for n in ast.walk(tree) if isinstance(n, kind) and _inside(n, block)]


def _swap_expr(code: str, node: ast.expr, new: ast.expr) -> str:
    """Replace ``node``'s text by ``new``'s, parenthesised only where precedence needs it."""
    new = ast.fix_missing_locations(new)
    bare = _replace_span(code, node, ast.unparse(new))
    wrapped = _replace_span(code, node, _expr_text(new))
    try:
        return bare if ast.dump(ast.parse(bare)) == ast.dump(ast.parse(wrapped)) else wrapped
    except SyntaxError:
        return wrapped


def _const_num(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        return -node.operand.value
    return None


def _other_dim(d: int) -> list[int]:
    return {0: [1], 1: [0], -1: [0], -2: [-1]}.get(d, [d - 1])


_DIM_METHODS = {"sum", "mean", "softmax", "log_softmax", "argmax", "argmin", "max", "min", "std",
                "var", "cumsum", "prod", "logsumexp", "norm", "unsqueeze", "squeeze", "flatten",
                "cat", "stack", "all", "any", "amax", "amin", "median", "topk", "sort", "argsort"}
_TORCH_FIRST_IS_TENSOR = {"sum", "mean", "softmax", "log_softmax", "argmax", "argmin", "max",
                          "min", "std", "var", "cumsum", "prod", "logsumexp", "unsqueeze",
                          "squeeze", "flatten", "amax", "amin", "topk", "sort", "argsort"}


@operator("dim")
def op_dim(tree, code, block):
    """A dim/axis argument (keyword, or the positional dim of sum/mean/softmax/...) changed."""
    for call in _nodes(tree, block, ast.Call):
        for kw in call.keywords:
            if kw.arg in ("dim", "axis", "start_dim") and _const_num(kw.value) is not None:
                for d in _other_dim(int(_const_num(kw.value))):
                    yield (f"{kw.arg}={ast.unparse(kw.value)} -> {kw.arg}={d}",
                           _swap_expr(code, kw.value, ast.Constant(d)))
        f = call.func
        if not isinstance(f, ast.Attribute) or f.attr not in _DIM_METHODS:
            continue
        # torch.sum(x, 1) / F.softmax(x, 1): the dim is the second argument; x.sum(1): the first
        is_module = isinstance(f.value, ast.Name) and f.value.id in ("torch", "F", "np", "numpy")
        pos = 1 if (is_module and f.attr in _TORCH_FIRST_IS_TENSOR) else 0
        if f.attr in ("cat", "stack") and is_module:
            pos = 1
        if len(call.args) > pos and isinstance(_const_num(call.args[pos]), int):
            for d in _other_dim(int(_const_num(call.args[pos]))):
                yield (f".{f.attr}(..{ast.unparse(call.args[pos])}..) -> dim {d}",
                       _swap_expr(code, call.args[pos], ast.Constant(d)))


def _drop_keyword(code: str, call: ast.Call, name: str) -> str:
    new = copy.deepcopy(call)
    new.keywords = [k for k in new.keywords if k.arg != name]
    return _swap_expr(code, call, new)


@operator("keepdim")
def op_keepdim(tree, code, block):
    """``keepdim=True`` dropped."""
    for call in _nodes(tree, block, ast.Call):
        if any(k.arg == "keepdim" for k in call.keywords):
            yield "keepdim dropped", _drop_keyword(code, call, "keepdim")


_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
               ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Pow: "**", ast.MatMult: "@", ast.Mod: "%"}


@operator("arith")
def op_arith(tree, code, block):
    """``+`` <-> ``-``, ``*`` <-> ``/`` (also in ``+=``-style updates)."""
    for node in _nodes(tree, block, ast.BinOp):
        if type(node.op) in _BINOP_SWAP:
            new = copy.deepcopy(node)
            new.op = _BINOP_SWAP[type(node.op)]()
            yield (f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[type(new.op)]}",
                   _swap_expr(code, node, new))
    for node in _nodes(tree, block, ast.AugAssign):
        if type(node.op) in _BINOP_SWAP:
            new = copy.deepcopy(node)
            new.op = _BINOP_SWAP[type(node.op)]()
            yield (f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[type(new.op)]}=",
                   _replace_stmt(code, node, [new]))


_CMP_SWAP = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
             ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq],
             ast.Is: [ast.IsNot], ast.IsNot: [ast.Is], ast.In: [ast.NotIn], ast.NotIn: [ast.In]}


@operator("compare")
def op_compare(tree, code, block):
    """A comparison operator changed (``<`` -> ``<=``/``>``, ``==`` -> ``!=``, ``is`` -> ``is not``)."""
    for node in _nodes(tree, block, ast.Compare):
        for k, op in enumerate(node.ops):
            for repl in _CMP_SWAP.get(type(op), []):
                new = copy.deepcopy(node)
                new.ops[k] = repl()
                yield (f"{ast.unparse(node)} -> {ast.unparse(new)}", _swap_expr(code, node, new))


def _perturbed(value: int | float) -> list[int | float]:
    if isinstance(value, int):
        return {0: [1], 1: [0, 2]}.get(value, [value + 1, value - 1])
    if value == 0:
        return [1.0]
    return [float(f"{value * 1.1:.6g}") if abs(value) > 1e-12 else value * 1.1]


def _in_dim_kw(tree: ast.AST) -> set[int]:
    """ids of constants that are dim/axis arguments (the dim operator owns those)."""
    out = set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            out |= {id(k.value) for k in call.keywords if k.arg in ("dim", "axis", "keepdim")}
    return out


@operator("constant")
def op_constant(tree, code, block):
    """A numeric constant perturbed: 0 -> 1, 1 -> 0 / 2, n -> n +/- 1, x -> 1.1 x."""
    skip = _in_dim_kw(tree)
    for node in _nodes(tree, block, ast.Constant):
        if type(node.value) not in (int, float) or id(node) in skip:
            continue
        for v in _perturbed(node.value):
            yield f"{node.value!r} -> {v!r}", _replace_span(code, node, repr(v))


def _is_small(node: ast.AST) -> bool:
    v = _const_num(node)
    if v is not None:
        return 0 < abs(v) <= 1e-3
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.lower() in ("eps", "epsilon", "_eps")


@operator("eps")
def op_eps(tree, code, block):
    """An ``eps`` dropped: ``x + 1e-8`` -> ``x``, ``eps=...`` keyword removed."""
    for node in _nodes(tree, block, ast.BinOp):
        if isinstance(node.op, ast.Add):
            if _is_small(node.right):
                yield f"+ {ast.unparse(node.right)} dropped", _swap_expr(code, node, node.left)
            elif _is_small(node.left):
                yield f"{ast.unparse(node.left)} + dropped", _swap_expr(code, node, node.right)
    for call in _nodes(tree, block, ast.Call):
        if any(k.arg == "eps" for k in call.keywords):
            yield "eps= dropped", _drop_keyword(code, call, "eps")


def _stmt_lists(tree: ast.AST) -> Iterator[tuple[ast.AST, str, list[ast.stmt]]]:
    for node in ast.walk(tree):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(node, attr, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield node, attr, body


def _replace_stmt(code: str, stmt: ast.stmt, new: list[ast.stmt] | list[str]) -> str:
    """Replace the lines of ``stmt`` by ``new`` (statements or lines), at its indentation."""
    indent = _indent_of(code, stmt.lineno)
    lines: list[str] = []
    for s in new:
        text = s if isinstance(s, str) else ast.unparse(ast.fix_missing_locations(s))
        lines += [indent + ln if ln else ln for ln in text.split("\n")]
    line = code.split("\n")[stmt.end_lineno - 1]
    tail = line[stmt.end_col_offset:]  # a trailing comment stays
    if tail.strip().startswith("#") and lines:
        lines[-1] += tail
    return _replace_lines(code, stmt.lineno, stmt.end_lineno, lines)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


@operator("delete")
def op_delete(tree, code, block):
    """A statement deleted (replaced by ``pass``)."""
    for _, _, body in _stmt_lists(tree):
        for stmt in body:
            if _inside(stmt, block) and not _is_docstring(stmt) and not isinstance(stmt, ast.Pass):
                first = ast.unparse(stmt).split("\n")[0]
                yield f"deleted: {first}", _replace_stmt(code, stmt, ["pass"])


def _functions_in(tree: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _assigned_names(stmt: ast.stmt) -> list[str]:
    targets = (stmt.targets if isinstance(stmt, ast.Assign)
               else [stmt.target] if isinstance(stmt, (ast.AugAssign, ast.AnnAssign)) else [])
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


@operator("return_early")
def op_return_early(tree, code, block):
    """A ``return`` of the first name the block assigns (or None) inserted before a statement."""
    for fn in _functions_in(tree):
        body = [s for s in fn.body if _inside(s, block)]
        for k, stmt in enumerate(body[1:], start=1):
            if isinstance(stmt, ast.Return):
                continue
            value = next((n for s in body[:k] for n in _assigned_names(s)), "None")
            ret = f"return {value}"
            # insert one line before the statement: every other line keeps its own text
            new = code.split("\n")
            new.insert(stmt.lineno - 1, _indent_of(code, stmt.lineno) + ret)
            yield f"{ret} before: {ast.unparse(stmt).split(chr(10))[0]}", "\n".join(new)


_INPLACE_METHODS = {"add", "sub", "mul", "div", "clamp", "clamp_min", "clamp_max", "pow", "neg",
                    "exp", "relu", "sigmoid", "tanh", "abs", "sqrt", "fill", "zero", "masked_fill",
                    "copy", "addmm", "addcmul", "addcdiv", "lerp", "mul_", "t", "transpose",
                    "unsqueeze", "squeeze", "sign", "floor", "round"}
_AUG = {ast.Add: ast.Add, ast.Sub: ast.Sub, ast.Mult: ast.Mult, ast.Div: ast.Div}


@operator("inplace")
def op_inplace(tree, code, block):
    """An out-of-place update made in place: ``x = x - g`` -> ``x -= g``, ``.add(`` -> ``.add_(``."""
    for stmt in _nodes(tree, block, ast.Assign):
        if (len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.BinOp) and type(stmt.value.op) in _AUG
                and isinstance(stmt.value.left, ast.Name)
                and stmt.value.left.id == stmt.targets[0].id):
            new = ast.AugAssign(target=ast.Name(stmt.targets[0].id, ast.Store()),
                                op=stmt.value.op, value=stmt.value.right)
            yield f"{ast.unparse(stmt)} -> {ast.unparse(new)}", _replace_stmt(code, stmt, [new])
    for call in _nodes(tree, block, ast.Call):
        f = call.func
        if (isinstance(f, ast.Attribute) and f.attr in _INPLACE_METHODS and not f.attr.endswith("_")
                and not (isinstance(f.value, ast.Name) and f.value.id in ("torch", "F", "math", "np", "nn"))):
            new = copy.deepcopy(call)
            new.func.attr = f.attr + "_"
            yield f".{f.attr}( -> .{f.attr}_(", _swap_expr(code, call, new)


_DROPPABLE = {"detach", "clone", "float", "double", "contiguous", "item", "tolist", "copy"}


@operator("drop_call")
def op_drop_call(tree, code, block):
    """``.detach()``, ``.clone()``, ``.float()``, ``.double()`` (and similar) dropped."""
    for call in _nodes(tree, block, ast.Call):
        f = call.func
        if (isinstance(f, ast.Attribute) and f.attr in _DROPPABLE and not call.args
                and not call.keywords and not (isinstance(f.value, ast.Name) and f.value.id in ("torch", "np", "copy"))):
            yield f".{f.attr}() dropped", _swap_expr(code, call, f.value)


def _minus_one(node: ast.expr) -> ast.expr:
    v = _const_num(node)
    if isinstance(v, int):
        return ast.Constant(v - 1)
    return ast.BinOp(left=node, op=ast.Sub(), right=ast.Constant(1))


@operator("off_by_one")
def op_off_by_one(tree, code, block):
    """Off-by-one bounds: ``range(n)`` -> ``range(n - 1)``, ``[:k]`` -> ``[:k - 1]``, ``[1:]`` -> ``[:]``."""
    for call in _nodes(tree, block, ast.Call):
        if isinstance(call.func, ast.Name) and call.func.id == "range" and 1 <= len(call.args) <= 3:
            stop = call.args[0] if len(call.args) == 1 else call.args[1]
            yield (f"range stop {ast.unparse(stop)} -> {ast.unparse(_minus_one(stop))}",
                   _swap_expr(code, stop, _minus_one(stop)))
            if len(call.args) >= 2:
                start = call.args[0]
                plus = ast.BinOp(left=start, op=ast.Add(), right=ast.Constant(1))
                yield f"range start {ast.unparse(start)} + 1", _swap_expr(code, start, plus)
    for node in _nodes(tree, block, ast.Slice):
        if node.upper is not None:
            new = copy.deepcopy(node)
            new.upper = _minus_one(node.upper)
            yield (f"slice stop {ast.unparse(node.upper)} -> {ast.unparse(new.upper)}",
                   _swap_expr(code, node.upper, new.upper))
        if node.lower is not None:
            yield (f"slice start {ast.unparse(node.lower)} dropped",
                   _slice_without_lower(code, node))


def _slice_without_lower(code: str, node: ast.Slice) -> str:
    new = copy.deepcopy(node)
    new.lower = None
    return _replace_span(code, node, ast.unparse(ast.fix_missing_locations(new)))


def _kind(node: ast.expr) -> str | None:
    """Names, attributes, subscripts and calls are all values (tensors, most often)."""
    return "value" if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)) else None


@operator("swap_args")
def op_swap_args(tree, code, block):
    """Two arguments of the same kind swapped (two names / two tensors in a call; ``a - b`` -> ``b - a``)."""
    for call in _nodes(tree, block, ast.Call):
        args = call.args
        for i in range(len(args) - 1):
            a, b = args[i], args[i + 1]
            if _kind(a) and _kind(a) == _kind(b) and ast.dump(a) != ast.dump(b):
                new = copy.deepcopy(call)
                new.args[i], new.args[i + 1] = new.args[i + 1], new.args[i]
                yield (f"arguments {ast.unparse(a)}, {ast.unparse(b)} swapped",
                       _swap_expr(code, call, new))
    for node in _nodes(tree, block, ast.BinOp):
        if isinstance(node.op, (ast.Sub, ast.Div, ast.MatMult)) and ast.dump(node.left) != ast.dump(node.right):
            new = ast.BinOp(left=node.right, op=node.op, right=node.left)
            yield f"operands of {_SYMBOL[type(node.op)]} swapped", _swap_expr(code, node, new)


def _is_no_grad(item: ast.withitem) -> bool:
    e = item.context_expr
    return (isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute)
            and e.func.attr in ("no_grad", "inference_mode"))


@operator("no_grad")
def op_no_grad(tree, code, block):
    """``with torch.no_grad():`` removed, its body kept."""
    for node in _nodes(tree, block, ast.With):
        if len(node.items) == 1 and _is_no_grad(node.items[0]):
            lines = code.split("\n")
            body_first = node.body[0].lineno
            shift = node.body[0].col_offset - node.col_offset
            body = [ln[shift:] if ln[:shift].strip() == "" else ln
                    for ln in lines[body_first - 1 : node.end_lineno]]
            yield "with torch.no_grad(): removed", _replace_lines(code, node.lineno, node.end_lineno, body)


@operator("train_eval")
def op_train_eval(tree, code, block):
    """A ``model.train()`` / ``model.eval()`` call removed."""
    for stmt in _nodes(tree, block, ast.Expr):
        v = stmt.value
        if (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute)
                and v.func.attr in ("train", "eval") and len(v.args) <= 1):
            yield f"{ast.unparse(v)} removed", _replace_stmt(code, stmt, ["pass"])


# --------------------------------------------------------------------------- generation


GENERIC = ("delete", "constant", "arith", "return_early", "swap_args")


def _canonical(code: str) -> str | None:
    try:
        return ast.unparse(ast.parse(code))
    except SyntaxError:
        return None


def _block_diff(question: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        f"{question} (solution)", f"{question} (mutant)", n=2))


def mutate_cell(code: str, block: tuple[int, int], question: str = "q",
                operators: dict[str, Operator] | None = None,
                cell: int | None = None) -> list[Mutant]:
    """Every valid, distinct mutant of ``code`` changing only lines ``block`` (first, last).

    Valid: it compiles, its code differs from the original's (not a no-op after unparsing),
    and every line outside the block is untouched (the block may grow or shrink by the lines
    the change adds or removes).
    """
    tree = ast.parse(code)
    original = _canonical(code)
    lines = code.split("\n")
    before_block = block_text(code, *block)
    seen = {original}
    out = []
    # specific operators first: a removed `net.train()` is reported as train_eval, not delete
    ops = sorted((operators or OPERATORS).items(), key=lambda kv: kv[0] in GENERIC)
    for name, op in ops:
        for description, new in op(tree, code, block):
            canonical = _canonical(new)
            if canonical is None or canonical in seen:
                continue
            try:
                compile(new, "<mutant>", "exec")
            except (SyntaxError, ValueError):
                continue
            new_lines = new.split("\n")
            grow = len(new_lines) - len(lines)
            head, tail = lines[: block[0] - 1], lines[block[1]:]
            if new_lines[: block[0] - 1] != head or (tail and new_lines[len(new_lines) - len(tail):] != tail):
                continue  # touched a line outside the solution block: never allowed
            after_block = "\n".join(new_lines[block[0] - 1 : block[1] + grow])
            seen.add(canonical)
            out.append(Mutant(question, name, description, cell, new,
                              _block_diff(question, before_block + "\n", after_block + "\n"),
                              mutant_key(question, after_block)))
    return out


def operator_mutants(nb: dict[str, Any], path: Path | str) -> dict[str, list[Mutant]]:
    """All operator mutants of every question of a source notebook (no sampling)."""
    out: dict[str, list[Mutant]] = {}
    for question, blocks in question_blocks(nb, path).items():
        seen: set[str] = set()
        found = []
        for b in blocks:
            code = notebooks.source(nb["cells"][b.cell])
            for m in mutate_cell(code, (b.first, b.last), question, cell=b.cell):
                if m.key not in seen:
                    seen.add(m.key)
                    found.append(m)
        out[question] = found
    return out


def sample(found: list[Mutant], limit: int | None) -> list[Mutant]:
    """A deterministic sample: round-robin over operators, each one's mutants by stable hash.

    The rarest operators come first in each round (then by name), so that a small sample
    still holds the specific mistakes (a dropped ``keepdim``, a removed ``no_grad``) rather
    than only the operators that match everywhere (constants, arithmetic).
    """
    if limit is None or len(found) <= limit:
        return list(found)
    by_op: dict[str, list[Mutant]] = {}
    for m in found:
        by_op.setdefault(m.operator, []).append(m)
    queues = [sorted(ms, key=lambda m: m.key)
              for _, ms in sorted(by_op.items(), key=lambda kv: (len(kv[1]), kv[0]))]
    picked: list[Mutant] = []
    while len(picked) < limit:
        for q in queues:
            if q and len(picked) < limit:
                picked.append(q.pop(0))
    return picked


def known_wrong_mutants(slug: str) -> list[Mutant]:
    path = config.ASSIGNMENTS / slug / "wrong_answers.py"
    if not path.exists():
        return []
    out = []
    for w in mutants.load(path):
        diff = "".join(f"+{ln}\n" for ln in w.code.rstrip("\n").split("\n"))
        out.append(Mutant(w.question, "known_wrong", w.mistake, None, w.code, diff,
                          mutant_key(w.question, "known-wrong\n" + w.code), known_wrong=True))
    return out


# --------------------------------------------------------------------------- equivalents


def load_equivalents(path: Path) -> dict[tuple[str, str], str]:
    """``equivalent_mutants.yml`` -> {(question, hash): reason}.

    The file is a list of entries ``{question: q3, mutant: <12-hex hash>, reason: why}``
    (``make mutants`` prints each survivor's hash); a missing file means none.
    """
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if isinstance(data, dict) and set(data) == {"equivalent"}:
        data = data["equivalent"] or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of {{question, mutant, reason}} entries")
    out = {}
    for k, entry in enumerate(data):
        if not isinstance(entry, dict) or not {"question", "mutant", "reason"} <= set(entry):
            raise ValueError(f"{path}: entry {k + 1} needs question, mutant and reason")
        key = str(entry["mutant"]).strip()
        if not re.fullmatch(r"[0-9a-f]{12}", key):
            raise ValueError(f"{path}: entry {k + 1}: mutant {key!r} is not a 12-hex-digit hash")
        if not str(entry["reason"]).strip():
            raise ValueError(f"{path}: entry {k + 1}: the reason is empty")
        out[(str(entry["question"]), key)] = str(entry["reason"]).strip()
    return out


# --------------------------------------------------------------------------- grading


def notebook_hash(slug: str) -> str:
    return hashlib.sha256((config.ASSIGNMENTS / slug / f"{slug}.ipynb").read_bytes()).hexdigest()


def submission_for(solution_nb: dict[str, Any], source_nb: dict[str, Any], m: Mutant) -> dict[str, Any]:
    """The built solution notebook with the mutant's answer cell (or known-wrong code) in."""
    if m.known_wrong:
        return mutants.apply(solution_nb, mutants.WrongAnswer(m.question, m.description, m.code))
    original = notebooks.source(source_nb["cells"][m.cell]).rstrip()
    nb = copy.deepcopy(solution_nb)
    hits = [c for c in nb["cells"]
            if c["cell_type"] == "code" and notebooks.source(c).rstrip() == original]
    if len(hits) != 1:
        raise ValueError(f"{m.question}: the answer cell is not found once in the solution "
                         f"notebook ({len(hits)} matches)")
    hits[0]["source"] = m.code
    return nb


class ZipGrader:
    """The reference grader: a whole notebook through the assignment's Gradescope zip.

    A faster grader (re-run only the mutated cell and its question's tests) may replace it
    behind the same ``scores(path) -> {question: (score, max)}`` interface, once a test shows
    it gives the zip's verdicts on a sample.
    """

    def __init__(self, zip_path: Path, timeout: float = 600):
        self.zip_path, self.timeout = zip_path, timeout

    def scores(self, notebook: Path) -> dict[str, tuple[float, float]]:
        from . import grade

        res = grade.grade(self.zip_path, notebook, timeout=self.timeout)
        return {q: s for q, s in grade.question_scores(res).items() if q != "Public Tests"}


def _defined_names(code: str) -> list[str]:
    """Top-level names a cell defines (functions, classes, assignments)."""
    out = []
    for node in ast.parse(notebooks._python_for_parsing(code)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            out += _assigned_names(node)
    return out


class FastGrader:
    """Run the solution notebook once (per worker), then per mutant only its cell(s) and its
    question's tests, in a forked copy (``mutation_fast.py``).  Same interface as ``ZipGrader``
    plus ``mutant_scores``; ``analyse`` re-grades every fast survivor through the zip."""

    def __init__(self, zip_path: Path, solution_nb: dict[str, Any], source_nb: dict[str, Any],
                 jobs: int = 2, timeout: float = 120):
        import queue
        import subprocess
        import zipfile

        from . import grade

        self.solution_nb, self.source_nb = solution_nb, source_nb
        self._tmp = tempfile.TemporaryDirectory(prefix="mutants-fast.")
        self.servers: Any = queue.Queue()
        self.procs = []
        self.cell_errors: dict[str, str] = {}
        nb_path = Path(self._tmp.name) / "solution.ipynb"
        notebooks.save(solution_nb, nb_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "COURSE_"))}
        env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "MPLBACKEND": "Agg"}
        for k in range(max(1, jobs)):
            ag = Path(self._tmp.name) / f"ag{k}"
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(ag)
            proc = subprocess.Popen([grade.grading_python(), str(Path(__file__).with_name("mutation_fast.py")),
                                     str(ag), str(nb_path), str(timeout)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, env=env, cwd=ag)
            self.procs.append(proc)
            hello = self._read(proc)
            self.baseline = {q: tuple(s) for q, s in (hello.get("baseline") or {}).items()}
            self.cell_errors = hello.get("cell_errors", {})
            self.servers.put(proc)

    @staticmethod
    def _read(proc: Any) -> dict[str, Any]:
        for line in proc.stdout:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue  # stray output of the notebook
        raise RuntimeError(f"the fast grader exited with code {proc.wait()}")

    def scores(self, notebook: Path) -> dict[str, tuple[float, float]]:
        return dict(self.baseline)  # only ever asked for the solution

    def request(self, m: Mutant) -> dict[str, Any]:
        if m.known_wrong:
            return {"question": m.question, "cells": [m.code], "delete": []}
        original = notebooks.source(self.source_nb["cells"][m.cell]).rstrip()
        cells = self.solution_nb["cells"]
        i = next(k for k, c in enumerate(cells)
                 if c["cell_type"] == "code" and notebooks.source(c).rstrip() == original)
        check = re.compile(rf"""grader\.check\(\s*["']{re.escape(m.question)}["']""")
        j = next((k for k in range(i + 1, len(cells)) if check.search(notebooks.source(cells[k]))),
                 i + 1)
        later = [notebooks.source(c) for c in cells[i + 1 : j] if c["cell_type"] == "code"]
        return {"question": m.question, "cells": [m.code] + later,
                "delete": _defined_names(original)}

    def mutant_scores(self, m: Mutant, submission: Path) -> dict[str, tuple[float, float]]:
        proc = self.servers.get()
        try:
            proc.stdin.write(json.dumps(self.request(m)) + "\n")
            proc.stdin.flush()
            res = self._read(proc)
        finally:
            self.servers.put(proc)
        if res.get("error"):
            raise RuntimeError(res["error"])
        return {q: tuple(s) for q, s in res.get("scores", {}).items()}

    def close(self) -> None:
        for proc in self.procs:
            proc.stdin.close()
            proc.wait(timeout=30)
        self._tmp.cleanup()


def ensure_built(slug: str) -> dict[str, Path]:
    """The dist/ outputs of ``slug``, (re)built when the zip is missing or older than the notebook."""
    zip_path = config.DIST / "gradescope" / f"{slug}.zip"
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    if not zip_path.exists() or zip_path.stat().st_mtime < src.stat().st_mtime:
        from . import build

        build.build_assignment(slug, log=lambda *_: None)
    return {"zip": zip_path, "solution": config.DIST / "solution" / slug / f"{slug}.ipynb"}


def analyse(slug: str, max_per_question: int | None = DEFAULT_MAX_PER_QUESTION, jobs: int = 2,
            questions: list[str] | None = None, grader: ZipGrader | None = None,
            include_known_wrong: bool = True, log: Callable[[str], None] = print,
            fast: bool = False) -> dict[str, Any]:
    """Generate, sample and grade the mutants of one assignment; return the report as a dict.

    ``fast``: screen with ``FastGrader``, then re-grade every mutant it lets survive through
    the zip, so a survivor is never reported on the fast path's word alone.
    """
    start = time.perf_counter()
    paths = ensure_built(slug)
    src_path = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    source_nb = notebooks.load(src_path)
    solution_nb = notebooks.load(paths["solution"])
    zip_grader = ZipGrader(paths["zip"])
    if grader is None and fast:
        grader = FastGrader(paths["zip"], solution_nb, source_nb, jobs)
    grader = grader or zip_grader
    equivalents = load_equivalents(config.ASSIGNMENTS / slug / EQUIVALENTS_FILE)
    generated = operator_mutants(source_nb, src_path)
    if questions:
        unknown = set(questions) - set(generated)
        if unknown:
            raise ValueError(f"{slug}: no question(s) {sorted(unknown)}")
        generated = {q: ms for q, ms in generated.items() if q in questions}
    chosen = [m for q in generated for m in sample(generated[q], max_per_question)]
    if include_known_wrong:
        chosen += [m for m in known_wrong_mutants(slug) if m.question in generated]
    if jobs > 1:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutants.") as tmp:
        sol_path = Path(tmp) / "solution" / f"{slug}.ipynb"
        sol_path.parent.mkdir()
        notebooks.save(solution_nb, sol_path)
        full = grader.scores(sol_path)
        solution_seconds = time.perf_counter() - t0
        short = {q: s for q, s in full.items() if s[0] < s[1]}
        if short:
            raise RuntimeError(f"{slug}: the solution itself loses points on {short}")
        if isinstance(grader, ZipGrader):  # a mutant that loops forever must not stall the run
            grader.timeout = min(grader.timeout, max(120.0, 4 * solution_seconds + 60))
        zip_grader.timeout = grader.timeout if isinstance(grader, ZipGrader) else 300
        log(f"{slug}: solution graded in {solution_seconds:.1f} s; grading "
            f"{len(chosen)} mutants ({sum(len(v) for v in generated.values())} generated, "
            f"at most {max_per_question} per question + known-wrong answers, {jobs} workers)")

        def run_one(k: int, m: Mutant) -> Verdict:
            t = time.perf_counter()
            sub = Path(tmp) / f"m{k:04d}" / f"{slug}.ipynb"
            sub.parent.mkdir()
            try:
                notebooks.save(submission_for(solution_nb, source_nb, m), sub)
                partial = hasattr(grader, "mutant_scores")  # the fast grader: one question only
                got = grader.mutant_scores(m, sub) if partial else grader.scores(sub)
                if fast and got.get(m.question, (0.0, 0.0))[0] >= full[m.question][0]:
                    got, partial = zip_grader.scores(sub), False  # a fast survivor: the zip decides
            except Exception as err:  # a broken mutant never stops the run
                return Verdict(m, "error", reason=repr(err), seconds=time.perf_counter() - t)
            score = got.get(m.question, (0.0, full[m.question][1]))
            collateral = {q: got.get(q) for q, s in full.items()
                          if q != m.question and got.get(q) != s and not (partial and q not in got)}
            killed = score[0] < full[m.question][0]
            status = ("killed" if killed else "equivalent"
                      if (m.question, m.key) in equivalents else "survived")
            return Verdict(m, status, score, collateral,
                           equivalents.get((m.question, m.key), ""), time.perf_counter() - t)

        verdicts: list[Verdict | None] = [None] * len(chosen)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(run_one, k, m): k for k, m in enumerate(chosen)}
            for n, fut in enumerate(concurrent.futures.as_completed(futures), start=1):
                v = verdicts[futures[fut]] = fut.result()
                log(f"  [{n}/{len(chosen)}] {v.mutant.question} {v.mutant.operator:12s} "
                    f"{v.status:10s} {v.mutant.description[:70]}")
    if isinstance(grader, FastGrader):
        grader.close()
    report = summarise(slug, [v for v in verdicts if v is not None], generated, max_per_question,
                       equivalents)
    report["grader"] = "fast (survivors re-graded through the zip)" if fast else "zip"
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["solution_seconds"] = round(solution_seconds, 1)
    return report


def summarise(slug: str, verdicts: list[Verdict], generated: dict[str, list[Mutant]],
              max_per_question: int | None, equivalents: dict[tuple[str, str], str]) -> dict[str, Any]:
    per_q: dict[str, dict[str, Any]] = {}
    for q in generated:
        per_q[q] = {"generated": len(generated[q]), "mutants": 0, "killed": 0, "survived": 0,
                    "equivalent": 0, "errors": 0, "known_wrong": 0, "known_wrong_killed": 0,
                    "survivors": [], "equivalents": [], "collateral": []}
    for v in verdicts:
        d = per_q[v.mutant.question]
        d["mutants"] += 1
        d[{"killed": "killed", "survived": "survived", "equivalent": "equivalent",
           "error": "errors"}[v.status]] += 1
        if v.mutant.known_wrong:
            d["known_wrong"] += 1
            d["known_wrong_killed"] += v.status == "killed"
        entry = {"hash": v.mutant.key, "operator": v.mutant.operator,
                 "description": v.mutant.description, "diff": v.mutant.diff,
                 "score": list(v.score) if v.score else None}
        if v.status == "survived" or v.status == "error":
            d["survivors"].append(entry | ({"error": v.reason} if v.status == "error" else {}))
        elif v.status == "equivalent":
            d["equivalents"].append(entry | {"reason": v.reason})
        if v.collateral:
            d["collateral"].append(entry | {"changed": {k: list(s) if s else None
                                                        for k, s in v.collateral.items()}})
    totals = {k: sum(d[k] for d in per_q.values())
              for k in ("mutants", "killed", "survived", "equivalent", "errors", "known_wrong",
                        "known_wrong_killed")}
    graded = totals["mutants"] - totals["equivalent"]
    score = round(totals["killed"] / graded, 4) if graded else 1.0
    used = {(q, e["hash"]) for d in per_q.values() for e in d["equivalents"]}
    return {"assignment": slug, "notebook_sha256": notebook_hash(slug),
            "max_per_question": max_per_question,
            "sampling": "at most max_per_question operator mutants per question, round-robin over "
                        "operators, each operator's mutants in stable-hash order; every "
                        "known-wrong answer added",
            "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "score": score, **totals, "questions": per_q,
            "verdicts": [{"question": v.mutant.question, "hash": v.mutant.key,
                          "operator": v.mutant.operator, "status": v.status,
                          "score": list(v.score) if v.score else None} for v in verdicts],
            "stale_equivalents": sorted(f"{q}:{h}" for q, h in set(equivalents) - used
                                        if q in per_q)}


# --------------------------------------------------------------------------- reports


def markdown(report: dict[str, Any]) -> str:
    r = report
    out = [f"# Mutation analysis: {r['assignment']}", "",
           f"Score **{r['score']:.0%}** = killed {r['killed']} / (mutants {r['mutants']} - "
           f"equivalent {r['equivalent']}); known-wrong answers killed "
           f"{r['known_wrong_killed']}/{r['known_wrong']}.  Sampling: {r['sampling']} "
           f"(max_per_question = {r['max_per_question']}).  Measured {r['measured']} on notebook "
           f"sha256 `{r['notebook_sha256'][:12]}`.", "",
           "| question | generated | graded | killed | survived | equivalent | errors |",
           "|---|---|---|---|---|---|---|"]
    for q, d in r["questions"].items():
        out.append(f"| {q} | {d['generated']} | {d['mutants']} | {d['killed']} | {d['survived']} "
                   f"| {d['equivalent']} | {d['errors']} |")
    for q, d in r["questions"].items():
        if d["survivors"] or d["equivalents"] or d["collateral"]:
            out += ["", f"## {q}"]
        for e in d["survivors"]:
            what = "ERROR (counted as survived): " + e["error"] if "error" in e else "survived"
            out += ["", f"### `{e['hash']}` {e['operator']}: {e['description']} ({what})", "",
                    "```diff", e["diff"].rstrip("\n"), "```"]
        for e in d["equivalents"]:
            out += ["", f"### `{e['hash']}` {e['operator']}: {e['description']} (equivalent: "
                        f"{e['reason']})", "", "```diff", e["diff"].rstrip("\n"), "```"]
        for e in d["collateral"]:
            out += ["", f"- `{e['hash']}` {e['operator']} ({e['description']}) also changed "
                        f"{e['changed']}"]
    if r["stale_equivalents"]:
        out += ["", "Equivalents marked but not met in this sample (stale or not sampled): "
                + ", ".join(r["stale_equivalents"])]
    return "\n".join(out) + "\n"


def table(reports: list[dict[str, Any]]) -> str:
    rows = ["| assignment | mutants | killed | survived | equivalent | known-wrong killed | score |",
            "|---|---|---|---|---|---|---|"]
    for r in reports:
        rows.append(f"| {r['assignment']} | {r['mutants']} | {r['killed']} | {r['survived']} | "
                    f"{r['equivalent']} | {r['known_wrong_killed']}/{r['known_wrong']} | "
                    f"{r['score']:.0%} |")
    return "\n".join(rows)


def write_report(report: dict[str, Any], out_dir: Path | None = None) -> tuple[Path, Path]:
    out_dir = out_dir or config.DIST / "mutants"
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{report['assignment']}.md"
    js = out_dir / f"{report['assignment']}.json"
    md.write_text(markdown(report), encoding="utf-8")
    js.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return md, js


# --------------------------------------------------------------------------- recorded scores


def score_path(slug: str) -> Path:
    return config.ASSIGNMENTS / slug / SCORE_FILE


def recorded(slug: str) -> dict[str, Any] | None:
    p = score_path(slug)
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def check_recorded(slug: str) -> str | None:
    """None when ``slug`` has a recorded score measured on its current notebook, else why not."""
    rec = recorded(slug)
    if rec is None:
        return (f"{slug}: no recorded mutation score ({score_path(slug).relative_to(config.ROOT)}): "
                f"run `make mutants ASSIGNMENT={slug}`")
    if rec.get("notebook_sha256") != notebook_hash(slug):
        return (f"{slug}: assignment changed since its mutation score was measured: run "
                f"`make mutants ASSIGNMENT={slug}`")
    if not isinstance(rec.get("score"), (int, float)):
        return f"{slug}: {SCORE_FILE} has no numeric score"
    return None


def changed() -> list[str]:
    return [s for s in config.assignment_slugs() if check_recorded(s) is not None]


def record(report: dict[str, Any], accept_lower: bool = False) -> tuple[bool, str]:
    """Write the score file unless the score fell below the recorded one (and not accepted)."""
    slug = report["assignment"]
    old = recorded(slug)
    if old is not None and report["score"] < old.get("score", 0) and not accept_lower:
        return False, (f"{slug}: mutation score fell from {old['score']:.1%} to "
                       f"{report['score']:.1%}: strengthen the tests (see dist/mutants/{slug}.md) "
                       f"or record it with ACCEPT_LOWER=1")
    if report["known_wrong_killed"] < report["known_wrong"]:
        return False, (f"{slug}: {report['known_wrong'] - report['known_wrong_killed']} known-wrong "
                       f"answer(s) survived: they must all be killed")
    keep = ("assignment", "score", "mutants", "killed", "survived", "equivalent", "errors",
            "known_wrong", "known_wrong_killed", "max_per_question", "notebook_sha256", "measured")
    kept = {k: report[k] for k in keep} | {"grader": report.get("grader", "zip")}
    score_path(slug).write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
    before = f" (was {old['score']:.1%})" if old else ""
    return True, f"{slug}: recorded mutation score {report['score']:.1%}{before}"


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.mutation",
                                description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="grade the mutants of assignments and record their scores")
    run.add_argument("slugs", nargs="*", help="assignments (default: all)")
    run.add_argument("-n", "--max-per-question", type=int, default=DEFAULT_MAX_PER_QUESTION,
                     help="operator mutants graded per question (0: all)")
    run.add_argument("-j", "--jobs", type=int, default=2)
    run.add_argument("-q", "--question", action="append", help="only these questions")
    run.add_argument("--accept-lower", action="store_true", default=bool(os.environ.get("ACCEPT_LOWER")))
    run.add_argument("--no-record", action="store_true", help="report only, never record")
    run.add_argument("--fast", action="store_true", default=bool(os.environ.get("FAST")),
                     help="screen with the fast grader; survivors are re-graded through the zip")
    sub.add_parser("changed", help="print the assignments whose notebook changed since measured")
    sub.add_parser("table", help="print the recorded scores as a markdown table")
    ls = sub.add_parser("list", help="list an assignment's mutants without grading them")
    ls.add_argument("slug")
    ls.add_argument("--diff", action="store_true")
    args = p.parse_args(argv)

    if args.cmd == "changed":
        print(" ".join(changed()))
        return 0
    if args.cmd == "table":
        recs = [r for r in map(recorded, config.assignment_slugs()) if r]
        print(table(recs))
        return 0
    if args.cmd == "list":
        src = config.ASSIGNMENTS / args.slug / f"{args.slug}.ipynb"
        for q, ms in operator_mutants(notebooks.load(src), src).items():
            print(f"{q}: {len(ms)} mutants")
            for m in ms:
                print(f"  {m.key} {m.operator:12s} {m.description}")
                if args.diff:
                    print(textwrap.indent(m.diff, "    "))
        return 0

    slugs = args.slugs or config.assignment_slugs()
    limit = args.max_per_question or None
    reports, failed = [], []
    for slug in slugs:
        try:
            report = analyse(slug, limit, args.jobs, args.question, fast=args.fast)
        except Exception as err:  # one broken assignment never hides the others' results
            print(f"{slug}: mutation analysis failed: {err!r}", file=sys.stderr)
            failed.append(slug)
            continue
        md, _ = write_report(report)
        reports.append(report)
        print(f"{slug}: score {report['score']:.1%} in {report['seconds']:.0f} s; report {md}")
        if args.no_record or args.question:
            continue
        ok, msg = record(report, args.accept_lower)
        print(msg)
        if not ok:
            failed.append(slug)
    print()
    print(table(reports))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
