"""Reading, checking, cleaning and rendering the course's source notebooks.

* ``load`` parses a notebook and names the file on any error;
* ``check_otter_blocks`` walks an assignment's Otter blocks and names the cell of any mistake;
* ``clean`` strips outputs, execution counts and machine-specific metadata;
* ``render`` writes the generated parts (the Colab badge and the Colab bootstrap inside the
  setup cell) from ``course.yml``.

``python -m autograder.notebooks sync`` re-renders and cleans every source notebook in place;
``python -m autograder.notebooks check`` fails if that would change anything.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from . import config

BADGE_PREFIX = "[![Open In Colab]"
SETUP_BEGIN = "# >>> colab setup"
SETUP_END = "# <<< colab setup"
SETUP_BEGIN_LINE = f"{SETUP_BEGIN}: generated from course.yml by `make sync`; edit that, not this"

NOTEBOOK_METADATA_KEEP = ("kernelspec", "language_info")
CELL_METADATA_KEEP = ("tags",)
LANGUAGE_INFO_KEEP = ("name",)


class NotebookError(Exception):
    """A source notebook is broken; the message names the file (and the cell when known).

    ``problems`` lists every problem found (one entry per change needed).
    """

    def __init__(self, message: str, problems: list[str] | None = None,
                 info: dict[str, Any] | None = None):
        super().__init__(message)
        self.problems = problems if problems is not None else [message]
        self.info = info  # what could be read despite the problems (for further checks)


# --------------------------------------------------------------------------- loading


def load(path: Path | str) -> dict[str, Any]:
    """Parse a notebook file as JSON (nbformat 4) or raise ``NotebookError`` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise NotebookError(f"{path}: not UTF-8 text ({err})") from None
    except OSError as err:
        raise NotebookError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotebookError(f"{path}: broken JSON at line {err.lineno}, column {err.colno}: "
                            f"{err.msg}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not a Jupyter notebook (no list of cells)")
    if nb.get("nbformat") != 4:
        raise NotebookError(f"{path}: nbformat {nb.get('nbformat')!r} is not supported (need 4)")
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(f"{path}: cell {i} is not a code, markdown or raw cell")
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


def dumps(nb: dict[str, Any]) -> str:
    """The notebook as JupyterLab would save it: exactly ``nbformat.write``'s bytes.

    Sources become lists of lines (a one-line edit is a one-line diff), keys are sorted,
    indent is one space, with a trailing newline.  A notebook saved any other way opens in
    JupyterLab already marked modified.
    """
    import nbformat
    from nbformat.v4 import writes  # nbformat.writes without its validation pass: same bytes

    text = writes(nbformat.from_dict(copy.deepcopy(nb)))
    return text if text.endswith("\n") else text + "\n"


def save(nb: dict[str, Any], path: Path | str) -> None:
    """Write a notebook the way Jupyter does (see ``dumps``)."""
    Path(path).write_text(dumps(nb), encoding="utf-8")


def source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def describe_cell(path: Path | str, index: int, cell: dict[str, Any]) -> str:
    first = next((ln.strip() for ln in source(cell).splitlines() if ln.strip()), "")
    if len(first) > 50:
        first = first[:47] + "..."
    return f"{path}: cell {index} ({cell.get('cell_type')}, {first!r})"


# --------------------------------------------------------------------------- Otter blocks

_MARKERS = ("ASSIGNMENT CONFIG", "BEGIN QUESTION", "END QUESTION", "BEGIN TESTS", "END TESTS",
            "BEGIN SOLUTION", "END SOLUTION", "BEGIN PROMPT", "END PROMPT")
_MARKER_RE = re.compile(r"^\s*#\s*(" + "|".join(_MARKERS) + r")\b", re.IGNORECASE)
_TEST_CONFIG_BEGIN = re.compile(r'^\s*"""\s*#\s*BEGIN\s+TEST\s+CONFIG', re.IGNORECASE)
_TEST_CONFIG_END = re.compile(r'^\s*"""\s*#\s*END\s+TEST\s+CONFIG', re.IGNORECASE)


def _python_for_parsing(code: str) -> str:
    """Blank out IPython-only lines (magics, shell escapes) so ``ast`` can check the rest."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines)


def check_code_cells(nb: dict[str, Any], path: Path | str) -> None:
    """Raise ``NotebookError`` naming the first code cell that is not valid Python."""
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            try:
                ast.parse(_python_for_parsing(source(cell)))
            except SyntaxError as err:
                raise NotebookError(f"{describe_cell(path, i, cell)}: invalid Python at line "
                                    f"{err.lineno}: {err.msg}") from None


def _marker(cell: dict[str, Any]) -> str | None:
    if cell.get("cell_type") != "raw":
        return None
    first = source(cell).lstrip().splitlines()[:1]
    m = _MARKER_RE.match(first[0]) if first else None
    return m.group(1).upper() if m else None


def _yaml_after_first_line(cell: dict[str, Any], where: str) -> dict[str, Any]:
    body = "\n".join(source(cell).lstrip().splitlines()[1:])
    try:
        data = yaml.safe_load(body) if body.strip() else {}
    except yaml.YAMLError as err:
        raise NotebookError(f"{where}: invalid YAML: {err}") from None
    if not isinstance(data, dict):
        raise NotebookError(f"{where}: the YAML under the marker must be a mapping of keys")
    return data


def unfence(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``nb`` where Otter's markdown ```` ```otter ```` config blocks are raw cells.

    Otter accepts its config either as raw cells (``# BEGIN QUESTION`` ...) or as fenced
    ```` ```otter ```` blocks inside markdown cells; the build checks and builds the raw form.
    Text around a block stays in markdown cells of its own (as ``otter assign`` does).
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb["cells"]:
        lines = source(cell).split("\n")
        starts = [k for k, ln in enumerate(lines) if ln.strip() == "```otter"]
        if cell.get("cell_type") != "markdown" or not starts:
            cells.append(cell)
            continue
        pos, pieces = 0, []
        for s in starts:
            if s < pos:
                continue
            end = next((k for k in range(s + 1, len(lines)) if lines[k].strip() == "```"), None)
            if end is None:  # reported by check_otter_blocks as an unclosed block
                break
            pieces += [("markdown", lines[pos:s]), ("raw", lines[s + 1:end])]
            pos = end + 1
        pieces.append(("markdown", lines[pos:]))
        for kind, chunk in pieces:
            text = "\n".join(chunk).strip("\n")
            if text.strip():
                new = {"cell_type": kind, "metadata": {}, "source": text}
                cells.append(new)
    nb["cells"] = cells
    return nb


def _unclosed_fences(nb: dict[str, Any], path: Path | str) -> list[str]:
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "markdown":
            continue
        depth = 0
        for ln in source(cell).split("\n"):
            if ln.strip() == "```otter":
                depth += 1
            elif ln.strip() == "```" and depth:
                depth -= 1
        if depth:
            problems.append(f"{describe_cell(path, i, cell)}: a ```otter block is never closed "
                            "(add a line with ``` after it)")
    return problems


# Question keys the hardened grader cannot honour (the build refuses rather than ignore them).
UNSUPPORTED_QUESTION_KEYS = {
    "all_or_nothing": "remove `all_or_nothing` (the hardened grader scores each test on its own); "
                      "put all the points on one hidden test instead",
}


def forbidden_problems(names: Any) -> list[str]:
    """What is wrong with a question's ``forbidden:`` list (dotted names of torch functions a
    from-scratch answer must not call, enforced by the grader while the answer runs)."""
    if not isinstance(names, list) or not names or \
            not all(isinstance(n, str) and n.strip() for n in names):
        return ["`forbidden:` must be a non-empty list of dotted names, e.g. "
                "[torch.softmax, torch.nn.functional.softmax, torch.Tensor.softmax]"]
    from dlcourse.checks import lookup  # the same resolution the public tests use

    problems = []
    for name in names:
        if name.split(".")[0] != "torch":
            problems.append(f"`forbidden:` {name!r}: only torch functions can be forbidden")
            continue
        try:
            obj = lookup(name)
        except (ValueError, AttributeError):
            obj = None
        if obj is None or not callable(obj) or isinstance(obj, type):
            problems.append(f"`forbidden:` {name!r} is not a torch function (classes such as "
                            "nn.Conv2d cannot be forbidden: name the functional they call)")
    return problems


def check_otter_blocks(nb: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """Check an ``otter assign`` source notebook; return a summary of its questions.

    Accepts both config syntaxes (raw cells and markdown ```` ```otter ```` blocks). Every
    mistake found is collected and raised as ONE ``NotebookError`` that names the file and the
    cell of each: a missing or invalid ``# ASSIGNMENT CONFIG``, unbalanced question / tests /
    solution / prompt blocks, a question without a name or with a duplicate name, a code cell
    that is not valid Python, a test cell that is neither one ``def test_...`` function nor an
    OK-format (doctest) test, a hidden test without explicit points, a question-level
    ``points:`` list whose length differs from the number of tests, and unsupported keys.

    Each question's summary has ``manual`` and ``tests``; each test has ``kind`` (``"exception"``
    or ``"ok"``), ``hidden``, ``points`` (resolved: explicit, from the question's list, or its
    number split evenly) and, for OK tests, ``code`` (the doctest text).
    """
    problems = _unclosed_fences(nb, path)
    nb = unfence(nb)
    assignment_config = None
    questions: dict[str, dict[str, Any]] = {}
    open_question: tuple[int, dict[str, Any]] | None = None
    in_tests = in_solution = in_prompt = None
    ok_default = True
    for i, cell in enumerate(nb["cells"]):
        where = describe_cell(path, i, cell)
        marker = _marker(cell)
        try:
            if marker == "ASSIGNMENT CONFIG":
                if assignment_config is not None:
                    raise NotebookError(f"{where}: a second # ASSIGNMENT CONFIG cell")
                assignment_config = _yaml_after_first_line(cell, where)
                # Otter's own default is OK format; only `tests: ok_format: false` says otherwise
                tests_cfg = assignment_config.get("tests")
                ok_default = not (isinstance(tests_cfg, dict)
                                  and tests_cfg.get("ok_format", True) is False)
            elif marker == "BEGIN QUESTION":
                if open_question is not None:
                    problems.append(f"{where}: # BEGIN QUESTION inside question "
                                    f"{open_question[1].get('name')!r} (missing # END QUESTION?)")
                    open_question = None
                    in_tests = in_solution = in_prompt = None
                qcfg = _yaml_after_first_line(cell, where)
                name = qcfg.get("name")
                if not isinstance(name, str) or not name:
                    raise NotebookError(f"{where}: the question has no `name:`")
                if name in questions:
                    raise NotebookError(f"{where}: question name {name!r} is used twice")
                for key, fix in UNSUPPORTED_QUESTION_KEYS.items():
                    if qcfg.get(key):
                        problems.append(f"{where}: question {name!r}: {fix}")
                if "forbidden" in qcfg:
                    problems += [f"{where}: question {name!r}: {fix}"
                                 for fix in forbidden_problems(qcfg["forbidden"])]
                open_question = (i, qcfg)
                questions[name] = {"config": qcfg, "cell": i, "tests": [], "solution_cells": [],
                                   "manual": bool(qcfg.get("manual")), "where": where}
            elif marker == "END QUESTION":
                if open_question is None:
                    raise NotebookError(f"{where}: # END QUESTION without # BEGIN QUESTION")
                if in_tests is not None or in_solution is not None or in_prompt is not None:
                    problems.append(f"{where}: # END QUESTION while a tests, solution or prompt "
                                    "block is still open")
                    in_tests = in_solution = in_prompt = None
                q = questions[open_question[1]["name"]]
                if not q["tests"] and not q["manual"] and not q.get("bad_tests"):
                    problems.append(f"{where}: question {open_question[1]['name']!r} has no tests "
                                    "(add a # BEGIN TESTS block, or `manual: true` for a question "
                                    "graded by hand)")
                open_question = None
            elif marker in ("BEGIN TESTS", "BEGIN SOLUTION", "BEGIN PROMPT"):
                if open_question is None:
                    raise NotebookError(f"{where}: # {marker} outside a question")
                if in_tests is not None or in_solution is not None or in_prompt is not None:
                    raise NotebookError(f"{where}: # {marker} while another block is still open")
                if marker == "BEGIN TESTS":
                    in_tests = i
                elif marker == "BEGIN SOLUTION":
                    in_solution = i
                else:
                    in_prompt = i
            elif marker in ("END TESTS", "END SOLUTION", "END PROMPT"):
                opened = {"END TESTS": in_tests, "END SOLUTION": in_solution,
                          "END PROMPT": in_prompt}[marker]
                if opened is None:
                    raise NotebookError(f"{where}: # {marker} without a matching BEGIN")
                in_tests = None if marker == "END TESTS" else in_tests
                in_solution = None if marker == "END SOLUTION" else in_solution
                in_prompt = None if marker == "END PROMPT" else in_prompt
            elif cell["cell_type"] == "code":
                code = source(cell)
                if in_tests is not None and open_question is not None:
                    q = questions[open_question[1]["name"]]
                    try:
                        test = _check_test_cell(cell, where, ok_default)
                    except NotebookError:
                        q["bad_tests"] = True  # its count and points are not known: no follow-ups
                        raise
                    test["cell"] = i
                    q["tests"].append(test)
                    continue
                try:
                    ast.parse(_python_for_parsing(code))
                except SyntaxError as err:
                    raise NotebookError(f"{where}: invalid Python at line {err.lineno}: {err.msg}") from None
                begins = len(re.findall(r"^\s*#\s*BEGIN SOLUTION", code, re.M))
                ends = len(re.findall(r"^\s*#\s*END SOLUTION", code, re.M))
                if begins != ends:
                    raise NotebookError(f"{where}: {begins} '# BEGIN SOLUTION' line(s) but {ends} "
                                        "'# END SOLUTION' line(s)")
                if open_question is not None and (begins or "# SOLUTION" in code or in_solution):
                    questions[open_question[1]["name"]]["solution_cells"].append(i)
        except NotebookError as err:
            problems.append(str(err))
    if open_question is not None:
        problems.append(f"{describe_cell(path, open_question[0], nb['cells'][open_question[0]])}"
                        f": question {open_question[1]['name']!r} is never closed "
                        "(missing # END QUESTION)")
    for opened, what in ((in_tests, "TESTS"), (in_solution, "SOLUTION"), (in_prompt, "PROMPT")):
        if opened is not None:
            problems.append(f"{describe_cell(path, opened, nb['cells'][opened])}: "
                            f"# BEGIN {what} is never closed")
    if assignment_config is None:
        problems.append(f"{path}: no raw cell starting with # ASSIGNMENT CONFIG (or ```otter "
                        "block holding one)")
    if not questions:
        problems.append(f"{path}: no questions (raw cells starting with # BEGIN QUESTION)")
    for name, q in questions.items():
        if len({t["kind"] for t in q["tests"]}) > 1:
            problems.append(f"{q['where']}: question {name!r} mixes OK-format (>>>) and "
                            "`def test_...` tests; use one kind per question")
        if q.get("bad_tests"):
            q["points_ok"] = False
            continue
        problems += _resolve_points(name, q)
    if problems:
        partial = {"config": assignment_config, "questions": questions} \
            if assignment_config is not None else None
        raise NotebookError(problem_list(path, problems), problems, partial)
    return {"config": assignment_config, "questions": questions}


def problem_list(path: Path | str, problems: list[str]) -> str:
    """One message for every problem of a notebook (a single problem reads as before)."""
    if len(problems) == 1:
        return problems[0]
    return (f"{path}: {len(problems)} problems; change all of these:\n  - "
            + "\n  - ".join(problems))


def _resolve_points(name: str, q: dict[str, Any]) -> list[str]:
    """Give every test of question ``name`` its points; return what is wrong, if anything.

    A test's own ``points:`` wins. A question-level list gives test k its k-th entry; a
    question-level number is split evenly over the tests without points of their own. A
    hidden test with no explicit points (own or question-level) is a mistake: it would
    silently get a default.
    """
    where, tests, qpoints = q["where"], q["tests"], q["config"].get("points")
    problems: list[str] = []
    q["points_ok"] = True
    if q["manual"]:
        if tests:
            problems.append(f"{where}: question {name!r} is `manual: true` but has tests; "
                            "remove the tests or the `manual` key")
        if qpoints is not None and not isinstance(qpoints, (int, float)):
            problems.append(f"{where}: manual question {name!r}: `points:` must be a number")
        q["points"] = qpoints if isinstance(qpoints, (int, float)) else 0
        return problems
    if isinstance(qpoints, list):
        if len(qpoints) != len(tests):
            problems.append(f"{where}: question {name!r} has `points: {qpoints}` ({len(qpoints)} "
                            f"values) but {len(tests)} test(s); give one value per test")
        elif not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in qpoints):
            problems.append(f"{where}: question {name!r}: every entry of `points:` must be a number")
        else:
            for t, p in zip(tests, qpoints):
                if t["points"] is not None and t["points"] != p:
                    problems.append(f"{where}: question {name!r}: test {t['name']} says "
                                    f"`points: {t['points']}` but the question's list gives it {p}")
                t["points"] = p
    elif isinstance(qpoints, (int, float)) and not isinstance(qpoints, bool):
        unset = [t for t in tests if t["points"] is None]
        rest = qpoints - sum(t["points"] for t in tests if t["points"] is not None)
        if rest < 0 or (rest > 0 and not unset):
            problems.append(f"{where}: question {name!r} has `points: {qpoints}` but its tests "
                            f"carry {qpoints - rest}")
        for t in unset:
            t["points"] = rest / len(unset) if rest > 0 else 0
    elif qpoints is not None:
        problems.append(f"{where}: question {name!r}: `points:` must be a number or a list of "
                        "numbers (one per test)")
    for t in tests:
        if t["points"] is None:
            if t["hidden"] and not problems:
                problems.append(f"{where}: question {name!r}: hidden test {t['name']} has no "
                                "`points:` (give it one in its TEST CONFIG, or a question-level "
                                "`points:`)")
            t["points"] = 0
    q["points"] = sum(t["points"] for t in tests)
    q["points_ok"] = not problems
    return problems


_PROMPT = re.compile(r"^(\s*)(>>>|\.\.\.)( |$)")


def _split_test_config(lines: list[str], where: str) -> tuple[dict[str, Any], list[str]]:
    if lines and _TEST_CONFIG_BEGIN.match(lines[0]):
        end = next((k for k, ln in enumerate(lines) if k and _TEST_CONFIG_END.match(ln)), None)
        if end is None:
            raise NotebookError(f"{where}: TEST CONFIG is never closed")
        try:
            cfg = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as err:
            raise NotebookError(f"{where}: invalid TEST CONFIG YAML: {err}") from None
        if not isinstance(cfg, dict):
            raise NotebookError(f"{where}: the TEST CONFIG must be a mapping of keys")
        return cfg, lines[end + 1:]
    return {}, lines


def doctest_examples(text: str) -> list[tuple[str, str]]:
    """``(source, expected output)`` pairs of a doctest text (``>>>`` / ``...`` lines)."""
    examples: list[tuple[list[str], list[str]]] = []
    for line in text.split("\n"):
        m = _PROMPT.match(line)
        if m and m.group(2) == ">>>":
            examples.append(([line[m.end():]], []))
        elif m and examples and not examples[-1][1]:
            examples[-1][0].append(line[m.end():])
        elif examples and line.strip():
            examples[-1][1].append(line.rstrip())
    return [("\n".join(src), "\n".join(want)) for src, want in examples]


def _cell_output_text(cell: dict[str, Any]) -> str:
    out = ""
    for o in cell.get("outputs") or []:
        text = o.get("text", "")
        out += "".join(text) if isinstance(text, list) else str(text)
        plain = (o.get("data") or {}).get("text/plain")
        if plain:
            out += "".join(plain) if isinstance(plain, list) else str(plain)
    return out


def _check_test_cell(cell: dict[str, Any], where: str, ok_default: bool = False) -> dict[str, Any]:
    """One test cell: an exception-based ``def test_...`` or an OK-format (doctest) test.

    OK-format tests are written either as doctest text (``>>>`` lines followed by the expected
    output; survives ``make sync``) or, when the config says ``tests: ok_format: true``, Otter's
    way: plain code whose expected output is the cell's saved output.
    """
    code = source(cell) if isinstance(cell, dict) else cell
    lines = code.strip("\n").splitlines()
    cfg, body = _split_test_config(lines, where)
    text = "\n".join(body)
    unknown = sorted(set(cfg) - {"hidden", "points", "name", "success_message", "failure_message"})
    if unknown:
        raise NotebookError(f"{where}: unknown TEST CONFIG key(s) {unknown}")
    base = {"hidden": bool(cfg.get("hidden", False)), "points": cfg.get("points")}
    if base["points"] is not None and (isinstance(base["points"], bool)
                                       or not isinstance(base["points"], (int, float))):
        raise NotebookError(f"{where}: `points:` of a test must be a number")
    if any(_PROMPT.match(ln) and _PROMPT.match(ln).group(2) == ">>>" for ln in body):
        examples = doctest_examples(text)
        for src, _ in examples:
            try:
                compile(src, "<doctest>", "single")
            except SyntaxError as err:
                raise NotebookError(f"{where}: the doctest line `>>> {src.splitlines()[0]}` is not "
                                    f"valid Python: {err.msg}") from None
        name = cfg.get("name") or f"case {examples[0][0].splitlines()[0][:40]}"
        return base | {"kind": "ok", "name": str(name), "code": _as_doctest(examples),
                       "doc": f">>> {examples[0][0].splitlines()[0]}"}
    try:
        tree = ast.parse(_python_for_parsing(text))
    except SyntaxError as err:
        raise NotebookError(f"{where}: invalid Python at line {err.lineno}: {err.msg}") from None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(funcs) == 1 and len(tree.body) <= 2 and funcs[0].name.startswith("test_"):
        return base | {"kind": "exception", "name": funcs[0].name,
                       "doc": ast.get_docstring(funcs[0]) or ""}
    if ok_default and not any(f.name.startswith("test_") for f in funcs):
        want = _cell_output_text(cell).rstrip("\n")
        shows = [n for n in tree.body if isinstance(n, ast.Expr) and not (
            isinstance(n.value, ast.Call) and getattr(n.value.func, "id", None) == "print")
            and not (isinstance(n.value, ast.Constant) and n.value.value is None)]
        if not want and shows:
            raise NotebookError(f"{where}: this test cell is neither a `def test_...` function "
                                "nor an OK-format test with an expected output (it has no saved "
                                "output); write it as `>>> code` lines followed by the expected "
                                "output (that form survives `make sync`), or as one `def test_...`")
        examples = [(ast.unparse(n), "") for n in tree.body]
        if examples:
            examples[-1] = (examples[-1][0], want)
        name = cfg.get("name") or f"case {examples[0][0].splitlines()[0][:40]}"
        return base | {"kind": "ok", "name": str(name), "code": _as_doctest(examples),
                       "doc": f">>> {examples[0][0].splitlines()[0]}"}
    raise NotebookError(f"{where}: a test cell must hold exactly one `def test_...` function "
                        "(optionally followed by a call to it), or OK-format doctest lines "
                        "(`>>> expression` followed by the expected output)")


def _as_doctest(examples: list[tuple[str, str]]) -> str:
    out = []
    for src, want in examples:
        first, *rest = src.split("\n")
        out.append(">>> " + first)
        out += ["... " + ln for ln in rest]
        out += [ln for ln in want.split("\n") if want]
    return "\n".join(out)


# --------------------------------------------------------------------------- cleaning


def clean(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``nb`` without outputs, execution counts, machine-specific metadata or
    trailing empty cells."""
    nb = copy.deepcopy(nb)
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k in NOTEBOOK_METADATA_KEEP}
    if "language_info" in meta:
        meta["language_info"] = {k: v for k, v in meta["language_info"].items()
                                 if k in LANGUAGE_INFO_KEEP}
    meta.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                   "name": "python3"})
    nb["metadata"] = meta
    for cell in nb["cells"]:
        cell["source"] = source(cell)
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items()
                            if k in CELL_METADATA_KEEP}
        cell.pop("id", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            if cell["cell_type"] == "markdown" and not cell.get("attachments"):
                cell.pop("attachments", None)
    while nb["cells"] and not source(nb["cells"][-1]).strip():
        nb["cells"].pop()  # a trailing empty cell is editor noise (JupyterLab adds one)
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    for k, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{k:03d}"
    return nb


# --------------------------------------------------------------------------- rendering


def colab_url(relpath: str, cfg: dict[str, Any]) -> str:
    repo = cfg["public_repo"].rstrip("/").removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{cfg['branch']}/{relpath}"


def release_raw_url(cfg: dict[str, Any]) -> str:
    repo = cfg["public_repo"].rstrip("/").removeprefix("https://github.com/")
    return f"https://raw.githubusercontent.com/{repo}/{cfg['branch']}"


def badge_line(relpath: str, cfg: dict[str, Any]) -> str:
    return (f"{BADGE_PREFIX}(https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(relpath, cfg)})")


def uses_d2l(nb: dict[str, Any]) -> bool:
    return any(re.search(r"^\s*(import d2l|from d2l\b)", source(c), re.M)
               for c in nb["cells"] if c["cell_type"] == "code")


# Packages a notebook may import that a Colab runtime may lack: (module, requirements.txt name).
# Colab keeps its own torch, numpy and matplotlib; these are installed only when missing there.
COLAB_MAYBE_MISSING = (("networkx", "networkx"), ("peft", "peft"),
                       ("torch_geometric", "torch_geometric"), ("transformers", "transformers"))


def extra_packages(nb: dict[str, Any]) -> list[tuple[str, str]]:
    """``(module, pip requirement)`` for each package of COLAB_MAYBE_MISSING the notebook imports.

    The requirement carries the version range of ``requirements.txt`` when it lists the package.
    """
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "code")
    pins = {}
    for line in (config.ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)\s*([<>=!~].*)?$", line.strip())
        if m and not line.lstrip().startswith("#"):
            pins[m[1].lower().replace("-", "_")] = line.strip()
    out = []
    for module, name in COLAB_MAYBE_MISSING:
        if re.search(rf"^\s*(import {module}\b|from {module}\b)", code, re.M):
            out.append((module, pins.get(name.lower().replace("-", "_"), name)))
    return out


def bootstrap_code(kind: str, slug: str, cfg: dict[str, Any], d2l: bool,
                   extras: list[tuple[str, str]] = ()) -> str:
    """The Colab-only part of a setup cell: install what Colab lacks, fetch release files."""
    pip = []
    if kind == "assignment":
        pip.append(f"otter-grader=={cfg['otter_version']}")
    lines = [
        SETUP_BEGIN_LINE,
        'if "google.colab" in sys.modules:  # on Colab: fetch what this notebook needs',
        "    import json, os, pathlib, subprocess, urllib.request",
        f'    RELEASE = os.environ.get("COURSE_RELEASE_URL", "{release_raw_url(cfg)}")',
    ]
    if pip:
        lines.append(f"    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', "
                     f"{', '.join(repr(p) for p in pip)}], check=True)")
    if extras:  # only what this runtime lacks: never reinstall Colab's own packages
        lines += [
            "    import importlib.util",
            f"    missing = [req for mod, req in {list(extras)!r} if importlib.util.find_spec(mod) is None]",
            "    if missing:",
            "        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', *missing], check=True)",
        ]
    if d2l:  # d2l pins ancient numpy/matplotlib: never let it touch Colab's own packages
        lines.append(f"    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', "
                     f"'--no-deps', 'd2l=={cfg['d2l_version']}'], check=True)")
    group = f"assignments/{slug}" if kind == "assignment" else None
    wanted = 'manifest["common"]' + (f' + manifest["{group}"]' if group else "")
    lines += [
        '    manifest = json.load(urllib.request.urlopen(f"{RELEASE}/MANIFEST.json"))',
        f"    for path in {wanted}:",
    ]
    if group:
        lines.append(f'        local = pathlib.Path(path.removeprefix("{group}/"))')
    else:
        lines.append("        local = pathlib.Path(path)")
    lines += [
        "        local.parent.mkdir(parents=True, exist_ok=True)",
        '        urllib.request.urlretrieve(f"{RELEASE}/{path}", local)',
        SETUP_END,
    ]
    return "\n".join(lines)


def _replace_setup_region(code: str, region: str, where: str) -> str:
    lines = code.split("\n")
    starts = [k for k, ln in enumerate(lines) if ln.startswith(SETUP_BEGIN)]
    ends = [k for k, ln in enumerate(lines) if ln.startswith(SETUP_END)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise NotebookError(f"{where}: the setup cell needs one '{SETUP_BEGIN}' line followed by "
                            f"one '{SETUP_END}' line")
    return "\n".join(lines[: starts[0]] + region.split("\n") + lines[ends[0] + 1 :])


def render(nb: dict[str, Any], kind: str, slug: str, path: Path | str,
           cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill the generated parts of a lecture or assignment notebook (returns a copy).

    The first markdown cell must hold a line starting with ``[![Open In Colab]``; the first
    code cell containing ``# >>> colab setup`` gets the Colab bootstrap between its markers,
    and must ``import sys`` before them.
    """
    cfg = cfg or config.course()
    nb = copy.deepcopy(nb)
    relpath = (f"lectures/{slug}.ipynb" if kind == "lecture"
               else f"assignments/{slug}/{slug}.ipynb")
    title = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
    if title is None or BADGE_PREFIX not in source(title):
        raise NotebookError(f"{path}: the first markdown cell needs a line starting with "
                            f"{BADGE_PREFIX!r} (the Colab badge, filled in by the build)")
    title["source"] = "\n".join(badge_line(relpath, cfg) if ln.startswith(BADGE_PREFIX) else ln
                                for ln in source(title).split("\n"))
    setup = [(i, c) for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and SETUP_BEGIN in source(c)]
    if len(setup) != 1:
        raise NotebookError(f"{path}: exactly one code cell must hold the '{SETUP_BEGIN}' block "
                            f"(found {len(setup)})")
    i, cell = setup[0]
    where = describe_cell(path, i, cell)
    if not re.search(r"^import sys$|^import .*\bsys\b", source(cell), re.M):
        raise NotebookError(f"{where}: the setup cell must `import sys` before the colab block")
    region = bootstrap_code(kind, slug, cfg, uses_d2l(nb), extra_packages(nb))
    cell["source"] = _replace_setup_region(source(cell), region, where)
    return nb


def ensure_generated_cells(nb: dict[str, Any], slug: str) -> dict[str, Any]:
    """A copy of ``nb`` with the Colab badge and the course setup cell added where missing.

    A stock Otter notebook has neither: the badge line goes under the first heading of the
    first markdown cell (a title cell is added when the notebook starts with something else),
    and the setup cell (``import sys``, the colab markers, ``import otter``, the ``grader``)
    goes right after the ``# ASSIGNMENT CONFIG`` cell, or into the cell that already creates
    ``otter.Notebook(...)``. ``render`` then fills both in from ``course.yml``.
    """
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    title = next((c for c in cells if c["cell_type"] == "markdown"), None)
    first_marker = next((k for k, c in enumerate(cells) if _marker(c) == "BEGIN QUESTION"),
                        len(cells))
    if title is None or cells.index(title) > first_marker:
        title = {"cell_type": "markdown", "metadata": {}, "source": f"# {slug}"}
        cells.insert(0, title)
    if BADGE_PREFIX not in source(title):
        lines = source(title).split("\n")
        at = next((k + 1 for k, ln in enumerate(lines) if ln.startswith("#")), 0)
        title["source"] = "\n".join(lines[:at] + ["", BADGE_PREFIX + "(badge)](link)", ""]
                                    + lines[at:]).strip("\n")
    if not any(c["cell_type"] == "code" and SETUP_BEGIN in source(c) for c in cells):
        region = f"import sys\n{SETUP_BEGIN}\n{SETUP_END}"
        existing = next((c for c in cells if c["cell_type"] == "code"
                         and re.search(r"\botter\.Notebook\(", source(c))), None)
        if existing is not None:
            existing["source"] = region + "\n" + source(existing)
        else:
            at = next((k + 1 for k, c in enumerate(cells) if _marker(c) == "ASSIGNMENT CONFIG"),
                      cells.index(title) + 1)
            cells.insert(at, {"cell_type": "code", "metadata": {}, "outputs": [],
                              "execution_count": None,
                              "source": f'{region}\nimport otter\ngrader = otter.Notebook("{slug}.ipynb")'})
    return nb


# --------------------------------------------------------------------------- sources


def sources() -> list[tuple[str, str, Path]]:
    """Every source notebook as (kind, slug, path)."""
    out = [("lecture", p.stem, p) for p in sorted(config.LECTURES.glob("[0-9][0-9]_*.ipynb"))]
    out += [("assignment", p.name, p / f"{p.name}.ipynb")
            for p in sorted(config.ASSIGNMENTS.glob("[0-9][0-9]_*")) if p.is_dir()]
    return out


def sync(write: bool = True) -> list[Path]:
    """Render and clean every source notebook; return those that changed (or would change)."""
    changed = []
    for kind, slug, path in sources():
        before = path.read_text(encoding="utf-8")
        nb = clean(render(load(path), kind, slug, path))
        after = dumps(nb)
        if after != before:
            changed.append(path)
            if write:
                path.write_text(after, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    what = argv[0] if argv else "check"
    try:
        if what == "sync":
            for p in sync(write=True):
                print(f"updated {p}")
            return 0
        if what == "check":
            stale = sync(write=False)
            for p in stale:
                print(f"{p}: not clean or not in sync with course.yml; run `make sync`",
                      file=sys.stderr)
            return 1 if stale else 0
    except NotebookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("usage: python -m autograder.notebooks [sync|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
