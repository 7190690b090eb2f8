#!/bin/sh
# run.sh - build the libFuzzer harnesses of the outside-input parsers with
# clang (ASan + UBSan) and run each for FUZZ_SECONDS (default 30) on a copy
# of its seed corpus. Not part of make check: run it with make fuzz.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
out=${FUZZ_BUILD:-build.fuzz}
command -v clang >/dev/null || { echo "fuzz: error: clang is not installed (apt-get install clang)" >&2; exit 1; }
mkdir -p "$out"
libs="-lyaml -ljansson -lseccomp -lcap -lxxhash -lpthread -lm"
rc=0
for h in tests/fuzz/fuzz_*.c; do
    name=$(basename "$h" .c)
    kind=${name#fuzz_}
    clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -fsanitize=fuzzer,address,undefined \
        -o "$out/$name" "$h" libcommon/*.c $libs
    rm -rf "$out/corpus-$kind"
    cp -r "tests/fuzz/corpus/$kind" "$out/corpus-$kind"
    echo "fuzz: $name for $secs s"
    if ! "$out/$name" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/" \
        "$out/corpus-$kind" >"$out/$name.log" 2>&1; then
        echo "fuzz: $name FAILED: see $out/$name.log and $out/crash-*" >&2
        tail -n 30 "$out/$name.log" >&2
        rc=1
    else
        grep -E 'stat::number_of_executed_units|cov:' "$out/$name.log" | tail -n 2
    fi
done
exit $rc
