#!/bin/bash
# delta.sh - backup and restore speed of backy against the read floor and
# against rsync, on a loop-mounted btrfs (restore also to ext4 and stdout).
# Needs root (loop devices, drop_caches). Not a test: it prints medians of
# interleaved runs and ratios against baselines measured in the same run.
#
# Environment:
#   BENCH_SIZE   source size (default 4G)
#   BENCH_RUNS   runs per measurement, median reported (default 5)
#   BENCH_BIG=1  afterwards also a 16G run (linear time, flat memory)
#   BENCH_MAIN=0 skip the BENCH_SIZE run (with BENCH_BIG=1: only the 16G one)
#   BENCH_TMP    scratch directory parent (default /var/tmp)
#   BACKY_BUILD  build directory with bin/ (default build)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BACKY_BUILD:-build}
case "$BUILD" in /*) BIN=$BUILD/bin ;; *) BIN=$ROOT/$BUILD/bin ;; esac
SIZE=${BENCH_SIZE:-4G}
RUNS=${BENCH_RUNS:-5}

if [ "$(id -u)" != 0 ]; then
    echo "bench/delta.sh: skipped: needs root (loop devices, drop_caches)"
    exit 0
fi
for t in backy backy-backup backy-restore; do
    [ -x "$BIN/$t" ] || { echo "bench/delta.sh: error: $BIN/$t: not built" >&2; exit 1; }
done
for t in rsync python3 btrfs mkfs.ext4; do
    command -v "$t" >/dev/null || { echo "bench/delta.sh: error: $t: not installed" >&2; exit 1; }
done

. "$ROOT/sh/testenv.sh"
# loop devices with direct I/O: like a disk, no second copy of every block
# in the page cache (which would also squeeze the page cache under test)
export TESTENV_DIRECT_IO=1
SCRATCH=$(mktemp -d "${BENCH_TMP:-/var/tmp}/backy-bench.XXXXXX")
cleanup() { testenv_cleanup "$SCRATCH" >/dev/null 2>&1 || true; rm -rf "$SCRATCH"; }
trap cleanup EXIT

bytes() { numfmt --from=iec "$1"; }
SIZE_B=$(bytes "$SIZE")
# room for the source, two full images, the rsync clone's changes, and the
# incremental revisions
M=$(testenv_mkfs btrfs "$SCRATCH" btrfs $((SIZE_B * 4 + 2 * 1024 * 1024 * 1024)))
E=$(testenv_mkfs ext4 "$SCRATCH" ext4 $((SIZE_B + 1024 * 1024 * 1024)))
RES=$SCRATCH/results
: >"$RES"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
warm() { cat "$@" >/dev/null; }

# measure NAME CMD...: run, append "NAME SECONDS MAXRSS_KB" to the results
measure() {
    local name=$1
    shift
    python3 "$ROOT/bench/timeit.py" "$SCRATCH/time.out" "$@" >>"$SCRATCH/cmd.log" 2>&1 || {
        echo "bench/delta.sh: error: $name failed: $*" >&2
        tail -5 "$SCRATCH/cmd.log" >&2
        exit 1
    }
    echo "$name $(tail -1 "$SCRATCH/time.out")" >>"$RES"
}

# change 1% of the 64 KiB blocks of the source in place; prints changed bytes
change() {
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
path, seed = sys.argv[1], sys.argv[2]
bs = 65536
fd = os.open(path, os.O_WRONLY)
n = os.fstat(fd).st_size // bs
rng = random.Random(seed)
picks = rng.sample(range(n), max(1, n // 100))
for b in picks:
    os.pwrite(fd, os.urandom(bs), b * bs)
os.fsync(fd)
print(len(picks) * bs)
EOF
}

# phases NAME: the phase times the backup just measured logged (-v), as
# NAME.clone / .pass / .after (everything after the pass) in the results
phases() {
    python3 - "$1" "$SCRATCH/cmd.log" >>"$RES" <<'EOF'
import re, sys
name, log = sys.argv[1], open(sys.argv[2]).read()
c = re.findall(r"delta: clone ([0-9.]+) s", log)
p = re.findall(r"delta: pass ([0-9.]+) s, .*?written ([0-9.]+) s; data to disk ([0-9.]+) s, "
               r"read-back ([0-9.]+) s, verify ([0-9.]+) s, fsync wait ([0-9.]+) s", log)
if c and p:
    print("%s.clone %s 0" % (name, c[-1]))
    print("%s.pass %s 0" % (name, p[-1][0]))
    print("%s.after %.6f 0" % (name, sum(float(x) for x in p[-1][1:])))
EOF
}

last() { readlink "$M/job/last"; }
first() { basename "$(ls -tr "$M"/job/*.rev | head -n 1)" .rev; }

run_suite() {
    local size=$1 tag=$2
    echo "# $tag: making a ${size}-byte random source on btrfs" >&2
    rm -rf "$M/job" "$M/src" "$M/full" "$M/clone" "$M/restored" "$E/restored"
    head -c "$size" /dev/urandom >"$M/src"
    "$BIN/backy" -b "$M/job" init file "$M/src" >>"$SCRATCH/cmd.log" 2>&1
    "$BIN/backy-backup" -b "$M/job" daily >>"$SCRATCH/cmd.log" 2>&1

    local i seed=0 changed
    for i in $(seq "$RUNS"); do
        echo "# $tag: run $i of $RUNS" >&2
        # (1) read floor, page cache and cold
        warm "$M/src"
        measure "$tag.floor_cache" dd if="$M/src" of=/dev/null bs=4M
        drop
        measure "$tag.floor_cold" dd if="$M/src" of=/dev/null bs=4M

        # (2)+(3) the same 1% change: rsync on a reflink clone of the old
        # state, then backy (page cache, default verification)
        seed=$((seed + 1)); changed=$(change "$M/src" "$tag$seed")
        echo "$tag.changed_bytes $changed 0" >>"$RES"
        cp --reflink=always "$M/job/$(last)" "$M/clone"
        warm "$M/src" "$M/clone"
        measure "$tag.rsync" rsync --inplace --no-whole-file --ignore-times "$M/src" "$M/clone"
        rm -f "$M/clone"
        warm "$M/src"
        measure "$tag.backup_cache_default" "$BIN/backy-backup" -v -b "$M/job" daily
        phases "$tag.backup_cache_default"
        sync
        echo "$tag.exclusive_bytes $(btrfs filesystem du --raw "$M/job/$(last)" | awk 'NR == 2 { print $2 }') 0" >>"$RES"

        seed=$((seed + 1)); change "$M/src" "$tag$seed" >/dev/null
        warm "$M/src"
        measure "$tag.backup_cache_off" "$BIN/backy-backup" -v -b "$M/job" --verify=off daily
        phases "$tag.backup_cache_off"

        seed=$((seed + 1)); change "$M/src" "$tag$seed" >/dev/null
        drop
        measure "$tag.backup_cold_default" "$BIN/backy-backup" -v -b "$M/job" daily
        phases "$tag.backup_cold_default"

        seed=$((seed + 1)); change "$M/src" "$tag$seed" >/dev/null
        drop
        measure "$tag.backup_cold_off" "$BIN/backy-backup" -v -b "$M/job" --verify=off daily
        phases "$tag.backup_cold_off"

        # (4) a full first backup (page cache), restores
        rm -rf "$M/full"
        "$BIN/backy" -b "$M/full" init file "$M/src" >>"$SCRATCH/cmd.log" 2>&1
        warm "$M/src"
        measure "$tag.backup_full" "$BIN/backy-backup" -b "$M/full" daily
        rm -rf "$M/full"

        warm "$M/job/$(last)"
        # the clone alone (--no-verify), then with the default check, which
        # reads the image once
        measure "$tag.restore_btrfs" "$BIN/backy-restore" -b "$M/job" --no-verify "$M/restored"
        rm -f "$M/restored"
        measure "$tag.restore_btrfs_checked" "$BIN/backy-restore" -b "$M/job" "$M/restored"
        rm -f "$M/restored"
        # the same for the first revision: one full write, few extents
        measure "$tag.restore_btrfs_first" "$BIN/backy-restore" -b "$M/job" --no-verify -r "$(first)" "$M/restored"
        rm -f "$M/restored"
        measure "$tag.cat_ext4" sh -c "cat '$M/job/$(last)' >'$E/restored' && sync '$E/restored'"
        rm -f "$E/restored"
        measure "$tag.restore_ext4" "$BIN/backy-restore" -b "$M/job" "$E/restored"
        rm -f "$E/restored"
        measure "$tag.cat_stdout" sh -c "cat '$M/job/$(last)' >/dev/null"
        measure "$tag.restore_stdout" sh -c "'$BIN/backy-restore' -b '$M/job' - >/dev/null"
        measure "$tag.restore_stdout_noverify" sh -c "'$BIN/backy-restore' -b '$M/job' --no-verify - >/dev/null"
    done
}

if [ "${BENCH_MAIN:-1}" = 1 ]; then
    run_suite "$SIZE_B" main
fi
if [ "${BENCH_BIG:-0}" = 1 ]; then
    big=$(bytes 16G)
    testenv_cleanup "$SCRATCH" >/dev/null 2>&1 || true
    M=$(testenv_mkfs btrfs "$SCRATCH" btrfs2 $((big * 4 + 2 * 1024 * 1024 * 1024)))
    E=$(testenv_mkfs ext4 "$SCRATCH" ext42 $((big + 1024 * 1024 * 1024)))
    run_suite "$big" big
fi

python3 "$ROOT/bench/report.py" "$RES" "$SIZE_B" "${BENCH_BIG:-0}"
