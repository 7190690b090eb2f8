#!/bin/sh
# demo.sh - a short tour of backy (make demo): a job on a small loop-mounted
# btrfs, two backups with a few changed blocks between them, the status
# table, find and a restore checked against the source.
#
# Environment: BACKY_BUILD (build directory, default build), DEMO_DIR
# (scratch directory; default a new one under /var/tmp), DEMO_KEEP=1 keeps
# everything (filesystem stays mounted).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BACKY_BUILD:-build}
case "$build" in /*) bin=$build/bin ;; *) bin=$root/$build/bin ;; esac
. "$root/sh/testenv.sh"

if [ ! -x "$bin/backy" ]; then
    echo "demo: error: backy not built: $bin/backy: run make first" >&2
    exit 1
fi

scratch=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/var/tmp}/backy-demo.XXXXXX")}
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd -P)

cleanup() {
    if [ "${DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: kept $scratch (DEMO_KEEP=1)"
        return
    fi
    testenv_cleanup "$scratch" || true
    rm -rf "$scratch"
    echo "demo: cleaned up $scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() {
    printf '\n== %s\n' "$*"
}

run() {
    echo "\$ $*"
    "$@"
}

backy() {
    "$bin/backy" "$@"
}

echo "demo: scratch directory $scratch"
if [ "$(id -u)" = 0 ]; then
    say "a 512 MiB btrfs on a loop device"
    store=$(testenv_mkfs btrfs "$scratch" store 512M)
    findmnt -n -o TARGET,SOURCE,FSTYPE -M "$store"
else
    say "not root: using a plain directory instead of a loop-mounted btrfs"
    store=$scratch/store
    mkdir -p "$store"
fi

job=$store/job
sample=$scratch/sample.img
say "a 64 MiB sample image (random data with zero regions)"
python3 "$root/tests/lib/datagen.py" make "$sample" 64M demo
ls -l "$sample"

say "init, then a first backup"
run backy -b "$job" init file "$sample"
run backy -b "$job" backup daily

say "change 1% of the sample's 64 KiB blocks, back up again"
n=$(python3 "$root/tests/lib/datagen.py" change "$sample" 1 64K demo)
echo "changed $n blocks"
run backy -b "$job" backup hourly

say "status"
run backy -b "$job" status

say "find the last daily revision"
run backy -b "$job" find -r daily

say "restore the newest revision and compare it with the sample"
run backy -b "$job" restore "$scratch/restored.img"
cmp "$sample" "$scratch/restored.img"
echo "restored image equals the sample"

if [ "$(id -u)" = 0 ]; then
    say "space on the btrfs (revisions share unchanged blocks)"
    sync
    btrfs filesystem du -s "$job" || true
fi
