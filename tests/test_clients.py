"""The student release, proven in the clients students use.

* **JupyterLab in a real browser**: JupyterLab from the project venv on 127.0.0.1 with a token,
  driven through Debian's headless Chromium by Playwright.  A student's answer to question 1 is
  typed into its cell, the notebook is saved and run, ``grader.check`` renders a pass for q1 and
  a failure for q2, and the export cell writes the submission zip.  The screenshot lands in
  ``dist/clients/jupyterlab.png``.
* **Colab, simulated**: a fresh venv with only torch/torchvision/numpy/matplotlib (and their
  dependencies) and ipykernel, a ``google.colab`` stand-in kernel, and no tests on disk; the
  notebook's own setup cell installs otter-grader from the package index and fetches the public
  tests from the release, served from ``dist/student`` on 127.0.0.1 (``COURSE_RELEASE_URL``).
  See ``tests/clients/colab.py``.
* **Colab badges**: every released notebook has one badge, pointing at its own path in the
  public repository of ``course.yml``.

The two client runs are marked ``slow`` and ``clients`` (``make test-quick`` skips them).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import build, config
from clients import colab, servers
from conftest import built

SLUG = "01_tensors"
STUDENT = config.DIST / "student"
EVIDENCE = config.DIST / "clients"


def _chromium() -> Path | None:
    """The browser `make browser` provides: $COURSE_CHROMIUM, Debian's, or Playwright's own."""
    for candidate in (os.environ.get("COURSE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            bundled = Path(pw.chromium.executable_path)
        return bundled if bundled.is_file() else None
    except Exception:  # noqa: BLE001 - no Playwright browser: reported by the test
        return None


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# A correct answer to question 1, as a student would type it (one line at a time).
Q1_ANSWER = [
    "def pairwise_sq_dists(X, Y):",
    "    X_sq = (X**2).sum(dim=1, keepdim=True)  # typed by tests/test_clients.py",
    "    Y_sq = (Y**2).sum(dim=1)",
    "    return (X_sq + Y_sq - 2 * X @ Y.T).clamp_min(0)",
]
Q1_MARK = "# typed by tests/test_clients.py"
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\((?P<url>[^)\s]+)\)")

@pytest.fixture(scope="module")
def student_release() -> Path:
    """dist/student with the week-1 assignment and the release root (MANIFEST.json)."""
    built(SLUG)
    if not (STUDENT / "MANIFEST.json").exists():
        build.build_release(log=lambda *_: None)
    manifest = json.loads((STUDENT / "MANIFEST.json").read_text())
    assert f"assignments/{SLUG}" in manifest, f"MANIFEST.json lists no assignments/{SLUG}"
    return STUDENT


def _cell_source(cell) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _output_text(cell) -> str:
    """Every text an executed cell showed: streams, plain text, HTML, tracebacks."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
        else:
            data = out.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


# --------------------------------------------------------------------------- Colab badges


def _released_notebooks() -> list[Path]:
    return sorted(STUDENT.glob("lectures/*.ipynb")) + sorted(STUDENT.glob("assignments/*/*.ipynb"))


def test_every_released_notebook_has_one_colab_badge_to_its_own_path(student_release):
    cfg = config.course()
    repo = cfg["public_repo"].rstrip("/").removeprefix("https://github.com/")
    notebooks = _released_notebooks()
    assert any("lectures" in p.parts for p in notebooks) and any("assignments" in p.parts for p in notebooks)
    problems = []
    for path in notebooks:
        rel = path.relative_to(student_release).as_posix()
        nb = json.loads(path.read_text(encoding="utf-8"))
        urls = [m["url"] for c in nb["cells"] if c["cell_type"] == "markdown"
                for m in BADGE.finditer(_cell_source(c))]
        want = f"https://colab.research.google.com/github/{repo}/blob/{cfg['branch']}/{rel}"
        if urls != [want]:
            problems.append(f"{rel}: badges {urls}, want exactly [{want}]")
            continue
        target = student_release / urls[0].split(f"/blob/{cfg['branch']}/", 1)[1]
        if not target.is_file():
            problems.append(f"{rel}: the badge points at {target}, which the release lacks")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- Colab, simulated


@pytest.mark.slow
@pytest.mark.clients
def test_colab_setup_cell_installs_fetches_and_checks(student_release, tmp_path):
    t0 = time.monotonic()
    with servers.static_server(student_release, tmp_path / "http.log") as release_url:
        runtime = colab.make_runtime(tmp_path / "colab", release_url, log=print)
        t_runtime = time.monotonic() - t0
        names = colab.dist_names(runtime["python"])
        assert {"torch", "torchvision", "numpy", "matplotlib", "ipykernel"} <= names, names
        leaked = names & {"otter-grader", "d2l", "dlcourse", "pytest", "jupyterlab"}
        assert not leaked, f"the Colab stand-in must not start with {sorted(leaked)}"
        links_before = {p for p in runtime["mirror"].rglob("*") if p.is_symlink()}

        content = tmp_path / "content"  # Colab's working directory: the notebook and nothing else
        content.mkdir()
        shutil.copy(student_release / "assignments" / SLUG / f"{SLUG}.ipynb", content)
        nb = nbformat.read(content / f"{SLUG}.ipynb", as_version=4)
        stub = [c for c in nb.cells if c.cell_type == "code"
                and _cell_source(c).startswith("def pairwise_sq_dists")]
        assert len(stub) == 1, "cannot find question 1's stub cell in the student notebook"
        stub[0].source = "\n".join(Q1_ANSWER)
        nb.cells.append(nbformat.v4.new_code_cell(
            "import json, sys, otter, torch\n"
            "print('PROBE ' + json.dumps({'colab': 'google.colab' in sys.modules,\n"
            "    'shell': type(get_ipython()).__module__, 'interpreter': str(grader.interpreter),\n"
            "    'otter': otter.__file__, 'torch': torch.__file__}))"))

        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        km = KernelManager(kernel_name="colab",
                           kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(runtime["kernels"])]))
        client = NotebookClient(nb, km=km, timeout=900, allow_errors=True,
                                resources={"metadata": {"path": str(content)}})
        t1 = time.monotonic()
        client.execute(env=colab.kernel_env(runtime))
        t_run = time.monotonic() - t1
    nbformat.write(nb, tmp_path / "executed.ipynb")
    print(f"colab: runtime built in {t_runtime:.0f} s, notebook ran in {t_run:.0f} s")

    cells = {_cell_source(c).strip(): c for c in nb.cells if c.cell_type == "code"}
    setup = nb.cells[1]
    assert "# >>> colab setup" in _cell_source(setup)
    errors = [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    # Real Colab: otter refuses grader.export ("not compatible with Google Colab"), so the
    # built export cell tells Colab students to download the .ipynb instead: no cell may fail.
    unexpected = [(i, f"{o['ename']}: {o['evalue']}") for i, o in errors]
    assert not unexpected, f"cells raised on the Colab stand-in: {unexpected}"
    export = next(c for c in nb.cells if "grader.export" in _cell_source(c))
    shown = "".join(o.get("text", "") for o in export.get("outputs", []))
    assert "Download .ipynb" in shown, f"the export cell should explain Colab's upload path: {shown!r}"

    # The setup cell installed otter-grader from the index into Colab's environment ...
    after = colab.dist_names(runtime["python"])
    assert "otter-grader" in after, "the setup cell did not install otter-grader"
    assert "d2l" not in after, "week 1 does not use d2l: the setup cell must not install it"
    assert links_before <= {p for p in runtime["mirror"].rglob("*") if p.is_symlink()}, \
        "pip removed a preinstalled package: Colab's torch/numpy/matplotlib must stay as they are"
    # ... and fetched the public tests and helper package from the release URL.
    manifest = json.loads((student_release / "MANIFEST.json").read_text())
    for rel in manifest[f"assignments/{SLUG}"]:
        local = content / rel.removeprefix(f"assignments/{SLUG}/")
        assert local.is_file(), f"the setup cell did not fetch {rel} (expected at {local})"
        assert local.read_bytes() == (student_release / rel).read_bytes()
    for rel in manifest["common"]:
        assert (content / rel).is_file(), f"the setup cell did not fetch {rel}"
    assert sorted(p.name for p in (content / "tests").glob("q*.py")), "no tests fetched"

    probe = next(ln for c in nb.cells[-1:] for ln in _output_text(c).splitlines() if ln.startswith("PROBE "))
    probe = json.loads(probe.removeprefix("PROBE "))
    assert probe["colab"] and probe["shell"] == "google.colab._shell", probe
    assert "COLAB" in probe["interpreter"], f"otter does not see Colab: {probe}"
    assert probe["otter"].startswith(str(runtime["site"])), probe
    assert probe["torch"].startswith(str(runtime["mirror"])), probe

    # grader.check works: q1 (answered) passes, the blank questions fail without crashing.
    checks = {q: cells.get(f'grader.check("{q}")') for q in [f"q{k}" for k in range(1, 9)]}
    assert all(checks.values()), f"missing grader.check cells: {[q for q, c in checks.items() if not c]}"
    q1 = _output_text(checks["q1"])
    assert "q1 results: All test cases passed!" in q1 or "passed!" in q1, f"q1 did not pass:\n{q1}"
    for q, cell in checks.items():
        if q == "q1":
            continue
        text = _output_text(cell)
        assert f"{q} results:" in text and "All test cases passed" not in text, \
            f"the blank {q} should show failing results:\n{text[:2000]}"


# --------------------------------------------------------------------------- JupyterLab


def _type_code(page, lines: list[str]) -> None:
    """Type code line by line as a student does; replace the editor's auto-indent each time."""
    for k, line in enumerate(lines):
        if k:
            page.keyboard.press("Enter")
            page.keyboard.press("Shift+Home")  # select the auto-indent (if any) ...
        page.keyboard.type(line if line.strip() else " ", delay=5)  # ... and type over it


def _cell(page, source_start: str):
    """The notebook cell whose code starts with ``source_start``."""
    return page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator(".cm-content", has_text=source_start))


@pytest.mark.slow
@pytest.mark.clients
def test_jupyterlab_in_chromium_type_run_check_export(student_release, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    if chromium is None:
        pytest.fail("no Chromium found: run `make browser` (as root it installs Debian's chromium; "
                    "otherwise `.venv/bin/python -m playwright install chromium`, or set COURSE_CHROMIUM)")
    work = tmp_path / "work"
    shutil.copytree(student_release / "assignments" / SLUG, work)
    nb_file = work / f"{SLUG}.ipynb"
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    timings = {}
    t0 = time.monotonic()
    with servers.jupyterlab(work, tmp_path / "jupyter", token) as (url, log), \
            sync_playwright() as pw:
        timings["server"] = time.monotonic() - t0
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{url}/lab/tree/{nb_file.name}?token={token}")
            page.locator(".jp-NotebookPanel .jp-Notebook").wait_for()
            stub = _cell(page, "def pairwise_sq_dists")
            stub.wait_for()
            # The kernel must be up before Run All (status bar: "Python 3 (ipykernel) | Idle").
            page.get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(timeout=300_000)
            timings["open"] = time.monotonic() - t0

            news = page.locator(".jp-Notification-Toast-body, .Toastify__toast").filter(has_text="Jupyter news")
            if news.count():  # JupyterLab's first-run question; a student would answer it
                news.get_by_role("button", name="No").first.click()

            # Opened, not touched: JupyterLab must not mark it modified (it does when the saved
            # JSON is not what it would write itself, e.g. cells without ids).
            tab = page.locator(".lm-TabBar-tab", has_text=nb_file.name).first
            dirty = "jp-mod-dirty" in (tab.get_attribute("class") or "")
            assert not dirty, "the student notebook opens already marked modified"

            # A student clicks into question 1's cell, selects its stub and types an answer.
            stub.locator(".cm-content").click()
            page.keyboard.press("Control+a")
            _type_code(page, Q1_ANSWER)
            typed = stub.locator(".cm-content").text_content()
            assert Q1_MARK in typed, f"the editor does not hold the typed answer:\n{typed}"
            page.keyboard.press("Escape")
            page.keyboard.press("Control+s")  # save first, as the notebook tells students
            _poll(lambda: Q1_MARK in nb_file.read_text(encoding="utf-8"), 60,
                  "the typed answer never reached the notebook file after Ctrl+S")
            saved = nbformat.read(nb_file, as_version=4)
            code = next(_cell_source(c) for c in saved.cells if Q1_MARK in _cell_source(c))
            compile(code, "q1-cell", "exec")  # typed code (auto-indent included) is valid Python

            # Run > Run All Cells, from the menu bar.
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            t_run = time.monotonic()

            q1 = _cell(page, 'grader.check("q1")')
            q1.locator(".jp-OutputArea-output", has_text="passed").first.wait_for(timeout=600_000)
            timings["q1 check"] = time.monotonic() - t_run
            q1_text = q1.locator(".jp-Cell-outputArea").text_content()
            assert "q1 passed!" in q1_text, f"q1 should pass after typing the answer:\n{q1_text}"
            q2 = _cell(page, 'grader.check("q2")')
            q2.locator(".jp-OutputArea-output", has_text="results").first.wait_for()
            q2_text = q2.locator(".jp-Cell-outputArea").text_content()
            assert "q2 results" in q2_text and "passed!" not in q2_text, \
                f"the blank q2 should show failing results:\n{q2_text}"
            _cell(page, 'grader.check("q1")').scroll_into_view_if_needed()
            page.screenshot(path=str(EVIDENCE / "jupyterlab.png"))

            # The export cell (last of Run All) writes the zip and links it.
            export_cell = _cell(page, "# Save your notebook first")
            export_cell.locator(".jp-OutputArea-output", has_text="has been exported").wait_for(timeout=600_000)
            timings["export"] = time.monotonic() - t_run
            exported = export_cell.locator(".jp-Cell-outputArea").text_content()
            assert "q1 results: All test cases passed!" in exported, \
                f"the export's own run of the zip should pass q1:\n{exported[:3000]}"
            export_cell.scroll_into_view_if_needed()
            page.screenshot(path=str(EVIDENCE / "jupyterlab-export.png"))
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                  has_text="Traceback")
            assert errors.count() == 0, f"a cell raised:\n{errors.first.text_content()}"
        except Exception:
            page.screenshot(path=str(EVIDENCE / "jupyterlab-failure.png"))
            print(f"JupyterLab log:\n{servers.tail(log)}")
            raise
        finally:
            browser.close()
    zips = sorted(work.glob(f"{SLUG}_*.zip"))
    assert len(zips) == 1, f"expected one submission zip in {work}, found {[z.name for z in zips]}"
    with zipfile.ZipFile(zips[0]) as z:
        assert f"{SLUG}.ipynb" in z.namelist(), z.namelist()
        submitted = z.read(f"{SLUG}.ipynb").decode()
    assert Q1_MARK in submitted, "the submission zip does not hold the typed answer"
    print("jupyterlab timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


def _poll(ok, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.25)
    raise AssertionError(message)
