#!/usr/bin/env bats
# backy-sched's scrub: a real scheduler with a short scrub-interval starts
# backy-verify --all through its launcher; the results land in the .rev
# files, damage quarantines the revision, and the next backup does not
# build on it. Loop-mounted btrfs.

load lib/common
load lib/sched

setup() {
    common_setup
    require_root_or_skip
    require_tool backy-sched backy-backup backy-verify backy-telnetd
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    make_source "$T/src" 4M
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    common_teardown
}

# conf SCRUB-SETTINGS JOB-EXTRA: one file job backed up every 3 s
conf() {
    cat >"$T/backy.conf" <<EOF
config:
    base-dir: $M
    status-interval: 1s
    telnet: off
$1
schedules:
    fast:
        quick: {interval: ${INTERVAL:-1h}, keep: 5}
jobs:
    vm1:
        schedule: fast
        source: {type: file, filename: $T/src}
$2
EOF
}

# verify_result ID: the result of the verify record of ID.rev
verify_result() {
    python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get("verify", {}).get("result", ""))' "$M/vm1/$1.rev"
}

result_is() { [ "$(verify_result "$1")" = "$2" ]; }

@test "sched: the scrub verifies every revision on its own schedule and records it" {
    conf "    scrub-interval: 2s
    scrub-rate: 100"
    run "$BACKY_BIN/backy-sched" -c "$T/backy.conf" --check-config
    assert_success
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm1" 1
    R1=$(basename "$(readlink "$M/vm1/last")")
    wait_for 60 result_is "$R1" good
    wait_for 30 grep -q "vm1: scrub finished: every revision intact" "$T/sched.out"
    grep -q "vm1: scrub started (pid [0-9]*, 100 MiB/s)" "$T/sched.out"
    # the scrub ran through the launcher, with its log in the job's backy.log
    grep -q "verify" "$M/vm1/backy.log" || grep -q "scrub" "$T/sched.out"
    # rot in the image: the next scrub records it and quarantines the revision
    chmod u+w "$M/vm1/$R1"
    printf 'ROT!' | dd of="$M/vm1/$R1" bs=1 seek=$((2 * 65536 + 7)) conv=notrunc status=none
    chmod 0440 "$M/vm1/$R1"
    wait_for 60 result_is "$R1" damaged
    wait_for 30 grep -q "vm1: scrub found damaged revisions" "$T/sched.out"
    grep -q "revision $R1 is quarantined" "$M/vm1/backy.log"
    run "$BACKY_BIN/backy-status" -b "$M/vm1"
    assert_output_matches "\| $R1 \| .*\| quarantined +\|$"
    stop_sched
    assert_equal "$SCHED_RC" 0
    # the next backup reads the whole source instead of cloning the rot
    run "$BACKY_BIN/backy-backup" -b "$M/vm1" daily
    assert_success
    assert_output_contains "no parent: every complete revision is quarantined"
    cmp "$T/src" "$M/vm1/$(basename "$(readlink "$M/vm1/last")")"
}

@test "sched: scrub-interval off (per job) starts no scrub; stopping ends a running one" {
    conf "    scrub-interval: 1s
    scrub-rate: 1" "        scrub-interval: off"
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm1" 1
    sleep 3
    ! grep -q "scrub started" "$T/sched.out"
    stop_sched
    # globally on, at 1 MiB/s: a scrub of 4 MiB is still running at SIGTERM
    conf "    scrub-interval: 1s
    scrub-rate: 1"
    start_sched "$T/backy.conf"
    wait_for 30 grep -q "vm1: scrub started" "$T/sched.out"
    wait_for 10 sched_child backy-verify
    vpid=$(sched_child backy-verify)
    stop_sched
    assert_equal "$SCHED_RC" 0
    grep -q "vm1: scrub stopped" "$T/sched.out"
    ! kill -0 "$vpid" 2>/dev/null
}
