#!/usr/bin/env bats
# The scheduler's push: after each successful backup of a job with push
# targets, backy-push copies the new revisions to every target. Real
# scheduler, backups and pushes to local directories on loop-mounted
# filesystems; the real check.

load lib/common
load lib/sched
load lib/sshd

setup() {
    common_setup
    require_tool backy-sched backy-backup backy-push backy-send backy-receive backy-check
}

teardown() {
    stop_test_sshd
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
}

conf_set() {
    sed -i "/^    $1:/d; s|^config:\$|config:\n    $1: $2|" "$T/backy.conf"
}

# push_job NAME SCHEDULE SOURCE TARGET...: a jobs: entry with push targets
push_job() {
    local name=$1 sched=$2 src=$3 t list=""
    shift 3
    for t in "$@"; do list="$list${list:+, }\"$t\""; done
    file_job "$name" "$sched" "$src"
    printf '        push: [%s]\n' "$list"
}

newest_id() { basename "$(readlink -f "$1/last")"; }

# pushed JOBDIR TARGETDIR: the job's newest revision is in the target
pushed() {
    local id
    id=$(newest_id "$1")
    [ -n "$id" ] && [ -f "$2/$id.rev" ] && grep -q duration: "$2/$id.rev"
}

check_out() { "$BACKY_BIN/backy-check" -c "$T/backy.conf" || true; }
check_warns_push() { check_out | grep -q "^BACKY WARNING.*no successful push within the SLA"; }

@test "sched-push: after a backup the scheduler pushes it to a local target; the status file shows the push" {
    store
    C=$(mk_xfs copy 512M)
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 5}" "$(push_job vm s "$T/src" "$C/vm")"
    conf_set telnet off
    conf_set metrics-file "$T/backy.prom"
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm" 1
    pushed_here() { pushed "$M/vm" "$C/vm"; }
    wait_for 60 pushed_here
    pushed_status() { status_py 'j["vm"]["last_push_time"] is not None'; }
    wait_for 30 pushed_status
    id=$(newest_id "$M/vm")
    assert_files_equal "$M/vm/$id" "$C/vm/$id"
    assert_files_equal "$M/vm/$id.sums" "$C/vm/$id.sums"
    run backy -b "$C/vm" revisions
    assert_success
    assert_output_contains "$id"
    status_py 'j["vm"]["push_targets"] == 1 and j["vm"]["push_failures"] == 0'
    status_py 'j["vm"]["last_push_time"] >= j["vm"]["last_time"]'
    grep -q "vm: push to $C/vm finished" "$T/sched.out"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_success
    assert_output_contains "BACKY OK"
    stop_sched
    [ "$SCHED_RC" = 0 ]
    # the metrics file says the same (both written at the stop)
    m=$(awk '$1 == "backy_job_last_push_time_seconds{job=\"vm\"}" { print $2 }' "$T/backy.prom")
    s=$(jq -r '.jobs[] | select(.name == "vm") | .last_push_time' "$STATUS")
    awk -v a="$m" -v b="$s" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }' ||
        fail "metrics last push $m, status $s"
    grep -qx 'backy_job_push_failures{job="vm"} 0' "$T/backy.prom"
    promtool check metrics <"$T/backy.prom"
}

@test "sched-push: every new backup is pushed to each target; two targets" {
    store
    make_source "$T/src" 2M 1
    mkdir -p "$T/c1" "$T/c2"
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 3s, keep: 20}" "$(push_job vm s "$T/src" "$T/c1/vm" "$T/c2/vm")"
    conf_set telnet off
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm" 3
    stop_sched
    # what was backed up before the stop was pushed to both (the last push
    # may have been stopped with the scheduler: push once more by hand)
    for c in c1 c2; do
        [ "$(nrevs "$T/$c/vm")" -ge 2 ] || fail "$c holds $(nrevs "$T/$c/vm") revisions"
    done
    [ "$(grep -c "vm: push to $T/c1/vm finished" "$T/sched.out")" -ge 2 ]
    [ "$(grep -c "vm: push to $T/c2/vm finished" "$T/sched.out")" -ge 2 ]
}

@test "sched-push: an unwritable push target: push_failures in the status file, check warns naming the push" {
    store
    C=$(mk_xfs copy 512M)
    make_source "$T/src" 2M 1
    mkdir "$C/vm"
    remount_ro "$C"
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 2s, keep: 20}" "$(push_job vm s "$T/src" "$C/vm")"
    conf_set telnet off
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm" 1
    push_failed() { status_py 'j["vm"]["push_failures"] >= 1'; }
    wait_for 60 push_failed
    status_py 'j["vm"]["last_push_time"] is None and j["vm"]["push_error"] != ""'
    grep -q "vm: push to $C/vm failed" "$T/sched.out"
    # backups go on; after 1.5 x 2 s without a push, check warns
    wait_for 60 check_warns_push
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    [ "$status" = 1 ]
    assert_output_contains "vm (no successful push within the SLA"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf" --json
    [ "$status" = 1 ]
    echo "$output" | jq -e '.jobs[] | select(.name == "vm") | .state == "WARNING" and .push_failures >= 1 and .last_push_time == null and any(.problems[]; startswith("no successful push within the SLA"))'
    # the target becomes writable: the next push succeeds, check is OK again
    remount_rw "$C"
    check_ok() { check_out | grep -q "^BACKY OK"; }
    wait_for 60 check_ok
    status_py 'j["vm"]["push_failures"] == 0 and j["vm"]["last_push_time"] is not None'
    pushed_here() { pushed "$M/vm" "$C/vm"; }
    wait_for 60 pushed_here
}

@test "sched-push: the launcher may write to the push targets of the config at start only; a target added by a reload waits for a restart" {
    store
    C=$(mk_xfs copy 512M)
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 2s, keep: 20}" "$(push_job vm s "$T/src" "$C/vm")"
    conf_set telnet off
    # the launcher's Landlock rules name the target (created at start)
    # (through a pipe: its end waits for the launcher, which prints after
    # the scheduler has gone)
    BACKY_SANDBOX_PRINT=backy-sched-launcher "$BACKY_BIN/backy-sched" -c "$T/backy.conf" 2>&1 |
        cat >"$T/launcher.policy"
    grep -qx "fs: read,write,create-remove,optional $C/vm" "$T/launcher.policy"
    [ -d "$C/vm" ]
    ! grep -q "ssh" "$T/launcher.policy"        # no HOST:DIR target: no ssh
    start_sched "$T/backy.conf"
    pushed_here() { pushed "$M/vm" "$C/vm"; }
    wait_for 60 pushed_here
    # a target added by a reload: not in the launcher's rules, refused
    # with a message saying why; the configured one goes on
    sed -i "s|push: \\[\"$C/vm\"\\]|push: [\"$C/vm\", \"$C/other\"]|" "$T/backy.conf"
    grep -q "$C/other" "$T/backy.conf"
    kill -HUP "$SCHED_PID"
    warned() { grep -q "vm: new push target $C/other takes effect at the next start" "$T/sched.out"; }
    wait_for 30 warned
    refused() { grep -q "vm: push to $C/other: the target was added after the scheduler started: restart it to push there" "$T/sched.out"; }
    wait_for 60 refused
    status_py 'j["vm"]["push_targets"] == 2 and j["vm"]["push_failures"] >= 1'
    [ ! -e "$C/other" ]
    stop_sched
    # after a restart the new target is in the rules and gets its copy
    start_sched "$T/backy.conf"
    other_pushed() { pushed "$M/vm" "$C/other"; }
    wait_for 60 other_pushed
    stop_sched
}

@test "sched-push: push to HOST:DIR over a real ssh connection to 127.0.0.1 (BACKY_SSH from the scheduler's environment)" {
    store
    start_test_sshd
    C=$(mk_btrfs copy 256M)
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 5}" "$(push_job vm s "$T/src" "root@127.0.0.1:$C/vm")"
    conf_set telnet off
    # (through a pipe: its end waits for the launcher, which prints after
    # the scheduler has gone)
    BACKY_SANDBOX_PRINT=backy-sched-launcher "$BACKY_BIN/backy-sched" -c "$T/backy.conf" 2>&1 |
        cat >"$T/launcher.policy"
    grep -qx "fs: execute,optional $(command -v ssh)" "$T/launcher.policy"
    start_sched "$T/backy.conf"
    wait_for 60 nrevs_at_least "$M/vm" 1
    pushed_here() { pushed "$M/vm" "$C/vm"; }
    wait_for 60 pushed_here
    pushed_status() { status_py 'j["vm"]["last_push_time"] is not None'; }
    wait_for 30 pushed_status
    id=$(newest_id "$M/vm")
    assert_files_equal "$M/vm/$id" "$C/vm/$id"
    grep -q "vm: push to root@127.0.0.1:$C/vm finished" "$T/sched.out"
    stop_sched
    [ "$SCHED_RC" = 0 ]
    # the private TMPDIR of ssh's shared connection goes with the launcher
    # (which ends just after the scheduler)
    no_tmp() { [ ! -e "$M/.push-tmp" ]; }
    wait_for 30 no_tmp || fail "left behind: $(ls -laR "$M/.push-tmp")"
}

@test "sched-push: a bad push target is a configuration error naming the place" {
    store
    make_source "$T/src" 2M 1
    for bad in "relative/dir" "host:relative" "-oProxyCommand=x:/a" "a;b:/c"; do
        sched_conf "$T/backy.conf" "$M" 0 1 \
            "    s:
        quick: {interval: 1h, keep: 5}" "$(push_job vm s "$T/src" "$bad")"
        run "$BACKY_BIN/backy-sched" -c "$T/backy.conf" --check-config
        assert_failure
        assert_output_contains "backy.conf:"
        assert_output_contains "bad push target '$bad'"
    done
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 5}" "$(push_job vm s "$T/src" /a /a)"
    run "$BACKY_BIN/backy-sched" -c "$T/backy.conf" --check-config
    assert_failure
    assert_output_contains "push target '/a' given twice"
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 5}" "$(push_job vm s "$T/src" /mnt/copy/vm backup2:/srv/backy/vm)"
    run "$BACKY_BIN/backy-sched" -c "$T/backy.conf" --check-config
    assert_success
}
