#!/usr/bin/env bats
# sched-privsep.bats - backy-sched is two processes: the scheduler, with a
# narrow filter and no capabilities, and its launcher, the only one that
# forks and execs (backy-backup, backy-telnetd). Real scheduler runs on a
# loop-mounted btrfs; the request parser has its own unit test
# (tests/unit/test_launcher.c).

load lib/common
load lib/sched

SIGSYS_STATUS=159

setup() {
    common_setup
    require_tool backy-sched backy-backup backy-telnetd
    ulimit -c 0     # the kills below must not leave core files
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    common_teardown
}

field() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# one job on btrfs every 2 s, telnet shell on a free port
one_job() {
    require_root_or_skip
    chmod 755 "$T"
    M=$(mk_btrfs store 256M)
    STATUS=$M/status
    PORT=$(free_port)
    make_source "$T/src1" 1M
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        quick: {interval: 2s, keep: 2}" "$(file_job job1 s "$T/src1")"
}

# a job whose backup runs for a long time (64 GiB sparse source)
long_job() {
    require_root_or_skip
    M=$(mk_btrfs store 256M)
    STATUS=$M/status
    truncate -s 64G "$T/big"
    sched_conf "$T/backy.conf" "$M" 0 1 \
        "    s:
        daily: {interval: 1d, keep: 2}" "$(file_job big s "$T/big")"
}

@test "sched-privsep: the running scheduler has seccomp mode 2 and no capabilities; the launcher is its child" {
    one_job
    start_sched "$T/backy.conf"
    wait_for 20 nrevs_at_least "$M/job1" 2
    wait_for 20 sched_child backy-telnetd
    # the scheduler proper
    assert_equal "$(field "$SCHED_PID" Seccomp)" 2
    assert_equal "$(field "$SCHED_PID" NoNewPrivs)" 1
    local f
    for f in CapEff CapPrm CapBnd CapInh CapAmb; do
        assert_equal "$f=$(field "$SCHED_PID" "$f")" "$f=0000000000000000"
    done
    # the launcher: a separate process, child of the scheduler, sandboxed
    # too, parent of the telnet shell
    local l
    l=$(launcher_pid)
    [ -n "$l" ] || fail "no launcher"
    [ "$l" != "$SCHED_PID" ] || fail "the launcher is the scheduler"
    assert_equal "$(field "$l" PPid)" "$SCHED_PID"
    assert_equal "$(field "$l" Seccomp)" 2
    assert_equal "$(field "$l" NoNewPrivs)" 1
    assert_equal "$(field "$(sched_child backy-telnetd)" PPid)" "$l"
    # the scheduler has no other children
    assert_equal "$(pgrep -P "$SCHED_PID" | wc -l)" 1
    # its children keep what children started as root need, never more
    # than the old single-process scheduler did
    local cap
    cap=$(field "$l" CapEff)
    [ $((16#$cap & ~0x5ef)) = 0 ] || fail "launcher CapEff $cap beyond 0x5ef"
    stop_sched
    assert_equal "$SCHED_RC" 0
    # the launcher ends with the scheduler
    wait_for 10 sh -c "! kill -0 $l 2>/dev/null"
}

@test "sched-privsep: forbidden syscalls kill the scheduler itself, not the launcher (BACKY_SANDBOX_PROBE)" {
    one_job
    local p
    for p in fork clone execve socket mmap-exec ptrace kill; do
        # the previous probe's launcher (holding the lock) ends on its own
        wait_for 10 sh -c "! pgrep -f '[b]acky-sched -c $T/backy.conf'"
        : >"$T/sched.out"
        BACKY_SANDBOX_PROBE=$p "$BACKY_BIN/backy-sched" -c "$T/backy.conf" >"$T/sched.out" 2>&1 3>&- &
        local pid=$!
        track_pid "$pid"
        local rc=0
        wait "$pid" || rc=$?
        [ "$rc" = "$SIGSYS_STATUS" ] || fail "probe $p: status $rc, want $SIGSYS_STATUS: $(cat "$T/sched.out")"
        ! grep -q allowed "$T/sched.out" || fail "probe $p: allowed: $(cat "$T/sched.out")"
        # its launcher holds the scheduler lock until it has seen the
        # scheduler go and exited: the next start waits for that
        wait_for 30 flock -n "$STATUS.lock" true
    done
    # the trap mode names the scheduler, not its launcher
    BACKY_SECCOMP=trap BACKY_SANDBOX_PROBE=fork run "$BACKY_BIN/backy-sched" -c "$T/backy.conf" 3>&-
    assert_failure "$SIGSYS_STATUS"
    assert_output_matches "^backy-sched: sandbox: forbidden syscall (fork|clone) \([0-9]+\)$"
    # no launcher, backup or telnet shell outlives a killed scheduler
    wait_for 10 sh -c "! pgrep -f '[b]acky-sched -c $T/backy.conf'"
    run pgrep -f "backy-backup -b $M/"
    assert_failure
    # under the pause probe the scheduler waits sandboxed and the launcher
    # is up beside it
    BACKY_SANDBOX_PROBE=pause "$BACKY_BIN/backy-sched" -c "$T/backy.conf" >"$T/sched.out" 2>&1 3>&- &
    SCHED_PID=$!
    track_pid "$SCHED_PID"
    wait_for 10 launcher_pid
    wait_for 10 sh -c "grep -q '^Seccomp:[[:space:]]*2$' /proc/$(launcher_pid)/status"
    assert_equal "$(field "$SCHED_PID" Seccomp)" 2
    assert_equal "$(field "$SCHED_PID" CapEff)" 0000000000000000
    kill -KILL "$SCHED_PID"
    wait "$SCHED_PID" 2>/dev/null || true
    SCHED_PID=
}

@test "sched-privsep: a dead launcher stops the scheduler with an error" {
    one_job
    start_sched "$T/backy.conf"
    wait_for 20 launcher_pid
    wait_for 20 nrevs_at_least "$M/job1" 1
    wait_for 20 sched_child backy-telnetd
    # frozen, the launcher starts nothing more; its children are orphaned
    # by the kill and ended here
    local l kids rc=0
    l=$(launcher_pid)
    kill -STOP "$l"
    kids=$(pgrep -P "$l" | tr '\n' ' ')
    kill -KILL "$l"
    wait "$SCHED_PID" || rc=$?
    SCHED_PID=
    # shellcheck disable=SC2086
    kill -TERM $kids 2>/dev/null || true
    assert_equal "$rc" 1
    grep -q "backy-sched: error: the launcher ended; cannot run backups without it" "$T/sched.out" ||
        fail "no error message: $(tail -5 "$T/sched.out")"
    wait_for 20 sh -c "for p in $kids; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0"
}

@test "sched-privsep: a killed scheduler's launcher terminates the running backup and exits" {
    long_job
    start_sched "$T/backy.conf"
    wait_for 20 sched_child backy-backup
    local l child
    l=$(launcher_pid)
    child=$(sched_child backy-backup)
    kill -KILL "$SCHED_PID"
    wait "$SCHED_PID" 2>/dev/null || true
    SCHED_PID=
    wait_for 40 sh -c "! kill -0 $child 2>/dev/null"
    wait_for 10 sh -c "! kill -0 $l 2>/dev/null"
    grep -q "launcher: the scheduler is gone; terminating 1 children" "$T/sched.out"
    # the backup cleaned up after itself
    assert_equal "$(nrevs "$M/big")" 0
    # and the lock is free again
    start_sched "$T/backy.conf"
    wait_for 20 sched_child backy-backup
    stop_sched
    assert_equal "$SCHED_RC" 0
}

@test "sched-privsep: backups, retention, reload, telnet restart and stop under BACKY_SECCOMP=trap" {
    one_job
    export BACKY_SECCOMP=trap
    start_sched "$T/backy.conf"
    wait_for 30 grep -q "job1: removed expired revision" "$T/sched.out"
    wait_for 20 sched_child backy-telnetd
    kill -HUP "$SCHED_PID"
    wait_for 10 grep -q "SIGHUP: re-reading" "$T/sched.out"
    kill -KILL "$(sched_child backy-telnetd)"
    wait_for 20 grep -q "telnet shell exited (signal 9)" "$T/sched.out"
    wait_for 20 sh -c "printf 'jobs\r\nquit\r\n' | nc -q 2 127.0.0.1 $PORT | grep -q job1"
    # backups go on after all that
    local n
    n=$(grep -c "job1: backup finished" "$T/sched.out")
    wait_for 20 sh -c "[ \$(grep -c 'job1: backup finished' '$T/sched.out') -gt $n ]"
    stop_sched
    unset BACKY_SECCOMP
    assert_equal "$SCHED_RC" 0
    run grep -h "forbidden syscall" "$T/sched.out" "$M/job1/backy.log"
    assert_failure 1
    run grep "refused request" "$T/sched.out"
    assert_failure 1
}

# ---- a dedicated unprivileged user -------------------------------------

BACKY_USER=backy

# The user the scheduler and the jobs run as (doc/sandbox.md: "Running as
# an unprivileged user"); created when missing and left in place (other
# runs may use it at the same time).
unpriv_setup() {
    require_root_or_skip
    id -u "$BACKY_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$BACKY_USER" ||
        id -u "$BACKY_USER" >/dev/null 2>&1 || fail "cannot create user $BACKY_USER"
    chmod 755 "$T"
    # the tools where the user can run them (the build tree may be private)
    mkdir -p "$T/bin"
    cp "$BACKY_BIN"/backy "$BACKY_BIN"/backy-* "$T/bin/"
    chmod 755 "$T/bin" "$T"/bin/*
    M=$(mk_btrfs store 256M)
    chown "$BACKY_USER:$BACKY_USER" "$M"
    STATUS=$M/status
    # a source readable by the user's group only
    make_source "$T/src1" 1M
    chgrp "$BACKY_USER" "$T/src1"
    chmod 0640 "$T/src1"
}

as_backy() {
    setpriv --reuid="$BACKY_USER" --regid="$BACKY_USER" --init-groups -- "$@"
}

@test "sched-privsep: a backup runs as an unprivileged user whose group may read the source" {
    unpriv_setup
    run as_backy "$T/bin/backy" -b "$M/job" init file "$T/src1"
    assert_success
    run as_backy "$T/bin/backy" -b "$M/job" backup daily
    assert_success
    assert_equal "$(nrevs "$M/job")" 1
    assert_files_equal "$T/src1" "$M/job/$(readlink "$M/job/last")"
    assert_equal "$(stat -c %U "$M/job/config" "$M/job/$(readlink "$M/job/last")" | sort -u)" "$BACKY_USER"
    run as_backy "$T/bin/backy" -b "$M/job" verify
    assert_success
    # a source the user may not read: a one-line error, nothing backed up
    make_source "$T/secret" 1M
    chmod 0600 "$T/secret"
    run as_backy "$T/bin/backy" -b "$M/job2" init file "$T/secret"
    assert_success
    run as_backy "$T/bin/backy" -b "$M/job2" backup daily
    assert_failure
    assert_output_contains "Permission denied"
    assert_equal "$(nrevs "$M/job2")" 0
}

@test "sched-privsep: the scheduler, its launcher, backups and telnet shell run as an unprivileged user" {
    unpriv_setup
    PORT=$(free_port)
    sched_conf "$T/backy.conf" "$M" "$PORT" 1 \
        "    s:
        quick: {interval: 2s, keep: 2}" "$(file_job job1 s "$T/src1")"
    chmod 644 "$T/backy.conf"
    # setpriv execs the scheduler: $! is its pid
    setpriv --reuid="$BACKY_USER" --regid="$BACKY_USER" --init-groups -- \
        "$T/bin/backy-sched" -c "$T/backy.conf" -v >>"$T/sched.out" 2>&1 3>&- &
    SCHED_PID=$!
    track_pid "$SCHED_PID"
    wait_for 30 nrevs_at_least "$M/job1" 2 || fail "no backups: $(cat "$T/sched.out")"
    wait_for 20 sched_child backy-telnetd
    local uid l p
    uid=$(id -u "$BACKY_USER")
    l=$(launcher_pid)
    for p in "$SCHED_PID" "$l" "$(sched_child backy-telnetd)"; do
        assert_equal "$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "/proc/$p/status")" "$uid$uid$uid$uid"
        assert_equal "$(field "$p" CapEff)" 0000000000000000
        assert_equal "$(field "$p" CapPrm)" 0000000000000000
        assert_equal "$(field "$p" Seccomp)" 2
    done
    assert_equal "$(stat -c %U "$M/job1/config" "$STATUS" | sort -u)" "$BACKY_USER"
    run telnet_cmd "$PORT" jobs
    assert_output_contains job1
    stop_sched
    assert_equal "$SCHED_RC" 0
    ! grep -q "forbidden syscall\|Permission denied" "$T/sched.out" || fail "$(cat "$T/sched.out")"
}
