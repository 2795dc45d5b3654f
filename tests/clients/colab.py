"""A faithful stand-in for a Colab runtime, built in a temporary directory.

Colab gives a notebook a Python with torch, torchvision, numpy and matplotlib preinstalled, an
IPython kernel started through ``google.colab``, and nothing of this course: no otter-grader,
no d2l, no ``dlcourse``, no tests on disk.  ``make_runtime`` builds exactly that:

* a fresh virtual environment (``python -m venv``: its own pip, nothing else);
* a ``.pth`` that puts on its path a *mirror* of the project venv's torch, torchvision, numpy and
  matplotlib and their runtime dependencies only: real directories holding one symlink per file
  (per file, not per directory, so that whatever pip might remove or replace there is a link,
  never the project venv's own file).  Installing torch from local wheels instead is what a
  from-scratch image does; a symlink mirror gives the same importable packages in a second;
* the ``google.colab`` stand-in of ``tests/clients/colab_standin`` on its path;
* ipykernel from the package index (Colab has a kernel), and a kernelspec ``colab`` in a
  temporary directory whose kernel is ``google.colab``'s, like Colab's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

STANDIN = Path(__file__).resolve().parent / "colab_standin"
PREINSTALLED = ("torch", "torchvision", "numpy", "matplotlib")
# A fresh venv brings its own pip (and setuptools on 3.11): never mirror a second copy.
OWN = {"pip", "setuptools", "wheel"}


def closure(roots=PREINSTALLED) -> dict[str, metadata.Distribution]:
    """The installed distributions ``roots`` need at run time, by canonical name.

    Extras named by a requirement count (torch needs ``cuda-toolkit[cublas,cufile,...]``).
    """
    todo, found, done = [(r, "") for r in roots], {}, set()
    while todo:
        name, extra = todo.pop()
        name = canonicalize_name(name)
        if (name, extra) in done or name in OWN:
            continue
        done.add((name, extra))
        try:
            dist = found.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional platform dependency this venv does not have
        found[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(req.name, "")] + [(req.name, e) for e in req.extras]
    return found


def mirror(dists: dict[str, metadata.Distribution], dest: Path) -> int:
    """Link every file the distributions installed under site-packages into ``dest``."""
    count = 0
    for dist in dists.values():
        base = Path(dist.locate_file(""))
        files = {base / f for f in dist.files or [] if not str(f).startswith("..")}
        dirs = {f.parent for f in files}
        for d in dirs:  # bytecode compiled after install is not in RECORD: link it too
            if (d / "__pycache__").is_dir():
                files.update((d / "__pycache__").glob("*.pyc"))
        for src in files:
            if not src.exists():
                continue
            link = dest / src.relative_to(base)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(src)
                count += 1
    return count


def make_runtime(root: Path, release_url: str, log=print) -> dict[str, Path]:
    """Build the Colab stand-in under ``root``; return its python, kernels dir and mirror."""
    env_dir, mirror_dir, kernels = root / "venv", root / "preinstalled", root / "kernels"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    dists = closure()
    missing = [p for p in PREINSTALLED if canonicalize_name(p) not in dists]
    if missing:
        raise RuntimeError(f"the project venv lacks {missing}: cannot mirror Colab's packages")
    n = mirror(dists, mirror_dir)
    log(f"colab: mirrored {n} files of {len(dists)} distributions: {sorted(dists)}")
    (site / "colab_preinstalled.pth").write_text(f"{mirror_dir}\n{STANDIN}\n")
    out = subprocess.run([str(python), "-m", "pip", "install", "-q", "ipykernel"],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"pip install ipykernel into the Colab venv failed:\n{out.stdout}\n{out.stderr}")
    spec = kernels / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab stand-in)",
        "language": "python",
        "env": {"COURSE_RELEASE_URL": release_url},
    }, indent=1))
    return {"python": python, "kernels": kernels, "mirror": mirror_dir, "site": site}


def kernel_env(runtime: dict[str, Path]) -> dict[str, str]:
    """The environment a Colab kernel sees: none of the project venv leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}}
    venv_bin = str(runtime["python"].parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(sys.prefix)]
    env["PATH"] = os.pathsep.join([venv_bin, *path])
    env["VIRTUAL_ENV"] = str(runtime["python"].parent.parent)
    return env


def dist_names(python: Path) -> set[str]:
    """Canonical names of every distribution importable by ``python``."""
    out = subprocess.run([str(python), "-c",
                          "import importlib.metadata as m, json; "
                          "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"],
                         check=True, capture_output=True, text=True)
    return {canonicalize_name(n) for n in json.loads(out.stdout) if n}


__all__ = ["closure", "mirror", "make_runtime", "kernel_env", "dist_names"]
