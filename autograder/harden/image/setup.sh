#!/usr/bin/env bash
# Lean Gradescope image: a virtual environment with CPU-only torch and the few packages the
# tests import.  No Miniforge, no LaTeX, no Chromium, no otter-grader (the judge needs only the
# standard library).  Gradescope runs this once, as root, when the image is built.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
SRC=/autograder/source
VENV=/opt/grader-venv
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip
fi
python3 -m venv "$VENV"
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
if ! id grader-sandbox >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin grader-sandbox 2>/dev/null || true
fi
"$VENV/bin/python" -c "import torch, numpy; print('setup.sh: torch', torch.__version__, 'numpy', numpy.__version__)"
