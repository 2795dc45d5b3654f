"""An assignment never re-asks what a lecture shows (issue 14, part 1).

A solution line of assignment NN that also appears in lecture NN or an earlier lecture, after
names and whitespace are normalised, fails the build, naming both cells.  Normalising: the
comment is dropped, and every name a line *chooses* (variables, parameters, functions of the
notebook) becomes a placeholder numbered by first appearance in the line, so
``shifted = O - O.max(dim=1, keepdim=True).values`` and
``Z = X - X.max(dim=1, keepdim=True).values`` are the same line.  Kept as written: attribute and
method names (``.max``, ``.values``), keyword-argument names (``dim=``), Python keywords and
builtins, the library roots (``torch``, ``F``, ``nn``, ...) and literals.

Only non-generic lines count: a line needs at least ``MIN_TOKENS`` tokens, of which at least
``MIN_CONTENT`` carry meaning (attribute names, keyword names, library roots, literals), so
``loss.backward()``, ``optimizer.zero_grad()`` or ``X = X.reshape(n, -1)`` never count, while a
stable-softmax shift or a bincount over encoded pairs does.  Block headers (``def f(x):``,
``for ...:``), imports and the ``BOILERPLATE`` every training loop writes (making an optimiser,
shuffling with ``randperm``, standardising with training statistics) never count.

``python -m autograder.overlap [slug ...]`` lists the overlaps of the assignments named (all by
default); the build runs the same check on the assignment it builds.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from pathlib import Path

from . import config, notebooks

MIN_TOKENS = 10
MIN_CONTENT = 4
LIBRARY_ROOTS = {"torch", "F", "nn", "np", "numpy", "math", "random", "plt", "d2l", "optim",
                 "data", "plot", "train", "device", "dlcourse", "functools", "itertools"}
_KEEP = set(keyword.kwlist) | set(dir(builtins)) | LIBRARY_ROOTS
_TOKEN = re.compile(r"""[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|==|!=|<=|>=|\*\*|//|->|\S""")
# Boilerplate every training or data-preparation cell writes, whatever the week: never evidence
# of a re-asked exercise on its own (matched against the normalised line).
BOILERPLATE = re.compile("|".join((
    r"^_\d+ = torch \. optim \. \w+ \(",                                    # making an optimiser
    r"torch \. randperm \(",                                                  # shuffling
    r"^_\d+ , _\d+ = _\d+ \. mean \( dim = 0 \) , _\d+ \. std \( dim = 0 \)$",  # standardising
)))
_HEADER = re.compile(r"^(?:def|class|for|while|if|elif|else|with|try|except|finally|async)\b.*:$")
_IMPORT = re.compile(r"^(?:import|from)\s")


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out).strip()


def normalise(line: str) -> tuple[str, int, int] | None:
    """``(normalised line, tokens, content tokens)``, or None for a blank/comment line."""
    text = _strip_comment(line)
    if not text:
        return None
    tokens = _TOKEN.findall(text)
    names: dict[str, str] = {}
    out, content, depth = [], 0, 0
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in "([{":
            depth += 1
        elif tok in ")]}":
            depth -= 1
        if re.match(r"[A-Za-z_]", tok):
            if prev == "." or (depth > 0 and nxt == "=") or tok in _KEEP:
                out.append(tok)
                content += tok not in keyword.kwlist
            else:
                out.append(names.setdefault(tok, f"_{len(names)}"))
        else:
            out.append(tok)
            content += bool(re.match(r"[\d'\"]", tok))
    return " ".join(out), len(tokens), content


def distinctive(line: str) -> str | None:
    """The normalised form of a line that counts, or None for a generic one."""
    text = _strip_comment(line)
    if not text or _HEADER.match(text) or _IMPORT.match(text):
        return None
    norm = normalise(text)
    if norm is None or norm[1] < MIN_TOKENS or norm[2] < MIN_CONTENT or BOILERPLATE.search(norm[0]):
        return None
    return norm[0]


def solution_lines(nb: dict) -> list[tuple[int, str, str]]:
    """``(cell index, line, normalised)`` for every distinctive line of a solution block
    (``# BEGIN SOLUTION`` .. ``# END SOLUTION`` inside a cell, or a whole solution cell)."""
    out = []
    in_cells = False
    for i, cell in enumerate(nb["cells"]):
        marker = notebooks._marker(cell)
        if marker in ("BEGIN SOLUTION", "END SOLUTION"):
            in_cells = marker == "BEGIN SOLUTION"
            continue
        if cell.get("cell_type") != "code":
            continue
        inside = in_cells
        for line in notebooks.source(cell).splitlines():
            if re.match(r"\s*#\s*BEGIN SOLUTION", line):
                inside = True
                continue
            if re.match(r"\s*#\s*END SOLUTION", line):
                inside = False
                continue
            if inside:
                norm = distinctive(line)
                if norm:
                    out.append((i, line.strip(), norm))
    return out


def lecture_lines(nb: dict) -> dict[str, tuple[int, str]]:
    """normalised -> (first code cell index, line) for every distinctive line of a lecture."""
    out: dict[str, tuple[int, str]] = {}
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        for line in notebooks.source(cell).splitlines():
            norm = distinctive(line)
            if norm and norm not in out:
                out[norm] = (i, line.strip())
    return out


def _week(slug: str) -> int:
    return int(slug.split("_", 1)[0])


def find_overlaps(slug: str, assignments: Path | None = None, lectures: Path | None = None) -> list[str]:
    """Every distinctive solution line of ``slug`` also found in its week's or an earlier
    lecture, as one message per line naming both cells."""
    assignments = assignments or config.ASSIGNMENTS
    lectures = lectures or config.ROOT / "lectures"
    src = assignments / slug / f"{slug}.ipynb"
    nb = notebooks.load(src)
    known: dict[str, tuple[str, int, str]] = {}
    for lec in sorted(lectures.glob("[0-9][0-9]_*.ipynb")):
        if _week(lec.stem) > _week(slug):
            continue
        for norm, (cell, line) in lecture_lines(notebooks.load(lec)).items():
            known.setdefault(norm, (lec.stem, cell, line))
    problems = []
    for cell, line, norm in solution_lines(nb):
        if norm in known:
            lec, lcell, lline = known[norm]
            problems.append(
                f"{notebooks.describe_cell(src, cell, nb['cells'][cell])}: solution line `{line}` "
                f"is lectures/{lec}.ipynb cell {lcell} (`{lline}`) with other names: an "
                "assignment must take the next step, not re-ask what a lecture shows")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    slugs = argv or sorted(p.name for p in config.ASSIGNMENTS.iterdir()
                           if p.is_dir() and re.match(r"\d\d_", p.name))
    total = 0
    for slug in slugs:
        found = find_overlaps(slug)
        total += len(found)
        print(f"{slug}: {len(found)} overlapping solution line(s)")
        for p in found:
            print(f"  {p}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
