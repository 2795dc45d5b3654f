"""Build the course: student release, solutions and one Gradescope zip per assignment.

    python -m autograder.build assignment 01_tensors   # dist/{student,solution,gradescope} for one
    python -m autograder.build lecture 01_tensors      # dist/student/lectures/01_tensors.ipynb
    python -m autograder.build release                 # README, helper package, MANIFEST.json

Every step writes into ``build/`` first and moves finished files into ``dist/`` only when the
whole step succeeded, so a failure never leaves ``dist/`` half-written.  A broken source
notebook fails with the file and the cell named.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from . import config, leaks, notebooks
from .notebooks import NotebookError


def _student() -> Path:
    return config.DIST / "student"

# Keys of an assignment's config cell that the course uses and Otter does not know.
COURSE_KEYS = ("datasets", "limits")


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


def _replace_dir(new: Path, dest: Path) -> None:
    """Move the finished folder ``new`` to ``dest``, replacing what was there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    if old.exists():
        shutil.rmtree(old)


def _replace_file(new: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
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
    merged = _merge(config.otter_defaults(), own)
    merged["name"] = slug
    merged["python_version"] = config.course()["grading_python"]
    merged["requirements"] = "requirements.txt"
    merged["files"] = ["dlcourse"] + (["data"] if datasets else []) + list(own.get("files", []))
    return merged, list(datasets)


def build_assignment(slug: str, log=print) -> dict[str, Path]:
    """Build student notebook, solution and Gradescope zip for one assignment."""
    _check_otter_version()
    src = config.ASSIGNMENTS / slug / f"{slug}.ipynb"
    if not src.is_file():
        raise BuildError(f"{src}: no such notebook (an assignment folder holds <slug>/<slug>.ipynb)")
    rel = _rel(src)
    nb = notebooks.load(src)
    info = notebooks.check_otter_blocks(nb, rel)
    nb = notebooks.clean(notebooks.render(nb, "assignment", slug, rel))
    otter_cfg, datasets = assignment_config(slug, info["config"])
    for cell in nb["cells"]:
        if notebooks._marker(cell) == "ASSIGNMENT CONFIG":
            cell["source"] = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(otter_cfg, sort_keys=False)
    stage = _staging(slug)
    try:
        work = stage / "source"
        work.mkdir()
        notebooks.save(nb, work / f"{slug}.ipynb")
        _copy_tree(config.HELPER_PACKAGE, work / "dlcourse")
        (work / "requirements.txt").write_text(
            (config.ROOT / "autograder" / "requirements.txt").read_text(encoding="utf-8"))
        for extra in info["config"].get("files", []) or []:
            path = config.ASSIGNMENTS / slug / extra
            if not path.exists():
                raise BuildError(f"{rel}: `files:` names {extra}, which does not exist")
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
        for generated in ("dlcourse", "data"):  # students get these from the release root / make data
            if (student / generated).exists():
                shutil.rmtree(student / generated)
        student_nb = _colab_safe_export(notebooks.load(student / f"{slug}.ipynb"))
        notebooks.save(notebooks.clean(student_nb) | {"metadata": _student_metadata(student_nb)},
                       student / f"{slug}.ipynb")

        solution = out / "autograder"
        harden_zip(zip_path, stage / f"{slug}.zip", slug, info["config"].get("limits") or {})
        zip_path.unlink()  # Otter's stock, timestamped zip: never upload it (no hardened grader)
        for generated in ("dlcourse", "data", "requirements.txt", "environment.yml",
                          "otter_config.json", "run_autograder", "run_otter.py", "setup.sh"):
            target = solution / generated
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

        problems = leaks.find_leaks(src, student)
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


def harden_zip(otter_zip: Path, dest: Path, slug: str, limits: dict[str, Any]) -> None:
    """Repackage Otter's zip around the hardened grader (see autograder/README.md).

    Kept from Otter: ``tests/`` (hidden and public, Otter's format) and ``files/`` (support
    files).  Added: ``harden/`` (judge, worker, an inert ``otter`` stand-in), ``harden.json``
    (assignment name and limits), our ``run_autograder``, a lean ``setup.sh`` and the grading
    ``requirements.txt``.
    """
    import zipfile

    config_json = {"assignment": slug, "limits": limits,
                   "python": config.course().get("grading_python", "3.12")}
    with zipfile.ZipFile(otter_zip) as src, \
            zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename.split("/")[0] in OTTER_ONLY:
                continue
            out.writestr(info, src.read(info))
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


def _student_metadata(nb: dict[str, Any]) -> dict[str, Any]:
    """Keep only what students need: the kernel and Otter's assignment name (for the name check)."""
    meta = notebooks.clean(nb)["metadata"]
    otter_meta = nb.get("metadata", {}).get("otter", {})
    if "assignment_name" in otter_meta:
        meta["otter"] = {"assignment_name": otter_meta["assignment_name"]}
    return meta


# --------------------------------------------------------------------------- lectures


def build_lecture(slug: str, log=print) -> Path:
    src = config.LECTURES / f"{slug}.ipynb"
    rel = _rel(src)
    nb = notebooks.clean(notebooks.render(notebooks.load(src), "lecture", slug, rel))
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
