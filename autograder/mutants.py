"""Known-wrong answers ("mutants") and the submissions built from them.

An assignment folder holds ``wrong_answers.py``: sections that start with
``# %% <question>: <the mistake>`` and hold code that redefines that question's answer.
``make test`` turns each section into a submission (the solution notebook with that code
inserted just before the question's ``grader.check`` cell) and proves, through the
Gradescope zip, that the question loses points and no other question does (the first wrong
answer of each question alone; the rest in rounds, one per question, see tests/test_assignments.py).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import notebooks

HEADER = re.compile(r"^# %% (?P<question>[\w-]+):\s*(?P<mistake>.+)$", re.M)


@dataclass(frozen=True)
class WrongAnswer:
    question: str
    mistake: str
    code: str


def load(path: Path) -> list[WrongAnswer]:
    """Parse ``wrong_answers.py`` into its sections (text before the first header is ignored)."""
    text = path.read_text(encoding="utf-8")
    matches = list(HEADER.finditer(text))
    out = []
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        code = text[m.end() : end].strip("\n")
        if not code.strip():
            raise ValueError(f"{path}: section {m.group(0)!r} has no code")
        out.append(WrongAnswer(m.group("question"), m.group("mistake").strip(), code + "\n"))
    return out


def apply(solution_nb: dict[str, Any], wrong: WrongAnswer) -> dict[str, Any]:
    """A copy of the solution notebook with ``wrong.code`` just before ``grader.check(question)``."""
    nb = copy.deepcopy(solution_nb)
    pattern = re.compile(rf"""grader\.check\(\s*["']{re.escape(wrong.question)}["']\s*\)""")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and pattern.search(notebooks.source(cell)):
            new = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": f"# known-wrong answer: {wrong.mistake}\n{wrong.code}"}
            nb["cells"].insert(i, new)
            return notebooks.clean(nb) | {"metadata": nb["metadata"]}
    raise ValueError(f"no grader.check({wrong.question!r}) cell in the solution notebook")
