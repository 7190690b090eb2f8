#!/usr/bin/env bats
# Input hygiene: hostile files in a job directory (FIFOs where a file is
# expected), control characters in specs and tags, output nobody reads,
# sources that grow, tags backy 2.0 wrote, directories that are not jobs.
# Whatever the input, a tool neither hangs nor dies silently, an error is
# one line, and revisions already backed up stay untouched.

load lib/common
load lib/store
load lib/sched

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-find backy-restore backy-status backy-verify
    S=$(mk_btrfs store 512M)
    JOB=$S/job
    SRC=$T/source.img
}

teardown() {
    if [ -n "${SCHED_PID:-}" ]; then
        # a scheduler stuck in open() of a FIFO does not act on SIGTERM
        local children i
        children=$(pgrep -P "$SCHED_PID" || true)
        kill -TERM "$SCHED_PID" 2>/dev/null || true
        for i in $(seq 50); do
            kill -0 "$SCHED_PID" 2>/dev/null || break
            sleep 0.2
        done
        # shellcheck disable=SC2086
        kill -KILL "$SCHED_PID" $children 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
    fi
    common_teardown
}

# until_ok SECONDS CMD...: run CMD (each run limited to 10 s) until it
# succeeds, for at most SECONDS in all. A bound on waiting, not a timing.
until_ok() {
    local limit=$1
    shift
    timeout "$limit" bash -c 'until timeout 10 "$@" >/dev/null 2>&1; do sleep 0.2; done' _ "$@"
}

# A job with one complete revision of an 8 MiB source.
job_with_revision() {
    make_source "$SRC" "${1:-8M}"
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    FIRST=$(last_id "$JOB")
}

# Exactly one line of output, "PROG: error: ...", exit 1 (run with -l, so
# that log lines go to the log file).
assert_only_error_line() {
    assert_failure 1
    assert_output_matches "^$1: error: "
    if [ "$(printf '%s\n' "$output" | wc -l)" != 1 ]; then
        echo "expected exactly one line, got:" >&2
        echo "$output" >&2
        return 1
    fi
}

# run_pipe_gone OUT ERR CMD...: run CMD with stdout (and stderr, with ERR=-)
# a pipe whose reader has gone away; ERR otherwise names a file for stderr.
# $status is CMD's exit status (128+N when killed by signal N).
run_pipe_gone() {
    local err=$1
    shift
    run python3 - "$err" "$@" <<'EOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)                       # nobody reads: every write gets EPIPE/SIGPIPE
err = sys.argv[1]
e = w if err == "-" else open(err, "w")
p = subprocess.run(sys.argv[2:], stdout=w, stderr=e, stdin=subprocess.DEVNULL,
                   restore_signals=True)
sys.exit(128 - p.returncode if p.returncode < 0 else p.returncode)
EOF
}

@test "a FIFO as a revision file: status, find and backup warn and go on" {
    job_with_revision
    mkfifo "$JOB/ZZZZZZZZZZZZZZZZZZZZZZ.rev"
    run timeout 60 "$BACKY_BIN/backy" -b "$JOB" status
    assert_success
    assert_output_contains "$FIRST"
    assert_output_contains "$JOB/ZZZZZZZZZZZZZZZZZZZZZZ.rev: is a FIFO, not a regular file"
    run timeout 60 "$BACKY_BIN/backy" -b "$JOB" find
    assert_success
    assert_output_contains "$JOB/$FIRST"
    run timeout 60 "$BACKY_BIN/backy" -b "$JOB" backup daily
    assert_success
    assert_output_contains "is a FIFO, not a regular file"
    [ "$(last_id "$JOB")" != "$FIRST" ]
    # the stray file is left alone
    [ -p "$JOB/ZZZZZZZZZZZZZZZZZZZZZZ.rev" ]
}

@test "a FIFO as config: backup and status fail at once in one line, nothing touched" {
    job_with_revision
    dir_sums "$JOB" >"$T/sums.before"
    chmod u+w "$JOB/config"
    mv "$JOB/config" "$T/config.good"
    mkfifo "$JOB/config"
    run timeout 60 "$BACKY_BIN/backy" -l "$T/log" -b "$JOB" backup daily
    assert_only_error_line backy-backup
    assert_output_contains "$JOB/config: is a FIFO, not a regular file"
    run timeout 60 "$BACKY_BIN/backy" -l "$T/log" -b "$JOB" status
    assert_only_error_line backy-status
    assert_output_contains "not a job directory: $JOB: its config is a FIFO"
    rm "$JOB/config"
    mv "$T/config.good" "$JOB/config"
    dir_sums "$JOB" >"$T/sums.after"
    diff -u "$T/sums.before" "$T/sums.after" >&2
}

@test "a FIFO as the source: backup fails at once in one line and leaves the job unlocked" {
    job_with_revision
    mv "$SRC" "$T/source.keep"
    mkfifo "$SRC"
    run timeout 60 "$BACKY_BIN/backy" -l "$T/log" -b "$JOB" backup daily
    assert_only_error_line backy-backup
    assert_output_contains "source is neither a regular file nor a block device: $SRC: a FIFO"
    # the lock went with the process: the next backup runs
    rm "$SRC"
    mv "$T/source.keep" "$SRC"
    run timeout 60 "$BACKY_BIN/backy" -b "$JOB" backup daily
    assert_success
    [ "$(last_id "$JOB")" != "$FIRST" ]
}

@test "a FIFO in a job directory does not stop the scheduler's status and telnet answers" {
    require_tool backy-sched backy-telnetd
    chmod 755 "$T"
    STATUS=$S/status
    PORT=$(free_port)
    make_source "$SRC" 1M
    mkdir -p "$S/fifojob"
    mkfifo "$S/fifojob/ZZZZZZZZZZZZZZZZZZZZZZ.rev"
    sched_conf "$T/backy.conf" "$S" "$PORT" 1 \
        "    s:
        daily: {interval: 1d, keep: 2}" \
        "$(file_job fifojob s "$SRC")"
    start_sched "$T/backy.conf"
    # the scheduler reads the directory, catches the job up (a backup that
    # reads it too) and answers over telnet
    until_ok 120 "$BACKY_BIN/backy" -b "$S/fifojob" find
    until_ok 60 sh -c "printf 'jobs\r\nquit\r\n' | nc -q 2 127.0.0.1 $PORT | grep -q fifojob"
    grep -q "ZZZZZZZZZZZZZZZZZZZZZZ.rev: is a FIFO, not a regular file" "$T/sched.out"
    stop_sched
    assert_equal "$SCHED_RC" 0
}

@test "a backup whose output nobody reads completes its revision and exits 0" {
    job_with_revision
    # stdout a pipe without reader: the log moves to stderr, with a warning
    run_pipe_gone "$T/stderr" "$BACKY_BIN/backy" -b "$JOB" backup daily
    assert_success
    second=$(last_id "$JOB")
    [ "$second" != "$FIRST" ]
    grep -q "backy-backup: warning: cannot write the log to stdout: Broken pipe: logging to stderr" "$T/stderr"
    grep -q "revision $second complete" "$T/stderr"
    grep -q 'duration:' "$JOB/$second.rev"
    # stdout and stderr both without reader
    run_pipe_gone - "$BACKY_BIN/backy" -b "$JOB" backup daily
    assert_success
    third=$(last_id "$JOB")
    [ "$third" != "$second" ]
    grep -q 'duration:' "$JOB/$third.rev"
    # the usual way to get there
    run bash -c "set -o pipefail; '$BACKY_BIN/backy' -b '$JOB' backup daily | head -1"
    assert_success
    [ "$(last_id "$JOB")" != "$third" ]
    assert_equal "$(status_count "$JOB")" 4
}

@test "a closed stdout or stderr: a backup logs to what is left and completes; find refuses" {
    job_with_revision
    run bash -c "'$BACKY_BIN/backy' -b '$JOB' backup daily >&-"
    assert_success
    second=$(last_id "$JOB")
    [ "$second" != "$FIRST" ]
    # the log went to stderr
    assert_output_contains "revision $second complete"
    run bash -c "'$BACKY_BIN/backy' -b '$JOB' backup daily >&- 2>&-"
    assert_success
    [ "$(last_id "$JOB")" != "$second" ]
    grep -q 'duration:' "$JOB/$(last_id "$JOB").rev"
    # where stdout is the data, a closed one is an error
    run bash -c "'$BACKY_BIN/backy' -b '$JOB' find >&-"
    assert_failure 1
    assert_equal "$output" "backy-find: error: cannot write to stdout: it is closed"
}

@test "a restore to a file whose log output nobody reads completes" {
    job_with_revision
    run_pipe_gone "$T/stderr" "$BACKY_BIN/backy" -b "$JOB" restore -r 0 "$T/restored"
    assert_success
    assert_files_equal "$SRC" "$T/restored"
    grep -q "cannot write the log to stdout" "$T/stderr"
}

@test "a newline in a revision spec, a tag or a path gives a one-line error" {
    job_with_revision
    run backy -l "$T/log" -b "$JOB" find -r $'a\nb'
    assert_only_error_line backy-find
    assert_output_contains "invalid revision spec 'a\\nb': it contains a control character"
    run backy -l "$T/log" -b "$JOB" restore -r $'0\nbacky-restore: error: forged' "$T/r"
    assert_only_error_line backy-restore
    assert_file_missing "$T/r"
    run backy -l "$T/log" -b "$JOB" backup $'daily\nbacky-backup: error: forged'
    assert_only_error_line backy-backup
    assert_output_contains "invalid tag 'daily\\nbacky-backup: error: forged'"
    run backy -l "$T/log" -b "$JOB" backup $'daily,we\x1bek'
    assert_only_error_line backy-backup
    assert_output_contains "invalid tag 'we\\x1bek'"
    run backy -l "$T/log" -b "$S/no"$'\n'"where" status
    assert_only_error_line backy-status
    assert_output_contains "$S/no\\nwhere"
    # the log has one line per message, too: every line is a log line
    run grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \[[0-9]+\] [A-Z]+ ' "$T/log"
    assert_equal "$output" 0
    grep -qF "invalid revision spec 'a\\nb'" "$T/log"
    assert_equal "$(status_count "$JOB")" 1
}

@test "a source that grows during the backup is warned about, naming both sizes" {
    job_with_revision 4M
    # The backup logs to a pipe that is full: its first log line after
    # opening the source (which fixes the size) blocks until the pipe is
    # read. The source grows meanwhile; then the pipe is drained.
    run python3 - "$BACKY_BIN/backy" "$JOB" "$SRC" <<'EOF'
import fcntl, os, subprocess, sys, time
backy, job, src = sys.argv[1:]
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)            # F_SETPIPE_SZ: one page
os.set_blocking(w, False)
filled = 0
try:
    while True:
        filled += os.write(w, b"x" * 4096)
except BlockingIOError:
    pass
os.set_blocking(w, True)
p = subprocess.Popen([backy, "-b", job, "backup", "daily"], stdout=w, stderr=w,
                     stdin=subprocess.DEVNULL)
os.close(w)
# wait (bounded) until its main thread is in write(1, ...)
for _ in range(600):
    try:
        sc = open("/proc/%d/syscall" % p.pid).read().split()
    except OSError:
        sc = []
    if sc and sc[0] == "1" and sc[1] == "0x1":
        break
    time.sleep(0.1)
else:
    print("backup never blocked writing its log")
    sys.exit(2)
with open(src, "ab") as f:
    f.write(os.urandom(1 << 20))
out = b""
while True:
    b = os.read(r, 65536)
    if not b:
        break
    out += b
sys.stdout.write(out[filled:].decode(errors="replace"))
sys.exit(p.wait())
EOF
    echo "$output"
    assert_success
    assert_output_contains "source grew during the backup: $SRC: from 4194304 to 5242880 bytes; the revision holds its first 4194304 bytes"
    second=$(last_id "$JOB")
    [ "$second" != "$FIRST" ]
    assert_equal "$(file_size "$JOB/$second")" 4194304
    head -c 4194304 "$SRC" >"$T/first4m"
    assert_files_equal "$T/first4m" "$JOB/$second"
}

@test "revisions backy 2.0 wrote with free-form tags are listed, found by tag and used as parent" {
    make_source "$SRC" 4M
    backy -b "$JOB" init file "$SRC"
    # what backy 2.0 writes for `backy backup daily`, then `backy backup
    # "daily,pre upgrade"` and `backy backup "daily,"` (flow style, naive
    # UTC timestamps)
    local o=ENpdQfhQVgzoiWwT4KuQqP a=Q5N5Ng5kFzNFVv6FDDDCHi b=FqZGAe6iG2hadwJoHdpigW id
    for id in $o $a $b; do
        cp "$SRC" "$JOB/$id"
        chmod 0440 "$JOB/$id"
    done
    printf "{parent: '', stats: {bytes_written: 4194304, duration: 2.5}, tags: [daily], timestamp: 2015-11-04 10:00:00, uuid: %s}\n" \
        "$o" >"$JOB/$o.rev"
    printf "{parent: %s, stats: {bytes_written: 4194304, duration: 2.5}, tags: [daily, pre upgrade], timestamp: 2015-11-05 10:00:00, uuid: %s}\n" \
        "$o" "$a" >"$JOB/$a.rev"
    printf "{parent: %s, stats: {bytes_written: 4194304, duration: 2.5}, tags: ['', daily], timestamp: 2015-11-06 10:00:00, uuid: %s}\n" \
        "$a" "$b" >"$JOB/$b.rev"
    ln -s "$b" "$JOB/last"
    ln -s "$b.rev" "$JOB/last.rev"
    run backy -b "$JOB" status
    assert_success
    assert_output_not_contains "WARN"
    assert_output_matches "^\| 2015-11-05 10:00:00 UTC \| $a \| .* \| daily,pre upgrade +\|$"
    assert_output_matches "^\| 2015-11-06 10:00:00 UTC \| $b \| .* \| ,daily +\|$"
    assert_output_matches '^3 revisions$'
    run backy -b "$JOB" find -r 0
    assert_equal "$output" "$JOB/$b"
    assert_equal "$(readlink "$JOB/last")" "$b"
    run backy -b "$JOB" find -r "pre upgrade"
    assert_equal "$output" "$JOB/$a"
    run backy -b "$JOB" find -r daily
    assert_equal "$output" "$JOB/$b"
    backy -b "$JOB" backup daily
    new=$(last_id "$JOB")
    grep -q "^parent: $b\$" "$JOB/$new.rev"
    # their .rev files are left as backy 2.0 wrote them
    grep -q "pre upgrade" "$JOB/$a.rev"
}

@test "a directory that is not a job: every tool says so in one line" {
    mkdir -p "$S/notajob"
    local tool
    for tool in status find verify; do
        run backy -l "$T/log" -b "$S/notajob" "$tool"
        assert_only_error_line "backy-$tool"
        assert_output_contains "not a job directory: $S/notajob"
    done
    run backy -l "$T/log" -b "$S/notajob" restore "$T/r"
    assert_only_error_line backy-restore
    assert_output_contains "not a job directory: $S/notajob"
    assert_file_missing "$T/r"
    run backy -l "$T/log" -b "$S/notajob" backup daily
    assert_only_error_line backy-backup
    assert_output_contains "not a job directory: $S/notajob"
    assert_equal "$(ls -A "$S/notajob")" ""
}
