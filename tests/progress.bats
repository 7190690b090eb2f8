#!/usr/bin/env bats
# progress.bats - the progress line of backup, restore and verify, in a real
# terminal (a tmux pane, its screen read with capture-pane and its raw
# output kept with pipe-pane) and with stderr in a file. Reads of the
# source (or of the job's filesystem) are slowed by a blkio cgroup of the
# test to about 40 MiB/s, so a 160 MiB pass lasts about 4 s and shows
# several updates.

load lib/common

SIZE_MIB=160
RATE_MIB=40
# a progress line (see progress.h)
LINE_RE='^[a-z]+ [^ ]+( [^ ]+)?: +[0-9]{1,3}%  [0-9.]+ (B|KiB|MiB|GiB) of [0-9.]+ (B|KiB|MiB|GiB)  [0-9.]+ (B|KiB|MiB|GiB)/s  ETA [0-9]+:[0-9]{2}$'

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-backup backy-restore backy-verify
    command -v tmux >/dev/null || skip "tmux not installed (sh/deps.sh installs it)"
    CG=
    cgroup_setup
    SRCFS=$(mk_ext4 srcfs 400M)
    JOBFS=$(mk_btrfs jobfs 512M)
    head -c "${SIZE_MIB}M" /dev/urandom >"$SRCFS/vm.img"
    J=$JOBFS/job
    backy -b "$J" init file "$SRCFS/vm.img" >/dev/null
}

teardown() {
    if [ -S "$T/tmux.sock" ]; then
        tmux -S "$T/tmux.sock" kill-server 2>/dev/null || true
    fi
    cgroup_remove
    common_teardown
}

# A cgroup of this test that slows reads of chosen devices down (cgroup v1
# blkio, else cgroup v2 io).
cgroup_setup() {
    local name=backy-progress-$$-$BATS_TEST_NUMBER
    if [ -f /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]; then
        CG=/sys/fs/cgroup/blkio/$name CGV=1
    elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw io /sys/fs/cgroup/cgroup.controllers; then
        grep -qw io /sys/fs/cgroup/cgroup.subtree_control ||
            echo +io >/sys/fs/cgroup/cgroup.subtree_control
        CG=/sys/fs/cgroup/$name CGV=2
    else
        skip "no blkio or io cgroup controller to slow the reads down"
    fi
    mkdir "$CG"
}

cgroup_remove() {
    [ -n "${CG:-}" ] && [ -d "$CG" ] || return 0
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        rmdir "$CG" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "# cannot remove cgroup $CG" >&3
}

# slow_reads MOUNTPOINT: reads from its device at RATE_MIB MiB/s in the cgroup
slow_reads() {
    local dev mm bps=$((RATE_MIB * 1048576))
    dev=$(findmnt -n -o SOURCE -M "$1")
    mm=$(lsblk -dno MAJ:MIN "$dev" | tr -d ' ')
    if [ "$CGV" = 1 ]; then
        echo "$mm $bps" >"$CG/blkio.throttle.read_bps_device"
    else
        echo "$mm rbps=$bps" >"$CG/io.max"
    fi
}

# cold FILE: drop FILE from the page cache, so reading it reaches the device
cold() {
    sync "$1"
    dd if="$1" iflag=nocache count=0 status=none
}

# throttled CMD...: run CMD in the test's cgroup
throttled() {
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"
}

# in_tmux 'SHELL COMMANDS': run them in the test's cgroup in a new 160x40
# tmux pane and wait until they are done. Screens are captured every 0.2 s
# into $T/screens (separated by "----"), the last one into $T/final, the
# raw bytes written to the terminal into $T/raw; ELAPSED: seconds from
# start to end.
in_tmux() {
    local s=$T/tmux.sock t0 t1 n=0
    rm -f "$T/go" "$T/done" "$T/raw"
    tmux -S "$s" -f /dev/null new-session -d -x 160 -y 40 \
        "while [ ! -e '$T/go' ]; do sleep 0.05; done; echo \$\$ >'$CG/cgroup.procs'; $1; echo EXIT=\$?; touch '$T/done'; exec sleep 600"
    tmux -S "$s" pipe-pane -o "cat >>'$T/raw'"
    : >"$T/screens"
    t0=$(date +%s.%N)
    touch "$T/go"
    while [ ! -e "$T/done" ] && [ $n -lt 300 ]; do
        tmux -S "$s" capture-pane -p -J >>"$T/screens"
        echo ---- >>"$T/screens"
        sleep 0.2
        n=$((n + 1))
    done
    t1=$(date +%s.%N)
    [ -e "$T/done" ] || fail "the commands in tmux did not finish within 60 s"
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    sleep 0.3
    tmux -S "$s" capture-pane -p -J >"$T/final"
    tmux -S "$s" kill-server
}

# The final screen holds only complete lines of the tools (log lines start
# with their time stamp) and EXIT=0: no progress line or fragment of one.
assert_clean_final() {
    local bad
    bad=$(grep -v -E '^$|^EXIT=0$|^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \[[0-9]+\] (DEBUG|INFO|WARNING) |'"${1:-^\$}" "$T/final") || true
    if [ -n "$bad" ] || ! grep -qx 'EXIT=0' "$T/final"; then
        echo "final screen:" >&2
        cat "$T/final" >&2
        fail "the final screen is not clean: $bad"
    fi
    if grep -q -E '%|ETA' "$T/final"; then
        cat "$T/final" >&2
        fail "a progress line is left on the final screen"
    fi
}

@test "backup on a terminal: percentage, rate and ETA, at most 4 updates a second, a clean screen after" {
    slow_reads "$SRCFS"
    cold "$SRCFS/vm.img"
    in_tmux "'$BACKY_BIN/backy' -v -b '$J' backup daily"
    # the line as it was seen on the screen
    grep -E "$LINE_RE" "$T/screens" >"$T/seen" || { cat "$T/screens" >&2; fail "no progress line on the screen"; }
    grep -q -E '^backup job: +[0-9]+%  [0-9.]+ [KMG]i?B of 160 MiB  [0-9.]+ [KMG]iB/s  ETA 0:0[0-9]$' "$T/seen" ||
        { cat "$T/seen" >&2; fail "no line with percentage, bytes, rate and ETA of the 160 MiB source"; }
    # drawn in place: \r, the line, erase to the end of the line
    local draws
    draws=$(tr '\r' '\n' <"$T/raw" | sed 's/\x1b\[K$//' | grep -c -E "$LINE_RE" || true)
    echo "# $draws updates in $ELAPSED s" >&3
    [ "$draws" -ge 3 ] || fail "only $draws updates in $ELAPSED s"
    awk -v n="$draws" -v s="$ELAPSED" 'BEGIN { exit !(n <= 4 * s) }' ||
        fail "$draws updates in $ELAPSED s: more than 4 a second"
    grep -q $'\r\033\\[K' "$T/raw" || fail "the line is not erased at the end"
    assert_clean_final
    grep -q 'INFO revision .* complete' "$T/final" || fail "the backup's last log line is missing"
    run backy -b "$J" verify
    assert_success
}

@test "backup on a terminal: nothing with stderr in a file, nothing with --no-progress" {
    slow_reads "$SRCFS"
    cold "$SRCFS/vm.img"
    in_tmux "'$BACKY_BIN/backy' -b '$J' backup daily 2>'$T/err'; dd if='$SRCFS/vm.img' iflag=nocache count=0 status=none; '$BACKY_BIN/backy' -b '$J' backup --no-progress weekly"
    echo "# ran $ELAPSED s" >&3
    [ ! -s "$T/err" ] || { cat -A "$T/err" >&2; fail "stderr in a file got output"; }
    if grep -q -E '%|ETA|MiB/s' "$T/screens" "$T/raw"; then
        grep -E '%|ETA|MiB/s' "$T/screens" >&2
        fail "a progress line was shown"
    fi
    [ "$(grep -c 'INFO revision .* complete' "$T/final")" = 2 ] || { cat "$T/final" >&2; fail "two backups expected"; }
    assert_clean_final
}

@test "backup --progress with stderr in a file: a line a second at most, then a 100% line" {
    slow_reads "$SRCFS"
    cold "$SRCFS/vm.img"
    local t0 t1
    t0=$(date +%s.%N)
    throttled "$BACKY_BIN/backy" -b "$J" backup --progress daily >"$T/out" 2>"$T/err" ||
        fail "backup failed: $(cat "$T/err")"
    t1=$(date +%s.%N)
    sed "s/^/# /" "$T/err" >&3
    ! grep -q $'[\r\033]' "$T/err" || fail "terminal controls in a file"
    local n last
    n=$(grep -c -E "$LINE_RE" "$T/err" || true)
    [ "$n" -ge 2 ] || fail "only $n progress lines before the end"
    awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { exit !(n <= b - a) }' ||
        fail "$n lines in less than $n seconds"
    # every line is a progress line; the last one says it is done
    [ "$(grep -c -v -E "$LINE_RE" "$T/err")" = 1 ] || fail "lines other than progress lines"
    last=$(tail -n 1 "$T/err")
    [[ "$last" =~ ^backup\ job:\ 100%\ \ 160\ MiB\ of\ 160\ MiB\ \ [0-9.]+\ MiB/s\ \ done\ in\ 0:0[0-9]$ ]] ||
        fail "last line: $last"
}

@test "restore and verify: lines with --progress in a file, nothing without; verify erases its line on a terminal" {
    backy -b "$J" backup daily >/dev/null
    local id
    id=$(rev_ids "$J" | head -n 1)
    slow_reads "$JOBFS"

    cold "$J/$id"
    throttled "$BACKY_BIN/backy" -b "$J" restore --progress "$SRCFS/restored" >"$T/out" 2>"$T/err" ||
        fail "restore failed: $(cat "$T/err")"
    sed "s/^/# /" "$T/err" >&3
    assert_files_equal "$SRCFS/restored" "$SRCFS/vm.img"
    grep -q -E '^restore job [^ ]+: +[0-9]{1,2}%  .*  ETA ' "$T/err" || fail "no line before the end"
    tail -n 1 "$T/err" | grep -q -E "^restore job $id: 100%  160 MiB of 160 MiB  .*done in " ||
        fail "no last line"

    cold "$J/$id"
    throttled "$BACKY_BIN/backy" -b "$J" verify --progress >"$T/out" 2>"$T/err" ||
        fail "verify failed: $(cat "$T/err")"
    grep -q "^$id: ok" "$T/out" || fail "verify did not say ok: $(cat "$T/out")"
    sed "s/^/# /" "$T/err" >&3
    grep -q -E "^verify job $id: +[0-9]{1,2}%  .*  ETA " "$T/err" || fail "no line before the end"
    tail -n 1 "$T/err" | grep -q -E "^verify job $id: 100%  160 MiB of 160 MiB" || fail "no last line"

    backy -b "$J" verify >"$T/out" 2>"$T/err" || fail "verify failed: $(cat "$T/err")"
    [ ! -s "$T/err" ] || fail "verify without --progress wrote to a file: $(cat "$T/err")"

    cold "$J/$id"
    in_tmux "'$BACKY_BIN/backy' -b '$J' verify"
    grep -q -E "^verify job $id: +[0-9]+%  .*/s  ETA " "$T/screens" || fail "no progress line on the screen"
    assert_clean_final "^$id: ok \\(160.00 MiB, 2560 blocks\\)\$"
}

@test "send shows progress (--progress: lines in a file), receive only when asked" {
    require_tool backy-send backy-receive
    backy -b "$J" backup daily >/dev/null
    local id
    id=$(rev_ids "$J" | head -n 1)
    slow_reads "$JOBFS"
    cold "$J/$id"
    throttled "$BACKY_BIN/backy" -b "$J" send --progress 2>"$T/err" |
        "$BACKY_BIN/backy" -b "$SRCFS/replica" receive --progress >"$T/out" 2>"$T/err2" ||
        fail "send | receive failed: $(cat "$T/err" "$T/err2")"
    sed "s/^/# /" "$T/err" "$T/err2" >&3
    grep -q -E "^send job $id: +[0-9]{1,2}%  .*  ETA " "$T/err" || fail "send: no line before the end"
    # the last progress line (send's own log line may follow it)
    grep -E "^send job " "$T/err" | tail -n 1 | grep -q -E "^send job $id: 100%  160 MiB of 160 MiB  .*done in " ||
        fail "send: no last line"
    grep -E "^receive " "$T/err2" | tail -n 1 | grep -q -E "^receive replica $id: 100%  160 MiB of 160 MiB  .*done in " ||
        fail "receive: no last line"
    assert_files_equal "$SRCFS/replica/$id" "$SRCFS/vm.img"

    # receive without --progress says nothing on stderr, even where send does
    rm -rf "$SRCFS/replica"
    "$BACKY_BIN/backy" -b "$J" send | "$BACKY_BIN/backy" -b "$SRCFS/replica" receive >"$T/out" 2>"$T/err2" ||
        fail "send | receive failed: $(cat "$T/err2")"
    [ ! -s "$T/err2" ] || fail "receive wrote to stderr: $(cat "$T/err2")"
}
