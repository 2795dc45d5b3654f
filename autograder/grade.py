"""Grade submissions locally with an assignment's Gradescope zip, exactly as Gradescope would.

    python -m autograder.grade dist/gradescope/01_tensors.zip my.ipynb [--out DIR]
    python -m autograder.grade dist/gradescope/01_tensors.zip submissions/ [--out DIR] [-j 2]

For each submission a throw-away folder is laid out like Gradescope's ``/autograder``
(``source/`` = the unzipped autograder, ``submission/``, ``results/``) and the zip's own
judge (``harden.judge``, what its ``run_autograder`` starts) runs there in a fresh Python
process; as root it runs the submission as an unprivileged user, as on Gradescope.  The result is Gradescope's
``results.json``.  When grading itself breaks (a crash, a time-out, no results file) the
submission still gets a ``results.json`` with score 0 and the reason, and a folder of
submissions is always graded to the end: one CSV row per submission, with a per-question
summary and a score histogram beside it (see ``gradebook.py``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 600  # seconds for one whole submission

# The zip's judge (autograder/harden/judge.py), run as Gradescope's run_autograder runs it.
ENTRY = ["-m", "harden.judge"]
ROOT = Path(__file__).resolve().parent.parent


def grading_python() -> str:
    """The interpreter that grades: the Gradescope image's own, built by the zips' setup.sh.

    ``$COURSE_GRADER_PYTHON`` if set, else ``.grader-venv`` (``make grader-venv``).  Only when
    neither exists does grading fall back to this interpreter, with a warning: ``.venv`` has
    packages (dlcourse, otter, d2l) that Gradescope's image lacks, so a grade could differ.
    """
    explicit = os.environ.get("COURSE_GRADER_PYTHON")
    if explicit:
        return explicit
    image = ROOT / ".grader-venv" / "bin" / "python"
    if (ROOT / ".grader-venv" / ".installed").is_file() and image.exists():
        return str(image)
    if not getattr(grading_python, "warned", False):
        grading_python.warned = True
        print("warning: .grader-venv is missing (run `make grader-venv`); grading with "
              f"{sys.executable}, which may not match Gradescope's image", file=sys.stderr)
    return sys.executable

# Gradescope grades one submission per container; here several gradings run at once (a folder
# with -j 2, other users' runs).  The judge kills, and adds up the memory of, every process of
# its sandbox uid, so gradings sharing the machine's ``grader-sandbox`` user (which exists
# wherever setup.sh ran) kill each other's workers.  A user name that cannot exist makes the
# judge pick a free uid for each grading instead, with the same isolation.
LOCAL_LIMITS = {"sandbox_user": "(a free uid per local grading)"}


def _failure(reason: str) -> dict[str, Any]:
    return {
        "score": 0.0,
        "output": f"The submission could not be graded: {reason}",
        "tests": [{"name": "Grading error", "score": 0.0, "max_score": 0.0,
                   "output": reason, "visibility": "visible"}],
    }


def _unpack_submission(submission: Path, dest: Path) -> None:
    """Put the upload in ``submission/`` as it is (a file, or every file of a folder, as a
    Gradescope export holds them): the judge unpacks zips itself, with limits."""
    if submission.is_dir():
        shutil.copytree(submission, dest, dirs_exist_ok=True, symlinks=True)
    else:
        shutil.copy(submission, dest / submission.name)


def grade(zip_path: Path | str, submission: Path | str, out_dir: Path | str | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Grade one submission (``.ipynb`` or ``.zip``); return (and optionally write) results.json."""
    zip_path, submission = Path(zip_path).resolve(), Path(submission).resolve()
    # (a folder is one submission made of all its files)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade.") as tmp:
        ag = Path(tmp) / "autograder"
        for sub in ("source", "submission", "results"):
            (ag / sub).mkdir(parents=True)
        (ag / "submission_metadata.json").write_text("{}")
        log = ""
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(ag / "source")
            _unpack_submission(submission, ag / "submission")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "COURSE_"))}
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            # the judge keeps its total time a margin below this caller's limit
            env["HARDEN_LIMITS"] = json.dumps(LOCAL_LIMITS | {"caller_timeout": timeout} |
                                              json.loads(env.get("HARDEN_LIMITS") or "{}"))
            proc = subprocess.run([grading_python(), *ENTRY, str(ag)], capture_output=True,
                                  text=True, timeout=timeout, cwd=ag / "source", env=env)
            log = proc.stdout + proc.stderr
            results_path = ag / "results" / "results.json"
            if results_path.is_file():
                results = json.loads(results_path.read_text())
            else:
                tail = "\n".join(log.strip().splitlines()[-5:])
                results = _failure(f"the grader exited with code {proc.returncode} and wrote no "
                                   f"results.\n{tail}")
        except subprocess.TimeoutExpired:
            results = _failure(f"grading took longer than {timeout:.0f} s")
        except (zipfile.BadZipFile, ValueError, OSError, json.JSONDecodeError) as err:
            results = _failure(str(err))
    results.setdefault("execution_time", round(time.perf_counter() - start, 2))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def question_scores(results: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """``{question: (score, max_score)}`` from a results.json (Otter names tests after questions)."""
    out: dict[str, tuple[float, float]] = {}
    for test in results.get("tests", []):
        name = test.get("name", "").split(" - ")[0].strip()
        if name.endswith(" results"):
            name = name[: -len(" results")]
        score, max_score = out.get(name, (0.0, 0.0))
        out[name] = (score + float(test.get("score") or 0), max_score + float(test.get("max_score") or 0))
    return out


def total_score(results: dict[str, Any]) -> float:
    """The submission's score: Gradescope uses the top-level score if present, else the sum."""
    if results.get("score") is not None:
        return float(results["score"])
    return sum(float(t.get("score") or 0) for t in results.get("tests", []))


def max_score(results: dict[str, Any]) -> float:
    return sum(float(t.get("max_score") or 0) for t in results.get("tests", []))


def grade_folder(zip_path: Path, folder: Path, out_dir: Path, jobs: int = 2,
                 timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Grade every submission in ``folder`` in parallel; write the gradebook in ``out_dir``.

    A submission is a sub-folder (one per student, as in a Gradescope export: all its files
    are uploaded together) or a loose ``.ipynb``/``.zip`` file at the top of ``folder``.
    ``scores.csv`` gets one row per submission (who, from a Gradescope export's
    ``submission_metadata.yml``; status; total; each question; each test), beside it
    ``summary.md``/``summary.csv`` (per question) and ``histogram.png`` (``gradebook.py``).
    """
    from autograder import gradebook

    folder = gradebook.export_root(folder)
    subs = sorted(p for p in folder.iterdir()
                  if p.is_dir() or (p.is_file() and p.suffix in (".ipynb", ".zip")))
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = gradebook.load_metadata(folder)
    if metadata:
        unknown = [s.name for s in subs if s.name not in metadata and s.stem not in metadata]
        if unknown:
            print(f"warning: {len(unknown)} submission(s) not in {gradebook.METADATA_FILE} "
                  f"(e.g. {unknown[0]}): their name, email and SID are blank", file=sys.stderr)
    rows = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade, zip_path, s, out_dir / s.relative_to(folder).with_suffix(""),
                               timeout): s for s in subs}
        for fut in concurrent.futures.as_completed(futures):
            s = futures[fut]
            try:
                res = fut.result()
            except Exception as err:  # never let one submission stop the rest
                res = _failure(f"internal error: {err!r}")
            who = metadata.get(s.name) or metadata.get(s.stem)
            rows.append(gradebook.row(str(s.relative_to(folder)), res, who))
            print(f"{rows[-1]['submission']}: {rows[-1]['score']:g} / {rows[-1]['max_score']:g}",
                  flush=True)
    paths, summary = gradebook.write_all(rows, out_dir)
    print(f"summary: {paths['summary']} (per question; histogram: {paths.get('histogram', 'none')})")
    print(f"totals: {summary['submissions']} submissions, {summary['graded']} graded, "
          f"{summary['not_graded']} not graded; mean {summary['mean']:.2f}, median "
          f"{summary['median']:g} out of {summary['max_score']:g}")
    return paths["csv"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.grade", description=__doc__.split("\n")[0])
    parser.add_argument("zip", type=Path, help="the assignment's Gradescope zip")
    parser.add_argument("submission", type=Path,
                        help="a .ipynb/.zip, or a folder of submissions (one sub-folder or file each)")
    parser.add_argument("--out", type=Path, default=None, help="where results go (default: .)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = parser.parse_args(argv)
    if not args.zip.is_file():
        print(f"no autograder zip at {args.zip}; run `make` first", file=sys.stderr)
        return 2
    if args.submission.is_dir():
        csv_path = grade_folder(args.zip, args.submission, args.out or Path("grades"), args.jobs,
                                args.timeout)
        print(f"wrote {csv_path}")
        return 0
    if not args.submission.is_file():
        print(f"no submission at {args.submission}", file=sys.stderr)
        return 2
    res = grade(args.zip, args.submission, args.out or Path("."), args.timeout)
    for q, (s, m) in question_scores(res).items():
        print(f"  {q:12s} {s:g} / {m:g}")
    print(f"score: {total_score(res):g} / {max_score(res):g}  (results.json in {args.out or Path('.')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
