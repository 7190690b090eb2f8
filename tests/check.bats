#!/usr/bin/env bats
# backy-check: Nagios conventions over the main config and the status file.

load lib/common
load lib/sched

setup() {
    common_setup
    require_tool backy-check backy-sched backy-backup
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    common_teardown
}

# write_status FILE WRITTEN-AGO JOB:LAST-AGO ... (LAST-AGO "-" for none)
write_status() {
    python3 - "$@" <<'EOF'
import json, sys, time
now = time.time()
path, ago = sys.argv[1], float(sys.argv[2])
jobs = []
for spec in sys.argv[3:]:
    name, last = spec.split(":")
    jobs.append({"name": name, "schedule": "s", "sla": "OK", "sla_ok": True,
                 "status": "waiting", "pid": None,
                 "last_time": None if last == "-" else now - float(last),
                 "last_tags": "daily", "last_duration": 1.0, "next_time": now + 60,
                 "next_tags": "daily", "min_interval": 3600, "last_exit": 0})
json.dump({"format": 1, "scheduler": {"pid": 1, "started": now - 100, "written": now - ago,
           "worker_limit": 1, "workers_busy": 0, "jobs": len(jobs), "status_interval": 30,
           "config": "x"}, "jobs": jobs}, open(path, "w"))
EOF
}

static_conf() {
    cat >"$T/backy.conf" <<EOF
config:
    base-dir: $T
    status-file: $T/status
schedules:
    s:
        hourly: {interval: 1h, keep: 3}
        daily: {interval: 1d, keep: 3}
jobs:
$(file_job a s /src/a)
$(file_job b s /src/b)
$(file_job c s /src/c)
EOF
}

@test "check: OK with perfdata when every job is in time" {
    static_conf
    write_status "$T/status" 5 a:60 b:3600 c:5300
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_output_matches '^BACKY OK - 3 jobs backed up in time \| jobs=3 late=0;;1 oldest_age=5(29|30)[0-9]s status_age=[0-9]+s;;300 warnings=0;1$'
}

@test "check: CRITICAL names the late jobs (older than 1.5 x smallest interval, none, missing)" {
    static_conf
    write_status "$T/status" 5 a:5500 b:-
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_equal "${#lines[@]}" 1
    assert_output_contains "BACKY CRITICAL - 3 of 3 jobs late (last backup older than 1.5 x interval): a, b, c (not in status file) | jobs=3 late=3;;1"
}

# add_fields FILE JOB JSON: merge fields into one job of a status file
add_fields() {
    python3 - "$@" <<'EOF'
import json, sys
path, name, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
d = json.load(open(path))
for j in d["jobs"]:
    if j["name"] == name:
        j.update(extra)
json.dump(d, open(path, "w"))
EOF
}

@test "check: WARNING names jobs in time with quarantined or future-dated revisions or a failed backup" {
    static_conf
    write_status "$T/status" 5 a:60 b:60 c:60
    add_fields "$T/status" a '{"quarantined": 2}'
    add_fields "$T/status" c '{"failures": 3, "last_error": "cannot open source file: /src/c: No such file or directory", "future": 1}'
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 1
    assert_equal "${#lines[@]}" 1
    assert_output_contains "BACKY WARNING - 3 jobs backed up in time, 2 with warnings: a (2 quarantined), c (1 dated in the future, last backup failed: cannot open source file: /src/c: No such file or directory) | jobs=3 late=0;;1 "
    assert_output_contains " warnings=2;1"
    # a late job makes it CRITICAL; the warnings follow; a vanished directory is late
    add_fields "$T/status" b '{"dir_missing": true}'
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_output_contains "BACKY CRITICAL - 1 of 3 jobs late (last backup older than 1.5 x interval): b (job directory missing); 2 with warnings: a (2 quarantined), c ("
}

@test "check: CRITICAL when the status file is stale" {
    static_conf
    write_status "$T/status" 500 a:60 b:60 c:60
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_output_matches "^BACKY CRITICAL - status file is stale: written (499|500|501) s ago \(limit 300 s\): $T/status \| jobs=3 status_age=(499|500|501)s;;300\$"
}

@test "check: UNKNOWN when config or status file is missing or unreadable" {
    run "$BACKY_BIN/backy-check" -c "$T/nope.conf"
    assert_failure 3
    assert_output_contains "BACKY UNKNOWN - cannot read config: $T/nope.conf"
    static_conf
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 3
    assert_output_contains "BACKY UNKNOWN - cannot open status file: $T/status: No such file or directory"
    printf 'not json' >"$T/status"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 3
    assert_output_contains "BACKY UNKNOWN - $T/status:1:"
    printf 'jobs: [\n' >"$T/backy.conf"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 3
    assert_output_contains "BACKY UNKNOWN - cannot read config: $T/backy.conf:"
}

@test "check: the wrapper passes -c; -b and -l are accepted" {
    require_tool backy
    static_conf
    write_status "$T/status" 1 a:1 b:1 c:1
    run "$BACKY_BIN/backy" -l "$T/check.log" -b /nonexistent check -c "$T/backy.conf"
    assert_success
    assert_output_contains "BACKY OK"
    grep -q "OK 3 jobs backed up in time" "$T/check.log"
}

@test "check: OK against a running scheduler, CRITICAL once a job stops getting backups" {
    require_root_or_skip
    M=$(mk_btrfs store 256M)
    STATUS=$M/status
    make_source "$T/src1" 1M
    make_source "$T/src2" 1M
    sched_conf "$T/backy.conf" "$M" 0 2 \
        "    s:
        quick: {interval: 2s, keep: 2}" \
        "$(file_job good s "$T/src1")
$(file_job bad s "$T/src2")"
    start_sched "$T/backy.conf"
    wait_for 20 nrevs_at_least "$M/good" 1
    wait_for 20 nrevs_at_least "$M/bad" 1
    wait_for 10 status_py 'all(x["last_time"] for x in s["jobs"])'
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_success
    assert_output_contains "BACKY OK - 2 jobs backed up in time"
    # the source of "bad" goes away: its backups fail from now on
    rm "$T/src2"
    # a WARNING while the last good backup is in time, CRITICAL past the SLA
    wait_for 30 sh -c "'$BACKY_BIN/backy-check' -c '$T/backy.conf'; [ \$? -eq 2 ]"
    run "$BACKY_BIN/backy-check" -c "$T/backy.conf"
    assert_failure 2
    assert_output_contains "BACKY CRITICAL - 1 of 2 jobs late (last backup older than 1.5 x interval): bad |"
}
