#!/usr/bin/env bats
# sandbox.bats - every tool runs confined: seccomp filter loaded (mode 2)
# with no_new_privs and no capabilities, forbidden syscalls kill it with
# SIGSYS, read-only tools cannot open for writing while writers can, and
# the normal operations run under BACKY_SECCOMP=trap without tripping the
# filter. Uses the BACKY_SANDBOX_PROBE hook of sandbox_enter (sandbox.h).
#
# Every tool of EXPECTED must be built: a missing one fails the tests.

load lib/common

EXPECTED="backy-init backy-backup backy-find backy-restore backy-status backy-sched backy-check backy-telnetd backy-forget backy-tags backy-expire"
OPTIONAL="backy-verify backy-mount backy-umount"

# tools that must not open anything for writing, and tools that may
READONLY_TOOLS="backy-find backy-status backy-check backy-restore backy-mount backy-umount"
# (backy-verify rewrites ID.rev with its result)
WRITER_TOOLS="backy-init backy-backup backy-forget backy-tags backy-expire backy-verify"
# replication (doc/replication.md); backy-push starts ssh and the tools, so
# it has tests of its own below instead of the socket/execve/PROT_EXEC ones
EXPECTED="$EXPECTED backy-send backy-receive backy-revisions"
READONLY_TOOLS="$READONLY_TOOLS backy-send backy-revisions"
WRITER_TOOLS="$WRITER_TOOLS backy-receive"

SIGSYS_STATUS=159   # 128 + SIGSYS, as a shell reports death by the filter

setup() {
    common_setup
    ulimit -c 0     # the kills below must not leave core files
    make_source "$T/src.img" 2M
    "$BACKY_BIN/backy-init" -b "$T/job" file "$T/src.img" >/dev/null
    "$BACKY_BIN/backy-backup" -b "$T/job" daily >/dev/null
    mkdir -p "$T/srv"
    cat >"$T/backy.conf" <<EOF
config:
    base-dir: $T/srv
    status-file: $T/srv/status
schedules:
    default:
        daily:
            interval: 1d
            keep: 3
jobs:
    test01:
        schedule: default
        source:
            type: file
            filename: $T/src.img
EOF
}

teardown() {
    common_teardown
}

# The tools to check: all expected ones (missing ones are reported by
# tools_missing) plus the optional ones that are built.
tool_list() {
    local t
    for t in $EXPECTED; do echo "$t"; done
    for t in $OPTIONAL; do [ -x "$BACKY_BIN/$t" ] && echo "$t"; done
    return 0
}

missing=""
note_missing() {
    missing="$missing $1"
}
check_missing() {
    if [ -n "$missing" ]; then
        echo "expected tools not built in $BACKY_BIN:$missing" >&2
        return 1
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Arguments that take TOOL up to its sandbox_enter.
tool_args() {
    case "$1" in
        backy-init) echo "-b $T/newjob file $T/src.img" ;;
        backy-backup) echo "-b $T/job probe" ;;
        backy-find | backy-status | backy-verify) echo "-b $T/job" ;;
        backy-send | backy-revisions) echo "-b $T/job" ;;
        backy-receive) echo "-b $T/recvjob" ;;
        backy-push) echo "-b $T/job $T/pushjob" ;;
        backy-restore) echo "-b $T/job $T/restored.img" ;;
        backy-mount) echo "-b $T/job $T" ;;
        backy-umount) echo "$T" ;;
        backy-check | backy-sched) echo "-c $T/backy.conf" ;;
        backy-telnetd) echo "-s $T/srv/status -a 127.0.0.1 -p $(free_port)" ;;
        backy-forget) echo "-b $T/job -r 0" ;;
        backy-tags) echo "-b $T/job -r 0 add probe" ;;
        backy-expire) echo "-c $T/backy.conf" ;;
    esac
}

# run_probe TOOL PROBE: run TOOL with BACKY_SANDBOX_PROBE=PROBE
run_probe() {
    local t=$1 p=$2
    # shellcheck disable=SC2046
    run env BACKY_SANDBOX_PROBE="$p" BACKY_SANDBOX_PROBE_PATH="$T/probe-$t" \
        "$BACKY_BIN/$t" $(tool_args "$t")
}

# wait_sandboxed PID: until the filter is loaded (the pause probe comes
# after it); fails if the process ends first.
wait_sandboxed() {
    local pid=$1 i
    for i in $(seq 1 400); do
        grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

status_field() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# Capabilities a tool's policy keeps (CapEff, CapPrm, CapBnd): none, for
# every tool (the scheduler's privileged launcher is a separate process,
# tested in sched-privsep.bats). Should one ever keep some, never one of these:
# NET_ADMIN NET_RAW SYS_MODULE SYS_RAWIO SYS_PTRACE SYS_ADMIN SYS_BOOT
# SYS_TIME MKNOD SETFCAP MAC_OVERRIDE MAC_ADMIN PERFMON BPF
DANGEROUS_CAPS=$(( (1 << 12) | (1 << 13) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 21) |
    (1 << 22) | (1 << 25) | (1 << 27) | (1 << 31) | (1 << 32) | (1 << 33) | (1 << 38) | (1 << 39) ))
# backy-mount and backy-umount keep CAP_SYS_ADMIN (loop devices, mount)
# and nothing else; their filter allows only read-only mounts.
keeps_caps() {
    case $1 in backy-mount | backy-umount) return 0 ;; esac
    false
}

# check_confined PID TOOL: every thread has the filter, no_new_privs and
# only the capabilities the policy keeps (no inheritable or ambient ones).
# Prints what is wrong; returns 1 then.
check_confined() {
    local pid=$1 t=$2 bad=0 task f v eff
    for task in /proc/"$pid"/task/*; do
        local tid=${task##*/}
        v=$(awk '$1 == "Seccomp:" { print $2 }' "$task/status")
        [ "$v" = 2 ] || { echo "$t: thread $tid: Seccomp $v, want 2"; bad=1; }
        v=$(awk '$1 == "NoNewPrivs:" { print $2 }' "$task/status")
        [ "$v" = 1 ] || { echo "$t: thread $tid: NoNewPrivs $v, want 1"; bad=1; }
        is_root || continue
        eff=$(awk '$1 == "CapEff:" { print $2 }' "$task/status")
        for f in CapEff CapPrm CapInh CapBnd CapAmb; do
            v=$(awk -v k="$f:" '$1 == k { print $2 }' "$task/status")
            case $f in
                CapInh | CapAmb)
                    [ "$v" = 0000000000000000 ] || { echo "$t: thread $tid: $f $v, want 0"; bad=1; } ;;
                *)
                    if keeps_caps "$t"; then
                        [ "$v" = "$eff" ] || { echo "$t: thread $tid: $f $v differs from CapEff $eff"; bad=1; }
                        case $t in
                            backy-mount | backy-umount)
                                [ "$v" = 0000000000200000 ] || { echo "$t: thread $tid: $f $v, want CAP_SYS_ADMIN only"; bad=1; } ;;
                            *)
                                [ $((16#$v & DANGEROUS_CAPS)) = 0 ] || { echo "$t: thread $tid: $f $v keeps a dangerous capability"; bad=1; } ;;
                        esac
                    else
                        [ "$v" = 0000000000000000 ] || { echo "$t: thread $tid: $f $v, want 0"; bad=1; }
                    fi ;;
            esac
        done
    done
    return $bad
}

@test "sandbox: every expected tool is built" {
    local t
    for t in $EXPECTED; do
        [ -x "$BACKY_BIN/$t" ] || note_missing "$t"
    done
    check_missing
}

@test "sandbox: each tool runs with seccomp mode 2, no_new_privs and only the capabilities it keeps (all threads)" {
    require_root_or_skip
    local t pid errs=""
    for t in $(tool_list); do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        # shellcheck disable=SC2046
        BACKY_SANDBOX_PROBE=pause "$BACKY_BIN/$t" $(tool_args "$t") >"$T/$t.out" 2>&1 &
        pid=$!
        track_pid "$pid"
        if ! wait_sandboxed "$pid"; then
            errs="$errs
$t: never reached the sandbox: $(cat "$T/$t.out")"
            continue
        fi
        local bad
        bad=$(check_confined "$pid" "$t") || errs="$errs
$bad"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: backy-telnetd started as root runs as an unprivileged user" {
    require_root_or_skip
    local t=backy-telnetd pid uid
    [ -x "$BACKY_BIN/$t" ] || fail "$t not built"
    # shellcheck disable=SC2046
    BACKY_SANDBOX_PROBE=pause "$BACKY_BIN/$t" $(tool_args $t) >"$T/$t.out" 2>&1 &
    pid=$!
    track_pid "$pid"
    wait_sandboxed "$pid" || fail "no sandbox: $(cat "$T/$t.out")"
    uid=$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "/proc/$pid/status")
    kill -KILL "$pid"
    [ "$uid" = 65534655346553465534 ] || fail "Uid fields $uid, want nobody (65534) in all four"
}

@test "sandbox: a forbidden syscall (ptrace, mount) kills each tool with SIGSYS" {
    local t p errs=""
    for t in $(tool_list); do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        for p in ptrace mount; do
            run_probe "$t" "$p"
            [ "$status" = "$SIGSYS_STATUS" ] ||
                errs="$errs
$t: probe $p: status $status, want $SIGSYS_STATUS: $output"
        done
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: tools that need no network or processes are killed by socket and execve" {
    local t p errs=""
    for t in $(tool_list); do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        for p in socket execve; do
            run_probe "$t" "$p"
            [ "$status" = "$SIGSYS_STATUS" ] ||
                errs="$errs
$t: probe $p: status $status, want $SIGSYS_STATUS: $output"
        done
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: find, status, check and restore cannot open a file for writing" {
    local t p errs=""
    for t in $READONLY_TOOLS; do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        for p in openat-write open-write; do
            run_probe "$t" "$p"
            [ "$status" = "$SIGSYS_STATUS" ] ||
                errs="$errs
$t: probe $p: status $status, want $SIGSYS_STATUS: $output"
            [ ! -e "$T/probe-$t" ] || errs="$errs
$t: probe $p created $T/probe-$t"
        done
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: init, backup, forget, tags, expire and verify may open files for writing (seccomp; Landlock decides where)" {
    local t errs=""
    for t in $WRITER_TOOLS; do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        run_probe "$t" openat-write
        if [ "$status" != 0 ] || ! grep -qx allowed <<<"$output"; then
            errs="$errs
$t: openat-write: status $status, want 0 and \"allowed\": $output"
        fi
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: mmap with PROT_EXEC is killed except where a library loads plugins" {
    local t errs=""
    for t in $(tool_list); do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        run_probe "$t" mmap-exec
        [ "$status" = "$SIGSYS_STATUS" ] ||
            errs="$errs
$t: mmap-exec: status $status, want $SIGSYS_STATUS: $output"
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: BACKY_SECCOMP=trap names the forbidden syscall and exits 159" {
    local t errs=""
    for t in $(tool_list); do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        BACKY_SECCOMP=trap run_probe "$t" ptrace
        if [ "$status" != 159 ] || ! grep -qE "^$t: sandbox: forbidden syscall ptrace \([0-9]+\)$" <<<"$output"; then
            errs="$errs
$t: trap: status $status: $output"
        fi
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: an unknown BACKY_SECCOMP value is an error, not a way around the filter" {
    [ -x "$BACKY_BIN/backy-find" ] || fail "backy-find not built"
    BACKY_SECCOMP=off run_probe backy-find ptrace
    [ "$status" = 1 ] || fail "status $status, want 1: $output"
    assert_output_matches '^backy-find: error: sandbox: BACKY_SECCOMP'
}

@test "sandbox: backy-restore blocked mid-copy on a full pipe is confined" {
    require_root_or_skip
    [ -x "$BACKY_BIN/backy-restore" ] || fail "backy-restore not built"
    local pid id
    make_source "$T/big.img" 8M big
    "$BACKY_BIN/backy-init" -b "$T/bigjob" file "$T/big.img" >/dev/null
    "$BACKY_BIN/backy-backup" -b "$T/bigjob" daily >/dev/null
    mkfifo "$T/fifo"
    "$BACKY_BIN/backy-restore" -b "$T/bigjob" - >"$T/fifo" 2>"$T/restore.err" &
    pid=$!
    track_pid "$pid"
    exec 7<"$T/fifo"
    # nobody reads: the copy fills the pipe and blocks in write
    wait_sandboxed "$pid" || fail "restore did not reach the sandbox: $(cat "$T/restore.err")"
    local i state=""
    for i in $(seq 1 200); do
        state=$(status_field "$pid" State)
        [ "$state" = S ] && break
        sleep 0.05
    done
    [ "$state" = S ] || fail "restore not blocked (State $state)"
    check_confined "$pid" backy-restore >&2 || fail "blocked restore not confined"
    cat <&7 >"$T/out.img"
    exec 7<&-
    wait "$pid" || fail "restore failed: $(cat "$T/restore.err")"
    assert_files_equal "$T/out.img" "$T/big.img"
}

# trap_workflow FSTYPE: the everyday operations under BACKY_SECCOMP=trap,
# with and without -l and -v. A syscall missing from a policy shows up as
# "forbidden syscall NAME" and exit 159.
trap_workflow() {
    local mnt j
    mnt=$("mk_$1" fs)
    j=$mnt/job
    export BACKY_SECCOMP=trap
    make_source "$mnt/src.img" 4M
    run backy -b "$j" init file "$mnt/src.img"
    assert_success
    run backy -b "$j" backup daily
    assert_success
    change_blocks "$mnt/src.img" 10 >/dev/null
    run backy -v -l "$j/backy.log" -b "$j" backup daily,weekly
    assert_success
    run backy -v -b "$j" backup hourly
    assert_success
    run backy -b "$j" status
    assert_success
    run backy -v -l "$j/status.log" -b "$j" status
    assert_success
    run backy -b "$j" find
    assert_success
    run backy -v -b "$j" find -r 1
    assert_success
    run backy -v -l "$j/find.log" -b "$j" find -r daily
    assert_success
    run backy -b "$j" restore "$mnt/restored.img"
    assert_success
    assert_files_equal "$mnt/restored.img" "$mnt/src.img"
    backy -v -l "$j/restore.log" -b "$j" restore - >"$mnt/stdout.img" ||
        fail "restore to stdout failed: $(cat "$j/restore.log")"
    assert_files_equal "$mnt/stdout.img" "$mnt/src.img"
    # verify records its results in the .rev files, at a limited rate
    run backy -v -l "$j/verify.log" -b "$j" verify --all --rate-limit 100
    assert_success
    grep -q '^  result: good$' "$j/$(basename "$(readlink "$j/last")").rev" ||
        fail "no verify record in the newest .rev"
    run flock -x "$j/config" "$BACKY_BIN/backy-status" -b "$j"
    assert_success
    if [ -x "$BACKY_BIN/backy-check" ]; then
        run backy check -c "$T/backy.conf"
        [ "$status" != 159 ] || fail "check trapped: $output"
    fi
    run backy -v -b "$j" tags -r 0 add manual
    assert_success
    run backy -l "$j/tags.log" -b "$j" tags -r manual remove manual
    assert_success
    run backy -v -b "$j" forget -r 1
    assert_success
    run backy -v expire -c "$T/backy.conf" --dry-run
    [ "$status" != 159 ] || fail "expire trapped: $output"
    run backy -l "$j/expire.log" expire -c "$T/backy.conf"
    [ "$status" != 159 ] || fail "expire trapped: $output"
    run grep -r "forbidden syscall" "$j"
    [ "$status" = 1 ] || fail "a log names a forbidden syscall: $output"
    unset BACKY_SECCOMP
}

@test "sandbox: init, backup, status, find, restore, tags, forget, expire on btrfs under BACKY_SECCOMP=trap" {
    require_root_or_skip
    trap_workflow btrfs
}

@test "sandbox: init, backup, status, find, restore, tags, forget, expire on ext4 under BACKY_SECCOMP=trap" {
    require_root_or_skip
    trap_workflow ext4
}

@test "sandbox: init, backup, status, find, restore, tags, forget, expire on xfs under BACKY_SECCOMP=trap" {
    require_root_or_skip
    trap_workflow xfs
}

@test "sandbox: backy-push is confined (no capabilities, no ptrace or mount) though it may start processes" {
    [ -x "$BACKY_BIN/backy-push" ] || fail "backy-push not built"
    BACKY_SANDBOX_PROBE=pause "$BACKY_BIN/backy-push" -b "$T/job" "$T/pushjob" >/dev/null 2>&1 &
    pid=$!
    track_pid "$pid"
    wait_sandboxed "$pid" || fail "backy-push did not reach its sandbox"
    run check_confined "$pid" backy-push
    kill "$pid"
    assert_success
    for p in ptrace mount; do
        run_probe backy-push "$p"
        assert_equal "$status" "$SIGSYS_STATUS"
    done
}

@test "sandbox: send, receive, push (local and to a new directory), revisions under BACKY_SECCOMP=trap" {
    require_root_or_skip
    mnt=$(mk_btrfs fs)
    j=$mnt/job
    export BACKY_SECCOMP=trap
    make_source "$mnt/src.img" 4M
    backy -b "$j" init file "$mnt/src.img" >/dev/null
    backy -b "$j" backup daily >/dev/null
    change_blocks "$mnt/src.img" 10 >/dev/null
    backy -b "$j" backup daily >/dev/null
    backy -v -b "$j" send -r 1 >"$mnt/s1" || fail "send trapped"
    run backy -v -b "$mnt/copy" receive <"$mnt/s1"
    assert_success
    backy -b "$j" send -r 0 --base 1 >"$mnt/s2" || fail "send --base trapped"
    run backy -b "$mnt/copy" receive <"$mnt/s2"
    assert_success
    run backy -v -b "$j" push "$mnt/pushed"
    assert_success
    run backy -b "$j" push "$mnt/pushed"
    assert_success
    run backy -b "$mnt/pushed" revisions --json
    assert_success
    assert_files_equal "$mnt/src.img" "$mnt/pushed/$(basename "$(readlink "$j/last")")"
    unset BACKY_SECCOMP
}

# ---- Landlock: what each tool can still reach ---------------------------

# fs_probe TOOL PROBE PATH: run TOOL with an fs-* probe on PATH; sets
# status and output ("ok", "failed ERRNO", or killed: 159).
fs_probe() {
    local t=$1 p=$2 path=$3
    # shellcheck disable=SC2046
    run env BACKY_SANDBOX_PROBE="$p" BACKY_SANDBOX_PROBE_PATH="$path" \
        "$BACKY_BIN/$t" $(tool_args "$t")
}

# expect_fs TOOL PROBE PATH WANT: WANT is ok, EACCES (the call fails with
# it), or killed (the seccomp filter kills the tool); appends to errs.
expect_fs() {
    local t=$1 p=$2 path=$3 want=$4 got
    fs_probe "$t" "$p" "$path"
    case $status in
        0) got=ok ;;
        3) got=${output##*failed } ;;
        "$SIGSYS_STATUS") got=killed ;;
        *) got="status $status: $output" ;;
    esac
    [ "$got" = "$want" ] || errs="$errs
$t: $p $path: $got, want $want"
}

# A root-owned area outside every tool's own: a directory, a file in it,
# a world-readable file, a "root binary".
outside_area() {
    mkdir -p "$T/outside"
    echo secret >"$T/outside/file"
    chmod 0644 "$T/outside/file"
    cp "$BACKY_BIN/backy-find" "$T/outside/rootbin"
    chmod 0755 "$T/outside/rootbin"
}

@test "sandbox: init, backup, forget, tags, expire cannot create, write, chmod or unlink outside their directory, nor read /etc/shadow" {
    require_root_or_skip
    [ -r /etc/shadow ] || skip "no /etc/shadow"
    outside_area
    local t errs=""
    for t in backy-init backy-backup backy-forget backy-tags backy-expire; do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        expect_fs "$t" fs-create "$T/outside/new" EACCES
        expect_fs "$t" fs-write "$T/outside/file" EACCES
        expect_fs "$t" fs-unlink "$T/outside/file" EACCES
        expect_fs "$t" fs-mkdir "$T/outside/dir" EACCES
        expect_fs "$t" fs-fchmod "$T/outside/rootbin" EACCES
        expect_fs "$t" fs-chmod "$T/outside/rootbin" killed
        expect_fs "$t" fs-read /etc/shadow EACCES
        expect_fs "$t" fs-read "$T/outside/file" EACCES
    done
    [ ! -e "$T/outside/new" ] && [ ! -e "$T/outside/dir" ] || errs="$errs
something was created in $T/outside"
    [ -f "$T/outside/file" ] || errs="$errs
$T/outside/file was removed"
    [ "$(stat -c %a "$T/outside/rootbin")" = 755 ] || errs="$errs
$T/outside/rootbin changed its mode"
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: init, backup, forget, tags, expire still work in their own directory" {
    require_root_or_skip
    local errs=""
    expect_fs backy-backup fs-create "$T/job/probe-file" ok
    expect_fs backy-backup fs-write "$T/job/probe-file" ok
    # the probe's mode is 04755: a setuid bit kills even in its own
    # directory (the filter allows fchmod only without setuid, setgid and
    # sticky bits; backups chmod their images 0440 in every workflow test)
    expect_fs backy-backup fs-fchmod "$T/job/probe-file" killed
    expect_fs backy-backup fs-unlink "$T/job/probe-file" ok
    expect_fs backy-backup fs-mkdir "$T/job/probe-dir" ok
    expect_fs backy-backup fs-read "$T/job/config" ok
    expect_fs backy-init fs-create "$T/newjob/probe-file" ok
    rm -rf "$T/newjob"
    expect_fs backy-init fs-read "$T/job/config" EACCES
    local t
    for t in backy-forget backy-tags; do
        expect_fs "$t" fs-create "$T/job/probe-$t" ok
        expect_fs "$t" fs-unlink "$T/job/probe-$t" ok
        expect_fs "$t" fs-read "$T/backy.conf" EACCES
    done
    mkdir -p "$T/srv/test01"
    expect_fs backy-expire fs-create "$T/srv/test01/probe-file" ok
    expect_fs backy-expire fs-unlink "$T/srv/test01/probe-file" ok
    expect_fs backy-expire fs-read "$T/job/config" EACCES
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
}

@test "sandbox: find, status, verify, check and restore read only their job directory (or config and status file); verify writes only there" {
    require_root_or_skip
    [ -r /etc/shadow ] || skip "no /etc/shadow"
    outside_area
    echo '{}' >"$T/srv/status"
    local t errs=""
    for t in backy-find backy-status backy-verify backy-check backy-restore; do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        expect_fs "$t" fs-read /etc/shadow EACCES
        expect_fs "$t" fs-read "$T/outside/file" EACCES
        expect_fs "$t" fs-fchmod "$T/outside/rootbin" EACCES
        expect_fs "$t" fs-chmod "$T/outside/rootbin" killed
        # verify may write (its record in ID.rev): Landlock keeps that to the job
        local outside=killed
        [ "$t" = backy-verify ] && outside=EACCES
        expect_fs "$t" fs-create "$T/outside/new" "$outside"
        expect_fs "$t" fs-unlink "$T/outside/file" "$outside"
        case $t in
            backy-check)
                expect_fs "$t" fs-read "$T/srv/status" ok
                expect_fs "$t" fs-read "$T/job/config" EACCES ;;
            *)
                expect_fs "$t" fs-read "$T/job/config" ok
                expect_fs "$t" fs-read "$T/srv/status" EACCES ;;
        esac
    done
    expect_fs backy-verify fs-create "$T/job/probe-verify" ok
    expect_fs backy-verify fs-unlink "$T/job/probe-verify" ok
    [ "$(stat -c %a "$T/outside/rootbin")" = 755 ] || errs="$errs
$T/outside/rootbin changed its mode"
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: backy-telnetd reads the status file and nothing else, not even world-readable files" {
    require_root_or_skip
    outside_area
    echo '{}' >"$T/srv/status"
    chmod 0755 "$T" "$T/srv"    # the status file is reachable for nobody
    local errs=""
    expect_fs backy-telnetd fs-read "$T/srv/status" ok
    expect_fs backy-telnetd fs-read "$T/outside/file" EACCES
    expect_fs backy-telnetd fs-read /etc/passwd EACCES
    expect_fs backy-telnetd fs-read "$T/job/config" EACCES
    expect_fs backy-telnetd fs-create "$T/srv/new" killed
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
}

@test "sandbox: the scheduler writes below its base directory and status file, nothing else" {
    require_root_or_skip
    [ -r /etc/shadow ] || skip "no /etc/shadow"
    outside_area
    local errs=""
    expect_fs backy-sched fs-create "$T/srv/probe-file" ok
    expect_fs backy-sched fs-unlink "$T/srv/probe-file" ok
    # not even its config: a reload reads it through a descriptor the
    # launcher opens (tests/sched.bats: an editor's new file is read)
    expect_fs backy-sched fs-read "$T/backy.conf" EACCES
    expect_fs backy-sched fs-create "$T/outside/new" EACCES
    expect_fs backy-sched fs-unlink "$T/outside/file" EACCES
    expect_fs backy-sched fs-fchmod "$T/outside/rootbin" EACCES
    expect_fs backy-sched fs-chmod "$T/outside/rootbin" killed
    expect_fs backy-sched fs-read /etc/shadow EACCES
    expect_fs backy-sched fs-read "$T/job/config" EACCES
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
}

# ---- the policies as data ------------------------------------------------

# policy_listing TOOL: the tool's effective policy, with the paths of this
# run replaced by T and BIN
policy_listing() {
    local t=$1 name=${2:-$1}
    # shellcheck disable=SC2046
    BACKY_SANDBOX_PRINT=$name "$BACKY_BIN/$t" $(tool_args "$t") |
        sed -n -e "s|$BACKY_BIN|BIN|g" -e "s|$T|T|g" -e '/^policy: /,$p'   # not log lines
}

@test "sandbox: every tool declares its Landlock rules" {
    local t errs=""
    for t in $(tool_list); do
        [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
        policy_listing "$t" 1 >"$T/$t.policy" || errs="$errs
$t: no policy listing"
        grep -q '^policy: ' "$T/$t.policy" || errs="$errs
$t: no policy listing: $(cat "$T/$t.policy")"
        ! grep -q 'NO RULES DECLARED' "$T/$t.policy" || errs="$errs
$t: declares no Landlock rules (struct sb_policy .fs)"
        # only mount and umount are exempt: Landlock refuses mount(2) itself
        case $t in
            backy-mount | backy-umount) ;;
            *) ! grep -q 'landlock: not applied' "$T/$t.policy" || errs="$errs
$t: exempt from Landlock without being a mount tool" ;;
        esac
    done
    policy_listing backy-sched backy-sched-launcher >"$T/launcher.policy"
    grep -q '^policy: backy-sched-launcher$' "$T/launcher.policy" || errs="$errs
launcher: no policy listing"
    ! grep -q 'NO RULES DECLARED' "$T/launcher.policy" || errs="$errs
launcher: declares no Landlock rules"
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}

@test "sandbox: backy-push writes only its local target (made before the sandbox) and cannot create, unlink or chmod outside" {
    require_root_or_skip
    outside_area
    local errs=""
    expect_fs backy-push fs-create "$T/pushjob/probe-file" ok
    expect_fs backy-push fs-unlink "$T/pushjob/probe-file" ok
    expect_fs backy-push fs-create "$T/outside/new" EACCES
    expect_fs backy-push fs-unlink "$T/outside/file" EACCES
    # push reads everything (ssh reads its configuration, keys and NSS
    # files), so it can open a root binary: the filter kills a setuid chmod
    expect_fs backy-push fs-fchmod "$T/outside/rootbin" killed
    expect_fs backy-push fs-create "$T/job/probe-file" EACCES
    [ "$(stat -c %a "$T/outside/rootbin")" = 755 ] || errs="$errs
$T/outside/rootbin changed its mode"
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
}

# BACKY_POLICY_UPDATE=1 rewrites the listings instead of comparing.
@test "sandbox: each tool's effective policy is the one committed in tests/fixtures/policy/" {
    local t name errs="" dir=$BACKY_ROOT/tests/fixtures/policy
    for t in $(tool_list) backy-push launcher; do
        name=$t
        if [ "$t" = launcher ]; then
            policy_listing backy-sched backy-sched-launcher >"$T/$t.policy"
            name=backy-sched-launcher
        else
            [ -x "$BACKY_BIN/$t" ] || { note_missing "$t"; continue; }
            policy_listing "$t" >"$T/$t.policy"
        fi
        if [ "${BACKY_POLICY_UPDATE:-0}" = 1 ]; then
            cp "$T/$t.policy" "$dir/$name.txt"
            continue
        fi
        [ -f "$dir/$name.txt" ] || { errs="$errs
$name: no listing $dir/$name.txt (BACKY_POLICY_UPDATE=1 writes it)"; continue; }
        diff -u "$dir/$name.txt" "$T/$t.policy" >"$T/$t.diff" || errs="$errs
$name: policy differs from $dir/$name.txt (BACKY_POLICY_UPDATE=1 after review):
$(cat "$T/$t.diff")"
    done
    [ -z "$errs" ] || { echo "$errs" >&2; return 1; }
    check_missing
}
