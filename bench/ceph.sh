#!/bin/bash
# ceph.sh - backy's ceph-rbd source against the rbd tool on the same
# throwaway cluster (sh/micro-ceph.sh), in the same run. Not a test: prints
# medians of interleaved runs and ratios.
#
#   incremental: 1% of the 64 KiB blocks of a 1 GiB image changed, then
#       backy backup (delta since its last snapshot) vs
#       rbd export-diff --from-snap PREV IMAGE@NEW - >/dev/null
#   full: the whole image read
#       backy backup into an empty job (first revision) and backy backup
#       --full (everything read and compared, nothing new written) vs
#       rbd export IMAGE@SNAP - >/dev/null
# Goals: incremental within 1.5x of export-diff; full backup reading at
# least 80% of the rate of rbd export.
#
# Environment: BENCH_RUNS (default 5), BENCH_SIZE_MB (default 1024),
# BENCH_TMP (scratch parent, default /var/tmp), BACKY_BUILD (default build).
# Needs root (loop-mounted btrfs for the job directories).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BACKY_BUILD:-build}
case "$BUILD" in /*) BIN=$BUILD/bin ;; *) BIN=$ROOT/$BUILD/bin ;; esac
RUNS=${BENCH_RUNS:-5}
SIZE_MB=${BENCH_SIZE_MB:-1024}

if [ "$(id -u)" != 0 ]; then
    echo "bench/ceph.sh: skipped: needs root (loop-mounted btrfs)"
    exit 0
fi
for t in backy backy-backup; do
    [ -x "$BIN/$t" ] || { echo "bench/ceph.sh: error: $BIN/$t: not built" >&2; exit 1; }
done
for t in rbd ceph-mon ceph-osd btrfs; do
    command -v "$t" >/dev/null || { echo "bench/ceph.sh: error: $t: not installed" >&2; exit 1; }
done

. "$ROOT/sh/testenv.sh"
SCRATCH=$(mktemp -d "${BENCH_TMP:-/var/tmp}/backy-bench-ceph.XXXXXX")
CLUSTER=$SCRATCH/cluster
cleanup() {
    "$ROOT/sh/micro-ceph.sh" stop "$CLUSTER" >/dev/null 2>&1 || true
    testenv_cleanup "$SCRATCH" >/dev/null 2>&1 || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

MICRO_CEPH_SIZE_GB=$((SIZE_MB * 4 / 1024 + 4)) "$ROOT/sh/micro-ceph.sh" start "$CLUSTER" >"$SCRATCH/ceph.out" 2>&1 ||
    { cat "$SCRATCH/ceph.out" >&2; exit 1; }
eval "$("$ROOT/sh/micro-ceph.sh" env "$CLUSTER")"
STORE=$(testenv_mkfs btrfs "$SCRATCH" store "$((SIZE_MB * 6 + 512))M")
IMG=bench
RESULTS=$SCRATCH/results

now() { date +%s.%N; }
# measure NAME CMD...: append "NAME SECONDS" to the results
measure() {
    local name=$1 t0 t1
    shift
    t0=$(now)
    "$@"
    t1=$(now)
    awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%s %.6f\n", n, b - a }' >>"$RESULTS"
}

echo "bench/ceph.sh: filling rbd/$IMG ($SIZE_MB MiB of random data)"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$SCRATCH/fill"
rbd import --no-progress "$SCRATCH/fill" "rbd/$IMG" >/dev/null
rm -f "$SCRATCH/fill"

# 1% of the 64 KiB blocks, fresh random choice and data each round
change_ops() {
    python3 -c '
import random, sys
size, seed = int(sys.argv[1]), sys.argv[2]
rng = random.Random(seed)
blocks = size // 65536
for b in rng.sample(range(blocks), max(1, blocks // 100)):
    print("w:%d:65536:%s-%d" % (b * 65536, seed, b))' "$((SIZE_MB << 20))" "$1"
}

backup_quiet() {
    "$BIN/backy" -b "$1" backup "${@:2}" bench >"$SCRATCH/backup.out" 2>&1 ||
        { cat "$SCRATCH/backup.out" >&2; exit 1; }
}

JOB=$STORE/inc
mkdir -p "$JOB"
"$BIN/backy" -b "$JOB" init ceph-rbd "rbd/$IMG" >/dev/null
backup_quiet "$JOB"
rbd snap create "rbd/$IMG@bench-0" >/dev/null 2>&1
prev=bench-0

for run in $(seq "$RUNS"); do
    echo "bench/ceph.sh: run $run of $RUNS"
    # incremental: same change seen by both
    # shellcheck disable=SC2046
    /usr/bin/python3 "$ROOT/tests/lib/rbd_edit.py" "rbd/$IMG" $(change_ops "r$run")
    rbd snap create "rbd/$IMG@bench-$run" >/dev/null 2>&1
    if [ $((run % 2)) = 1 ]; then
        measure inc.backy backup_quiet "$JOB"
        measure inc.exportdiff sh -c "rbd export-diff --no-progress --from-snap $prev rbd/$IMG@bench-$run - >/dev/null"
    else
        measure inc.exportdiff sh -c "rbd export-diff --no-progress --from-snap $prev rbd/$IMG@bench-$run - >/dev/null"
        measure inc.backy backup_quiet "$JOB"
    fi
    rbd snap rm --no-progress "rbd/$IMG@$prev" >/dev/null 2>&1
    prev=bench-$run

    # full: a first revision into an empty job, a forced full read, rbd export
    FJOB=$STORE/full$run
    mkdir -p "$FJOB"
    "$BIN/backy" -b "$FJOB" init ceph-rbd "rbd/$IMG" >/dev/null
    measure full.export sh -c "rbd export --no-progress rbd/$IMG@$prev - >/dev/null"
    measure full.backy_first backup_quiet "$FJOB"
    measure full.backy_forced backup_quiet "$JOB" --full
    rm -rf "$FJOB"
    sync
done

python3 - "$RESULTS" "$SIZE_MB" <<'EOF'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
for line in open(sys.argv[1]):
    k, v = line.split()
    vals[k].append(float(v))
size_mb = int(sys.argv[2])
med = {k: statistics.median(v) for k, v in vals.items()}
runs = len(vals["inc.backy"])
print("\nceph: %d MiB image, 1%% of 64 KiB blocks changed per run, median of %d runs" % (size_mb, runs))
print("%-44s %9s %10s" % ("measurement", "median s", "MiB/s"))
for k, label, mib in [
    ("inc.exportdiff", "rbd export-diff (1% changed)", None),
    ("inc.backy", "backy backup, incremental", None),
    ("full.export", "rbd export (whole image)", size_mb),
    ("full.backy_first", "backy backup, first revision", size_mb),
    ("full.backy_forced", "backy backup --full (compare only)", size_mb),
]:
    rate = "%10.0f" % (mib / med[k]) if mib and k.startswith("full") else "%10s" % "-"
    print("%-44s %9.3f %s" % (label, med[k], rate))
r_inc = med["inc.backy"] / med["inc.exportdiff"]
r_first = med["full.export"] / med["full.backy_first"]
r_forced = med["full.export"] / med["full.backy_forced"]
print()
print("incremental / export-diff time:      %.2fx  (goal <= 1.5x: %s)" % (r_inc, "met" if r_inc <= 1.5 else "NOT met"))
print("first revision rate / export rate:   %.0f%%  (goal >= 80%%: %s)" % (100 * r_first, "met" if r_first >= 0.8 else "NOT met"))
print("--full rate / export rate:           %.0f%%  (goal >= 80%%: %s)" % (100 * r_forced, "met" if r_forced >= 0.8 else "NOT met"))
EOF
