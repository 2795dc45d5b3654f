#!/usr/bin/env bash
# Build a Gradescope-like image from an autograder zip and grade one submission in it.
#
#   tests/clients/gradescope_image.sh ZIP SUBMISSION OUT_DIR [PIP_CACHE_DIR]
#
# A private mount namespace gets a fresh root (tmpfs) holding copies of /etc, the host's
# read-only /usr (Debian's python3 and apt), /opt's wheel folders, and an /autograder laid out
# like Gradescope's: source/ (the unzipped zip), submission/, results/.  Inside it, as root,
# it runs source/setup.sh (the image build) and then /autograder/run_autograder, exactly as
# Gradescope does.  The machine's real / and /autograder are never touched.  Prints the image
# build time and size; copies results.json to OUT_DIR.
set -euo pipefail
ZIP=$(realpath "$1"); SUB=$(realpath "$2"); OUT=$(realpath -m "$3"); CACHE=$(realpath -m "${4:-/tmp/gs-pip-cache}")
mkdir -p "$OUT" "$CACHE"
ROOTFS=$(mktemp -d /tmp/gsroot.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

unshare --mount --fork /bin/bash -s "$ZIP" "$SUB" "$OUT" "$CACHE" "$ROOTFS" <<'INNER'
set -euo pipefail
ZIP=$1; SUB=$2; OUT=$3; CACHE=$4; R=$5
mount --make-rprivate /
mount -t tmpfs -o size=8g tmpfs "$R"
for d in bin sbin lib lib32 lib64 libx32; do   # merged-/usr symlinks, or real dirs
    if [ -L "/$d" ]; then cp -P "/$d" "$R/$d"; elif [ -d "/$d" ]; then mkdir "$R/$d"; mount --rbind "/$d" "$R/$d"; fi
done
mkdir -p "$R/usr" "$R/proc" "$R/dev" "$R/tmp" "$R/root" "$R/opt" "$R/var/tmp" "$R/run" "$R/pipcache"
mount --rbind /usr "$R/usr"; mount -o remount,bind,ro "$R/usr"
cp -a /etc "$R/etc"                     # writable copy: setup.sh adds the sandbox user
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
chmod 1777 "$R/tmp"
# this machine's pip configuration (its registry mirror and wheel folders) is kept
for d in /opt/wheels /opt/pypi /opt/pypi-more ${PIP_FIND_LINKS:-}; do
    d=${d#file://}
    if [ -d "$d" ] && [ ! -d "$R$d" ]; then mkdir -p "$R$d"; mount --bind "$d" "$R$d"; mount -o remount,bind,ro "$R$d"; fi
done
mount --bind "$CACHE" "$R/pipcache"
mkdir -p "$R/autograder/source" "$R/autograder/submission" "$R/autograder/results"
(cd "$R/autograder/source" && python3 -m zipfile -e "$ZIP" .)
cp "$R/autograder/source/run_autograder" "$R/autograder/run_autograder"
chmod +x "$R/autograder/run_autograder" "$R/autograder/source/setup.sh"
if [ -d "$SUB" ]; then cp -r "$SUB"/. "$R/autograder/submission/"; else cp "$SUB" "$R/autograder/submission/"; fi
echo '{"id": 1, "assignment": {"title": "local"}}' > "$R/autograder/submission_metadata.json"

ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
     PIP_CACHE_DIR=/pipcache PIP_DEFAULT_TIMEOUT=20 PIP_RETRIES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
     ${HARDEN_LIMITS:+HARDEN_LIMITS=$HARDEN_LIMITS}
     ${PIP_FIND_LINKS:+PIP_FIND_LINKS=$PIP_FIND_LINKS} ${PIP_INDEX_URL:+PIP_INDEX_URL=$PIP_INDEX_URL}
     ${PIP_EXTRA_INDEX_URL:+PIP_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL})
t0=$(date +%s.%N)
chroot "$R" "${ENV[@]}" /bin/bash -c "cd /autograder/source && ./setup.sh" > "$OUT/setup.log" 2>&1 || {
    tail -30 "$OUT/setup.log"; exit 1; }
t1=$(date +%s.%N)
chroot "$R" "${ENV[@]}" /autograder/run_autograder > "$OUT/run.log" 2>&1 || true
t2=$(date +%s.%N)
cp "$R/autograder/results/results.json" "$OUT/results.json" 2>/dev/null || true
size=$(du -sm "$R/opt/grader-venv" | cut -f1)
python3 -c "import json, sys; t0, t1, t2, mb = map(float, sys.argv[1:]); print(json.dumps(
    {'setup_seconds': round(t1 - t0, 1), 'grade_seconds': round(t2 - t1, 1), 'venv_mb': mb}))" \
    "$t0" "$t1" "$t2" "$size" > "$OUT/image.json"
cat "$OUT/image.json"
INNER
