#!/usr/bin/env bats
# The scheduler's metrics file (metrics-file): Prometheus text format,
# written atomically beside the status file at every status write, from the
# same facts. Real schedulers and backups on a loop-mounted btrfs; the
# format checked by the real promtool.

load lib/common
load lib/sched

setup() {
    common_setup
    require_tool backy-sched backy-backup
    command -v promtool >/dev/null || fail "promtool missing (sh/deps.sh installs prometheus)"
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    common_teardown
}

store() {
    require_root_or_skip
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    PROM=$T/prom/backy.prom
    mkdir -p "$T/prom"
}

# conf_set KEY VALUE: set a config: setting of $T/backy.conf (after sched_conf)
conf_set() {
    sed -i "/^    $1:/d; s|^config:\$|config:\n    $1: $2|" "$T/backy.conf"
}

# prom NAME [JOB]: the value of a sample of the metrics file ("" none)
prom() {
    if [ -n "${2:-}" ]; then
        awk -v k="$1{job=\"$2\"}" '$1 == k { print $2 }' "$PROM"
    else
        awk -v k="$1" '$1 == k { print $2 }' "$PROM"
    fi
}

# st JQ-EXPR: a value of the status file
st() { jq -r "$1" "$STATUS"; }

# same A B: equal as numbers
same() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 == b + 0) }' ||
        fail "not the same number: '$1' and '$2'"
}

promtool_clean() {
    run promtool check metrics <"$PROM"
    assert_success
    [ -z "$output" ] || fail "promtool lint: $output"
}

@test "metrics: a scheduler with metrics-file writes a file promtool accepts, with the status file's values" {
    store
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 3s, keep: 20}" "$(file_job vm s "$T/src")
$(file_job gone s "$T/nosuchfile")"
    conf_set telnet off
    conf_set metrics-file "$PROM"
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm" 2
    wait_for 30 test -s "$PROM"
    # a verify (what the scrub runs) records a result; the rescan sees it
    "$BACKY_BIN/backy-verify" -b "$M/vm" --all >/dev/null
    verified() { status_py 'j["vm"]["last_verify_time"] is not None'; }
    wait_for 30 verified
    stop_sched
    [ "$SCHED_RC" = 0 ]
    # both written at the stop, from the same facts
    promtool_clean
    [ "$(stat -c %a "$PROM")" = 644 ]
    ls "$T/prom" | grep -vx backy.prom && fail "temporary files left beside the metrics file"
    same "$(prom backy_scheduler_jobs)" 2
    same "$(prom backy_scheduler_jobs)" "$(st .scheduler.jobs)"
    same "$(prom backy_scheduler_worker_limit)" "$(st .scheduler.worker_limit)"
    same "$(prom backy_scheduler_written_time_seconds)" "$(st .scheduler.written)"
    same "$(prom backy_scheduler_start_time_seconds)" "$(st .scheduler.started)"
    vm='.jobs[] | select(.name == "vm")'
    same "$(prom backy_job_last_success_time_seconds vm)" "$(st "$vm.last_time")"
    same "$(prom backy_job_last_duration_seconds vm)" "$(st "$vm.last_duration")"
    same "$(prom backy_job_min_interval_seconds vm)" 3
    same "$(prom backy_job_revisions vm)" "$(st "$vm.revisions")"
    same "$(prom backy_job_revisions vm)" "$(ls "$M/vm"/*.rev | grep -cv '/last.rev$')"
    same "$(prom backy_job_last_written_bytes vm)" "$(st "$vm.last_bytes")"
    same "$(st "$vm.last_bytes")" "$(awk '$1 == "bytes_written:" { print $2 }' "$M/vm/last.rev")"
    same "$(prom backy_job_sla_ok vm)" 1
    same "$(prom backy_job_consecutive_failures vm)" 0
    same "$(prom backy_job_quarantined_revisions vm)" "$(st "$vm.quarantined")"
    same "$(prom backy_job_last_verify_time_seconds vm)" "$(st "$vm.last_verify_time")"
    [ -z "$(prom backy_job_last_verify_time_seconds gone)" ]
    # the job whose source is missing: failures, retry, no success
    g='.jobs[] | select(.name == "gone")'
    [ "$(st "$g.failures")" -ge 1 ]
    same "$(prom backy_job_consecutive_failures gone)" "$(st "$g.failures")"
    same "$(prom backy_job_last_failure_time_seconds gone)" "$(st "$g.failed_time")"
    same "$(prom backy_job_retry_time_seconds gone)" "$(st "$g.retry_time")"
    same "$(prom backy_job_failed gone)" 1
    same "$(prom backy_job_sla_ok gone)" 0
    [ -z "$(prom backy_job_last_success_time_seconds gone)" ]
    [ -z "$(prom backy_job_last_written_bytes gone)" ]
}

@test "metrics: rewritten at every status write while the scheduler runs" {
    store
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 2s, keep: 20}" "$(file_job vm s "$T/src")"
    conf_set telnet off
    conf_set metrics-file "$PROM"
    start_sched "$T/backy.conf"
    wait_for 30 test -s "$PROM"
    first=$(prom backy_scheduler_written_time_seconds)
    revs_up() { [ "$(prom backy_job_revisions vm)" -ge 3 ] 2>/dev/null; }
    wait_for 60 revs_up
    later=$(prom backy_scheduler_written_time_seconds)
    awk -v a="$first" -v b="$later" 'BEGIN { exit !(b > a) }'
    promtool_clean
}

@test "metrics: without metrics-file no metrics are written; an unopenable directory is a clear error at start" {
    store
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 2}" "$(file_job vm s "$T/src")"
    conf_set telnet off
    start_sched "$T/backy.conf"
    wait_for 30 test -s "$STATUS"
    stop_sched
    [ -z "$(ls "$T/prom")" ]
    conf_set metrics-file "$T/nodir/backy.prom"
    run "$BACKY_BIN/backy-sched" -c "$T/backy.conf"
    assert_failure
    assert_output_contains "cannot open the metrics file's directory: $T/nodir"
}
