#!/usr/bin/env bats
# Backups that stay trustworthy: time sanity, monitoring from the disk and
# retries. Real schedulers and backups on a loop-mounted btrfs, the real
# check and the telnet shell over a real TCP connection.

load lib/common
load lib/sched

setup() {
    common_setup
    require_tool backy-sched backy-backup backy-check backy-telnetd backy-find backy-restore
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    if [ -n "${LOCK_PID:-}" ]; then
        kill "$LOCK_PID" 2>/dev/null || true
        wait "$LOCK_PID" 2>/dev/null || true
    fi
    common_teardown
}

# store: a btrfs for the job directories, reachable by the telnet shell
store() {
    require_root_or_skip
    chmod 755 "$T"
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    PORT=$(free_port)
}

# conf_set KEY VALUE: set a config: setting of $T/backy.conf (after sched_conf)
conf_set() {
    sed -i "/^    $1:/d; s/^config:\$/config:\n    $1: $2/" "$T/backy.conf"
}

# set_rev_timestamp REVFILE TIMESTAMP
set_rev_timestamp() {
    chmod 640 "$1"
    sed -i "s/^timestamp: .*/timestamp: $2/" "$1"
    chmod 440 "$1"
}

# quarantine REVFILE: record a verify that found damaged blocks
quarantine() {
    chmod 640 "$1"
    printf 'verify:\n  time: 2026-12-02 01:00:00.000000+00:00\n  result: damaged\n  damaged_blocks: 3\n' >>"$1"
    chmod 440 "$1"
}

newest_id() {
    basename "$(readlink -f "$1/last")"
}

check_code() {
    "$BACKY_BIN/backy-check" -c "$T/backy.conf" >/dev/null
    echo $?
}

check_exits() {
    [ "$(check_code)" = "$1" ]
}

@test "monitor: a revision dated in the future does not stop the job's backups; check and telnet warn; -r 0 and restore give the newest backup" {
    store
    make_source "$T/src" 2M 1
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        quick: {interval: 3s, keep: 20}" "$(file_job vm s "$T/src")"
    start_sched "$T/backy.conf"
    wait_for 30 nrevs_at_least "$M/vm" 2
    stop_sched
    # a clock that was wrong once: the newest revision says 2031
    future=$(newest_id "$M/vm")
    set_rev_timestamp "$M/vm/$future.rev" "2031-01-01 00:00:00.000000+00:00"
    n=$(nrevs "$M/vm")
    make_source "$T/src" 2M 2
    : >"$T/sched.out"
    start_sched "$T/backy.conf"
    # backups go on
    wait_for 30 nrevs_at_least "$M/vm" $((n + 2))
    wait_for 10 status_py 'j["vm"]["future"] == 1 and j["vm"]["future_backup"].startswith("2031-01-01")'
    status_py 'j["vm"]["sla_ok"] and j["vm"]["last_time"] < s["scheduler"]["written"] + 300'
    grep -q "vm: 1 revision(s) dated in the future in $M/vm (a wrong clock?)" "$T/sched.out"
    run telnet_cmd "$PORT" "jobs vm"
    assert_output_contains "1 dated in the future (2031-01-01 00:00:00 UTC)"
    stop_sched
    # the check warns and names the job
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 1
    assert_output_contains "BACKY WARNING - 1 job backed up in time, 1 with warnings: vm (1 dated in the future) |"
    # -r 0, last and a default restore give the newest real backup
    newest=$(newest_id "$M/vm")
    [ "$newest" != "$future" ]
    run "$BACKY_BIN/backy-find" -b "$M/vm" -r 0
    assert_success
    assert_equal "$output" "$M/vm/$newest"
    run "$BACKY_BIN/backy-find" -b "$M/vm"
    assert_equal "$output" "$M/vm/$newest"
    "$BACKY_BIN/backy-restore" -b "$M/vm" "$T/restored"
    assert_files_equal "$T/restored" "$T/src"
    # the new backups did not take the future-dated revision as parent
    run grep -l "^parent: $future" "$M"/vm/*.rev
    assert_failure
    # it stays reachable by its ID
    run "$BACKY_BIN/backy-find" -b "$M/vm" -r "$future"
    assert_success
    assert_equal "$output" "$M/vm/$future"
}

@test "monitor: a vanished job directory is reported at once by the status file, check and telnet" {
    store
    make_source "$T/src1" 1M
    make_source "$T/src2" 1M
    sched_conf "$T/backy.conf" "$M" "$PORT" 2 \
        "    s:
        hourly: {interval: 1h, keep: 3}" \
        "$(file_job joba s "$T/src1")
$(file_job jobb s "$T/src2")"
    start_sched "$T/backy.conf"
    wait_for 30 nrevs_at_least "$M/joba" 1
    wait_for 30 nrevs_at_least "$M/jobb" 1
    wait_for 10 status_py 'all(x["status"] == "waiting" and x["last_time"] for x in s["jobs"])'
    wait_for 10 check_exits 0
    rm -rf "$M/jobb"
    wait_for 10 status_py 'j["jobb"]["dir_missing"] and not j["jobb"]["sla_ok"]'
    status_py 'j["jobb"]["last_time"] is None and not j["joba"]["dir_missing"]'
    # the job is not rushed: its next backup stays on its hourly slot
    status_py 'j["jobb"]["next_time"] > s["scheduler"]["written"] + 60'
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_output_contains "BACKY CRITICAL - 1 of 2 jobs late (last backup older than 1.5 x interval): jobb (job directory missing) |"
    run telnet_cmd "$PORT" "jobs job" status
    assert_output_matches "\| jobb +\| TOO OLD \| waiting .*\| job directory missing +\|"
    assert_output_matches "\| joba +\| OK +\| waiting .*\| - +\|"
    assert_output_contains "problems:         1 job directories missing"
    grep -q "jobb: job directory vanished: $M/jobb" "$T/sched.out"
}

@test "monitor: SIGHUP re-reads every job directory at once (vanished directory, newest revision gone or incomplete)" {
    store
    for j in a b c; do make_source "$T/src$j" 1M; done
    sched_conf "$T/backy.conf" "$M" "$PORT" 3 \
        "    s:
        hourly: {interval: 1h, keep: 3}" \
        "$(file_job ja s "$T/srca")
$(file_job jb s "$T/srcb")
$(file_job jc s "$T/srcc")"
    # no periodic status write during the test: only SIGHUP can show changes
    conf_set status-interval 1h
    start_sched "$T/backy.conf"
    for j in ja jb jc; do wait_for 30 nrevs_at_least "$M/$j" 1; done
    wait_for 10 status_py 'all(x["status"] == "waiting" and x["last_time"] for x in s["jobs"])'
    written=$(status_py 's["scheduler"]["written"]')
    rm -rf "$M/jb"
    rm -f "$M/jc/$(newest_id "$M/jc")"           # the image of the only revision
    ida=$(newest_id "$M/ja")
    rm -f "$M/ja/$ida" "$M/ja/$ida.rev"          # the whole revision
    kill -HUP "$SCHED_PID"
    wait_for 10 status_py "s['scheduler']['written'] > $written"
    status_py 'j["jb"]["dir_missing"] and not j["jb"]["sla_ok"]'
    status_py 'j["jc"]["incomplete"] == 1 and j["jc"]["last_time"] is None and not j["jc"]["sla_ok"]'
    status_py 'j["ja"]["last_time"] is None and j["ja"]["sla"] == "TOO OLD"'
    grep -q "SIGHUP: re-reading every job directory" "$T/sched.out"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_output_contains "3 of 3 jobs late (last backup older than 1.5 x interval): ja, jb (job directory missing), jc |"
}

@test "monitor: a failed backup is retried after retry-delay doubling each time; success resets it" {
    store
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        hourly: {interval: 1h, keep: 3}" "$(file_job flaky s "$T/src")"
    conf_set retry-delay 1s
    start_sched "$T/backy.conf"
    # retries 1 s, 2 s, 4 s after the failures, not an hour later
    wait_for 30 grep -q "flaky: backup failed with exit status 1; see $M/flaky/backy.log; retry 3 in 4 s: cannot open source file: $T/src: No such file or directory" "$T/sched.out"
    grep -q "flaky: backup failed with exit status 1; .*; retry 1 in 1 s: " "$T/sched.out"
    grep -q "flaky: backup failed with exit status 1; .*; retry 2 in 2 s: " "$T/sched.out"
    wait_for 10 status_py 'j["flaky"]["status"] == "failed" and j["flaky"]["failures"] >= 3'
    status_py 'j["flaky"]["retry_time"] is not None and j["flaky"]["retry_time"] < s["scheduler"]["written"] + 60'
    status_py 'j["flaky"]["last_exit"] == 1 and "No such file or directory" in j["flaky"]["last_error"]'
    status_py 'j["flaky"]["retry_backup"].endswith(" UTC") and j["flaky"]["failed_time"] is not None'
    run telnet_cmd "$PORT" "jobs flaky"
    assert_output_matches "\| flaky +\| TOO OLD \| failed .*\| #[0-9]+ [0-9-]+ [0-9:]+ UTC \| failed: cannot open source file: "
    # never a tight loop: each retry waited twice as long as the one before,
    # and every start was such a retry
    run awk '/flaky: backup failed/ { for (i = 1; i < NF; i++) if ($i == "retry") { n = $(i + 1); d = $(i + 3); if (d != 2 ^ (n - 1)) bad++ } } END { print bad + 0 }' "$T/sched.out"
    assert_equal "$output" 0
    starts=$(grep -c "flaky: backup started" "$T/sched.out")
    fails=$(grep -c "flaky: backup failed" "$T/sched.out")
    assert_le "$starts" $((fails + 1)) "starts"
    # the source comes back: the next retry succeeds and resets the count
    make_source "$T/src" 1M
    # the delay has doubled meanwhile: wait for the next retry, plus a margin
    limit=$(status_py 'int(max(0, (j["flaky"]["retry_time"] or 0) - s["scheduler"]["written"])) + 30')
    wait_for "$limit" nrevs_at_least "$M/flaky" 1
    wait_for 10 status_py 'j["flaky"]["failures"] == 0 and j["flaky"]["status"] == "waiting"'
    status_py 'j["flaky"]["retry_time"] is None and j["flaky"]["last_error"] == "" and j["flaky"]["sla_ok"]'
    # back on the hourly grid
    status_py 'j["flaky"]["next_time"] > s["scheduler"]["written"] + 1200'
    run telnet_cmd "$PORT" "jobs flaky"
    assert_output_matches "\| flaky +\| OK +\| waiting .*\| - +\| - +\|"
}

@test "monitor: a failed daily backup is retried after about a minute (default retry-delay), not at its next slot" {
    store
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        daily: {interval: 1d, keep: 7}" "$(file_job vm s "$T/missing-image")"
    start_sched "$T/backy.conf"
    wait_for 30 grep -q "vm: backup failed with exit status 1; .*; retry 1 in 60 s: " "$T/sched.out"
    wait_for 10 status_py 'j["vm"]["failures"] == 1 and j["vm"]["status"] == "failed"'
    # the next attempt is the retry, 60 s after the failure
    status_py '59 <= j["vm"]["next_time"] - j["vm"]["failed_time"] <= 61'
    status_py 'j["vm"]["retry_time"] == j["vm"]["next_time"]'
    run telnet_cmd "$PORT" "jobs vm"
    assert_output_matches "\| vm +\| TOO OLD \| failed .*\| #1 [0-9-]+ [0-9:]+ UTC \| failed: cannot open source file: $T/missing-image: No such file or directory +\|"
}

@test "monitor: the retry delay doubles up to the job's smallest interval, no further" {
    store
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        quick: {interval: 3s, keep: 3}
        slow: {interval: 1h, keep: 3}" "$(file_job gone s "$T/nothing")"
    conf_set retry-delay 2s
    start_sched "$T/backy.conf"
    wait_for 40 grep -q "gone: backup failed .*; retry 4 in 3 s" "$T/sched.out"
    grep -q "gone: backup failed .*; retry 1 in 2 s" "$T/sched.out"
    grep -q "gone: backup failed .*; retry 2 in 3 s" "$T/sched.out"
    run grep -E "gone: backup failed .*; retry [0-9]+ in ([4-9]|[0-9]{2,}) s" "$T/sched.out"
    assert_failure
}

@test "monitor: check warns (exit 1) for a failed backup within the SLA and a quarantined revision; a quarantined newest revision does not count" {
    store
    make_source "$T/src1" 1M
    make_source "$T/src2" 1M
    make_source "$T/src3" 1M
    sched_conf "$T/backy.conf" "$M" "$PORT" 3 \
        "    s:
        hourly: {interval: 1h, keep: 3}" \
        "$(file_job damaged s "$T/src1")
$(file_job failing s "$T/src2")
$(file_job spoiled s "$T/src3")"
    mkdir -p "$M/damaged" "$M/failing" "$M/spoiled"
    printf 'type: file\nfilename: %s\n' "$T/src1" >"$M/damaged/config"
    printf 'type: file\nfilename: %s\n' "$T/src2" >"$M/failing/config"
    printf 'type: file\nfilename: %s\n' "$T/src3" >"$M/spoiled/config"
    # damaged: two hourly revisions, the older one quarantined
    "$BACKY_BIN/backy-backup" -b "$M/damaged" hourly
    old=$(newest_id "$M/damaged")
    "$BACKY_BIN/backy-backup" -b "$M/damaged" hourly
    quarantine "$M/damaged/$old.rev"
    # failing: a fresh backup by hand, then its source goes away; the
    # scheduler's first hourly backup fails
    "$BACKY_BIN/backy-backup" -b "$M/failing" manual
    rm "$T/src2"
    # spoiled: its only (fresh) revision is quarantined
    "$BACKY_BIN/backy-backup" -b "$M/spoiled" hourly
    quarantine "$M/spoiled/$(newest_id "$M/spoiled").rev"
    start_sched "$T/backy.conf"
    wait_for 30 status_py 'j["failing"]["failures"] >= 1'
    status_py 'j["damaged"]["quarantined"] == 1 and j["damaged"]["sla_ok"]'
    status_py 'j["spoiled"]["quarantined"] == 1 and not j["spoiled"]["sla_ok"] and j["spoiled"]["last_time"] is None'
    status_py 'j["failing"]["sla_ok"] and j["failing"]["status"] == "failed"'
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_output_contains "BACKY CRITICAL - 1 of 3 jobs late (last backup older than 1.5 x interval): spoiled; 2 with warnings: damaged (1 quarantined), failing (last backup failed: cannot open source file: $T/src2: No such file or directory) |"
    assert_output_contains "warnings=2;1"
    run telnet_cmd "$PORT" "jobs"
    assert_output_matches "\| damaged +\| OK .*\| 1 quarantined +\|"
    assert_output_matches "\| spoiled +\| TOO OLD .*\| 1 quarantined +\|"
    # without the spoiled job the check is a WARNING
    sed -i '/^    spoiled:/,+2d' "$T/backy.conf"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 1
    assert_output_contains "BACKY WARNING - 2 jobs backed up in time, 2 with warnings: damaged (1 quarantined), failing (last backup failed: "
}

@test "monitor: a backup skipped because another one holds the job's lock is no failure and no loop" {
    store
    make_source "$T/src" 1M
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        hourly: {interval: 1h, keep: 3}" "$(file_job busy s "$T/src")"
    conf_set retry-delay 2s
    mkdir -p "$M/busy"
    printf 'type: file\nfilename: %s\n' "$T/src" >"$M/busy/config"
    # a backup "by hand" holds the job's lock for a while
    flock -x "$M/busy/config" sleep 6 3>&- &
    LOCK_PID=$!
    wait_for 10 sh -c "! flock -xn '$M/busy/config' true"
    start_sched "$T/backy.conf"
    wait_for 20 grep -q "busy: backup skipped: another backup of the job is in progress; trying again in 2 s" "$T/sched.out"
    status_py 'j["busy"]["failures"] == 0 and j["busy"]["status"] != "failed"'
    wait "$LOCK_PID" || true
    LOCK_PID=
    wait_for 20 nrevs_at_least "$M/busy" 1
    wait_for 10 status_py 'j["busy"]["failures"] == 0 and j["busy"]["sla_ok"]'
    # about one attempt per 2 s while the lock was held, not a tight loop
    n=$(grep -c "busy: backup started" "$T/sched.out")
    assert_le "$n" 6 "attempts"
    run grep "busy: backup failed" "$T/sched.out"
    assert_failure
}
