#!/usr/bin/env bats
# Failure modes of the job store: bad configs, vanished sources, corrupt
# .rev files, read-only and full filesystems, signals in the middle of a
# backup, concurrent backups, logging. Whatever goes wrong, revisions that
# were already backed up stay untouched.

load lib/common
load lib/store

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-find backy-restore backy-status
    S=$(mk_btrfs store 512M)
    JOB=$S/job
    SRC=$T/source.img
}

# A job with one complete revision of an 8 MiB source.
job_with_revision() {
    make_source "$SRC" "${1:-8M}"
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    dir_sums "$JOB" >"$T/sums.before"
}

assert_job_unchanged() {
    dir_sums "$JOB" >"$T/sums.after"
    diff -u "$T/sums.before" "$T/sums.after" >&2
}

# Exit status 1 and one line "PROG: error: ..." besides log lines
# ("YYYY-MM-DDTHH:MM:SSZ [PID] LEVEL ...", on stdout when there is no -l).
assert_one_line_error() {
    assert_failure 1
    assert_output_matches "^$1: error: "
    local other
    other=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \[[0-9]+\] [A-Z]+ ' <<<"$output" || true)
    if [ "$(wc -l <<<"$other")" != 1 ]; then
        echo "expected one error line, got:" >&2
        echo "$other" >&2
        return 1
    fi
}

@test "backup in a directory without config: clear error" {
    mkdir -p "$JOB"
    run backy -b "$JOB" backup daily
    assert_one_line_error backy-backup
    assert_output_contains "$JOB/config"
    assert_output_matches "does not exist|No such file or directory"
    assert_equal "$(ls -A "$JOB")" ""
}

@test "backup of a job directory that does not exist: clear error" {
    run backy -b "$S/nosuchjob" backup daily
    assert_one_line_error backy-backup
    assert_output_contains "$S/nosuchjob"
    assert_file_missing "$S/nosuchjob"
}

@test "unreadable config: clear error naming it, nothing touched" {
    job_with_revision
    chmod 000 "$JOB/config"
    # root reads anything: drop the capabilities that bypass permissions
    run setpriv --bounding-set=-dac_override,-dac_read_search \
        "$BACKY_BIN/backy" -b "$JOB" backup daily
    chmod 644 "$JOB/config"
    assert_one_line_error backy-backup
    assert_output_contains "$JOB/config"
    assert_output_contains "Permission denied"
    assert_job_unchanged
}

@test "config that is not valid YAML: error naming the file, nothing touched" {
    job_with_revision
    chmod u+w "$JOB/config"
    cp "$JOB/config" "$T/config.good"
    printf 'type: file\nfilename: [unclosed\n' >"$JOB/config"
    dir_sums "$JOB" >"$T/sums.before"
    run backy -b "$JOB" backup daily
    assert_one_line_error backy-backup
    assert_output_contains "config"
    assert_job_unchanged
}

@test "unknown source type in init and in config" {
    run backy -b "$JOB" init nosuchtype "$T/x"
    assert_one_line_error backy-init
    assert_output_contains "nosuchtype"
    assert_file_missing "$JOB/config"

    job_with_revision
    chmod u+w "$JOB/config"
    printf 'type: nosuchtype\nfilename: %s\n' "$SRC" >"$JOB/config"
    dir_sums "$JOB" >"$T/sums.before"
    run backy -b "$JOB" backup daily
    assert_one_line_error backy-backup
    assert_output_contains "nosuchtype"
    assert_job_unchanged
}

@test "a source that vanished: error naming it, older revisions untouched" {
    job_with_revision
    rm "$SRC"
    run backy -b "$JOB" backup daily
    assert_one_line_error backy-backup
    assert_output_contains "$SRC"
    assert_output_contains "No such file or directory"
    assert_job_unchanged
    assert_equal "$(status_count "$JOB")" 1
}

corrupt_case() {
    local how=$1
    make_source "$SRC" 4M
    backy -b "$JOB" init file "$SRC"
    for t in daily weekly hourly; do
        backy -b "$JOB" backup "$t"
        change_blocks "$SRC" 10 >/dev/null
    done
    # corrupt the middle revision (the weekly one)
    bad=$(basename "$(backy -b "$JOB" find -r weekly)")
    good_last=$(last_id "$JOB")
    chmod u+w "$JOB/$bad.rev"
    case $how in
        garbage) printf '{[: not yaml at all\n\001\002' >"$JOB/$bad.rev" ;;
        # cut inside the uuid: the document no longer names its revision
        truncate) truncate -s 10 "$JOB/$bad.rev" ;;
        empty) : >"$JOB/$bad.rev" ;;
    esac
    run backy -b "$JOB" status
    assert_success
    echo "$output"
    assert_output_matches "WARN.*$bad\.rev"
    assert_output_matches '^2 revisions$'
    assert_output_contains "$good_last"
    # the rest still works
    run backy -b "$JOB" find -r daily
    assert_success
    run backy -b "$JOB" find
    assert_success
    assert_equal "$(basename "${lines[-1]}")" "$good_last"
    # and a new backup leaves the corrupt file alone
    run backy -b "$JOB" backup daily
    assert_success
    assert_file_exists "$JOB/$bad.rev"
}

@test "a corrupt .rev file is skipped with a warning naming it" {
    corrupt_case garbage
}

@test "a truncated .rev file is skipped with a warning naming it" {
    corrupt_case truncate
}

@test "an empty .rev file is skipped with a warning naming it" {
    corrupt_case empty
}

@test "job directory on a read-only filesystem: backup fails cleanly, reading works" {
    job_with_revision
    id=$(last_id "$JOB")
    change_blocks "$SRC" 10 >/dev/null
    remount_ro "$S"
    run backy -b "$JOB" backup daily
    assert_one_line_error backy-backup
    assert_output_contains "Read-only file system"
    assert_output_contains "$JOB"
    run backy -b "$JOB" status
    assert_success
    assert_output_matches '^1 revisions?$'
    run backy -b "$JOB" find
    assert_success
    assert_equal "$output" "$JOB/$id"
    backy -b "$JOB" restore "$T/r.img"
    remount_rw "$S"
    assert_job_unchanged
    run backy -b "$JOB" backup daily
    assert_success
    assert_files_equal "$SRC" "$(last_image "$JOB")"
}

@test "ENOSPC during backup: the new revision is removed, older ones unchanged" {
    S2=$(mk_btrfs tiny 128M)
    JOB=$S2/job
    head -c 40M /dev/urandom >"$SRC"
    backy -b "$JOB" init file "$SRC"
    failed=0
    for i in 1 2 3 4 5 6; do
        dir_sums "$JOB" >"$T/sums.before"
        head -c 40M /dev/urandom >"$SRC"
        run backy -b "$JOB" backup daily
        if [ "$status" != 0 ]; then
            failed=1
            break
        fi
    done
    [ "$failed" = 1 ] || fail "the filesystem never filled up"
    echo "$output"
    assert_one_line_error backy-backup
    assert_output_contains "No space left on device"
    # every older image and .rev file is unchanged; no new complete revision
    dir_sums "$JOB" | grep -v " ./last" >"$T/sums.after" || true
    grep -v " ./last" "$T/sums.before" >"$T/sums.before.nolast" || true
    # files of the failed revision may be left only if incomplete
    while read -r sum f; do
        grep -qF " $f" "$T/sums.before.nolast" && continue
        id=$(basename "$f" | cut -d. -f1)
        if [ -f "$JOB/$id.rev" ] && grep -q duration "$JOB/$id.rev"; then
            fail "a complete revision $id appeared despite ENOSPC"
        fi
    done <"$T/sums.after"
    while read -r line; do
        grep -qxF "$line" "$T/sums.after" || fail "changed or missing: $line"
    done <"$T/sums.before.nolast"
    # after freeing space the next backup succeeds and removes leftovers
    # (all but the newest revision go: on a filesystem this small btrfs
    # needs room to spare, and returns freed space only after a commit)
    for rev in $(ls -t "$JOB"/*.rev | tail -n +2); do
        rm -f "$rev" "$JOB/$(basename "$rev" .rev)" "$JOB/$(basename "$rev" .rev)".*
    done
    btrfs filesystem sync "$S2" >/dev/null
    head -c 4M /dev/urandom >"$SRC"
    run backy -b "$JOB" backup daily
    assert_success
    assert_files_equal "$SRC" "$(last_image "$JOB")"
}

# Start a backup of a large changed source in the background and signal
# it once its new image exists.
interrupt_case() {
    local sig=$1
    S=$(mk_btrfs big 2G)
    JOB=$S/job
    head -c 384M /dev/urandom >"$SRC"
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    first=$(last_id "$JOB")
    dir_sums "$JOB" >"$T/sums.before"
    head -c 384M /dev/urandom >"$SRC"
    "$BACKY_BIN/backy-backup" -b "$JOB" daily >"$T/bg.out" 2>&1 &
    pid=$!
    track_pid "$pid"
    new=""
    for i in $(seq 1 2000); do
        new=$(ls "$JOB" | grep -v -e '\.' -e '^last$' -e "^$first\$" -e '^config$' | head -n 1)
        [ -n "$new" ] && [ -s "$JOB/$new" ] && break
        sleep 0.01
    done
    [ -n "$new" ] || fail "no new image appeared"
    kill -"$sig" "$pid" || fail "backup finished before the signal"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" != 0 ] || fail "the interrupted backup exited 0"
    cat "$T/bg.out"
    # the older revision is untouched
    dir_sums "$JOB" | grep -F "$first" >"$T/first.after"
    grep -F "$first" "$T/sums.before" | diff -u - "$T/first.after"
    # the interrupted revision is not complete
    if [ -f "$JOB/$new.rev" ]; then
        run grep duration "$JOB/$new.rev"
        assert_failure
    fi
    # the next backup cleans up and succeeds
    run backy -b "$JOB" backup daily
    assert_success
    assert_file_missing "$JOB/$new"
    assert_file_missing "$JOB/$new.rev"
    assert_files_equal "$SRC" "$(last_image "$JOB")"
    assert_equal "$(status_count "$JOB")" 2
}

@test "the complete .rev cannot be written (disk full at the last step): the new revision is removed, older ones unchanged" {
    job_with_revision
    so=$(failrename_so)
    make_source "$SRC" 8M
    # rename 1 onto a .rev makes the incomplete revision, rename 2 completes it
    LD_PRELOAD=$so FAILRENAME_SUFFIX=.rev FAILRENAME_AT=2 run backy -b "$JOB" backup daily
    assert_one_line_error backy-backup
    assert_output_matches "cannot complete revision file, revision removed: $JOB/[A-Za-z0-9]+\.rev: No space left on device"
    assert_job_unchanged
    run backy -b "$JOB" backup daily
    assert_success
    [ "$(rev_ids "$JOB" | wc -l)" = 2 ]
    cmp "$SRC" "$JOB/$(readlink "$JOB/last")"
}

@test "SIGTERM in the middle of a backup: incomplete revision removed" {
    interrupt_case TERM
    assert_output_not_contains "removing incomplete"  # nothing left to clean
    grep -q "interrupted by signal" "$T/bg.out"
}

@test "SIGKILL in the middle of a backup: the next backup cleans up" {
    interrupt_case KILL
}

@test "a second concurrent backup says so and exits 0 without touching anything" {
    job_with_revision
    flock "$JOB/config" sleep 60 &
    track_pid $!
    wait_for 10 sh -c "! flock -n '$JOB/config' true"
    run backy -b "$JOB" backup daily
    assert_success
    assert_output_contains "backup already in progress"
    assert_job_unchanged
}

@test "two backups started together: one runs, the other says in progress" {
    make_source "$SRC" 256M
    backy -b "$JOB" init file "$SRC"
    "$BACKY_BIN/backy-backup" -b "$JOB" daily >"$T/one.out" 2>&1 &
    p1=$!
    track_pid "$p1"
    "$BACKY_BIN/backy-backup" -b "$JOB" daily >"$T/two.out" 2>&1 &
    p2=$!
    track_pid "$p2"
    wait "$p1"
    wait "$p2"
    cat "$T/one.out" "$T/two.out"
    n=$(cat "$T/one.out" "$T/two.out" | grep -c "backup already in progress" || true)
    assert_equal "$n" 1
    assert_equal "$(status_count "$JOB")" 1
    assert_files_equal "$SRC" "$(last_image "$JOB")"
}

@test "logging with -l: line format, and a renamed log file is replaced" {
    make_source "$SRC" 4M
    backy -b "$JOB" init file "$SRC"
    run backy -l "$T/backy.log" -b "$JOB" backup daily
    assert_success
    [ -s "$T/backy.log" ]
    while IFS= read -r line; do
        [[ $line =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\ \[[0-9]+\]\ (DEBUG|INFO|WARN|WARNING|ERROR)\ .+ ]] ||
            fail "bad log line: $line"
    done <"$T/backy.log"
    grep -q "complete" "$T/backy.log"
    first_lines=$(wc -l <"$T/backy.log")
    mv "$T/backy.log" "$T/backy.log.1"
    backy -l "$T/backy.log" -b "$JOB" backup hourly
    assert_file_exists "$T/backy.log"
    grep -q "hourly" "$T/backy.log"
    assert_equal "$(wc -l <"$T/backy.log.1")" "$first_lines"
    run grep -c hourly "$T/backy.log.1"
    assert_equal "$output" 0
    # -v adds diagnostic lines
    backy -v -l "$T/verbose.log" -b "$JOB" backup hourly
    grep -q " DEBUG " "$T/verbose.log"
}
