#!/usr/bin/env bash
# Lean Gradescope image: a virtual environment with CPU-only torch and the few packages the
# tests import.  No Miniforge, no LaTeX, no Chromium, no otter-grader (the judge needs only the
# standard library).  Gradescope runs this once, as root, when the image is built.
#
# `make` runs this same script to build dist/grader-venv, the interpreter that local grading
# (`make grade`, `make test`) uses, so a grade earned locally is a grade earned on Gradescope:
#   GRADER_SOURCE=<folder with requirements.txt> GRADER_VENV=dist/grader-venv bash setup.sh
# Nothing of the course (dlcourse, otter) is installed here: the judge copies the zip's
# dlcourse/ into the scratch folder, and the worker puts that folder on sys.path.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
SRC=${GRADER_SOURCE:-/autograder/source}
VENV=${GRADER_VENV:-/opt/grader-venv}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

PYTHON=${GRADER_PYTHON:-python3}
if ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup.sh: $PYTHON lacks venv/ensurepip; install python3-venv (as root) and retry" >&2
        exit 1
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip
fi
"$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
TORCH_SPEC=$(grep -E '^torch([<>=!~ ]|$)' "$SRC/requirements.txt" | head -1)

# 1. the CPU-only wheel index (what Gradescope reaches), 2. a local CPU wheel if the machine's
# pip is pointed at a wheel folder (offline builds), 3. whatever the default index offers.
if pip install -q --index-url "$TORCH_INDEX" "$TORCH_SPEC" 2>/dev/null; then
    echo "setup.sh: torch from $TORCH_INDEX"
else
    PYTAG=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    LOCAL=""
    for dir in ${PIP_FIND_LINKS:-} $(pip config get global.find-links 2>/dev/null || true); do
        LOCAL=$(ls "$dir"/torch-*+cpu-"$PYTAG"-*.whl 2>/dev/null | sort -V | tail -1 || true)
        [ -n "$LOCAL" ] && break
    done
    if [ -n "$LOCAL" ]; then
        echo "setup.sh: torch from the local CPU wheel $LOCAL"
        pip install -q "$LOCAL"
    else
        echo "setup.sh: no CPU wheel index reachable; torch from the default index"
        pip install -q "$TORCH_SPEC"
    fi
fi
pip install -q -r "$SRC/requirements.txt"

# The unprivileged user that runs submissions (it cannot read the tests or write results).
# Only in the real image: a machine that grades several submissions at once (make test) must
# not have it, so that each grading picks a uid of its own (see judge._sandbox_ids).
if [ -z "${GRADER_VENV:-}" ] && [ "$(id -u)" = 0 ] && ! id grader-sandbox >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin grader-sandbox 2>/dev/null || true
fi
"$VENV/bin/python" -c "import torch, numpy; print('setup.sh: torch', torch.__version__, 'numpy', numpy.__version__)"
