#!/usr/bin/env bats
# The manual's examples for init, backup, status, find and restore, run as
# written there (paths adapted), on a loop-mounted btrfs; revision specs.

load lib/common
load lib/store

ID_RE='[1-9A-HJ-NP-Za-km-z]{22}'

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-find backy-restore backy-status
    S=$(mk_btrfs store 512M)
    JOB=$S/test03
    SRC=$T/source.img
    make_source "$SRC" 16M
}

@test "init file PATH writes a config naming the source" {
    run backy -b "$JOB" init file "$SRC"
    assert_success
    assert_file_exists "$JOB/config"
    grep -q "type: file" "$JOB/config"
    grep -qF "$SRC" "$JOB/config"
}

@test "init refuses a directory that already has a job" {
    backy -b "$JOB" init file "$SRC"
    cp "$JOB/config" "$T/config.before"
    run backy -b "$JOB" init file "$T/other.img"
    assert_failure 1
    assert_output_matches "^backy-init: error: "
    assert_files_equal "$JOB/config" "$T/config.before"
}

@test "backup daily,weekly makes a complete revision equal to the source" {
    backy -b "$JOB" init file "$SRC"
    run backy -b "$JOB" backup daily,weekly
    assert_success
    id=$(last_id "$JOB")
    [[ $id =~ ^$ID_RE$ ]]
    assert_files_equal "$SRC" "$JOB/$id"
    assert_file_exists "$JOB/$id.rev"
    grep -q "duration" "$JOB/$id.rev"
    grep -q "daily" "$JOB/$id.rev"
    grep -q "weekly" "$JOB/$id.rev"
    # complete images are read-only
    assert_equal "$(stat -c %a "$JOB/$id")" 440
    assert_equal "$(readlink "$JOB/last")" "$id"
    assert_equal "$(readlink "$JOB/last.rev")" "$id.rev"
}

@test "status prints the revision table and the summary" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily,weekly
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    run backy -b "$JOB" status
    assert_success
    echo "$output"
    assert_output_matches '^\| Date +\| ID +\| +Size \| +Durat \| Tags +\|$'
    assert_output_matches '^\+-+\+-+\+-+\+-+\+-+\+$'
    assert_output_matches "^\| [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC \| $ID_RE \| +[0-9.]+ MiB \| +[0-9.]+ s \| daily,weekly +\|$"
    assert_output_matches "^\| .* UTC \| $ID_RE \| .* \| daily +\|$"
    assert_output_contains "== Summary"
    assert_output_matches '^2 revisions$'
    assert_output_matches '^[0-9.]+ (B|KiB|MiB|GiB) data \(estimated\)$'
    # oldest first: the daily,weekly row comes before the daily one
    first=$(grep -nE 'daily,weekly' <<<"$output" | cut -d: -f1)
    second=$(grep -nE '\| daily +\|$' <<<"$output" | cut -d: -f1)
    [ "$first" -lt "$second" ]
}

@test "status of an empty job says 0 revisions" {
    backy -b "$JOB" init file "$SRC"
    run backy -b "$JOB" status
    assert_success
    assert_output_contains "== Summary"
    assert_output_matches '^0 revisions$'
}

@test "status of a job with one revision says 1 revision, not 1 revisions" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    run backy -b "$JOB" status
    assert_success
    assert_output_matches '^1 revision$'
}

@test "find -r daily prints the path of the newest daily revision" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    daily=$(last_id "$JOB")
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup hourly
    run backy -b "$JOB" find -r daily
    assert_success
    assert_equal "$output" "$JOB/$daily"
    run backy -b "$JOB" find
    assert_success
    assert_equal "$output" "$JOB/$(readlink "$JOB/last")"
}

@test "restore TARGET and restore - copy out the newest revision" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    cp "$SRC" "$T/state1"
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    run backy -b "$JOB" restore "$T/restored.img"
    assert_success
    assert_files_equal "$SRC" "$T/restored.img"
    backy -b "$JOB" restore - >"$T/stdout.img"
    assert_files_equal "$SRC" "$T/stdout.img"
    backy -b "$JOB" restore -r 1 - >"$T/older.img"
    assert_files_equal "$T/state1" "$T/older.img"
}

@test "restore --force overwrites an existing target file of another size" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    head -c 40M /dev/urandom >"$T/target.img"
    backy -b "$JOB" restore --force "$T/target.img"
    assert_files_equal "$SRC" "$T/target.img"
}

@test "the job directory defaults to the current directory" {
    backy -b "$JOB" init file "$SRC"
    cd "$JOB"
    run backy backup daily
    assert_success
    run backy find
    assert_success
    assert_equal "$output" "$JOB/$(readlink "$JOB/last")"
}

@test "every tool also works on its own" {
    "$BACKY_BIN/backy-init" -b "$JOB" file "$SRC"
    "$BACKY_BIN/backy-backup" -b "$JOB" daily
    path=$("$BACKY_BIN/backy-find" -b "$JOB" -r daily)
    assert_files_equal "$SRC" "$path"
    "$BACKY_BIN/backy-restore" -b "$JOB" "$T/r.img"
    assert_files_equal "$SRC" "$T/r.img"
    run "$BACKY_BIN/backy-status" -b "$JOB"
    assert_success
    assert_output_matches '^1 revision'
}

# --- revision specs ---------------------------------------------------------

make_three() {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily,weekly
    A=$(last_id "$JOB")
    cp "$SRC" "$T/A"
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    B=$(last_id "$JOB")
    cp "$SRC" "$T/B"
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup hourly
    C=$(last_id "$JOB")
    cp "$SRC" "$T/C"
}

@test "revision spec: full ID and unique prefix" {
    make_three
    for id in "$A" "$B" "$C"; do
        run backy -b "$JOB" find -r "$id"
        assert_success
        assert_equal "$output" "$JOB/$id"
    done
    # the shortest prefix that is unique among the three (and not all
    # digits: a number is a relative revision count, as the manual says)
    for id in "$A" "$B" "$C"; do
        for n in $(seq 1 22); do
            p=${id:0:n}
            [[ $p =~ ^[0-9]+$ ]] && continue
            c=0
            for o in "$A" "$B" "$C"; do [[ $o == "$p"* ]] && c=$((c + 1)); done
            [ "$c" = 1 ] && break
        done
        run backy -b "$JOB" find -r "$p"
        assert_success
        assert_equal "$output" "$JOB/$id"
    done
    backy -b "$JOB" restore -r "${A:0:10}" "$T/rA"
    assert_files_equal "$T/A" "$T/rA"
}

@test "revision spec: an ambiguous prefix is an error naming the spec" {
    make_three
    # Make two revisions share a prefix by renaming B to A's first 3
    # characters plus the rest of B: the store reads IDs from the files.
    new=${A:0:3}${B:3}
    mv "$JOB/$B" "$JOB/$new"
    sed "s/$B/$new/g" "$JOB/$B.rev" >"$JOB/$new.rev"
    rm "$JOB/$B.rev"
    run backy -b "$JOB" find -r "${A:0:3}"
    assert_failure 1
    assert_output_matches "^backy-find: error: .*${A:0:3}"
    assert_output_contains "ambiguous"
    [ "${#lines[@]}" = 1 ]
}

@test "revision spec: relative numbers, last, latest" {
    make_three
    run backy -b "$JOB" find -r 0
    assert_equal "$output" "$JOB/$C"
    run backy -b "$JOB" find -r 1
    assert_equal "$output" "$JOB/$B"
    run backy -b "$JOB" find -r 2
    assert_equal "$output" "$JOB/$A"
    run backy -b "$JOB" find -r last
    assert_equal "$output" "$JOB/$C"
    run backy -b "$JOB" find -r latest
    assert_equal "$output" "$JOB/$C"
    # one past the oldest; digits only are also an ID prefix, so only when
    # no ID starts with 3 (IDs are random) ...
    if [ "${A#3}" = "$A" ] && [ "${B#3}" = "$B" ] && [ "${C#3}" = "$C" ]; then
        run backy -b "$JOB" find -r 3
        assert_failure 1
        assert_output_matches "^backy-find: error: .*'3'"
    fi
    # ... while no ID starts with 1 (not in the ID alphabet)
    run backy -b "$JOB" find -r 10
    assert_failure 1
    assert_output_matches "^backy-find: error: revision '10' not found: .* has 3 complete revisions"
}

@test "revision spec: a tag selects the newest revision with it" {
    make_three
    run backy -b "$JOB" find -r daily
    assert_equal "$output" "$JOB/$B"
    run backy -b "$JOB" find -r weekly
    assert_equal "$output" "$JOB/$A"
    run backy -b "$JOB" find -r hourly
    assert_equal "$output" "$JOB/$C"
    run backy -b "$JOB" find -r monthly
    assert_failure 1
    assert_output_matches "^backy-find: error: .*monthly"
    backy -b "$JOB" restore -r weekly "$T/rw"
    assert_files_equal "$T/A" "$T/rw"
}

@test "restore of an unknown revision fails and writes nothing" {
    make_three
    run backy -b "$JOB" restore -r nosuchrev "$T/never.img"
    assert_failure 1
    assert_output_matches "^backy-restore: error: .*nosuchrev"
    assert_file_missing "$T/never.img"
}
