#!/usr/bin/env bats
# A short smoke of every libFuzzer harness (ASan + UBSan) on its committed
# corpus; the long runs (10^7 executions each) are `make fuzz` with
# FUZZ_RUNS=10000000, figures in README.md.

setup_file() {
    # beside the build, so a clean clone builds it afresh
    export FUZZ_BUILD="$BATS_TEST_DIRNAME/../${BACKY_BUILD:-build}/fuzz"
}

fuzz_smoke() {
    run env FUZZ_RUNS=20000 FUZZ_QUIET=1 sh "$BATS_TEST_DIRNAME/fuzz/run.sh" "$1"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"fuzz_$1: "*" executions, no finding"* ]]
}

@test "fuzz smoke: .rev documents and revision specs over them" { fuzz_smoke rev; }
@test "fuzz smoke: job configurations" { fuzz_smoke config; }
@test "fuzz smoke: telnet shell input" { fuzz_smoke telnet; }
@test "fuzz smoke: launcher requests and replies" { fuzz_smoke launchmsg; }
@test "fuzz smoke: status file" { fuzz_smoke status; }
@test "fuzz smoke: sums files" { fuzz_smoke sums; }
@test "fuzz smoke: revision specs and tag lists" { fuzz_smoke spec; }
@test "fuzz smoke: replication streams (backy receive)" { fuzz_smoke stream; }
