#!/usr/bin/env bats
# Quarantine: every verify result is recorded in the revision's .rev; a
# damaged revision is never a parent, is refused by find and restore
# without --force and is marked by status; a scrub killed at any instant
# leaves every other revision and .rev as it was. Real btrfs on a loop
# device, as in verify.bats and delta.bats.

load lib/common

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-backup backy-verify backy-restore backy-find backy-status
    M=$(mk_btrfs store 512M)
    JOB=$M/job
}

teardown() {
    common_teardown
}

# job SIZE: a file job with a source of SIZE and one revision ($R1)
job() {
    make_source "$T/src" "$1"
    run backy -b "$JOB" init file "$T/src"
    assert_success
    backup
    R1=$(last_id)
}

backup() {
    run "$BACKY_BIN/backy-backup" -b "$JOB" daily
    assert_success
}

last_id() { basename "$(readlink "$JOB/last")"; }

# flip ID OFFSET: four bytes of bit rot in the image of revision ID
flip() {
    chmod u+w "$JOB/$1"
    printf '\x5a\xa5\x5a\xa5' | dd of="$JOB/$1" bs=1 seek="$2" conv=notrunc status=none
    chmod 0440 "$JOB/$1"
}

# rev_field ID KEY: a key of the verify record of ID.rev, read as YAML
rev_verify() {
    python3 - "$JOB/$1.rev" "$2" <<'EOF'
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
print(m.get("verify", {}).get(sys.argv[2], ""))
EOF
}

@test "a damaged revision is refused by restore and find until --force" {
    job 4M
    flip "$R1" $((65536 + 100))
    run backy -b "$JOB" verify
    [ "$status" = 1 ]
    assert_output_contains "$R1: DAMAGED: 1 of 64 blocks"
    run backy -b "$JOB" restore "$T/out.img"
    [ "$status" = 1 ]
    assert_output_contains "backy-restore: error: revision is quarantined: $JOB/$R1: verify found 1 damaged blocks on"
    assert_output_contains "--force uses it anyway"
    [ ! -e "$T/out.img" ]     # refused before the target is touched
    run backy -b "$JOB" find -r "$R1"
    [ "$status" = 1 ]
    assert_output_contains "backy-find: error: revision is quarantined: $JOB/$R1"
    # --force: the damaged image as it is
    run backy -b "$JOB" find --force
    assert_success
    assert_equal "$output" "$JOB/$R1"
    # restore --force copies it all, damaged block included, and still
    # fails on the damage its own check finds
    run backy -b "$JOB" restore --force "$T/out.img"
    [ "$status" = 1 ]
    assert_output_not_contains "quarantined"
    assert_files_equal "$JOB/$R1" "$T/out.img"
}

@test "every verify result is recorded in the .rev (0440, still backy 2.0's YAML)" {
    job 4M
    make_source "$T/src" 4M other
    backup
    R2=$(last_id)
    run backy -b "$JOB" verify -r "$R1"
    assert_success
    assert_equal "$(rev_verify "$R1" result)" good
    assert_equal "$(rev_verify "$R1" damaged_blocks)" 0
    assert_equal "$(rev_verify "$R2" result)" ""
    assert_equal "$(stat -c %a "$JOB/$R1.rev")" 440
    # the record as written, in the shared layout
    run grep -A3 '^verify:$' "$JOB/$R1.rev"
    assert_output_matches '^  time: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{6}\+00:00$'
    assert_output_contains "  result: good"
    assert_output_contains "  damaged_blocks: 0"
    flip "$R2" 100
    flip "$R2" $((3 * 65536))
    run backy -b "$JOB" verify --all
    [ "$status" = 1 ]
    assert_equal "$(rev_verify "$R2" result)" damaged
    assert_equal "$(rev_verify "$R2" damaged_blocks)" 2
    assert_equal "$(rev_verify "$R1" result)" good
    assert_equal "$(stat -c %a "$JOB/$R2.rev")" 440
    # no sums (made by backy 2.0): unverifiable, not good
    rm "$JOB/$R1.sums"
    run backy -b "$JOB" verify -r "$R1"
    [ "$status" = 2 ]
    assert_equal "$(rev_verify "$R1" result)" unverifiable
    # backy 2.0's Revision.load (src/backy/revision.py of flyingcircus/backy)
    # reads the file with yaml.safe_load, asserts a UTC timestamp and takes
    # uuid, parent, stats, tags, trust and backend_type with defaults; any
    # other key, like verify, is ignored. The same reading here:
    for id in "$R1" "$R2"; do
        run python3 - "$JOB/$id.rev" "$id" <<'EOF'
import datetime, sys, yaml
m = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
assert m["timestamp"].tzinfo == datetime.timezone.utc, m["timestamp"]
assert m["uuid"] == sys.argv[2]
m["parent"]; m.get("stats", {})["duration"]; set(m.get("tags", []))
m.get("trust", "trusted"); m.get("backend_type", "cowfile")
assert isinstance(m["verify"], dict) and m["verify"]["result"] in ("good", "damaged", "unverifiable")
print("read as backy 2.0 does")
EOF
        assert_success
    done
    # the rest of the revision is as it was: status still lists both
    run backy -b "$JOB" status
    assert_success
    assert_output_contains "2 revisions"
}

@test "bit rot in the newest revision does not spread once a scrub found it" {
    job 16M
    change_blocks "$T/src" 5 >/dev/null
    backup
    R2=$(last_id)
    # rot in R2 where the source is unchanged since: the next backup
    # alone would clone it ("wrote 0 B") and the 1% sample rarely sees it
    flip "$R2" $((5 * 1048576 + 4096))
    run backy -b "$JOB" verify --all     # the scrub, as the scheduler runs it
    [ "$status" = 1 ]
    assert_output_contains "$R2: DAMAGED"
    assert_output_contains "$R1: ok"
    backup
    R3=$(last_id)
    [ "$R3" != "$R2" ]
    cmp "$T/src" "$JOB/$R3"
    assert_output_contains "parent $R1: the newest revision not quarantined ($R2 is quarantined"
    assert_equal "$(sed -n 's/^parent: //p' "$JOB/$R3.rev")" "$R1"
    run backy -b "$JOB" verify -r "$R3"
    assert_success
    # the next backup uses the new, good revision again
    backup
    assert_output_not_contains "quarantined"
    R4=$(last_id)
    assert_equal "$(sed -n 's/^parent: //p' "$JOB/$R4.rev")" "$R3"
}

@test "when every revision is quarantined the backup reads the whole source" {
    job 4M
    flip "$R1" 200
    run backy -b "$JOB" verify
    [ "$status" = 1 ]
    backup
    assert_output_contains "no parent: every complete revision is quarantined (newest $R1)"
    R2=$(last_id)
    cmp "$T/src" "$JOB/$R2"
    assert_equal "$(python3 -c 'import sys, yaml; print(repr(yaml.safe_load(open(sys.argv[1]))["parent"]))' "$JOB/$R2.rev")" "''"
}

@test "status marks incomplete, running, quarantined, unverifiable and future revisions" {
    job 4M
    # a backup that found no change: 0 B, and nothing to mark
    backup
    R2=$(last_id)
    run backy -b "$JOB" status
    assert_success
    assert_output_matches '^\| Date +\| ID +\| +Size \| +Durat \| Tags +\|$'
    assert_output_matches "^\| [0-9: -]+ UTC \| $R2 \| +0 B \| +[0-9.]+ s \| daily \|$"
    # an incomplete revision (a backup killed before its end) shows the same
    # size, but is marked
    now=$(date -u +'%Y-%m-%d %H:%M:%S+00:00')
    inc=AAAAAAAAAAAAAAAAAAAAAA
    printf 'uuid: %s\ntimestamp: %s\nparent: %s\nstats:\n  bytes_written: 0\ntags: [daily]\n' \
        "$inc" "$now" "$R2" >"$JOB/$inc.rev"
    run backy -b "$JOB" status
    assert_success
    assert_output_matches '^\| Date +\| ID +\| +Size \| +Durat \| Tags +\| State +\|$'
    assert_output_matches "\| $inc \| +0 B \| +0\.0 s \| daily +\| incomplete +\|$"
    assert_output_matches "\| $R2 \| +0 B \| +[0-9.]+ s \| daily +\| +\|$"
    # while a backup holds the job lock, the newest incomplete one is running
    run flock -x "$JOB/config" "$BACKY_BIN/backy-status" -b "$JOB"
    assert_success
    assert_output_matches "\| $inc \| .*\| running +\|$"
    # quarantined and unverifiable
    flip "$R1" 300
    run backy -b "$JOB" verify -r "$R1"
    rm "$JOB/$R2.sums"
    run backy -b "$JOB" verify -r "$R2"
    [ "$status" = 2 ]
    # a revision dated ahead of the clock
    fut=BBBBBBBBBBBBBBBBBBBBBB
    cp "$JOB/$R2" "$JOB/$fut"
    printf 'uuid: %s\ntimestamp: 2099-01-01 00:00:00+00:00\nparent: %s\nstats:\n  bytes_written: 0\n  duration: 1.0\ntags: [daily]\n' \
        "$fut" "$R2" >"$JOB/$fut.rev"
    run backy -b "$JOB" status
    assert_success
    assert_output_matches "\| $R1 \| .*\| quarantined +\|$"
    assert_output_matches "\| $R2 \| .*\| unverifiable +\|$"
    assert_output_matches "\| $fut \| .*\| future +\|$"
    assert_output_matches "\| $inc \| .*\| incomplete +\|$"
    assert_output_contains "4 revisions"
}

@test "verify --all checks the newest revision first" {
    job 4M
    change_blocks "$T/src" 5 >/dev/null
    backup
    R2=$(last_id)
    run "$BACKY_BIN/backy-verify" -b "$JOB" --all
    assert_success
    assert_equal "${lines[0]%%:*}" "$R2"
    assert_equal "${lines[1]%%:*}" "$R1"
}

@test "verify --rate-limit caps the bytes read per second; bad rates refused" {
    job 4M
    # 4 MiB at 2 MiB/s cannot take less than about 2 s
    start=$(date +%s%N)
    run "$BACKY_BIN/backy-verify" -b "$JOB" --rate-limit 2
    assert_success
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    assert_le 1500 "$elapsed_ms" "milliseconds for 4 MiB at 2 MiB/s"
    for bad in 0 -1 fast 1e9 ''; do
        run "$BACKY_BIN/backy-verify" -b "$JOB" --rate-limit "$bad"
        [ "$status" = 1 ]
        assert_output_contains "backy-verify: error: invalid rate limit: --rate-limit $bad:"
    done
}

# hold_lock FILE: a process holding flock LOCK_EX on FILE until killed
# (its pid in $holder), as a running backup does
hold_lock() {
    python3 -c 'import fcntl, os, sys, time
f = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)' "$1" >"$T/holder.out" 3>&- &
    holder=$!
    track_pid "$holder"
    for _ in $(seq 1 200); do
        grep -q locked "$T/holder.out" && return 0
        sleep 0.05
    done
    return 1
}

@test "recording a verify result waits for the job lock; the check itself does not" {
    job 4M
    hold_lock "$JOB/config"
    "$BACKY_BIN/backy-verify" -b "$JOB" >"$T/v.out" 2>&1 3>&- &
    v=$!
    track_pid "$v"
    # the check ran (its line is out) and it waits for the lock to record
    for _ in $(seq 1 200); do
        grep -q ': ok' "$T/v.out" && grep -q -- '->' /proc/locks && break
        sleep 0.05
    done
    grep -q "$R1: ok" "$T/v.out"
    grep -q -- '->' /proc/locks
    assert_equal "$(rev_verify "$R1" result)" ""
    kill "$holder"
    wait "$v"
    assert_equal "$(rev_verify "$R1" result)" good
}

@test "a backup waits out a verify's brief hold of the job lock" {
    job 4M
    change_blocks "$T/src" 5 >/dev/null
    hold_lock "$JOB/config"
    (sleep 0.5; kill "$holder") 3>&- &
    backup
    assert_output_not_contains "already in progress"
    [ "$(last_id)" != "$R1" ]
}

@test "a backup beside a running backup says so at once" {
    job 4M
    # a backup holds the job directory's lock besides the config's
    hold_lock "$JOB"
    run "$BACKY_BIN/backy-backup" -b "$JOB" daily
    assert_success
    assert_output_contains "backup already in progress"
    assert_equal "$(last_id)" "$R1"
}

@test "SIGKILL at random points of a scrub never damages another revision or a .rev" {
    job 8M
    for i in 1 2 3; do
        change_blocks "$T/src" 10 >/dev/null
        backup
    done
    # images and sums: never written by a verify
    data_sums() {
        (cd "$JOB" && sha256sum -- $(ls | grep -v -e '\.rev' -e '^last' -e '\.log$' -e '^config$'))
    }
    before=$(data_sums)
    nrev=$(ls "$JOB"/*.rev | grep -vc '/last\.rev$')
    for round in $(seq 1 24); do
        if [ $((round % 2)) = 0 ]; then rate=(--rate-limit 40); else rate=(); fi
        "$BACKY_BIN/backy-verify" -b "$JOB" --all "${rate[@]}" >/dev/null 2>&1 3>&- &
        pid=$!
        sleep "0.$((RANDOM % 40))"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        # every .rev still reads, complete; images and sums untouched
        run "$BACKY_BIN/backy-status" -b "$JOB"
        assert_success
        assert_output_not_contains "warning"
        assert_output_contains "$nrev revisions"
        assert_output_not_contains "incomplete"
        for f in "$JOB"/*.rev; do
            python3 -c 'import sys, yaml; m = yaml.safe_load(open(sys.argv[1])); assert m["stats"]["duration"]' "$f"
        done
        [ "$(data_sums)" = "$before" ]
    done
    # a killed rewrite may leave ID.rev.tmp-PID; the next backup removes it
    backup
    [ -z "$(ls "$JOB" | grep '\.tmp-')" ]
    run "$BACKY_BIN/backy-verify" -b "$JOB" --all
    assert_success
    [ "$(echo "$output" | grep -c ': ok')" = $((nrev + 1)) ]
}
