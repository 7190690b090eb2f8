#!/bin/sh
# run.sh - build the libFuzzer harnesses of the outside-input parsers with
# clang (ASan + UBSan) and run each on a copy of its committed seed corpus.
#
#     sh tests/fuzz/run.sh [HARNESS...]     (default: every tests/fuzz/fuzz_*.c)
#
# Environment: FUZZ_RUNS (executions per harness; when set, it wins),
# FUZZ_SECONDS (time per harness, default 30), FUZZ_BUILD (default
# build.fuzz), FUZZ_QUIET=1 (only a summary line per harness),
# FUZZ_WORKERS (default 1: with N, N processes of seeds 1..N on copies of
# the corpus share the harness's FUZZ_RUNS, or each runs FUZZ_SECONDS; the
# summary line gives the executions of all of them).
# `make fuzz` runs it; tests/fuzz.bats runs a short smoke of each in
# `make check`. Figures of the long runs are in README.md.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
runs=${FUZZ_RUNS:-}
out=${FUZZ_BUILD:-build.fuzz}
workers=${FUZZ_WORKERS:-1}
case "$workers" in
'' | *[!0-9]* | 0) echo "fuzz: error: FUZZ_WORKERS=$workers: a number of processes, 1 or more" >&2; exit 1 ;;
esac
command -v clang >/dev/null || { echo "fuzz: error: clang is not installed (sh sh/deps.sh)" >&2; exit 1; }
mkdir -p "$out/obj"
libs="-lyaml -ljansson -lseccomp -lcap -lxxhash -lpthread -lm"
flags="-g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilibcommon -fsanitize=fuzzer-no-link,address,undefined"
# the library once, instrumented; rebuilt when a source is newer
objs=""
for c in libcommon/*.c; do
    o=$out/obj/$(basename "$c" .c).o
    if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find include/backy -newer "$o" -name '*.h' | head -n 1)" ]; then
        clang $flags -c -o "$o" "$c"
    fi
    objs="$objs $o"
done
rm -f "$out/libcommon-fuzz.a"
ar rcs "$out/libcommon-fuzz.a" $objs

if [ $# -gt 0 ]; then
    set -- $(for h in "$@"; do echo "tests/fuzz/fuzz_${h#fuzz_}.c"; done)
else
    set -- tests/fuzz/fuzz_*.c
fi
rc=0
for h in "$@"; do
    name=$(basename "$h" .c)
    kind=${name#fuzz_}
    clang $flags -fsanitize=fuzzer -o "$out/$name" "$h" "$out/libcommon-fuzz.a" $libs
    # launcher requests are fixed-size packets of about 5.5 KiB
    maxlen=4096
    [ "$kind" = launchmsg ] && maxlen=8192
    # replication streams carry 4 KiB blocks: room for a few
    [ "$kind" = stream ] && maxlen=16384
    if [ -n "$runs" ]; then
        limit="-runs=$(( (runs + workers - 1) / workers ))"
    else
        limit="-max_total_time=$secs"
    fi
    [ "${FUZZ_QUIET:-0}" = 1 ] || echo "fuzz: $name ($limit, $workers process(es))"
    pids=""
    for w in $(seq 1 "$workers"); do
        sfx=""
        [ "$workers" -gt 1 ] && sfx="-$w"
        rm -rf "$out/corpus-$kind$sfx"
        cp -r "tests/fuzz/corpus/$kind" "$out/corpus-$kind$sfx"
        seed=""
        [ "$workers" -gt 1 ] && seed="-seed=$w"
        "$out/$name" $limit $seed -max_len=$maxlen -print_final_stats=1 -artifact_prefix="$out/$name$sfx-" \
            "$out/corpus-$kind$sfx" >"$out/$name$sfx.log" 2>&1 &
        pids="$pids $!"
    done
    failed=0 total=0 w=0
    for p in $pids; do
        w=$((w + 1))
        sfx=""
        [ "$workers" -gt 1 ] && sfx="-$w"
        if ! wait "$p"; then
            echo "fuzz: $name$sfx FAILED: see $out/$name$sfx.log and $out/$name$sfx-crash-*" >&2
            tail -n 30 "$out/$name$sfx.log" >&2
            failed=1
        else
            n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name$sfx.log")
            total=$((total + n))
        fi
    done
    if [ $failed = 1 ]; then
        rc=1
    else
        echo "fuzz: $name: $total executions, no finding"
    fi
done
exit $rc
