"""The README's weeks table, generated from the notebooks so it cannot drift from them.

    python -m autograder.readme sync     # rewrite the table in README.md
    python -m autograder.readme check    # exit 1 if README.md's table is not the generated one

The table sits between ``<!-- weeks:begin -->`` and ``<!-- weeks:end -->``.  Each row comes
from one week's files: the topic from the lecture's title (``# Week N: Topic``), the
assignment's questions and points from its Otter blocks, and the lecture's headline targets
from the ``RESULT name = value (target ...)`` lines it prints (see autograder/bench.py).
``make sync`` rewrites it; ``make test`` fails when it is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import config, notebooks

README = config.ROOT / "README.md"
BEGIN, END = "<!-- weeks:begin -->", "<!-- weeks:end -->"
TITLE = re.compile(r"^#\s+Week\s+(\d+)\s*:\s*(.+?)\s*$", re.M)
RESULT = re.compile(r"RESULT ([^=\"'{}]+?) = [^\"']*?\(target ([^;)\"']+)")


def _title(nb: dict) -> tuple[int, str] | None:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = TITLE.search(notebooks.source(cell))
            return (int(m.group(1)), m.group(2)) if m else None
    return None


def _targets(nb: dict, limit: int = 2) -> list[str]:
    """The lecture's first targets, as ``name target`` (e.g. ``cnn test accuracy >= 0.89``)."""
    found: list[str] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for name, target in RESULT.findall(notebooks.source(cell)):
            item = f"{name.strip()} {target.strip()}"
            if item not in found:
                found.append(item)
    return found[:limit]


def _assignment(slug: str) -> str:
    path = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    if not path.exists():
        return "—"
    info = notebooks.check_otter_blocks(notebooks.load(path), path)
    points = 0.0
    for q in info["questions"].values():
        points += sum(float(t.get("points") or 0) for t in q["tests"])
    return f"{len(info['questions'])} questions, {points:g} points"


def table() -> str:
    """The generated weeks table (Markdown)."""
    rows = ["| # | slug | topic | assignment | lecture's headline targets (CPU) |",
            "|---|---|---|---|---|"]
    slugs = sorted(set(config.lecture_slugs()) | set(config.assignment_slugs()))
    for slug in slugs:
        lecture = config.LECTURES / f"{slug}.ipynb"
        nb = notebooks.load(lecture) if lecture.exists() else None
        week, topic = (_title(nb) if nb else None) or (int(slug[:2]), slug[3:].replace("_", " "))
        # a `|` inside a table cell must be escaped, even in a code span (GitHub's Markdown)
        targets = "; ".join(f"`{t}`".replace("|", "\\|") for t in _targets(nb)) if nb else "—"
        rows.append(f"| {week} | `{slug}` | {topic} | {_assignment(slug)} | {targets or '—'} |")
    return "\n".join(rows)


def render(text: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block for the weeks table")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    mode = argv[0] if argv else "check"
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if mode == "sync":
        if new != text:
            README.write_text(new, encoding="utf-8")
            print("README.md: weeks table rewritten")
        return 0
    if mode == "check":
        if new != text:
            print("README.md's weeks table is out of date with the notebooks: run `make sync`",
                  file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
