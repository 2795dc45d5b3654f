"""Build the course: student release, solutions and one Gradescope zip per assignment.

    python -m autograder.build assignment 01_tensors   # dist/{student,solution,gradescope} for one
    python -m autograder.build lecture 01_tensors      # dist/student/lectures/01_tensors.ipynb
    python -m autograder.build release                 # README, helper package, MANIFEST.json

Every step writes into ``build/`` first and moves finished files into ``dist/`` only when the
whole step succeeded, so a failure never leaves ``dist/`` half-written.  A broken source
notebook fails with the file and the cell named.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import platform
import pprint
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from . import config, leaks, notebooks, overlap
from .notebooks import NotebookError


def _student() -> Path:
    return config.DIST / "student"

# Keys of an assignment's config cell that the course uses and Otter does not know.
COURSE_KEYS = ("datasets", "limits")
# Assignment config keys the hardened grader cannot honour: the build refuses them with the fix.
UNSUPPORTED_CONFIG = {
    "autograder_files": "list them under `files:` (the zip's support files)",
    "plugins": "remove `plugins:` (the hardened grader runs no Otter plugins)",
    "environment": "remove `environment:` (the grading image is built from course.yml and "
                   "autograder/requirements.txt)",
}


class BuildError(Exception):
    """A build step failed; the message says which notebook (and cell) and why."""


# --------------------------------------------------------------------------- small helpers


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


PRIVATE = ("solution", "gradescope")  # dist/ folders holding solutions and hidden tests


def _private_parent(dest: Path) -> None:
    """Create ``dest``'s folder; the ones that hold solutions or hidden tests are owner-only,
    so the sandbox uids that run submissions during local grading cannot read them."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    for name in PRIVATE:
        folder = config.DIST / name
        if folder.exists() and (dest.parent == folder or folder in dest.parents):
            os.chmod(folder, 0o700)


def _replace_dir(new: Path, dest: Path) -> None:
    """Move the finished folder ``new`` to ``dest``, replacing what was there."""
    _private_parent(dest)
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    if old.exists():
        shutil.rmtree(old)


def _replace_file(new: Path, dest: Path) -> None:
    _private_parent(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(new, tmp)
    os.replace(tmp, dest)


def _rel(path: Path) -> Path:
    try:
        return path.relative_to(config.ROOT)
    except ValueError:
        return path


def _staging(name: str) -> Path:
    config.BUILD.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}.", dir=config.BUILD))


def _check_otter_version() -> None:
    from otter import __version__

    wanted = config.course()["otter_version"]
    if __version__ != wanted:
        raise BuildError(f"otter-grader {__version__} is installed but course.yml pins {wanted}; "
                         "run `make venv` (or change course.yml and requirements.txt together)")


# --------------------------------------------------------------------------- assignments


def assignment_config(slug: str, own: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Otter config for ``slug``: shared defaults, then the notebook's own, then the fixed keys."""
    own = dict(own)
    datasets = own.pop("datasets", []) or []
    own.pop("limits", None)  # the hardened grader's, read again from the notebook by harden_zip
    if not isinstance(own.get("generate"), dict):  # `generate: true`: we always generate
        own.pop("generate", None)
    for key in ("python_version", "requirements"):  # set from course.yml below
        own.pop(key, None)
    merged = _merge(config.otter_defaults(), own)
    # OK-format tests are written by the build itself (one format per question); Otter only
    # ever sees exception-based tests.
    merged["tests"] = dict(merged.get("tests") or {}, ok_format=False)
    merged["name"] = slug
    merged["python_version"] = config.course()["grading_python"]
    merged["requirements"] = "requirements.txt"
    merged["files"] = ["dlcourse"] + (["data"] if datasets else []) + list(own.get("files", []))
    return merged, list(datasets)


def _check_assignment(nb: dict[str, Any], rel: Path, slug: str) -> dict[str, Any]:
    """Every check of a source notebook; ONE ``NotebookError`` lists all that must change."""
    problems: list[str] = []
    try:
        info = notebooks.check_otter_blocks(nb, rel)
    except NotebookError as err:
        problems += err.problems
        info = err.info
    problems += _notebook_name_problems(nb, rel, slug)
    if info is not None:
        own = info["config"]
        for key, fix in UNSUPPORTED_CONFIG.items():
            if own.get(key):
                problems.append(f"{rel}: # ASSIGNMENT CONFIG: `{key}:` is not supported; {fix}")
        for key in ("files", "student_files"):
            listed = own.get(key) or []
            if not isinstance(listed, list):
                problems.append(f"{rel}: # ASSIGNMENT CONFIG: `{key}:` must be a list of paths")
                continue
            for extra in listed:
                path = config.ASSIGNMENTS / slug / str(extra)
                if Path(str(extra)).is_absolute() or ".." in Path(str(extra)).parts:
                    problems.append(f"{rel}: `{key}:` names {extra}, which is not inside the "
                                    "assignment folder")
                elif not path.exists():
                    problems.append(f"{rel}: `{key}:` names {extra}, which does not exist in "
                                    f"{_rel(config.ASSIGNMENTS / slug)}/")
        problems += _points_table_problems(nb, rel, info)
    if problems:
        raise NotebookError(notebooks.problem_list(rel, problems), problems)
    return info


_NOTEBOOK_CALL = re.compile(r"""otter\.Notebook\(\s*(?:nb_path\s*=\s*)?["']([^"']*)["']""")


def _notebook_name_problems(nb: dict[str, Any], rel: Path, slug: str) -> list[str]:
    """``otter.Notebook("<name>")`` must name this assignment's notebook (a copied week often
    still names the old one, which builds green and then fails for every student)."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for name in _NOTEBOOK_CALL.findall(notebooks.source(cell)):
            if Path(name).name != f"{slug}.ipynb":
                out.append(f"{notebooks.describe_cell(rel, i, cell)}: otter.Notebook({name!r}) "
                           f"names another notebook; this assignment's is \"{slug}.ipynb\"")
    return out


def _points_table_problems(nb: dict[str, Any], rel: Path, info: dict[str, Any]) -> list[str]:
    """The first markdown cell's points (``**Points:** N`` and the ``| Question | ... | Points |``
    table) must agree with what the tests carry, per question and in total."""
    cells = [(i, c) for i, c in enumerate(notebooks.unfence(nb)["cells"])
             if c["cell_type"] == "markdown"]
    if not cells:
        return []
    i, cell = cells[0]
    text, where = notebooks.source(cell), notebooks.describe_cell(rel, i, cell)
    carried = {name: q.get("points", 0) for name, q in info["questions"].items()}
    out: list[str] = []
    if not all(q.get("points_ok", True) for q in info["questions"].values()):
        carried = {n: p for n, p in carried.items() if info["questions"][n].get("points_ok", True)}
        total = None  # the total is meaningless while some question's points are wrong
    else:
        total = re.search(r"\*\*Points:?\*\*:?\s*([\d.]+)", text)
    if total and abs(float(total.group(1)) - sum(carried.values())) > 1e-9:
        out.append(f"{where}: the title says **Points:** {total.group(1)} but the tests carry "
                   f"{_num(sum(carried.values()))} in total")
    lines = text.split("\n")
    header = next((k for k, ln in enumerate(lines) if ln.lstrip().startswith("|")
                   and "points" in ln.split("|")[-2].lower()), None) if lines else None
    if header is None:
        return out
    shown = {}
    for ln in lines[header + 2:]:
        if not ln.lstrip().startswith("|"):
            break
        cols = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cols) >= 2:
            shown[cols[0]] = cols[-1]
    for name, pts in carried.items():
        key = next((k for k in (name, name.removeprefix("q")) if k in shown), None)
        if key is None:
            out.append(f"{where}: the points table has no row for question {name!r} "
                       f"({_num(pts)} points)")
            continue
        try:
            ok = abs(float(shown[key]) - pts) < 1e-9
        except ValueError:
            ok = False
        if not ok:
            out.append(f"{where}: the points table shows {shown[key]} for question {name!r} but "
                       f"its tests carry {_num(pts)}")
    return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _otter_source(nb: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The notebook handed to ``otter assign``: config blocks as raw cells, every test cell
    with explicit ``hidden``/``points``, OK-format test cells replaced by placeholders (their
    test files are written by ``_ok_test_files``), question-level point lists removed."""
    nb = notebooks.unfence(nb)
    by_cell = {t["cell"]: t for q in info["questions"].values() for t in q["tests"]}
    for i, cell in enumerate(nb["cells"]):
        if notebooks._marker(cell) == "BEGIN QUESTION":
            qcfg = notebooks._yaml_after_first_line(cell, "")
            if not qcfg.get("manual"):
                qcfg.pop("points", None)
            qcfg.pop("forbidden", None)  # the hardened grader's, not Otter's (harden.json)
            cell["source"] = "# BEGIN QUESTION\n" + yaml.safe_dump(qcfg, sort_keys=False)
        t = by_cell.get(i)
        if t is None:
            continue
        head = (f'""" # BEGIN TEST CONFIG\nhidden: {str(t["hidden"]).lower()}\n'
                f'points: {t["points"]}\n""" # END TEST CONFIG\n')
        if t["kind"] == "ok":
            body = (f"def test_ok_case_{i}():\n    \"\"\"OK-format case (its test file is written "
                    "by the build).\"\"\"\n")
        else:
            _, rest = notebooks._split_test_config(notebooks.source(cell).strip("\n").splitlines(), "")
            body = "\n".join(rest)
        cell["source"] = head + body
        cell["outputs"] = []
    return nb


def _ok_test_files(info: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``tests/<q>.py`` -> (full file, public-only file) for every OK-format question, in
    Otter's own OK format (so ``grader.check`` works for students unchanged)."""
    files = {}
    for name, q in info["questions"].items():
        if not q["tests"] or q["tests"][0]["kind"] != "ok":
            continue

        def render(cases, name=name):
            test = {"name": name, "points": None, "suites": [{
                "cases": [{"code": t["code"], "hidden": t["hidden"], "locked": False,
                           "points": t["points"]} for t in cases],
                "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
            return "OK_FORMAT = True\n\ntest = " + pprint.pformat(test, indent=4, width=200) + "\n"

        files[f"tests/{name}.py"] = (render(q["tests"]),
                                     render([t for t in q["tests"] if not t["hidden"]]))
    return files


def _check_test_files(files: dict[str, str], rel: Path) -> list[str]:
    """Compile every generated test file (and every doctest line of an OK file)."""
    problems = []
    for name, text in sorted(files.items()):
        try:
            tree = compile(text, name, "exec", ast.PyCF_ONLY_AST)
            compile(tree, name, "exec")
        except SyntaxError as err:
            problems.append(f"{rel}: the generated test file {name} (question "
                            f"{Path(name).stem!r}) does not compile: line {err.lineno}: {err.msg}")
            continue
        ok = next((n.value for n in tree.body if isinstance(n, ast.Assign)
                   and [getattr(t, "id", None) for t in n.targets] == ["test"]), None)
        if ok is None:
            continue
        try:
            spec = ast.literal_eval(ok)
            cases = [c["code"] for s in spec["suites"] for c in s["cases"]]
        except (ValueError, KeyError, TypeError) as err:
            problems.append(f"{rel}: the generated OK test file {name} is not a literal test "
                            f"dict: {err}")
            continue
        for code in cases:
            for src, _ in notebooks.doctest_examples(code):
                try:
                    compile(src, name, "single")
                except SyntaxError as err:
                    problems.append(f"{rel}: the generated test file {name} (question "
                                    f"{Path(name).stem!r}) holds a doctest line that does not "
                                    f"compile: `>>> {src.splitlines()[0]}`: {err.msg}")
    return problems


def build_assignment(slug: str, log=print) -> dict[str, Path]:
    """Build student notebook, solution and Gradescope zip for one assignment."""
    _check_otter_version()
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    if not src.is_file():
        raise BuildError(f"{src}: no such notebook (an assignment folder holds <slug>/<slug>.ipynb)")
    rel = _rel(src)
    original = notebooks.load(src)
    info = _check_assignment(original, rel, slug)
    reasked = overlap.find_overlaps(slug)
    if reasked:
        raise notebooks.NotebookError(
            f"{rel}: {len(reasked)} solution line(s) re-ask a lecture:\n  " + "\n  ".join(reasked),
            reasked)
    nb = notebooks.ensure_generated_cells(_otter_source(original, info), slug)
    nb = notebooks.clean(notebooks.render(nb, "assignment", slug, rel))
    otter_cfg, datasets = assignment_config(slug, info["config"])
    for cell in nb["cells"]:
        if notebooks._marker(cell) == "ASSIGNMENT CONFIG":
            cell["source"] = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(otter_cfg, sort_keys=False)
    manual = [{"name": name, "points": q["points"]} for name, q in info["questions"].items()
              if q["manual"]]
    ok_files = _ok_test_files(info)
    stage = _staging(slug)
    try:
        work = stage / "source"
        work.mkdir()
        notebooks.save(nb, work / f"{slug}.ipynb")
        # the source with its config blocks as raw cells, for the leak check
        notebooks.save(notebooks.unfence(original), stage / f"{slug}.unfenced.ipynb")
        _copy_tree(config.HELPER_PACKAGE, work / "dlcourse")
        (work / "requirements.txt").write_text(
            (config.ROOT / "autograder" / "requirements.txt").read_text(encoding="utf-8"))
        for extra in list(info["config"].get("files", []) or []) + \
                list(info["config"].get("student_files", []) or []):
            path = config.ASSIGNMENTS / slug / extra
            (work / extra).parent.mkdir(parents=True, exist_ok=True)
            (_copy_tree if path.is_dir() else shutil.copyfile)(path, work / extra)
        if datasets:
            from dlcourse import data as course_data

            for name in datasets:
                try:
                    course_data.fetch(name, root=config.DATA)
                except course_data.DataError as err:
                    raise BuildError(f"{rel}: needs data set {name!r}: {err}") from None
                for spec in course_data.DATASETS[name]:
                    dest = work / "data" / spec.path
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(config.DATA / spec.path, dest)
        out = stage / "out"
        proc = subprocess.run([sys.executable, "-m", "otter", "assign", "--no-run-tests",
                               "--no-pdfs", str(work / f"{slug}.ipynb"), str(out)],
                              capture_output=True, text=True, cwd=work)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BuildError(f"{rel}: otter assign failed:\n{tail}")
        zips = sorted((out / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise BuildError(f"{rel}: otter assign made {len(zips)} zip files, expected 1")
        zip_path = zips[0]

        student = out / "student"
        solution = out / "autograder"
        for name, (full, public) in ok_files.items():
            (solution / name).write_text(full, encoding="utf-8")
            if (student / name).exists() or any(not t["hidden"] for t in
                                                info["questions"][Path(name).stem]["tests"]):
                (student / name).parent.mkdir(exist_ok=True)
                (student / name).write_text(public, encoding="utf-8")
        generated = {f"solution {p.relative_to(solution)}": p.read_text(encoding="utf-8")
                     for p in sorted((solution / "tests").glob("*.py"))}
        generated |= {f"student {p.relative_to(student)}": p.read_text(encoding="utf-8")
                      for p in sorted((student / "tests").glob("*.py"))}
        problems = _check_test_files(generated, rel)
        if problems:
            raise BuildError(notebooks.problem_list(rel, problems))
        _check_grader_reads_points(solution / "tests", info, rel)

        for generated_dir in ("dlcourse", "data"):  # students get these from the release root / make data
            if (student / generated_dir).exists():
                shutil.rmtree(student / generated_dir)
        for extra in info["config"].get("student_files", []) or []:
            path = config.ASSIGNMENTS / slug / extra
            (student / extra).parent.mkdir(parents=True, exist_ok=True)
            (_copy_tree if path.is_dir() else shutil.copyfile)(path, student / extra)
        student_nb = _colab_safe_export(notebooks.load(student / f"{slug}.ipynb"))
        notebooks.save(notebooks.clean(student_nb) | {"metadata": _student_metadata(student_nb)},
                       student / f"{slug}.ipynb")

        solution = out / "autograder"
        forbidden = {name: q["config"]["forbidden"] for name, q in info["questions"].items()
                     if q["config"].get("forbidden")}
        harden_zip(zip_path, stage / f"{slug}.zip", slug, info["config"].get("limits") or {},
                   manual=manual, overrides={n: full for n, (full, _) in ok_files.items()},
                   forbidden=forbidden)
        zip_path.unlink()  # Otter's stock, timestamped zip: never upload it (no hardened grader)
        for generated_file in ("dlcourse", "data", "requirements.txt", "environment.yml",
                               "otter_config.json", "run_autograder", "run_otter.py", "setup.sh"):
            target = solution / generated_file
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

        problems = leaks.find_leaks(stage / f"{slug}.unfenced.ipynb", student)
        if problems:
            raise BuildError(f"{rel}: the student version would leak:\n  " + "\n  ".join(problems))

        _replace_dir(student, _student() / "assignments" / slug)
        _replace_dir(solution, config.DIST / "solution" / slug)
        _replace_file(stage / f"{slug}.zip", config.DIST / "gradescope" / f"{slug}.zip")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log(f"built {slug}: dist/student/assignments/{slug}/, dist/solution/{slug}/, "
        f"dist/gradescope/{slug}.zip")
    return {"student": _student() / "assignments" / slug, "solution": config.DIST / "solution" / slug,
            "zip": config.DIST / "gradescope" / f"{slug}.zip"}


def _check_grader_reads_points(tests_dir: Path, info: dict[str, Any], rel: Path) -> None:
    """The hardened grader, reading the generated files its own way, must find every
    question with the points the notebook gives it."""
    from .harden import judge

    try:
        tests = judge.load_tests(tests_dir)
    except (SyntaxError, ValueError, TypeError, KeyError) as err:
        raise BuildError(f"{rel}: the grader cannot read the generated tests: {err}") from None
    got: dict[str, float] = {}
    for t in tests:
        got[t["question"]] = got.get(t["question"], 0) + t["points"]
    wrong = [f"question {name!r}: the grader reads {_num(got.get(name, 0))} points, the notebook "
             f"gives {_num(q['points'])}" for name, q in info["questions"].items()
             if not q["manual"] and abs(got.get(name, 0) - q["points"]) > 1e-9]
    if wrong:
        raise BuildError(notebooks.problem_list(rel, [f"{rel}: {w}" for w in wrong]))


COLAB_EXPORT = (
    'if "google.colab" in sys.modules:  # Otter cannot make the zip on Colab\n'
    '    print("On Colab: File > Download > Download .ipynb, then upload that .ipynb to Gradescope.")\n'
    "else:\n"
)
# grader.export(run_tests=True) re-runs the tests in a kernel that notes on stderr that it talks
# over (local) TCP without encryption; Otter turns any stderr into a RuntimeWarning.  Hide only
# that exact note, so any other stderr from the check still shows.
EXPORT_QUIET = (
    "import warnings  # hide the checking kernel's harmless local-TCP note (any other stderr shows)\n"
    'warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"otter\\.check\\.utils",\n'
    '                        message=r"\\[IPKernelApp\\] WARNING \\| Kernel is running over TCP without '
    'encryption[^\\n]*\\s*\\Z")\n'
)


def _colab_safe_export(nb: dict[str, Any]) -> dict[str, Any]:
    """Otter's export cell raises on Colab; make it print the Colab upload path there instead.

    Elsewhere it runs ``grader.export`` without Otter's spurious TCP-encryption warning.
    """
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "grader.export(" in source and "google.colab" not in source:
            lines = source.splitlines()
            comments = [ln for ln in lines if ln.startswith("#")]
            body = [ln for ln in lines if not ln.startswith("#")]
            body = EXPORT_QUIET.splitlines() + body
            cell["source"] = "\n".join(comments + [COLAB_EXPORT.rstrip("\n")] +
                                       ["    " + ln for ln in body])
    return nb


HARDEN = Path(__file__).resolve().parent / "harden"
# What Otter's own zip carries that the hardened grader replaces or does not need.
OTTER_ONLY = ("run_autograder", "run_otter.py", "setup.sh", "environment.yml", "requirements.txt",
              "otter_config.json")


def harden_zip(otter_zip: Path, dest: Path, slug: str, limits: dict[str, Any],
               manual: list[dict[str, Any]] | None = None,
               overrides: dict[str, str] | None = None,
               forbidden: dict[str, list[str]] | None = None) -> None:
    """Repackage Otter's zip around the hardened grader (see autograder/README.md).

    Kept from Otter: ``tests/`` (hidden and public, Otter's format) and ``files/`` (support
    files).  Added: ``harden/`` (judge, worker, an inert ``otter`` stand-in), ``harden.json``
    (assignment name and limits), our ``run_autograder``, a lean ``setup.sh`` and the grading
    ``requirements.txt``. ``manual`` (questions graded by hand) goes into ``harden.json``;
    ``overrides`` replaces members (the OK-format test files the build writes itself);
    ``forbidden`` (question -> torch functions its answer must not call) goes into
    ``harden.json``, out of the students' sight.
    """
    import zipfile

    overrides = overrides or {}
    config_json = {"assignment": slug, "limits": limits,
                   "python": config.course().get("grading_python", "3.12")}
    if manual:
        config_json["manual"] = manual
    if forbidden:
        config_json["forbidden"] = forbidden
    with zipfile.ZipFile(otter_zip) as src, \
            zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename.split("/")[0] in OTTER_ONLY:
                continue
            if info.filename in overrides:
                out.writestr(info, overrides.pop(info.filename))
                continue
            out.writestr(info, src.read(info))
        for name, text in overrides.items():
            out.writestr(name, text)
        for path in sorted(HARDEN.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py",):
                out.write(path, "harden/" + path.relative_to(HARDEN).as_posix())
        for name in ("run_autograder", "setup.sh"):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            out.writestr(info, (HARDEN / "image" / name).read_text(encoding="utf-8"))
        out.writestr("requirements.txt",
                     (config.ROOT / "autograder" / "requirements.txt").read_text(encoding="utf-8"))
        out.writestr("harden.json", json.dumps(config_json, indent=2) + "\n")


def _kernel_metadata() -> dict[str, Any]:
    """``kernelspec`` and ``language_info`` exactly as ipykernel reports them for this Python.

    JupyterLab copies the kernel's own ``language_info`` into a notebook when its kernel starts,
    and marks the notebook modified unless the saved one is identical.  It can only be identical
    for one Python version: the release records the one that builds it (``.venv``, the course's
    reference); a student on another version sees the marker once, until the first save.
    """
    return {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                           "name": "python3"},
            "language_info": {"codemirror_mode": {"name": "ipython", "version": 3},
                              "file_extension": ".py", "mimetype": "text/x-python",
                              "name": "python", "nbconvert_exporter": "python",
                              "pygments_lexer": "ipython3", "version": platform.python_version()}}


def _student_metadata(nb: dict[str, Any]) -> dict[str, Any]:
    """Keep only what students need: the kernel and Otter's assignment name (for the name check)."""
    meta = notebooks.clean(nb)["metadata"] | _kernel_metadata()
    otter_meta = nb.get("metadata", {}).get("otter", {})
    if "assignment_name" in otter_meta:
        meta["otter"] = {"assignment_name": otter_meta["assignment_name"]}
    return meta


# --------------------------------------------------------------------------- lectures


def build_lecture(slug: str, log=print) -> Path:
    src = config.LECTURES / f"{slug}.ipynb"
    rel = _rel(src)
    nb = notebooks.clean(notebooks.render(notebooks.load(src), "lecture", slug, rel))
    nb["metadata"] |= _kernel_metadata()  # opens unmodified in JupyterLab (see _kernel_metadata)
    notebooks.check_code_cells(nb, rel)
    dest = _student() / "lectures" / f"{slug}.ipynb"
    stage = _staging(slug)
    try:
        notebooks.save(nb, stage / dest.name)
        _replace_file(stage / dest.name, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log(f"built lecture {slug}: dist/student/lectures/{slug}.ipynb")
    return dest


# --------------------------------------------------------------------------- release root


def build_release(log=print) -> Path:
    """README, helper package, requirements and MANIFEST.json at the root of dist/student/."""
    cfg = config.course()
    stage = _staging("release")
    try:
        template = (config.ROOT / "autograder" / "student_README.md").read_text(encoding="utf-8")
        readme = (template.replace("{{ course }}", cfg.get("course", "Deep Learning"))
                  .replace("{{ public_repo }}", cfg["public_repo"])
                  .replace("{{ colab_base }}", notebooks.colab_url("", cfg).rstrip("/")))
        (stage / "README.md").write_text(readme, encoding="utf-8")
        _copy_tree(config.HELPER_PACKAGE, stage / "dlcourse")
        shutil.copyfile(config.ROOT / "pyproject.toml", stage / "pyproject.toml")
        # Students get the course's packages, not the developers' test tools.
        dev_only = ("pytest", "playwright")
        kept = [line for line in (config.ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
                if not line.strip().lower().startswith(dev_only)]
        (stage / "requirements.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
        with open(stage / "requirements.txt", "a", encoding="utf-8") as f:
            f.write("\n# the course's helper package, from this folder\n-e .\n")
        (stage / ".gitignore").write_text("data/\n.venv/\n__pycache__/\n*.zip\n.OTTER_LOG\n")
        manifest: dict[str, list[str]] = {
            "common": sorted(str(p.relative_to(stage)) for p in (stage / "dlcourse").rglob("*.py"))
        }
        for folder in sorted((_student() / "assignments").glob("*")):
            if folder.is_dir():
                rel = f"assignments/{folder.name}"
                manifest[rel] = sorted(
                    f"{rel}/{p.relative_to(folder)}" for p in folder.rglob("*")
                    if p.is_file() and p.suffix != ".ipynb")
        (stage / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        for item in stage.iterdir():
            dest = _student() / item.name
            if item.is_dir():
                _replace_dir(item, dest)
            else:
                _replace_file(item, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log("built release root: dist/student/README.md, MANIFEST.json, dlcourse/")
    return _student()


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("assignment", "lecture", "release", "all"):
        print(__doc__, file=sys.stderr)
        return 2
    what, names = argv[0], argv[1:]
    try:
        if what in ("assignment", "all"):
            for slug in names or config.assignment_slugs():
                build_assignment(slug)
        if what in ("lecture", "all"):
            for slug in names or config.lecture_slugs():
                build_lecture(slug)
        if what in ("release", "all"):
            build_release()
    except (BuildError, NotebookError) as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
