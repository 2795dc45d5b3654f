"""Mutation analysis (``autograder/mutation.py``): operators, equivalents, reports, and one
question graded through the real zip (slow)."""

from __future__ import annotations

import json

import pytest

from autograder import config, mutation, notebooks

# Lines outside the solution markers are full of mutable code: no operator may touch them.
OUTSIDE = '''def f(X, Y, W, lr, g, net, n, k, eps=1e-5):
    """A doc string (not code to mutate)."""
    Z = X.sum(dim=1, keepdim=True) + 1e-8 - W * 2
    for j in range(n):
        Z = Z - lr * g
'''
TAIL = '''    # END SOLUTION
    return Z[:k] + Z[1:] if n < 3 else torch.no_grad()
'''


def cell(body: str) -> tuple[str, tuple[int, int]]:
    """An answer cell with ``body`` (indented 4) between the markers, and the block's lines."""
    head = OUTSIDE + "    # BEGIN SOLUTION\n"
    first = head.count("\n") + 1
    lines = [("    " + ln if ln else ln) for ln in body.strip("\n").split("\n")]
    return head + "\n".join(lines) + "\n" + TAIL, (first, first + len(lines) - 1)


def mutate(op: str, body: str) -> list[mutation.Mutant]:
    code, block = cell(body)
    found = mutation.mutate_cell(code, block, "q1", {op: mutation.OPERATORS[op]})
    head, tail = code.split("\n")[: block[0] - 1], TAIL.split("\n")
    for m in found:
        compile(m.code, "<mutant>", "exec")  # still compiles
        new = m.code.split("\n")
        assert new[: block[0] - 1] == head, f"{op} touched a line before the block"
        assert new[-len(tail):] == tail, f"{op} touched a line after the block"
        assert m.code != code and m.diff and m.operator == op
    return found


def blocks(found: list[mutation.Mutant]) -> list[str]:
    """The mutated block of each mutant, without indentation."""
    out = []
    for m in found:
        lines = m.code.split("\n")
        start = OUTSIDE.count("\n") + 2
        end = len(lines) - len(TAIL.split("\n"))
        out.append("\n".join(ln[4:] for ln in lines[start - 1 : end]))
    return out


@pytest.mark.parametrize("op,body,expected", [
    ("dim", "return X.sum(dim=1)", "return X.sum(dim=0)"),
    ("dim", "return X.mean(axis=0)", "return X.mean(axis=1)"),
    ("dim", "return torch.softmax(X, 1)", "return torch.softmax(X, 0)"),
    ("dim", "return X.argmax(-1)", "return X.argmax(0)"),
    ("keepdim", "return X.sum(dim=1, keepdim=True)", "return X.sum(dim=1)"),
    ("arith", "return X + Y", "return X - Y"),
    ("arith", "return X - Y", "return X + Y"),
    ("arith", "return X * Y", "return X / Y"),
    ("arith", "return X / Y", "return X * Y"),
    ("arith", "W += X\nreturn W", "W -= X\nreturn W"),
    ("compare", "return X < Y", "return X <= Y"),
    ("compare", "return X >= Y", "return X > Y"),
    ("compare", "return X == Y", "return X != Y"),
    ("compare", "return W is None", "return W is not None"),
    ("constant", "return X * 0", "return X * 1"),
    ("constant", "return X * 1", "return X * 0"),
    ("constant", "return X * 1", "return X * 2"),
    ("constant", "return X * 0.5", "return X * 0.55"),
    ("constant", "return X[7]", "return X[8]"),
    ("eps", "return X / (Y + 1e-8)", "return X / (Y)"),
    ("eps", "return X / (Y.sqrt() + eps)", "return X / (Y.sqrt())"),
    ("eps", "return F.batch_norm(X, None, None, training=True, eps=1e-3)",
     "return F.batch_norm(X, None, None, training=True)"),
    ("delete", "Y = Y * 2\nreturn X + Y", "pass\nreturn X + Y"),
    ("return_early", "A = X + 1\nB = A * 2\nreturn B", "A = X + 1\nreturn A\nB = A * 2\nreturn B"),
    ("return_early", "X.add_(1)\nY = X * 2\nreturn Y", "X.add_(1)\nreturn None\nY = X * 2\nreturn Y"),
    ("inplace", "X = X - lr * g\nreturn X", "X -= lr * g\nreturn X"),
    ("inplace", "return X.add(Y)", "return X.add_(Y)"),
    ("inplace", "return X.clamp(min=0)", "return X.clamp_(min=0)"),
    ("drop_call", "return X.detach()", "return X"),
    ("drop_call", "return X.clone()", "return X"),
    ("drop_call", "return X.float()", "return X"),
    ("drop_call", "return X.double()", "return X"),
    ("off_by_one", "return [i for i in range(n)]", "return [i for i in range(n - 1)]"),
    ("off_by_one", "return [i for i in range(2, n)]", "return [i for i in range(2, n - 1)]"),
    ("off_by_one", "return X[:k]", "return X[:k - 1]"),
    ("off_by_one", "return X[:3]", "return X[:2]"),
    ("off_by_one", "return X[1:]", "return X[:]"),
    ("swap_args", "return torch.cat(X, Y)", "return torch.cat(Y, X)"),
    ("swap_args", "return F.mse_loss(net(X), Y)", "return F.mse_loss(Y, net(X))") ,
    ("swap_args", "return X - Y", "return Y - X"),
    ("swap_args", "return X @ W", "return W @ X"),
    ("no_grad", "with torch.no_grad():\n    X -= lr * g\nreturn X", "X -= lr * g\nreturn X"),
    ("train_eval", "net.train()\nreturn net(X)", "pass\nreturn net(X)"),
    ("train_eval", "net.eval()\nreturn net(X)", "pass\nreturn net(X)"),
])
def test_operator_makes_the_intended_change(op, body, expected):
    found = mutate(op, body)
    assert expected in blocks(found), f"{op}: {expected!r} not among {blocks(found)}"


def test_swap_args_only_swaps_arguments_of_the_same_kind():
    assert mutate("swap_args", "return torch.full(X, 3)") == []


def test_no_op_and_duplicate_mutants_are_dropped():
    # 0 -> 1 in `X ** 0`-free code; `Y + 0.0001` is both an eps drop and ... only once each
    code, block = cell("return X.sum(dim=1) + Y.sum(dim=1)")
    found = mutation.mutate_cell(code, block)
    texts = [m.code for m in found]
    assert len(texts) == len(set(texts)), "a duplicate mutant was kept"
    canon = [mutation._canonical(t) for t in texts]
    assert len(canon) == len(set(canon)) and mutation._canonical(code) not in canon
    keys = [m.key for m in found]
    assert len(keys) == len(set(keys))


def test_every_operator_is_unit_tested():
    tested = {"dim", "keepdim", "arith", "compare", "constant", "eps", "delete", "return_early",
              "inplace", "drop_call", "off_by_one", "swap_args", "no_grad", "train_eval"}
    assert set(mutation.OPERATORS) == tested


def test_keys_are_stable_and_diffs_show_the_block():
    code, block = cell("return X + Y")
    a = mutation.mutate_cell(code, block, "q3")
    b = mutation.mutate_cell(code, block, "q3")
    assert [m.key for m in a] == [m.key for m in b]
    m = next(m for m in a if m.operator == "arith")
    assert "-    return X + Y" in m.diff and "+    return X - Y" in m.diff
    assert "def f" not in m.diff, "the diff is of the solution block only"


def test_sample_is_deterministic_and_spreads_over_operators():
    code, block = cell("A = X.sum(dim=1, keepdim=True) + 1e-8\nB = A * 2 - Y\nreturn B[:k].detach()")
    found = mutation.mutate_cell(code, block, "q1")
    picked = mutation.sample(found, 6)
    assert len(picked) == 6 and len({m.operator for m in picked}) == 6
    assert [m.key for m in picked] == [m.key for m in mutation.sample(list(reversed(found)), 6)]
    assert mutation.sample(found, None) == found


def test_every_real_question_has_compiling_mutants_inside_its_solution_lines():
    slug = "01_tensors"
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    nb = notebooks.load(src)
    blocks_ = mutation.question_blocks(nb, src)
    found = mutation.operator_mutants(nb, src)
    assert set(found) == set(blocks_) and all(found.values())
    for q, ms in found.items():
        for m in ms:
            compile(m.code, m.question, "exec")
            original = notebooks.source(nb["cells"][m.cell]).split("\n")
            new = m.code.split("\n")
            b = next(b for b in blocks_[q] if b.cell == m.cell and
                     new[: b.first - 1] == original[: b.first - 1] and
                     new[len(new) - (len(original) - b.last):] == original[b.last:])
            assert b is not None


def test_a_mutant_submission_is_the_solution_with_one_answer_cell_replaced():
    from conftest import built

    slug = "01_tensors"
    paths = built(slug)
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    source_nb, solution = notebooks.load(src), notebooks.load(paths["solution"] / f"{slug}.ipynb")
    found = mutation.operator_mutants(source_nb, src)
    for q in ("q1", "q7"):
        m = found[q][0]
        sub = mutation.submission_for(solution, source_nb, m)
        changed = [k for k, (a, b) in enumerate(zip(solution["cells"], sub["cells"]))
                   if notebooks.source(a) != notebooks.source(b)]
        assert len(sub["cells"]) == len(solution["cells"]) and len(changed) == 1
        assert notebooks.source(sub["cells"][changed[0]]) == m.code
    wrong = mutation.known_wrong_mutants(slug)
    assert {w.question for w in wrong} == set(found) and all(w.known_wrong for w in wrong)
    sub = mutation.submission_for(solution, source_nb, wrong[0])
    assert sum(wrong[0].code in notebooks.source(c) for c in sub["cells"]) == 1


# --------------------------------------------------------------------------- equivalents


def test_equivalents_file_parsing(tmp_path):
    path = tmp_path / "equivalent_mutants.yml"
    assert mutation.load_equivalents(path) == {}
    path.write_text("- question: q2\n  mutant: 0123456789ab\n  reason: clamp_min(0) of a "
                    "non-negative sum\n")
    assert mutation.load_equivalents(path) == {("q2", "0123456789ab"): "clamp_min(0) of a non-negative sum"}
    path.write_text("equivalent:\n- {question: q1, mutant: 'ffffffffffff', reason: same}\n")
    assert mutation.load_equivalents(path) == {("q1", "ffffffffffff"): "same"}
    for bad in ("- question: q2\n  mutant: 0123456789ab\n",  # no reason
                "- question: q2\n  mutant: xyz\n  reason: r\n",  # not a hash
                "- question: q2\n  mutant: 0123456789ab\n  reason: ''\n",
                "question: q2\n"):
        path.write_text(bad)
        with pytest.raises(ValueError):
            mutation.load_equivalents(path)


def test_equivalent_mutants_are_counted_apart():
    m = mutation.Mutant("q1", "arith", "+ -> -", 3, "code", "diff", "0123456789ab")
    k = mutation.Mutant("q1", "known_wrong", "w", None, "code", "diff", "aaaaaaaaaaaa", True)
    s = mutation.Mutant("q1", "dim", "d", 3, "code", "-a\n+b\n", "bbbbbbbbbbbb")
    verdicts = [mutation.Verdict(m, "equivalent", (2.0, 2.0), reason="same"),
                mutation.Verdict(k, "killed", (0.0, 2.0)),
                mutation.Verdict(s, "survived", (2.0, 2.0))]
    report = mutation.summarise("01_tensors", verdicts, {"q1": [m, s]}, 6,
                                {("q1", "0123456789ab"): "same"})
    assert (report["mutants"], report["killed"], report["survived"], report["equivalent"]) == (3, 1, 1, 1)
    assert report["score"] == 0.5
    md = mutation.markdown(report)
    assert "bbbbbbbbbbbb" in md and "```diff\n-a\n+b\n```" in md and "equivalent: same" in md


# --------------------------------------------------------------------------- recorded scores


@pytest.fixture
def scratch_assignment(tmp_path, monkeypatch):
    """A copy of 01_tensors's notebook in a scratch ASSIGNMENTS folder."""
    slug = "01_tensors"
    (tmp_path / slug).mkdir()
    nb = (config.ASSIGNMENTS / slug / f"{slug}.ipynb").read_bytes()
    (tmp_path / slug / f"{slug}.ipynb").write_bytes(nb)
    monkeypatch.setattr(config, "ASSIGNMENTS", tmp_path)
    monkeypatch.setattr(config, "ROOT", tmp_path)
    return slug, tmp_path / slug


def _report(slug: str, score: float) -> dict:
    return {"assignment": slug, "score": score, "mutants": 10, "killed": int(score * 10),
            "survived": 10 - int(score * 10), "equivalent": 0, "errors": 0, "known_wrong": 1,
            "known_wrong_killed": 1, "max_per_question": 6,
            "notebook_sha256": mutation.notebook_hash(slug), "measured": "now"}


def test_recorded_score_check_fails_when_the_notebook_changes(scratch_assignment):
    slug, folder = scratch_assignment
    assert "no recorded mutation score" in mutation.check_recorded(slug)
    ok, _ = mutation.record(_report(slug, 0.8))
    assert ok and mutation.check_recorded(slug) is None and mutation.changed() == []
    nb = folder / f"{slug}.ipynb"
    nb.write_text(nb.read_text().replace("Squared Euclidean", "Squared euclidean"))
    problem = mutation.check_recorded(slug)
    assert problem and "assignment changed since its mutation score was measured" in problem
    assert f"make mutants ASSIGNMENT={slug}" in problem and mutation.changed() == [slug]


def test_a_lower_score_is_refused_unless_accepted(scratch_assignment):
    slug, folder = scratch_assignment
    assert mutation.record(_report(slug, 0.8))[0]
    ok, msg = mutation.record(_report(slug, 0.7))
    assert not ok and "ACCEPT_LOWER=1" in msg
    assert json.loads((folder / mutation.SCORE_FILE).read_text())["score"] == 0.8
    assert mutation.record(_report(slug, 0.7), accept_lower=True)[0]
    assert mutation.record(_report(slug, 0.9))[0]
    surviving_known_wrong = _report(slug, 0.95) | {"known_wrong_killed": 0}
    assert not mutation.record(surviving_known_wrong)[0]


# --------------------------------------------------------------------------- through the zip


@pytest.mark.slow
def test_one_question_through_the_zip(tmp_path):
    """q1 of week 1: the known-wrong answer is killed, survivors are listed as diffs."""
    report = mutation.analyse("01_tensors", max_per_question=4, jobs=2, questions=["q1"],
                              log=lambda *_: None)
    q = report["questions"]["q1"]
    assert list(report["questions"]) == ["q1"]
    assert q["known_wrong"] >= 1 and q["known_wrong_killed"] == q["known_wrong"]
    assert q["mutants"] == 4 + q["known_wrong"] and q["errors"] == 0
    assert q["killed"] + q["survived"] + q["equivalent"] == q["mutants"]
    md, js = mutation.write_report(report, tmp_path)
    text = md.read_text()
    assert "| q1 |" in text and json.loads(js.read_text())["assignment"] == "01_tensors"
    # a survivor is shown as a diff of the solution block: force one with a no-test grader
    class Blind(mutation.ZipGrader):
        def scores(self, notebook):
            return {"q1": (3.0, 3.0)}

    blind = mutation.analyse("01_tensors", max_per_question=2, jobs=1, questions=["q1"],
                             grader=Blind(tmp_path / "unused.zip"), include_known_wrong=False,
                             log=lambda *_: None)
    survivors = blind["questions"]["q1"]["survivors"]
    marked = blind["questions"]["q1"]["equivalents"]  # equivalent_mutants.yml counts apart
    assert survivors and len(survivors) + len(marked) == 2
    text = mutation.markdown(blind)
    for s in survivors:
        assert f"`{s['hash']}`" in text and s["diff"].startswith("--- q1 (solution)")
        assert "```diff" in text


@pytest.mark.slow
def test_fast_grader_gives_the_zips_verdicts_on_a_sample():
    """The fast path (re-run only the mutated cell and its question's tests) agrees with the
    zip, mutant by mutant, on a sample of week 1 (survivors included)."""
    slug, questions = "01_tensors", ["q1", "q2", "q4", "q6"]
    paths = mutation.ensure_built(slug)
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    fast = mutation.FastGrader(paths["zip"], notebooks.load(paths["solution"]),
                               notebooks.load(src), jobs=2)
    by_fast = mutation.analyse(slug, 3, 2, questions, grader=fast, log=lambda *_: None)
    by_zip = mutation.analyse(slug, 3, 2, questions, log=lambda *_: None)
    verdicts = lambda r: {(v["question"], v["hash"]): v["status"] for v in r["verdicts"]}  # noqa: E731
    assert len(verdicts(by_zip)) == 3 * len(questions) + by_zip["known_wrong"]
    assert verdicts(by_fast) == verdicts(by_zip)
