"""Cheap guard on the mutation scores (``make mutants``, docs/mutation.md).

A full mutation run grades hundreds of notebooks, far too slow for every ``make test``.  This
test only checks that every assignment has a recorded score (``assignments/<slug>/
mutation_score.json``) measured on the notebook as it is now: edit a notebook and this fails
until ``make mutants ASSIGNMENT=<slug>`` re-measures it (which refuses to record a lower score
unless ``ACCEPT_LOWER=1``), and fails when the recorded score is below the course's floor of 90%.
"""

from __future__ import annotations

import pytest

from autograder import config, mutation
from conftest import ASSIGNMENTS

MIN_SCORE = 0.90  # issue 13: every assignment kills at least 90% of its non-equivalent mutants


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_mutation_score_is_recorded_for_the_current_notebook(slug):
    problem = mutation.check_recorded(slug)
    assert problem is None, problem
    rec = mutation.recorded(slug)
    assert rec["known_wrong_killed"] == rec["known_wrong"] > 0, \
        f"{slug}: every known-wrong answer must be killed"
    graded = rec["mutants"] - rec["equivalent"]
    assert rec["score"] == (round(rec["killed"] / graded, 4) if graded else 1.0)
    assert rec["score"] >= MIN_SCORE, \
        f"{slug}: only {rec['score']:.1%} of non-equivalent mutants killed (the course's floor is " \
        f"{MIN_SCORE:.0%}): strengthen the hidden tests; survivors are in dist/mutants/{slug}.md"


@pytest.mark.parametrize("slug", ASSIGNMENTS)
def test_equivalent_mutants_file_parses(slug):
    """Each ``equivalent_mutants.yml`` names a question of its assignment, a hash and a reason."""
    from autograder import notebooks

    marked = mutation.load_equivalents(config.ASSIGNMENTS / slug / mutation.EQUIVALENTS_FILE)
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    questions = set(notebooks.check_otter_blocks(notebooks.load(src), src)["questions"])
    unknown = {q for q, _ in marked} - questions
    assert not unknown, f"{slug}: equivalent mutants of unknown questions {sorted(unknown)}"
