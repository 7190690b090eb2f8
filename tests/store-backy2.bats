#!/usr/bin/env bats
# A job directory written by backy 2.0 (tests/fixtures/backy2-job: .rev
# files in flow and block YAML style, naive timestamps meaning UTC,
# last/last.rev symlinks) is read, listed, restored, and used as the
# parent of a new backup.

load lib/common
load lib/store

IDS="Q5N5Ng5kFzNFVv6FDDDCHi FqZGAe6iG2hadwJoHdpigW ENpdQfhQVgzoiWwT4KuQqP ojtLPmKfGNhJQbaJYo6a4C"

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-backup backy-find backy-restore backy-status
    S=$(mk_btrfs store 512M)
    JOB=$S/test03
    SRC=$T/source.img
    make_backy2_job
}

# Copy the fixture and generate its images: each revision is the previous
# one with some blocks changed, as backy 2.0 would have stored them.
make_backy2_job() {
    mkdir -p "$JOB" "$T/states"
    cp -P "$BACKY_ROOT"/tests/fixtures/backy2-job/*.rev "$BACKY_ROOT"/tests/fixtures/backy2-job/last* "$JOB/"
    make_source "$T/img" 4M backy2
    local id
    for id in $IDS; do
        change_blocks "$T/img" 5 64K "$id" >/dev/null
        cp "$T/img" "$JOB/$id"
        chmod 0440 "$JOB/$id"
        cp "$T/img" "$T/states/$id"
    done
    # backy 2.0 job config: the source map
    printf 'type: file\nfilename: %s\n' "$SRC" >"$JOB/config"
    cp "$T/img" "$SRC"
}

@test "backy 2.0 job: status lists every revision with UTC times and tags" {
    run backy -b "$JOB" status
    assert_success
    echo "$output"
    assert_output_not_contains "WARN"
    assert_output_matches '^\| 2015-11-04 20:09:32 UTC \| Q5N5Ng5kFzNFVv6FDDDCHi \| +4\.00 MiB \| +150\.9 s \| daily,weekly +\|$'
    assert_output_matches '^\| 2015-11-05 06:15:09 UTC \| FqZGAe6iG2hadwJoHdpigW \| +1\.00 MiB \| +24\.9 s \| daily +\|$'
    assert_output_matches '^\| 2015-11-06 06:15:09 UTC \| ENpdQfhQVgzoiWwT4KuQqP \| +2\.00 MiB \| +28\.7 s \| daily +\|$'
    assert_output_matches '^\| 2015-11-06 09:49:27 UTC \| ojtLPmKfGNhJQbaJYo6a4C \| +512(\.00)? KiB \| +17\.7 s \| hourly +\|$'
    assert_output_matches '^4 revisions$'
    # oldest first
    order=$(grep -oE '[1-9A-HJ-NP-Za-km-z]{22}' <<<"$output" | tr '\n' ' ')
    assert_equal "$order" "$IDS "
}

@test "backy 2.0 job: revision specs resolve" {
    run backy -b "$JOB" find
    assert_equal "$output" "$JOB/ojtLPmKfGNhJQbaJYo6a4C"
    run backy -b "$JOB" find -r daily
    assert_equal "$output" "$JOB/ENpdQfhQVgzoiWwT4KuQqP"
    run backy -b "$JOB" find -r weekly
    assert_equal "$output" "$JOB/Q5N5Ng5kFzNFVv6FDDDCHi"
    run backy -b "$JOB" find -r 2
    assert_equal "$output" "$JOB/FqZGAe6iG2hadwJoHdpigW"
    run backy -b "$JOB" find -r FqZ
    assert_equal "$output" "$JOB/FqZGAe6iG2hadwJoHdpigW"
}

@test "backy 2.0 job: every revision restores" {
    for id in $IDS; do
        backy -b "$JOB" restore -r "$id" "$T/r-$id"
        assert_files_equal "$T/states/$id" "$T/r-$id"
    done
}

@test "backy 2.0 job: a new backup uses the newest revision as parent" {
    change_blocks "$SRC" 5 64K new >/dev/null
    run backy -b "$JOB" backup daily
    assert_success
    new=$(last_id "$JOB")
    [ "$new" != ojtLPmKfGNhJQbaJYo6a4C ]
    grep -qE "parent: *['\"]?ojtLPmKfGNhJQbaJYo6a4C" "$JOB/$new.rev"
    assert_files_equal "$SRC" "$JOB/$new"
    # shares the unchanged blocks with its parent
    sync
    excl=$(btrfs_exclusive "$JOB/$new")
    assert_le "$excl" $((1024 * 1024)) "exclusive bytes of the new revision"
    # the old revisions and their .rev files are untouched
    for id in $IDS; do
        assert_files_equal "$T/states/$id" "$JOB/$id"
        cmp "$BACKY_ROOT/tests/fixtures/backy2-job/$id.rev" "$JOB/$id.rev"
    done
    run backy -b "$JOB" status
    assert_output_matches '^5 revisions$'
    assert_equal "$(readlink "$JOB/last")" "$new"
}
