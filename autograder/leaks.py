"""Prove that nothing private reaches a student-facing file.

From an assignment's source notebook we collect (1) every solution line, (2) every line of
every hidden test, (3) the authoring markers; then we search every file of a student folder
(notebook JSON including its metadata, tests, anything else) for them.  A line counts only
if it is distinctive: long enough, and not also present in the parts students are meant to
see in code (stubs, public tests), so that ``return out`` in a stub does not count as a leak.
Markdown and raw cells never make a line public: a solution line pasted into a prompt is
exactly the leak we look for.  In a notebook every cell (code, markdown, raw: source,
metadata, attachments) and the notebook's own metadata are searched, and a leak names the
cell.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from . import notebooks

MIN_LENGTH = 16
# Lines any Python file may contain: never evidence of a leak on their own.
GENERIC_PATTERNS = (
    r"import \S+.*",                            # imports
    r"from \S+ import .*",
    r".*:",                                      # block headers: def f(x):, for ...:, with ...:, else:
    r"return \w+",                              # returning a plain name
    r"[\w.]+\(\)",                              # a bare call: node._backward()
    r"super\(\)\.__init__\(.*\)",                 # every nn.Module's constructor starts so
    r"\w+ = torch\.optim\.\w+\([\w.]+\.parameters\(\)(?:, \w+=\w+)*\)",  # optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    r"\w+\.append\(\w+\.item\(\)\)",               # losses.append(loss.item())
    r"\w+ = [\w.]+\(\)",                         # loss_fn = nn.MSELoss()
    r"\w+ = torch\.Generator\(\)\.manual_seed\(\d+\)",  # seeding a generator
    r"(?:torch|np\.random|random)\.(?:manual_)?seed\(\w+\)",  # seeding the global generators
    r"\w+ = torch\.(?:randn|rand|randint|randperm)\(.*generator=\w+\)",  # random test inputs
    r"self\.(?P<attr>\w+) = (?P=attr)",           # a constructor keeping its argument: self.base = base
    r"[\w.]+\.load_state_dict\(\w+\)",            # restoring a saved state: net.load_state_dict(best)
    r"\w+(?:, \w+)* = (?:data\.)?load_\w+\([^()]*\)",  # loading a course data set
)
GENERIC = re.compile("^(?:" + "|".join(GENERIC_PATTERNS) + ")$")
MARKERS = re.compile(
    r"#\s*(BEGIN|END)\s+(SOLUTION|QUESTION|TESTS|PROMPT)\b|ASSIGNMENT CONFIG|"
    r"#\s*SOLUTION\b|TEST\s+CONFIG|hidden:\s*true",
    re.IGNORECASE,
)


def _lines(text: str) -> set[str]:
    return {ln.strip() for ln in text.splitlines() if ln.strip()}


def private_and_public_lines(src: Path) -> tuple[set[str], set[str]]:
    """Split the source notebook's code lines into private (solution, hidden test) and public."""
    nb = notebooks.load(src)
    private: set[str] = set()
    public: set[str] = set()
    in_tests = in_solution_block = False
    for cell in nb["cells"]:
        text = notebooks.source(cell)
        marker = notebooks._marker(cell)
        if marker:
            in_tests = {"BEGIN TESTS": True, "END TESTS": False}.get(marker, in_tests)
            in_solution_block = {"BEGIN SOLUTION": True, "END SOLUTION": False}.get(
                marker, in_solution_block)
            continue
        if in_solution_block:
            private |= _lines(text)
            continue
        if in_tests:
            hidden = bool(re.search(r"hidden:\s*true", text, re.IGNORECASE))
            (private if hidden else public).update(_lines(text))
            continue
        if cell.get("cell_type") != "code":
            continue  # prose never makes a line public (a pasted solution line is a leak)
        inside = False
        for line in text.splitlines():
            stripped = line.strip()
            if re.match(r"#\s*BEGIN SOLUTION", stripped):
                inside = True
            elif re.match(r"#\s*END SOLUTION", stripped):
                inside = False
            elif inside or re.search(r"#\s*SOLUTION\s*$", stripped):
                private.add(re.sub(r"#\s*SOLUTION\s*$", "", stripped).strip())
            elif stripped:
                public.add(stripped)
    distinctive = {ln for ln in private - public
                   if len(ln) >= MIN_LENGTH and not ln.startswith(('"""', "#"))
                   and not GENERIC.match(ln)}
    return distinctive, public


def _texts(folder: Path):
    """(path, where, text) for every searchable part of every file under ``folder``.

    A notebook yields one part per cell (all its JSON strings: source, metadata, attachments,
    outputs) and one for the rest (notebook metadata), each named so a leak points at it.
    """
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            if path.suffix == ".ipynb":
                try:
                    nb = json.loads(text)
                except json.JSONDecodeError:
                    nb = None
                if isinstance(nb, dict) and isinstance(nb.get("cells"), list):
                    for i, cell in enumerate(nb["cells"]):
                        where = (notebooks.describe_cell("", i, cell).removeprefix(": ")
                                 if isinstance(cell, dict) else f"cell {i}")
                        yield path, where, "\n".join(_json_strings(cell))
                    rest = {k: v for k, v in nb.items() if k != "cells"}
                    yield path, "notebook metadata", "\n".join(_json_strings(rest))
                    continue
            yield path, None, text


def _json_strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _json_strings(v)
    elif isinstance(obj, list):
        if obj and all(isinstance(v, str) for v in obj):  # a source stored as a list of lines
            yield "".join(obj)
        else:
            for v in obj:
                yield from _json_strings(v)


def find_leaks(src: Path, student_folder: Path) -> list[str]:
    """Every private line or authoring marker found under ``student_folder``, as messages.

    Each message names the file and, in a notebook, the cell (index, type, first line) or
    "notebook metadata".
    """
    private, _ = private_and_public_lines(src)
    problems = []
    for path, where, text in _texts(student_folder):
        rel = f"{path.relative_to(student_folder)}" + (f": {where}" if where else "")
        haystack = _lines(text)
        for line in sorted(private & haystack):
            problems.append(f"{rel}: private line {line!r}")
        for line in sorted(private):
            if line not in haystack and line in text and len(line) >= 24:
                problems.append(f"{rel}: private text {line!r}")
        m = MARKERS.search(text)
        if m:
            problems.append(f"{rel}: authoring marker {m.group(0)!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    from . import config

    argv = sys.argv[1:] if argv is None else argv
    slugs = argv or config.assignment_slugs()
    bad = 0
    for slug in slugs:
        folder = config.DIST / "student" / "assignments" / slug
        problems = find_leaks(config.ASSIGNMENTS / slug / f"{slug}.ipynb", folder)
        for p in problems:
            print(f"{slug}: {p}", file=sys.stderr)
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
