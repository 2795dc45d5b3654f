"""The instructor's gradebook for a graded folder of submissions (``make grade`` on a folder).

From each submission's ``results.json`` (written by the hardened judge) and, for a Gradescope
"Export Submissions" download, its ``submission_metadata.yml``:

* ``scores.csv``: one row per submission: who (name, email, SID), status and reason, the total,
  one column per question (its score) and one per test (``qN/test_name``: pass/fail);
* ``summary.md`` and ``summary.csv``: per question, the mean, the share of submissions with full
  marks and the test failed most often (with how many failed it);
* ``histogram.png``: the distribution of total scores.

Every piece works on plain dicts, so it can be tested without grading anything.
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

METADATA_FILE = "submission_metadata.yml"
WHO = ("name", "email", "sid")
NOT_GRADED = "The submission could not be graded: "


def _natural(text: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- metadata


def _tolerant_loader():
    """PyYAML's safe loader that also reads Ruby-tagged values (``!ruby/object:...``) as plain
    data instead of failing: Gradescope's export is written by Ruby."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def plain(loader, _suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", plain)
    Loader.add_multi_constructor("tag:yaml.org,2002:ruby", plain)
    return Loader


def _get(d: dict, key: str) -> Any:
    """A value under a Ruby-symbol key (``:name``) or a plain one (``name``)."""
    for k in (f":{key}", key):
        if k in d:
            return d[k]
    return None


def parse_metadata(text: str) -> dict[str, dict[str, str]]:
    """``{submission folder: {"name", "email", "sid"}}`` from a ``submission_metadata.yml``.

    The file maps each submission folder (``submission_123456``) to a dict whose
    ``:submitters:`` list holds ``{:name:, :email:, :sid:}``; a group's members are joined
    with "; ".  Raises ``ValueError`` when the text is not such a mapping.
    """
    import yaml

    try:
        data = yaml.load(text, Loader=_tolerant_loader())  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError("not a mapping from submission folders to their submitters")
    out: dict[str, dict[str, str]] = {}
    for folder, entry in data.items():
        submitters = _get(entry, "submitters") if isinstance(entry, dict) else None
        if not isinstance(submitters, list):
            continue
        people = [s for s in submitters if isinstance(s, dict)]
        out[str(folder)] = {field: "; ".join(str(_get(p, field)) for p in people
                                             if _get(p, field) not in (None, ""))
                            for field in WHO}
    if data and not out:
        raise ValueError("no entry lists its ':submitters:'")
    return out


def export_root(folder: Path) -> Path:
    """The folder holding the submissions: ``folder``, or its only sub-folder that holds a
    ``submission_metadata.yml`` (an unzipped export keeps everything in one top folder)."""
    folder = Path(folder)
    if (folder / METADATA_FILE).is_file():
        return folder
    nested = [d for d in folder.iterdir() if d.is_dir() and (d / METADATA_FILE).is_file()]
    return nested[0] if len(nested) == 1 else folder


def load_metadata(folder: Path) -> dict[str, dict[str, str]]:
    """The export's metadata, or ``{}`` (with a warning) when it is missing or malformed."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        return parse_metadata(path.read_text(encoding="utf-8", errors="replace"))
    except (ValueError, OSError) as err:
        _warn(f"{path} could not be read ({err}); the name, email and SID columns are left blank")
        return {}


# --------------------------------------------------------------------------- rows


def status_of(results: dict[str, Any]) -> tuple[str, str]:
    """("graded" | "not graded" | "grader error", reason) of one results.json: "not graded" is
    the judge refusing the upload (the student's to fix), "grader error" is grading itself
    breaking (a time-out, a crash: the course staff's to look at)."""
    extra = results.get("extra_data") if isinstance(results.get("extra_data"), dict) else {}
    output = str(results.get("output", ""))
    names = {t.get("name") for t in results.get("tests", []) if isinstance(t, dict)}
    if names & {"Grading error", "Grader error"} or output.startswith("The autograder itself failed"):
        return "grader error", output.removeprefix(NOT_GRADED)
    if extra.get("status") == "rejected" or output.startswith(NOT_GRADED):
        return "not graded", str(extra.get("reason") or output[len(NOT_GRADED):]).strip()
    notes = [ln[2:] for ln in output.splitlines() if ln.startswith("- ")]
    return "graded", "; ".join(notes)


def row(submission: str, results: dict[str, Any], who: dict[str, str] | None = None) -> dict[str, Any]:
    """One gradebook row: who, status, total, per-question scores and per-test pass/fail."""
    from autograder.grade import max_score, question_scores, total_score

    status, reason = status_of(results)
    out: dict[str, Any] = {"submission": submission}
    out |= {field: (who or {}).get(field, "") for field in WHO}
    out |= {"status": status, "score": total_score(results), "max_score": max_score(results)}
    scores = {q: sm for q, sm in question_scores(results).items()
              if q not in ("Submission", "Grading error", "Grader error")}
    out["questions"] = {q: s for q, (s, _) in scores.items()}
    out["max_points"] = {q: m for q, (_, m) in scores.items()}
    extra = results.get("extra_data") if isinstance(results.get("extra_data"), dict) else {}
    tests = extra.get("tests") if isinstance(extra.get("tests"), dict) else {}
    out["tests"] = {str(k): bool(v) for k, v in tests.items()}
    out["seconds"] = results.get("execution_time", "")
    out["reason"] = reason[:300]
    return out


def columns(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(question columns, test columns) over all rows, in natural question order."""
    questions = sorted({q for r in rows for q in r["questions"]}, key=_natural)
    order = {q: i for i, q in enumerate(questions)}
    seen: dict[str, int] = {}
    for r in rows:
        for t in r["tests"]:
            seen.setdefault(t, len(seen))
    tests = sorted(seen, key=lambda t: (order.get(t.split("/")[0], len(order)), seen[t]))
    return questions, tests


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    questions, tests = columns(rows)
    head = ["submission", *WHO, "status", "score", "max_score", *questions, *tests, "seconds", "reason"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        for r in rows:
            graded = r["status"] == "graded"
            writer.writerow([r["submission"], *(r[w] for w in WHO), r["status"], f"{r['score']:g}",
                             f"{r['max_score']:g}",
                             *(f"{r['questions'][q]:g}" if q in r["questions"] else "" for q in questions),
                             *(("pass" if r["tests"][t] else "fail") if graded and t in r["tests"] else ""
                               for t in tests),
                             r["seconds"], r["reason"]])
    return path


# --------------------------------------------------------------------------- summary


def summarize(rows: list[dict[str, Any]], max_points: dict[str, float]) -> dict[str, Any]:
    """Per question: mean score, share with full marks, most failed test and its count.

    Every submission counts (one that could not be graded scores 0, as on Gradescope); the
    most failed test is counted over the graded submissions.
    """
    questions, _ = columns(rows)
    graded = [r for r in rows if r["status"] == "graded"]
    per_q = []
    for q in questions:
        scores = [r["questions"].get(q, 0.0) for r in rows]
        top = max_points.get(q, 0.0)
        fails = Counter(t for r in graded for t, ok in r["tests"].items()
                        if not ok and t.split("/")[0] == q)
        worst, count = (fails.most_common(1)[0] if fails else ("", 0))
        per_q.append({"question": q, "max": top, "mean": statistics.fmean(scores) if scores else 0.0,
                      "full_marks": (sum(s >= top - 1e-9 for s in scores) / len(scores)
                                     if scores and top > 0 else 0.0),
                      "most_failed_test": worst, "failed_by": count})
    totals = [float(r["score"]) for r in rows]
    return {"submissions": len(rows), "graded": len(graded), "not_graded": len(rows) - len(graded),
            "max_score": max((r["max_score"] for r in rows), default=0.0),
            "mean": statistics.fmean(totals) if totals else 0.0,
            "median": statistics.median(totals) if totals else 0.0,
            "questions": per_q}


def write_summary(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    md, csv_path = out_dir / "summary.md", out_dir / "summary.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "max", "mean", "full_marks_share", "most_failed_test", "failed_by"])
        for q in summary["questions"]:
            writer.writerow([q["question"], f"{q['max']:g}", f"{q['mean']:.4g}", f"{q['full_marks']:.4g}",
                             q["most_failed_test"], q["failed_by"]])
    n, graded = summary["submissions"], summary["graded"]
    lines = [f"# Gradebook summary: {n} submission{'s' if n != 1 else ''}", "",
             (f"Total: mean {summary['mean']:.2f}, median {summary['median']:g} out of "
              f"{summary['max_score']:g}; {graded} graded, {summary['not_graded']} not graded "
              "(counted as 0)."), "",
             "| question | max | mean | full marks | most failed test | failed by |",
             "|---|---|---|---|---|---|"]
    for q in summary["questions"]:
        failed = f"`{q['most_failed_test']}`" if q["most_failed_test"] else "none"
        lines.append(f"| {q['question']} | {q['max']:g} | {q['mean']:.2f} | {q['full_marks']:.0%} "
                     f"| {failed} | {q['failed_by']} of {graded} |")
    lines += ["", "Scores per submission: `scores.csv`; distribution: `histogram.png`.", ""]
    md.write_text("\n".join(lines))
    return md, csv_path


def write_histogram(rows: list[dict[str, Any]], path: Path, max_score: float) -> Path | None:
    """A PNG histogram of the total scores (None, with a warning, if matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        _warn(f"no histogram ({err})")
        return None
    totals = [float(r["score"]) for r in rows]
    top = max(max_score, max(totals, default=0.0), 1.0)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(totals, bins=min(20, max(int(top), 1)), range=(0, top), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"total score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{len(totals)} submissions, mean {statistics.fmean(totals) if totals else 0:.2f}")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_all(rows: list[dict[str, Any]], out_dir: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """scores.csv, summary.md/.csv and histogram.png in ``out_dir``: (their paths, the summary)."""
    rows = sorted(rows, key=lambda r: _natural(r["submission"]))
    max_points: dict[str, float] = {}
    for r in rows:
        for q, m in r.get("max_points", {}).items():
            max_points[q] = max(max_points.get(q, 0.0), m)
    summary = summarize(rows, max_points)
    paths = {"csv": write_csv(rows, out_dir / "scores.csv")}
    paths["summary"], paths["summary_csv"] = write_summary(summary, out_dir)
    png = write_histogram(rows, out_dir / "histogram.png", summary["max_score"])
    if png:
        paths["histogram"] = png
    return paths, summary
