#!/usr/bin/env bats
# The copy-out paths of restore (libcommon/copyout.c) on real targets:
# reflink on the same btrfs, a sparse copy to ext4, an existing larger file
# (--force), a loop block device, and a pipe.

load lib/common

# a job with one revision of a 16 MiB source that has zero regions (holes
# in the image)
mkjob() {
    make_source "$T/src" 16M
    run backy -b "$1/job" init file "$T/src"
    assert_success
    run "$BACKY_BIN/backy-backup" -b "$1/job" daily
    assert_success
    IMG=$1/job/$(readlink "$1/job/last")
}

@test "restore to the same btrfs is a reflink: no new data" {
    require_root_or_skip
    require_tool backy backy-backup backy-restore
    m=$(mk_btrfs store 256M)
    mkjob "$m"
    run "$BACKY_BIN/backy-restore" -b "$m/job" "$m/out"
    assert_success
    assert_output_contains "reflink"
    assert_files_equal "$IMG" "$m/out"
    [ "$(btrfs_exclusive "$m/out")" = 0 ]
}

@test "restore to ext4 is sparse where the image has holes" {
    require_root_or_skip
    require_tool backy backy-backup backy-restore
    m=$(mk_btrfs store 256M)
    e=$(mk_ext4 target 64M)
    mkjob "$m"
    run "$BACKY_BIN/backy-restore" -b "$m/job" "$e/out"
    assert_success
    assert_files_equal "$IMG" "$e/out"
    # a quarter of the source is zeros: at most 3/4 of it allocated (+ slack)
    assert_le "$(allocated_bytes "$e/out")" $((13 * 1048576)) "allocated bytes of the restored file"
}

@test "restore --force over an existing larger file: same content and size" {
    require_root_or_skip
    require_tool backy backy-backup backy-restore
    m=$(mk_btrfs store 256M)
    e=$(mk_ext4 target 64M)
    mkjob "$m"
    head -c 20M /dev/urandom >"$e/out"
    run "$BACKY_BIN/backy-restore" -b "$m/job" --force "$e/out"
    assert_success
    assert_files_equal "$IMG" "$e/out"
}

@test "restore to a block device writes every byte, zeros included" {
    require_root_or_skip
    require_tool backy backy-backup backy-restore
    m=$(mk_btrfs store 256M)
    mkjob "$m"
    # a loop device full of other data, larger than the image
    head -c 20M /dev/urandom >"$T/dev.img"
    dev=$(losetup --show -f "$T/dev.img")
    run "$BACKY_BIN/backy-restore" -b "$m/job" "$dev"
    rc=$status
    head -c 16M "$dev" >"$T/back"
    losetup -d "$dev"
    [ "$rc" = 0 ] || { echo "$output"; false; }
    assert_files_equal "$IMG" "$T/back"
}

@test "restore to a device smaller than the image fails and says so" {
    require_root_or_skip
    require_tool backy backy-backup backy-restore
    m=$(mk_btrfs store 256M)
    mkjob "$m"
    truncate -s 8M "$T/small.img"
    dev=$(losetup --show -f "$T/small.img")
    run "$BACKY_BIN/backy-restore" -b "$m/job" "$dev"
    losetup -d "$dev"
    [ "$status" = 1 ]
    assert_output_contains "too small"
}

@test "restore to a pipe streams the image with holes as zeros" {
    require_tool backy backy-backup backy-restore
    mkjob "$T"
    "$BACKY_BIN/backy-restore" -b "$T/job" - 2>/dev/null | cat >"$T/streamed"
    assert_files_equal "$IMG" "$T/streamed"
}
