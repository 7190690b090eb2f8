#!/usr/bin/env bats
# backy-sched: real backups of file jobs into a loop-mounted btrfs, with
# second-range intervals.

load lib/common
load lib/sched

setup() {
    common_setup
    require_tool backy-sched backy-backup backy-telnetd
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    common_teardown
}

# three jobs on one btrfs, two tags: quick every 2 s (keep 2), slow every 6 s (keep 2)
three_jobs() {
    require_root_or_skip
    # the telnet shell runs as nobody and must reach the status file
    chmod 755 "$T"
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    PORT=$(free_port)
    make_source "$T/src1" 3M
    make_source "$T/src2" 2M
    make_source "$T/src3" 1M
    sched_conf "$T/backy.conf" "$M" "$PORT" "${1:-2}" \
        "    fast:
        quick: {interval: 2s, keep: 2}
        slow: {interval: 6s, keep: 2}" \
        "$(file_job job1 fast "$T/src1")
$(file_job job2 fast "$T/src2")
$(file_job job3 fast "$T/src3")"
}

@test "sched: --check-config accepts the example configuration" {
    run "$BACKY_BIN/backy-sched" -c "$BACKY_ROOT/tests/fixtures/backy.conf.example" --check-config
    assert_success
    assert_output_contains "configuration OK: 2 schedules, 3 jobs"
}

@test "sched: config errors name file, line and column and stop the start" {
    local c=$T/bad.conf
    printf 'schedules:\n  s:\n    daily: {interval: 1d, keep: 7}\njobs:\n  j:\n    schedule: nope\n    source: {type: file, filename: /x}\n' >"$c"
    run "$BACKY_BIN/backy-sched" -c "$c" --check-config
    assert_failure 1
    assert_output_contains "backy-sched: error: invalid configuration: $c:6:15: job 'j': unknown schedule 'nope'"
    # the scheduler itself refuses to start, too
    run "$BACKY_BIN/backy-sched" -c "$c"
    assert_failure 1
    assert_output_contains "$c:6:15:"

    printf 'schedules:\n  s:\n    daily: {interval: 1x, keep: 7}\n' >"$c"
    run "$BACKY_BIN/backy-sched" -c "$c" --check-config
    assert_failure 1
    assert_output_contains "$c:3:23: bad interval '1x'"

    printf 'schedules:\n  s:\n    daily: {interval: 1d, keep: 0}\n' >"$c"
    run "$BACKY_BIN/backy-sched" -c "$c" --check-config
    assert_failure 1
    assert_output_contains "$c:3:33: keep must be a positive integer"

    printf 'schedules:\n  s:\n    daily: {interval: 1d, keep: 1}\njobs:\n  j:\n    schedule: s\n    source: {filename: /x}\n' >"$c"
    run "$BACKY_BIN/backy-sched" -c "$c" --check-config
    assert_failure 1
    assert_output_contains "source has no 'type'"

    printf 'config:\n  worker_limt: 2\n' >"$c"
    run "$BACKY_BIN/backy-sched" -c "$c" --check-config
    assert_failure 1
    assert_output_contains "$c:2:3: unknown setting 'worker_limt'"

    printf 'jobs: [\n' >"$c"
    run "$BACKY_BIN/backy-sched" -c "$c" --check-config
    assert_failure 1
    assert_output_matches "invalid configuration: $c:[0-9]+:[0-9]+: "

    run "$BACKY_BIN/backy-sched" -c "$T/missing.conf" --check-config
    assert_failure 1
    assert_output_contains "$T/missing.conf"
}

@test "sched: runs real backups, writes job configs, status file parses" {
    three_jobs 2
    start_sched "$T/backy.conf"
    for j in job1 job2 job3; do
        wait_for 30 nrevs_at_least "$M/$j" 3
    done
    wait_for 10 status_py 'all(x["last_time"] for x in s["jobs"])'
    stop_sched
    assert_equal "$SCHED_RC" 0
    # job configs written from the main config
    run cat "$M/job1/config"
    assert_output_contains "$T/src1"
    # the newest revision is the source
    assert_files_equal "$M/job1/last" "$T/src1"
    assert_files_equal "$M/job3/last" "$T/src3"
    # the status file is JSON with the documented fields
    python3 -m json.tool "$STATUS" >/dev/null
    run status_py 'len(s["jobs"])'
    assert_output_contains 3
    status_py '[x["name"] for x in s["jobs"]] == ["job1", "job2", "job3"]'
    status_py 'all(x["sla"] == "OK" and x["sla_ok"] for x in s["jobs"])'
    status_py 's["scheduler"]["worker_limit"] == 2 and s["scheduler"]["workers_busy"] == 0'
    # a backup cut short by the stop is not a failure
    status_py 'all(x["status"] == "waiting" and x["last_exit"] is not None for x in s["jobs"])'
    status_py 'all(x["next_time"] > x["last_time"] and x["next_backup"].endswith(" UTC") for x in s["jobs"])'
    status_py 'all(x["last_duration"] > 0 and x["min_interval"] == 2 for x in s["jobs"])'
    # each job ran with both tags at once at least at the start
    run grep -c "tags quick,slow" "$T/sched.out"
    assert_success
}

@test "sched: retention keeps the newest keep per tag, expires older ones, keeps ad-hoc tags" {
    three_jobs 3
    mkdir -p "$M/job1"
    printf 'type: file\nfilename: %s\n' "$T/src1" >"$M/job1/config"
    "$BACKY_BIN/backy-backup" -b "$M/job1" manual
    manual=$(basename "$(readlink -f "$M/job1/last")")
    start_sched "$T/backy.conf"
    wait_for 40 grep -q "job1: removed expired revision" "$T/sched.out"
    wait_for 40 grep -q "job2: removed expired revision" "$T/sched.out"
    wait_for 40 grep -q "job3: removed expired revision" "$T/sched.out"
    stop_sched
    # the ad-hoc revision survives
    assert_file_exists "$M/job1/$manual"
    run grep -A3 '^tags' "$M/job1/$manual.rev"
    assert_output_contains manual
    # keep rule: beyond the newest keep with a tag, no revision older than
    # keep x interval before the newest backup (expiry ran after it)
    for j in job1 job2 job3; do
        python3 - "$M/$j" <<'EOF'
import glob, os, re, sys, datetime
d = sys.argv[1]
revs = []
for f in glob.glob(d + "/*.rev"):
    if os.path.basename(f) == "last.rev":
        continue
    txt = open(f).read()
    ts = re.search(r"^timestamp: (.*)$", txt, re.M).group(1)
    t = datetime.datetime.fromisoformat(ts.replace(" ", "T")).timestamp()
    tags = re.findall(r"^- (\S+)$", txt, re.M)
    if not tags:
        m = re.search(r"^tags: \[(.*)\]$", txt, re.M)
        tags = [x.strip() for x in m.group(1).split(",") if x.strip()] if m else []
    assert tags, f + ": revision without tags left behind"
    revs.append((t, tags))
newest = max(t for t, _ in revs)
for tag, iv, keep in (("quick", 2, 2), ("slow", 6, 2)):
    with_tag = sorted((t for t, tags in revs if tag in tags), reverse=True)
    assert len(with_tag) >= 1, tag
    for t in with_tag[keep:]:
        assert t >= newest - keep * iv - 1, (d, tag, newest - t)
print(d, len(revs), "revisions ok")
EOF
    done
    # far fewer revisions than backups
    started=$(grep -c "job2: backup started" "$T/sched.out")
    [ "$(nrevs "$M/job2")" -lt "$started" ]
}

@test "sched: worker-limit is never exceeded, the most overdue run first" {
    three_jobs 2
    start_sched "$T/backy.conf"
    for j in job1 job2 job3; do
        wait_for 30 nrevs_at_least "$M/$j" 3
    done
    stop_sched
    run max_concurrent
    # three new jobs were due at once: two started, the third waited
    assert_equal "$output" 2
    # as shown in the status file while running
    run grep -c '"workers_busy": 3' "$STATUS"
    assert_failure
}

@test "sched: worker-limit 1 runs one backup at a time" {
    three_jobs 1
    start_sched "$T/backy.conf"
    for j in job1 job2 job3; do
        wait_for 30 nrevs_at_least "$M/$j" 2
    done
    stop_sched
    run max_concurrent
    assert_equal "$output" 1
}

@test "sched: SIGTERM stops running backups cleanly and leaves no process" {
    require_root_or_skip
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    # a large sparse source keeps backy-backup busy reading for a while
    truncate -s 64G "$T/big"
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        daily: {interval: 1d, keep: 2}" "$(file_job big s "$T/big")"
    start_sched "$T/backy.conf"
    wait_for 20 sched_child backy-backup
    child=$(sched_child backy-backup)
    stop_sched
    assert_equal "$SCHED_RC" 0
    run grep "big: backup stopped" "$T/sched.out"
    assert_success
    ! kill -0 "$child" 2>/dev/null
    run pgrep -f "backy-backup -b $M/big"
    assert_failure
    # no incomplete revision is left as if complete
    assert_equal "$(nrevs "$M/big")" 0
    status_py 's["scheduler"]["workers_busy"] == 0'
}

@test "sched: a second scheduler on the same status file refuses to start" {
    three_jobs 1
    start_sched "$T/backy.conf"
    wait_for 10 test -e "$STATUS"
    run "$BACKY_BIN/backy-sched" -c "$T/backy.conf"
    assert_failure 1
    assert_output_contains "backy-sched: error: another scheduler is running: $STATUS.lock is locked"
    kill -0 "$SCHED_PID"
}

# ts_back JOBDIR SECONDS: move the newest revision's timestamp back in time
ts_back() {
    python3 - "$1" "$2" <<'EOF'
import os, re, sys, datetime
d, back = sys.argv[1], float(sys.argv[2])
f = os.path.realpath(d + "/last.rev")
txt = open(f).read()
ts = re.search(r"^timestamp: (.*)$", txt, re.M).group(1)
t = datetime.datetime.fromisoformat(ts.replace(" ", "T")) - datetime.timedelta(seconds=back)
txt = re.sub(r"^timestamp: .*$", "timestamp: " + t.isoformat(sep=" "), txt, flags=re.M)
os.chmod(f, 0o640)
open(f, "w").write(txt)
os.chmod(f, 0o440)
EOF
}

@test "sched: after a restart a tag older than its interval is caught up at once, a fresh one waits" {
    require_root_or_skip
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    make_source "$T/src1" 1M
    make_source "$T/src2" 1M
    sched_conf "$T/backy.conf" "$M" 0 2 \
        "    h:
        hourly: {interval: 1h, keep: 3}" \
        "$(file_job old h "$T/src1")
$(file_job fresh h "$T/src2")"
    # first run: both jobs get their first backup at once
    start_sched "$T/backy.conf"
    wait_for 20 nrevs_at_least "$M/old" 1
    wait_for 20 nrevs_at_least "$M/fresh" 1
    stop_sched
    # the scheduler was "down" for a while: old's backup is 70 minutes old,
    # fresh's 20 minutes
    ts_back "$M/old" 4200
    ts_back "$M/fresh" 1200
    : >"$T/sched.out"
    start_sched "$T/backy.conf"
    wait_for 20 nrevs_at_least "$M/old" 2
    wait_for 10 status_py 'j["fresh"]["status"] == "waiting" and j["old"]["status"] == "waiting"'
    stop_sched
    run grep -c "backup started" "$T/sched.out"
    assert_output_contains 1
    run grep "old: backup started" "$T/sched.out"
    assert_output_contains "tags hourly"
    # fresh waits for its slot, at least 10 minutes ahead
    status_py 'j["fresh"]["next_time"] > s["scheduler"]["written"] + 600'
    status_py 'j["old"]["sla_ok"] and j["fresh"]["sla_ok"]'
}

@test "sched: SIGHUP adds and removes jobs; a broken config is logged and the old one kept" {
    require_root_or_skip
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    make_source "$T/src1" 1M
    make_source "$T/src2" 1M
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 2s, keep: 2}" "$(file_job one s "$T/src1")"
    start_sched "$T/backy.conf"
    wait_for 20 nrevs_at_least "$M/one" 1
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 2s, keep: 2}" "$(file_job two s "$T/src2")"
    kill -HUP "$SCHED_PID"
    wait_for 20 nrevs_at_least "$M/two" 1
    wait_for 10 status_py '[x["name"] for x in s["jobs"]] == ["two"]'
    grep -q "1 job (1 added, 0 changed, 1 removed)" "$T/sched.out"
    # broken: the old config stays in force
    printf 'jobs:\n  two:\n    schedule: missing\n' >"$T/backy.conf"
    kill -HUP "$SCHED_PID"
    wait_for 10 grep -q "invalid configuration, keeping the old one: $T/backy.conf:3:" "$T/sched.out"
    n=$(nrevs "$M/two")
    wait_for 20 nrevs_at_least "$M/two" $((n + 1))
    kill -0 "$SCHED_PID"
    stop_sched
    assert_equal "$SCHED_RC" 0
}

@test "sched: SIGHUP reads a config file an editor replaced (a new file renamed over it)" {
    require_root_or_skip
    M=$(mk_btrfs store 512M)
    STATUS=$M/status
    make_source "$T/src1" 1M
    make_source "$T/src2" 1M
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 2}" "$(file_job one s "$T/src1")"
    start_sched "$T/backy.conf"
    wait_for 20 nrevs_at_least "$M/one" 1
    ino1=$(stat -c %i "$T/backy.conf")
    # as vim and sed -i do: write a new file, rename it over the old one
    sched_conf "$T/backy.conf.new" "$M" 0 1 \
        "    s:
        quick: {interval: 1h, keep: 2}" "$(file_job one s "$T/src1")
$(file_job two s "$T/src2")"
    mv "$T/backy.conf.new" "$T/backy.conf"
    [ "$(stat -c %i "$T/backy.conf")" != "$ino1" ]
    kill -HUP "$SCHED_PID"
    wait_for 20 nrevs_at_least "$M/two" 1
    grep -q "2 jobs (1 added, 0 changed, 0 removed)" "$T/sched.out"
    ! grep -q "invalid configuration" "$T/sched.out"
    stop_sched
    assert_equal "$SCHED_RC" 0
}

@test "sched: a failing backup is logged with its exit status and retried after a delay capped at the interval, never in a loop" {
    require_root_or_skip
    M=$(mk_btrfs store 256M)
    STATUS=$M/status
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        quick: {interval: 2s, keep: 2}" "$(file_job gone s "$T/no-such-source")"
    start_sched "$T/backy.conf"
    wait_for 20 grep -q "gone: backup failed with exit status 1" "$T/sched.out"
    wait_for 10 status_py 'j["gone"]["status"] == "failed" and j["gone"]["last_exit"] == 1'
    sleep 5
    stop_sched
    # about one attempt per 2 s slot, never a tight loop
    n=$(grep -c "gone: backup started" "$T/sched.out")
    assert_le "$n" 5 "attempts in ~6 s"
    status_py 'not j["gone"]["sla_ok"] and j["gone"]["sla"] == "TOO OLD"'
}

@test "sched: starts the telnet shell and restarts it when it dies" {
    three_jobs 1
    start_sched "$T/backy.conf"
    wait_for 20 sched_child backy-telnetd
    wait_for 10 sh -c "printf 'jobs\r\nquit\r\n' | nc -q 2 127.0.0.1 $PORT | grep -q job3"
    tpid=$(sched_child backy-telnetd)
    lpid=$(launcher_pid)
    kill -KILL "$tpid"
    wait_for 20 sh -c "pgrep -P $lpid -x backy-telnetd | grep -vx $tpid"
    wait_for 10 sh -c "printf 'jobs job1\r\nquit\r\n' | nc -q 2 127.0.0.1 $PORT | grep -q job1"
    grep -q "telnet shell exited (signal 9); restarting in 1 s" "$T/sched.out"
    stop_sched
    assert_equal "$SCHED_RC" 0
    run pgrep -x backy-telnetd -P "$lpid"
    assert_failure
}

@test "sched: after the log is renamed (logrotate), the telnet shell's lines go to the new file too" {
    three_jobs 1
    start_sched "$T/backy.conf" -l "$T/backy.log"
    wait_for 20 sched_child backy-telnetd
    wait_for 10 sh -c "printf 'jobs\r\nquit\r\n' | nc -q 2 127.0.0.1 $PORT | grep -q job3"
    wait_for 10 grep -q "telnet: 127.0.0.1.* connected" "$T/backy.log"
    mv "$T/backy.log" "$T/backy.log.1"
    # the scheduler's own lines (backups every 2 s) reopen it; then a
    # connection makes the telnet shell (user nobody, read-only sandbox) log
    wait_for 20 test -f "$T/backy.log"
    printf 'status\r\nquit\r\n' | nc -q 2 127.0.0.1 "$PORT" >/dev/null
    wait_for 10 grep -q "telnet: 127.0.0.1.* connected" "$T/backy.log"
    # the shell's lines are whole log lines, with timestamp and pid
    grep "telnet: 127.0.0.1.* connected" "$T/backy.log" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}.* \[[0-9]+\] DEBUG telnet: '
    stop_sched
    assert_equal "$SCHED_RC" 0
}
