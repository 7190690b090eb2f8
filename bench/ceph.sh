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
#       The first revisions are taken of a second image with the same data:
#       a job removes the backy-* snapshots it did not make, so a second job
#       on the same image would turn the next incremental into a full read.
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
rbd import --no-progress "$SCRATCH/fill" "rbd/$IMG-first" >/dev/null
rbd snap create "rbd/$IMG-first@bench" >/dev/null 2>&1
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

# incremental NAME [backup options]: change 1%, then backy and export-diff
# (alternating which goes first) see the same change
round=0
incremental() {
    local name=$1
    shift
    round=$((round + 1))
    # shellcheck disable=SC2046
    /usr/bin/python3 "$ROOT/tests/lib/rbd_edit.py" "rbd/$IMG" $(change_ops "r$round")
    rbd snap create "rbd/$IMG@bench-$round" >/dev/null 2>&1
    local ed="rbd export-diff --no-progress --from-snap $prev rbd/$IMG@bench-$round - >/dev/null"
    if [ $((round % 2)) = 1 ]; then
        measure "inc.$name" backup_quiet "$JOB" "$@"
        measure "inc.$name.exportdiff" sh -c "$ed"
    else
        measure "inc.$name.exportdiff" sh -c "$ed"
        measure "inc.$name" backup_quiet "$JOB" "$@"
    fi
    if grep -q "no usable parent snapshot" "$SCRATCH/backup.out"; then
        echo "bench/ceph.sh: error: inc.$name: the backup was not incremental" >&2
        exit 1
    fi
    rbd snap rm --no-progress "rbd/$IMG@$prev" >/dev/null 2>&1
    prev=bench-$round
}

for run in $(seq "$RUNS"); do
    echo "bench/ceph.sh: run $run of $RUNS"
    incremental backy
    incremental backy_noverify --verify=off

    # full: rbd export to /dev/null (read rate) against backy --full (reads
    # and compares everything, writes nothing); a first revision (writes
    # the whole image) against rbd export into a file on the same btrfs
    measure full.export sh -c "rbd export --no-progress rbd/$IMG@$prev - >/dev/null"
    measure full.backy_forced backup_quiet "$JOB" --full
    FJOB=$STORE/full$run
    mkdir -p "$FJOB"
    "$BIN/backy" -b "$FJOB" init ceph-rbd "rbd/$IMG-first" >/dev/null
    sync
    measure full.export_file sh -c "rbd export --no-progress rbd/$IMG-first@bench $STORE/export >/dev/null && sync -f $STORE/export"
    rm -f "$STORE/export"
    sync
    measure full.backy_first backup_quiet "$FJOB"
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
print("\nceph: %d MiB image, 1%% of 64 KiB blocks changed per round, median of %d runs" % (size_mb, runs))
print("%-48s %9s %10s" % ("measurement", "median s", "MiB/s"))
for k, label, full in [
    ("inc.backy.exportdiff", "rbd export-diff (1% changed) > /dev/null", 0),
    ("inc.backy", "backy backup, incremental", 0),
    ("inc.backy_noverify.exportdiff", "rbd export-diff (1% changed) > /dev/null", 0),
    ("inc.backy_noverify", "backy backup --verify=off, incremental", 0),
    ("full.export", "rbd export > /dev/null", 1),
    ("full.backy_forced", "backy backup --full (read + compare all)", 1),
    ("full.export_file", "rbd export > file on btrfs + sync", 1),
    ("full.backy_first", "backy backup, first revision", 1),
]:
    rate = "%10.0f" % (size_mb / med[k]) if full else "%10s" % "-"
    print("%-48s %9.3f %s" % (label, med[k], rate))

def goal(label, ratio, ok, fmt):
    print("%-48s %s  (%s)" % (label, fmt % ratio, "met" if ok else "NOT met"))
print()
r = med["inc.backy"] / med["inc.backy.exportdiff"]
goal("incremental / export-diff, time (goal <= 1.5x)", r, r <= 1.5, "%.2fx")
r = med["inc.backy_noverify"] / med["inc.backy_noverify.exportdiff"]
goal("  the same with --verify=off", r, r <= 1.5, "%.2fx")
r = med["full.export"] / med["full.backy_forced"]
goal("--full read rate / export rate (goal >= 80%)", 100 * r, r >= 0.8, "%.0f%%")
r = med["full.export_file"] / med["full.backy_first"]
goal("first revision / export to file (goal >= 80%)", 100 * r, r >= 0.8, "%.0f%%")
EOF
