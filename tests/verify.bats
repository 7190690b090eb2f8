#!/usr/bin/env bats
# backy-verify: intact, damaged, without sums, all revisions, bad input;
# images and sums are only read (results go into the .rev: quarantine.bats).

load lib/common

setup() {
    common_setup
    require_tool backy backy-backup backy-verify
    make_source "$T/src" 4M
    run backy -b "$T/job" init file "$T/src"
    assert_success
    run "$BACKY_BIN/backy-backup" -b "$T/job" daily
    assert_success
    change_blocks "$T/src" 5 >/dev/null
    run "$BACKY_BIN/backy-backup" -b "$T/job" daily
    assert_success
    R1=$(cd "$T/job" && ls -1tr -- *.rev | head -1 | sed 's/\.rev$//')
    R2=$(basename "$(readlink "$T/job/last")")
}

teardown() {
    common_teardown
}

@test "an intact revision: ok, exit 0" {
    run backy -b "$T/job" verify
    assert_success
    assert_output_contains "$R2: ok (4.00 MiB, 64 blocks)"
}

@test "--all checks every complete revision" {
    run "$BACKY_BIN/backy-verify" -b "$T/job" --all
    assert_success
    assert_output_contains "$R1: ok"
    assert_output_contains "$R2: ok"
}

@test "a damaged image: DAMAGED with the bad offsets, exit 1; images and sums unchanged" {
    chmod u+w "$T/job/$R1"
    printf 'XY' | dd of="$T/job/$R1" bs=1 seek=$((3 * 65536 + 10)) conv=notrunc status=none
    printf 'XY' | dd of="$T/job/$R1" bs=1 seek=$((40 * 65536)) conv=notrunc status=none
    chmod 0440 "$T/job/$R1"
    before=$(dir_sums "$T/job" | grep -v '\.rev$')
    run "$BACKY_BIN/backy-verify" -b "$T/job" -r "$R1"
    assert_failure
    [ "$status" = 1 ]
    assert_output_contains "$R1: DAMAGED: 2 of 64 blocks of 65536 bytes differ; offsets 196608 2621440"
    [ "$(dir_sums "$T/job" | grep -v '\.rev$')" = "$before" ]
    # the other revision is still fine; --all reports both and fails
    run "$BACKY_BIN/backy-verify" -b "$T/job" --all
    [ "$status" = 1 ]
    assert_output_contains "$R2: ok"
}

@test "a revision without sums: reported, exit 2" {
    rm "$T/job/$R2.sums"
    run "$BACKY_BIN/backy-verify" -b "$T/job"
    [ "$status" = 2 ]
    assert_output_contains "$R2: no sums: cannot verify"
}

@test "damaged sums: one-line error naming the file, exit 1" {
    chmod u+w "$T/job/$R2.sums"
    printf 'Z' | dd of="$T/job/$R2.sums" bs=1 seek=60 conv=notrunc status=none
    run "$BACKY_BIN/backy-verify" -b "$T/job"
    [ "$status" = 1 ]
    assert_output_contains "backy-verify: error: cannot read sums: $T/job/$R2.sums: checksum mismatch (corrupt)"
}

@test "an image of the wrong size is damaged" {
    chmod u+w "$T/job/$R2"
    truncate -s 1M "$T/job/$R2"
    run "$BACKY_BIN/backy-verify" -b "$T/job"
    [ "$status" = 1 ]
    assert_output_contains "$R2: DAMAGED: image has 1048576 bytes, its sums describe 4194304"
}

@test "bad input: unknown revision, -r with --all, stray argument" {
    run "$BACKY_BIN/backy-verify" -b "$T/job" -r nosuchrev
    [ "$status" = 1 ]
    assert_output_contains "backy-verify: error:"
    assert_output_contains "nosuchrev"
    run "$BACKY_BIN/backy-verify" -b "$T/job" -r last --all
    [ "$status" = 1 ]
    run "$BACKY_BIN/backy-verify" -b "$T/job" extra
    [ "$status" = 1 ]
    run "$BACKY_BIN/backy-verify" -b "$T/nojob"
    [ "$status" = 1 ]
    assert_output_contains "backy-verify: error:"
}
