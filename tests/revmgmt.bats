#!/usr/bin/env bats
# revmgmt.bats - revision management by hand and by cron: backy forget
# (one revision, the last links follow), backy tags (set/add/remove, the
# .rev rewritten atomically and kept 0440), backy expire (the scheduler's
# retention from the main config, --dry-run, named jobs, a missing job
# directory, a running backup), and SIGKILL at random points of forget and
# expire. Real btrfs on a loop device, real processes; every tool runs
# with BACKY_SECCOMP=trap, so a call missing from a policy fails the test.

load lib/common
load lib/store

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-status backy-verify backy-forget backy-tags backy-expire
    ulimit -c 0
    export BACKY_SECCOMP=trap
    S=$(mk_btrfs store 512M)
    JOB=$S/job
    SRC=$T/source.img
}

teardown() {
    common_teardown
}

# new_job JOBDIR SOURCE TAGS...: init, then one backup per TAGS argument,
# the source changed before each; the IDs are in $T/ids.JOBNAME, oldest first.
new_job() {
    local job=$1 src=$2 tags
    shift 2
    [ -f "$src" ] || make_source "$src" 2M
    backy -b "$job" init file "$src" >/dev/null
    for tags in "$@"; do
        change_blocks "$src" 5 >/dev/null
        backy -b "$job" backup "$tags" >/dev/null
    done
}

# IDs of JOBDIR as backy status lists them (oldest first).
ids() {
    backy -b "$1" status | awk -F'|' 'NF > 5 && $2 ~ /^ [0-9][0-9][0-9][0-9]-/ { gsub(/ /, "", $3); print $3 }'
}

# nth_id JOBDIR N: the N-th revision, 1 = oldest.
nth_id() {
    ids "$1" | sed -n "${2}p"
}

# age JOBDIR ID SECONDS: move the revision's timestamp SECONDS into the past.
age() {
    local f=$1/$2.rev ts
    ts=$(date -u -d "@$(($(date +%s) - $3))" '+%Y-%m-%d %H:%M:%S.000000+00:00')
    sed -i "s/^timestamp: .*/timestamp: $ts/" "$f"
}

# Sums of the files of one revision (image, .rev, .sums).
rev_sums() {
    local f
    for f in "$1/$2" "$1/$2".*; do
        [ -f "$f" ] && echo "$(sha256sum <"$f" | cut -d' ' -f1) $(stat -c %a "$f") ${f##*/}"
    done
    return 0
}

# Exit 1 and exactly one "PROG: error: " line besides log lines.
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

# Every complete revision verifies against its sums: none damaged, none
# without sums (exit 0), whenever there is one.
assert_store_sound() {
    backy -b "$1" find >/dev/null 2>&1 || return 0
    run "$BACKY_BIN/backy-verify" -b "$1" --all
    assert_success
}

# Every .rev with a duration has its image and sums; no .rev is unreadable.
assert_no_broken_complete() {
    local job=$1 f id
    for f in "$job"/*.rev; do
        [ -e "$f" ] || continue
        case "$f" in */last.rev) continue ;; esac
        id=$(basename "$f" .rev)
        grep -q '^uuid: ' "$f" || fail "unreadable $f"
        if grep -q 'duration:' "$f"; then
            [ -f "$job/$id" ] && [ -f "$job/$id.sums" ] && continue
            # a .rev without image reads as incomplete: that is allowed
            [ ! -e "$job/$id" ] || fail "complete-looking $id without sums"
        fi
    done
}

# main config: schedule "daily" (1d, keep 2) and "weekly" (7d, keep 1)
# for each job named.
write_conf() {
    local j
    {
        printf 'config:\n    base-dir: %s\n    status-file: %s/status\n' "$S" "$T"
        printf 'schedules:\n    default:\n        daily:\n            interval: 1d\n            keep: 2\n'
        printf '        weekly:\n            interval: 7d\n            keep: 1\n'
        printf 'jobs:\n'
        for j in "$@"; do
            printf '    %s:\n        schedule: default\n        source: {type: file, filename: %s}\n' "$j" "$T/$j.img"
        done
    } >"$T/backy.conf"
}

# A job whose revisions (daily) are 10, 9, 8, 7 and 0 days old: with keep
# 2 the ones 10, 9 and 8 days old expire (beyond the newest two, older
# than two days).
aged_job() {
    local job=$S/$1 i n
    new_job "$job" "$T/$1.img" daily daily daily daily daily
    n=10
    for i in 1 2 3 4; do
        age "$job" "$(nth_id "$job" "$i")" $((n * 86400))
        n=$((n - 1))
    done
}

# ---- forget ----------------------------------------------------------------

@test "forget of the newest revision moves last and last.rev to the one before" {
    new_job "$JOB" "$SRC" daily daily weekly
    r1=$(nth_id "$JOB" 1) r2=$(nth_id "$JOB" 2) r3=$(nth_id "$JOB" 3)
    assert_equal "$(readlink "$JOB/last")" "$r3"
    before=$(rev_sums "$JOB" "$r1"; rev_sums "$JOB" "$r2")
    run backy -b "$JOB" forget -r 0
    assert_success
    assert_output_contains "removed revision $r3"
    assert_output_contains "last: $r2"
    assert_file_missing "$JOB/$r3"
    assert_file_missing "$JOB/$r3.rev"
    assert_file_missing "$JOB/$r3.sums"
    assert_equal "$(readlink "$JOB/last")" "$r2"
    assert_equal "$(readlink "$JOB/last.rev")" "$r2.rev"
    assert_equal "$(rev_sums "$JOB" "$r1"; rev_sums "$JOB" "$r2")" "$before"
    assert_equal "$(ids "$JOB" | tr '\n' ' ')" "$r1 $r2 "
    assert_store_sound "$JOB"
}

@test "forget of an older revision leaves last alone" {
    new_job "$JOB" "$SRC" daily daily daily
    r1=$(nth_id "$JOB" 1) r2=$(nth_id "$JOB" 2) r3=$(nth_id "$JOB" 3)
    run backy -b "$JOB" forget -r "${r2:0:8}"
    assert_success
    assert_output_contains "removed revision $r2"
    assert_file_missing "$JOB/$r2"
    assert_file_missing "$JOB/$r2.rev"
    assert_equal "$(readlink "$JOB/last")" "$r3"
    assert_equal "$(readlink "$JOB/last.rev")" "$r3.rev"
    assert_equal "$(ids "$JOB" | tr '\n' ' ')" "$r1 $r3 "
    # the revision after it restores as before
    assert_files_equal "$SRC" "$JOB/$r3"
    assert_store_sound "$JOB"
}

@test "forget of the only revision removes the last links; the next backup starts afresh" {
    new_job "$JOB" "$SRC" daily
    r1=$(nth_id "$JOB" 1)
    run backy -b "$JOB" forget -r daily
    assert_success
    assert_output_contains "removed revision $r1"
    assert_output_contains "no complete revision left"
    assert_equal "$(ls -A "$JOB")" config
    run backy -b "$JOB" backup daily
    assert_success
    assert_files_equal "$SRC" "$(last_image "$JOB")"
}

@test "forget of a spec that matches nothing: one error line, nothing touched" {
    new_job "$JOB" "$SRC" daily daily
    before=$(dir_sums "$JOB")
    run backy -b "$JOB" forget -r nosuchtag
    assert_one_line_error backy-forget
    assert_output_contains "revision 'nosuchtag' not found in $JOB"
    run backy -b "$JOB" forget -r 123456789
    assert_one_line_error backy-forget
    run backy -b "$JOB" forget
    assert_failure 1
    assert_output_contains "no revision given"
    run backy -b "$S/nosuchjob" forget -r 0
    assert_one_line_error backy-forget
    assert_output_contains "$S/nosuchjob"
    assert_equal "$(dir_sums "$JOB")" "$before"
}

@test "forget, tags and expire refuse while the job is locked (a backup is running)" {
    new_job "$JOB" "$SRC" daily daily
    write_conf job
    age "$JOB" "$(nth_id "$JOB" 1)" $((30 * 86400))
    before=$(dir_sums "$JOB")
    flock "$JOB/config" sleep 60 3>&- &
    track_pid $!
    for i in $(seq 1 50); do flock -n "$JOB/config" true || break; sleep 0.1; done
    run backy -b "$JOB" forget -r 0
    assert_one_line_error backy-forget
    assert_output_contains "job is busy (a backup is running): $JOB/config is locked"
    run backy -b "$JOB" tags -r 0 add manual
    assert_one_line_error backy-tags
    assert_output_contains "job is busy"
    # expire: a note, exit 0 (the next run expires it)
    run backy expire -c "$T/backy.conf"
    assert_success
    assert_output_contains "job: skipped: a backup is running"
    assert_equal "$(dir_sums "$JOB")" "$before"
}

@test "forget refuses the incomplete revision of a real backup still running" {
    make_source "$SRC" 96M big
    new_job "$JOB" "$SRC" daily
    r1=$(nth_id "$JOB" 1)
    head -c 96M /dev/urandom >"$SRC"
    "$BACKY_BIN/backy-backup" -b "$JOB" daily >"$T/bg.out" 2>&1 3>&- &
    pid=$!
    track_pid "$pid"
    new=""
    for i in $(seq 1 2000); do
        new=$(cd "$JOB" && ls -- *.rev | sed 's/\.rev$//' | grep -v -e '^last$' -e "^$r1\$" | head -n 1)
        [ -n "$new" ] && break
        sleep 0.01
    done
    [ -n "$new" ] || fail "no new revision appeared"
    run backy -b "$JOB" forget -r "$new"
    rc=$status
    wait "$pid" || fail "the backup failed: $(cat "$T/bg.out")"
    status=$rc
    assert_one_line_error backy-forget
    assert_output_contains "job is busy"
    # the backup finished undisturbed
    assert_equal "$(ids "$JOB" | tr '\n' ' ')" "$r1 $new "
    assert_files_equal "$SRC" "$JOB/$new"
    assert_store_sound "$JOB"
}

@test "forget removes an incomplete leftover by its ID (a forget cut short)" {
    new_job "$JOB" "$SRC" daily daily
    r1=$(nth_id "$JOB" 1) r2=$(nth_id "$JOB" 2)
    # what a SIGKILL after the image went leaves: .rev and sums, no image
    rm -f "$JOB/$r1"
    run backy -b "$JOB" find -r "$r1"
    assert_failure
    run backy -b "$JOB" forget -r "$r1"
    assert_success
    assert_output_contains "removed revision $r1"
    assert_output_contains "incomplete"
    assert_equal "$(ls "$JOB" | grep -c "^$r1")" 0
    assert_equal "$(readlink "$JOB/last")" "$r2"
}

# ---- tags ------------------------------------------------------------------

@test "tags set, add and remove round-trip; the .rev stays 0440 and status reads it" {
    new_job "$JOB" "$SRC" daily daily
    r1=$(nth_id "$JOB" 1) r2=$(nth_id "$JOB" 2)
    other=$(rev_sums "$JOB" "$r2")
    img=$(sha256sum <"$JOB/$r1")
    run backy -b "$JOB" tags -r "$r1" add 'manual, keep-me'
    assert_success
    assert_output_contains "$r1: tags daily,keep-me,manual (were daily)"
    assert_equal "$(stat -c %a "$JOB/$r1.rev")" 440
    run backy -b "$JOB" status
    assert_success
    assert_output_matches "$r1 .*daily,keep-me,manual"
    run backy -b "$JOB" find -r keep-me
    assert_success
    assert_equal "$output" "$JOB/$r1"
    run backy -b "$JOB" tags -r "$r1" remove daily,manual
    assert_success
    assert_output_contains "$r1: tags keep-me (were daily,keep-me,manual)"
    run backy -b "$JOB" tags -r "$r1" set daily
    assert_success
    assert_output_contains "$r1: tags daily (were keep-me)"
    run backy -b "$JOB" tags -r "$r1" add daily
    assert_success
    assert_output_contains "(unchanged)"
    assert_equal "$(stat -c %a "$JOB/$r1.rev")" 440
    # nothing but the tags changed, no temp file is left, the other revision is untouched
    assert_equal "$(sha256sum <"$JOB/$r1")" "$img"
    assert_equal "$(ls "$JOB" | grep -c tmp)" 0
    assert_equal "$(rev_sums "$JOB" "$r2")" "$other"
    run backy -b "$JOB" status
    assert_output_matches "$r1 .*\| daily +\|"
    assert_store_sound "$JOB"
}

@test "tags and expire keep the verify record and statistics of a rewritten .rev" {
    write_conf job
    aged_job job
    r2=$(nth_id "$JOB" 2)
    printf 'verify:\n  time: 2026-12-01 01:00:00.000000+00:00\n  result: good\n  damaged_blocks: 0\n' >>"$JOB/$r2.rev"
    grep duration "$JOB/$r2.rev" >"$T/stats.before"
    run backy -b "$JOB" tags -r "$r2" add manual
    assert_success
    run backy expire -c "$T/backy.conf"
    assert_success
    assert_output_contains "expired tags daily of revision $r2"
    run cat "$JOB/$r2.rev"
    assert_output_contains "result: good"
    assert_output_contains "time: 2026-12-01 01:00:00"
    assert_output_contains "manual"
    assert_output_not_contains "daily"
    grep duration "$JOB/$r2.rev" | diff -u "$T/stats.before" -
}

@test "tags: bad tags, a missing tag, the last tag, a bad operation: one error line, nothing touched" {
    new_job "$JOB" "$SRC" daily daily,weekly
    before=$(dir_sums "$JOB")
    run backy -b "$JOB" tags -r 0 add -- -bad
    assert_one_line_error backy-tags
    assert_output_contains "invalid tag '-bad'"
    run backy -b "$JOB" tags -r 0 set 'a b'
    assert_one_line_error backy-tags
    run backy -b "$JOB" tags -r 0 set ','
    assert_one_line_error backy-tags
    assert_output_contains "no tags given"
    run backy -b "$JOB" tags -r 0 remove monthly
    assert_one_line_error backy-tags
    assert_output_contains "has no tag 'monthly'"
    run backy -b "$JOB" tags -r 1 remove daily
    assert_one_line_error backy-tags
    assert_output_contains "cannot remove the last tag"
    assert_output_contains "use forget"
    run backy -b "$JOB" tags -r 0 rename daily
    assert_failure 1
    assert_output_contains "unknown operation 'rename'"
    run backy -b "$JOB" tags -r nosuch add x
    assert_one_line_error backy-tags
    assert_equal "$(dir_sums "$JOB")" "$before"
}

# ---- expire ----------------------------------------------------------------

@test "expire removes what the schedule expires; a tag outside the schedule keeps its revision" {
    write_conf job
    aged_job job
    r1=$(nth_id "$JOB" 1) r2=$(nth_id "$JOB" 2) r3=$(nth_id "$JOB" 3)
    r4=$(nth_id "$JOB" 4) r5=$(nth_id "$JOB" 5)
    # r2 gets a tag no schedule knows
    run backy -b "$JOB" tags -r "$r2" add manual
    assert_success
    kept=$(rev_sums "$JOB" "$r4"; rev_sums "$JOB" "$r5")
    run backy expire -c "$T/backy.conf"
    assert_success
    assert_output_contains "job: removed revision $r1"
    assert_output_contains "job: removed revision $r3"
    assert_output_contains "job: expired tags daily of revision $r2"
    assert_output_contains "keeps tags manual"
    assert_equal "$(ids "$JOB" | tr '\n' ' ')" "$r2 $r4 $r5 "
    grep -q manual "$JOB/$r2.rev" || fail "manual tag lost"
    run grep -c daily "$JOB/$r2.rev"
    assert_equal "$output" 0
    assert_equal "$(stat -c %a "$JOB/$r2.rev")" 440
    assert_equal "$(rev_sums "$JOB" "$r4"; rev_sums "$JOB" "$r5")" "$kept"
    assert_equal "$(readlink "$JOB/last")" "$r5"
    # a second run has nothing left to do; the manual revision stays
    run backy expire -c "$T/backy.conf"
    assert_success
    assert_equal "$output" ""
    assert_file_exists "$JOB/$r2"
    assert_store_sound "$JOB"
}

@test "expire --dry-run removes nothing and prints the set expire then removes" {
    write_conf job
    aged_job job
    before=$(dir_sums "$JOB")
    run backy expire -c "$T/backy.conf" --dry-run
    assert_success
    assert_output_contains "would remove"
    assert_equal "$(dir_sums "$JOB")" "$before"
    would=$(sed -n 's/^job: would remove revision \([^ ]*\) .*/\1/p' <<<"$output" | sort)
    [ "$(wc -l <<<"$would")" = 3 ] || fail "expected 3 revisions to go, got: $would"
    run backy expire -c "$T/backy.conf"
    assert_success
    did=$(sed -n 's/^job: removed revision \([^ ]*\) .*/\1/p' <<<"$output" | sort)
    assert_equal "$did" "$would"
    for id in $did; do
        assert_file_missing "$JOB/$id.rev"
    done
    assert_equal "$(ids "$JOB" | wc -l)" 2
}

@test "expire of a named job touches no other job" {
    write_conf job1 job2
    aged_job job1
    aged_job job2
    before=$(dir_sums "$S/job2")
    run backy expire -c "$T/backy.conf" job1
    assert_success
    assert_output_contains "job1: removed revision"
    assert_output_not_contains "job2"
    assert_equal "$(ids "$S/job1" | wc -l)" 2
    assert_equal "$(dir_sums "$S/job2")" "$before"
    # an unknown job name: error before anything is done
    before=$(dir_sums "$S")
    run backy expire -c "$T/backy.conf" job2 nosuch
    assert_one_line_error backy-expire
    assert_output_contains "no job 'nosuch' in $T/backy.conf"
    assert_equal "$(dir_sums "$S")" "$before"
}

@test "expire with a job directory missing: one error line for it, the others are expired, exit 1" {
    write_conf job1 job2 job3
    aged_job job1
    aged_job job3
    run backy expire -c "$T/backy.conf"
    assert_failure 1
    assert_equal "$(grep -c 'error' <<<"$output")" 1
    assert_output_contains "backy-expire: error: job2: cannot open job directory: $S/job2: No such file or directory"
    assert_output_contains "job1: removed revision"
    assert_output_contains "job3: removed revision"
    assert_equal "$(ids "$S/job1" | wc -l)" 2
    assert_equal "$(ids "$S/job3" | wc -l)" 2
    assert_file_missing "$S/job2"
}

@test "expire: a bad config is one error line" {
    printf 'config:\n    base-dir: %s\nbogus: 1\n' "$S" >"$T/bad.conf"
    run backy expire -c "$T/bad.conf"
    assert_one_line_error backy-expire
    assert_output_contains "$T/bad.conf"
    run backy expire -c "$T/nosuch.conf"
    assert_one_line_error backy-expire
}

# ---- crashes ---------------------------------------------------------------

# kill_at_random PID: SIGKILL after 0-39 ms (or after it ended by itself).
kill_at_random() {
    sleep "$(printf '0.%03d' $((RANDOM % 40)))"
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

@test "SIGKILL at random points of forget never damages another revision" {
    make_source "$SRC" 8M
    new_job "$JOB" "$SRC" daily daily daily
    local round victim
    for round in $(seq 1 30); do
        while [ "$(ids "$JOB" | wc -l)" -lt 3 ]; do
            change_blocks "$SRC" 5 >/dev/null
            backy -b "$JOB" backup daily >/dev/null
        done
        victim=$(ids "$JOB" | shuf -n 1)
        for id in $(ids "$JOB"); do
            [ "$id" = "$victim" ] || rev_sums "$JOB" "$id"
        done >"$T/others.before"
        "$BACKY_BIN/backy-forget" -b "$JOB" -r "$victim" >/dev/null 2>&1 3>&- &
        kill_at_random $!
        # the others are byte for byte what they were
        for id in $(ids "$JOB"); do
            [ "$id" = "$victim" ] || rev_sums "$JOB" "$id"
        done >"$T/others.after"
        diff -u "$T/others.before" "$T/others.after" >&2 || fail "round $round: another revision changed"
        assert_no_broken_complete "$JOB"
        assert_store_sound "$JOB"
        # last points at a revision that is there
        if [ -L "$JOB/last" ]; then
            [ -f "$JOB/$(readlink "$JOB/last")" ] || fail "round $round: last dangles"
        fi
        # a cut-short forget is finished by forget again
        if [ -e "$JOB/$victim.rev" ] && [ ! -e "$JOB/$victim" ]; then
            run backy -b "$JOB" forget -r "$victim"
            assert_success
        fi
    done
    run backy -b "$JOB" backup daily
    assert_success
    assert_files_equal "$SRC" "$(last_image "$JOB")"
    assert_store_sound "$JOB"
}

@test "SIGKILL at random points of expire never damages another revision" {
    write_conf job
    make_source "$T/job.img" 4M
    new_job "$JOB" "$T/job.img" daily
    local round id
    for round in $(seq 1 20); do
        # a daily,manual revision that loses its daily tag, the newest two
        # daily ones kept, the older daily ones removed
        for tags in daily,manual daily daily; do
            change_blocks "$T/job.img" 5 >/dev/null
            backy -b "$JOB" backup "$tags" >/dev/null
        done
        n=$(ids "$JOB" | wc -l)
        i=0
        for id in $(ids "$JOB"); do
            i=$((i + 1))
            [ "$i" -le $((n - 2)) ] && age "$JOB" "$id" $((30 * 86400 + (n - i) * 60))
        done
        keep=$(ids "$JOB" | tail -n 2)
        for id in $keep; do rev_sums "$JOB" "$id"; done >"$T/kept.before"
        "$BACKY_BIN/backy-expire" -c "$T/backy.conf" >/dev/null 2>&1 3>&- &
        kill_at_random $!
        for id in $keep; do rev_sums "$JOB" "$id"; done >"$T/kept.after"
        diff -u "$T/kept.before" "$T/kept.after" >&2 || fail "round $round: a kept revision changed"
        assert_no_broken_complete "$JOB"
        assert_store_sound "$JOB"
        [ -f "$JOB/$(readlink "$JOB/last")" ] || fail "round $round: last dangles"
        # every revision that survives reads (old or new .rev, never a mix)
        run backy -b "$JOB" status
        assert_success
        assert_output_not_contains "skipping"
        # the next run finishes the work (an incomplete leftover is the
        # next backup's to remove)
        run "$BACKY_BIN/backy-expire" -c "$T/backy.conf"
        assert_success
    done
    run backy -b "$JOB" backup daily
    assert_success
    for id in $(ids "$JOB"); do
        grep -q duration "$JOB/$id.rev" || fail "incomplete $id left after a backup"
    done
    # the manual-tagged ones all survive without their daily tag
    n=$(grep -l manual "$JOB"/*.rev | grep -vc last.rev)
    assert_equal "$n" 20
    assert_store_sound "$JOB"
}
