#!/usr/bin/env bash
# A Gradescope-shaped image, built from an autograder zip's own setup.sh, and grading in it.
#
#   tests/clients/gradescope_image.sh build ZIP IMAGE_DIR [PIP_CACHE_DIR]
#       Run ZIP's setup.sh, as root, in a private root laid out like Gradescope's image.  What
#       setup.sh changes (/opt: the grading venv; /etc: the sandbox user) is kept in IMAGE_DIR,
#       with setup.log and image.json (build seconds, venv size).
#   tests/clients/gradescope_image.sh grade ZIP IMAGE_DIR OUT_DIR SUBMISSION...
#       For each submission in turn, lay out /autograder exactly as Gradescope does (source/ =
#       the unzipped ZIP, submission/, results/) on top of that image and run
#       /autograder/run_autograder as root; results.json and the log go to OUT_DIR/<n>/ (n = 1,
#       2, ... in argument order), the seconds of each run to OUT_DIR/<n>/seconds.
#
# Each call works in a private mount and PID namespace (a container, as on Gradescope: two
# gradings at once never see each other's processes) whose root is a fresh tmpfs holding the host's
# read-only /usr (Debian's python3 and apt), /opt's wheel folders and the machine's pip
# configuration.  The machine's real /, /etc, /opt and /autograder are never touched.  One image
# serves every zip whose setup.sh and requirements.txt are byte-identical (the caller checks).
set -euo pipefail
MODE=$1; ZIP=$(realpath "$2"); IMAGE=$(realpath -m "$3")
if [ "$MODE" = build ]; then
    CACHE=$(realpath -m "${4:-/tmp/gs-pip-cache}"); OUT=$IMAGE; shift 3; [ $# -gt 0 ] && shift
    rm -rf "$IMAGE"; mkdir -p "$IMAGE/opt" "$CACHE"; cp -a /etc "$IMAGE/etc"
elif [ "$MODE" = grade ]; then
    OUT=$(realpath -m "$4"); CACHE=/nonexistent; shift 4; mkdir -p "$OUT"
    [ -f "$IMAGE/.built" ] || { echo "no image in $IMAGE: run '$0 build' first" >&2; exit 2; }
else
    echo "usage: $0 build ZIP IMAGE_DIR [PIP_CACHE_DIR] | grade ZIP IMAGE_DIR OUT_DIR SUBMISSION..." >&2
    exit 2
fi
SUBS=()
for s in "$@"; do SUBS+=("$(realpath "$s")"); done
ROOTFS=$(mktemp -d /tmp/gsroot.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

unshare --mount --pid --fork /bin/bash -s "$MODE" "$ZIP" "$IMAGE" "$OUT" "$CACHE" "$ROOTFS" "${SUBS[@]}" <<'INNER'
set -euo pipefail
MODE=$1; ZIP=$2; IMAGE=$3; OUT=$4; CACHE=$5; R=$6; shift 6
mount --make-rprivate /
mount -t tmpfs -o size=8g tmpfs "$R"
for d in bin sbin lib lib32 lib64 libx32; do   # merged-/usr symlinks, or real dirs
    if [ -L "/$d" ]; then cp -P "/$d" "$R/$d"; elif [ -d "/$d" ]; then mkdir "$R/$d"; mount --rbind "/$d" "$R/$d"; fi
done
mkdir -p "$R/usr" "$R/proc" "$R/dev" "$R/tmp" "$R/root" "$R/opt" "$R/etc" "$R/var/tmp" "$R/run" "$R/pipcache"
mount --rbind /usr "$R/usr"; mount -o remount,bind,ro "$R/usr"
mount --bind "$IMAGE/etc" "$R/etc"; mount --bind "$IMAGE/opt" "$R/opt"
if [ "$MODE" = grade ]; then   # the image is read-only once built, as on Gradescope
    mount -o remount,bind,ro "$R/etc"; mount -o remount,bind,ro "$R/opt"
fi
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
chmod 1777 "$R/tmp"
# this machine's pip configuration (its registry mirror and wheel folders) is kept
for d in /opt/wheels /opt/pypi /opt/pypi-more ${PIP_FIND_LINKS:-}; do
    d=${d#file://}
    if [ "$MODE" = build ] && [ -d "$d" ] && [ ! -d "$R$d" ]; then
        mkdir -p "$R$d"; mount --bind "$d" "$R$d"; mount -o remount,bind,ro "$R$d"
    fi
done
[ "$MODE" = build ] && mount --bind "$CACHE" "$R/pipcache"
ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
     PIP_CACHE_DIR=/pipcache PIP_DEFAULT_TIMEOUT=20 PIP_RETRIES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
     ${HARDEN_LIMITS:+HARDEN_LIMITS=$HARDEN_LIMITS} ${HARDEN_DEBUG:+HARDEN_DEBUG=/tmp/harden-debug.log}
     ${PIP_FIND_LINKS:+PIP_FIND_LINKS=$PIP_FIND_LINKS} ${PIP_INDEX_URL:+PIP_INDEX_URL=$PIP_INDEX_URL}
     ${PIP_EXTRA_INDEX_URL:+PIP_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL})

layout() {   # a fresh /autograder: source/ (the zip), submission/ (one upload), results/
    rm -rf "$R/autograder"
    mkdir -p "$R/autograder/source" "$R/autograder/submission" "$R/autograder/results"
    (cd "$R/autograder/source" && python3 -m zipfile -e "$ZIP" .)
    cp "$R/autograder/source/run_autograder" "$R/autograder/run_autograder"
    chmod +x "$R/autograder/run_autograder" "$R/autograder/source/setup.sh"
    echo '{"id": 1, "assignment": {"title": "local"}}' > "$R/autograder/submission_metadata.json"
}

if [ "$MODE" = build ]; then
    layout
    t0=$(date +%s.%N)
    chroot "$R" "${ENV[@]}" /bin/bash -c "cd /autograder/source && ./setup.sh" > "$IMAGE/setup.log" 2>&1 || {
        tail -30 "$IMAGE/setup.log"; exit 1; }
    t1=$(date +%s.%N)
    size=$(du -sm "$R/opt/grader-venv" | cut -f1)
    python3 -c "import json, sys; t0, t1, mb = map(float, sys.argv[1:]); print(json.dumps(
        {'setup_seconds': round(t1 - t0, 1), 'venv_mb': mb}))" "$t0" "$t1" "$size" > "$IMAGE/image.json"
    touch "$IMAGE/.built"
    cat "$IMAGE/image.json"
    exit 0
fi

n=0
for SUB in "$@"; do
    n=$((n + 1)); mkdir -p "$OUT/$n"
    layout
    if [ -d "$SUB" ]; then cp -r "$SUB"/. "$R/autograder/submission/"; else cp "$SUB" "$R/autograder/submission/"; fi
    t0=$(date +%s.%N)
    chroot "$R" "${ENV[@]}" /autograder/run_autograder > "$OUT/$n/run.log" 2>&1 || true
    t1=$(date +%s.%N)
    cp "$R/autograder/results/results.json" "$OUT/$n/results.json" 2>/dev/null || true
    if [ -n "${HARDEN_DEBUG:-}" ]; then mv "$R/tmp/harden-debug.log" "$OUT/$n/debug.log" 2>/dev/null || true; fi
    python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$t0" "$t1" > "$OUT/$n/seconds"
done
INNER
