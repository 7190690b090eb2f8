#!/usr/bin/env bats
# The delta engine through backy-backup on real filesystems: btrfs and XFS
# (reflink), ext4 (no reflink: full copy); block sums, the fallbacks, holes,
# size changes, a damaged parent, and a failing backup that must leave the
# earlier revisions as they were.

load lib/common

# job JOBDIR SOURCE: a file job
job() {
    run backy -b "$1" init file "$2"
    assert_success
}

# backup JOBDIR [OPTIONS...]: one revision, output in $output
backup() {
    local d=$1
    shift
    run "$BACKY_BIN/backy-backup" -b "$d" "$@" daily
    assert_success
}

last_id() { basename "$(readlink "$1/last")"; }

@test "btrfs: an incremental revision shares all but the changed blocks" {
    require_root_or_skip
    require_tool backy backy-backup backy-verify
    m=$(mk_btrfs store 512M)
    make_source "$T/src" 64M
    job "$m/job" "$T/src"
    backup "$m/job"
    r1=$(last_id "$m/job")
    n=$(change_blocks "$T/src" 1)
    backup "$m/job"
    assert_output_contains "parent sums used"
    assert_output_not_contains "no reflink"
    r2=$(last_id "$m/job")
    [ "$r1" != "$r2" ]
    assert_files_equal "$T/src" "$m/job/$r2"
    changed=$((n * 65536))
    excl=$(btrfs_exclusive "$m/job/$r2")
    echo "# changed $changed bytes, exclusive $excl bytes" >&3
    assert_le "$excl" $((changed * 105 / 100)) "exclusive bytes of the new revision"
    assert_le $((changed * 95 / 100)) "$excl" "exclusive bytes cover the change"
    assert_file_exists "$m/job/$r2.sums"
    run "$BACKY_BIN/backy-verify" -b "$m/job" --all
    assert_success
    assert_output_contains "$r1: ok"
    assert_output_contains "$r2: ok"
}

@test "btrfs: zero blocks of the source become holes, the parent keeps its data" {
    require_root_or_skip
    require_tool backy backy-backup
    m=$(mk_btrfs store 256M)
    make_source "$T/src" 16M
    job "$m/job" "$T/src"
    backup "$m/job"
    r1=$(last_id "$m/job")
    # make_source leaves every 4th MiB zero: those are holes already
    z=$(zero_chunks "$T/src" | head -1)
    run is_hole "$m/job/$r1" "$z" 1048576
    assert_success
    # now zero a data MiB (the one after it)
    d=$((z + 1048576))
    dd if=/dev/zero of="$T/src" bs=1M seek=$((d / 1048576)) count=1 conv=notrunc status=none
    backup "$m/job"
    r2=$(last_id "$m/job")
    assert_files_equal "$T/src" "$m/job/$r2"
    run is_hole "$m/job/$r2" "$d" 1048576
    assert_success
    run is_hole "$m/job/$r1" "$d" 1048576
    assert_failure
}

@test "ext4 (no reflink): warns once, copies, and the revision is right" {
    require_root_or_skip
    require_tool backy backy-backup backy-verify
    m=$(mk_ext4 store 128M)
    make_source "$T/src" 16M
    job "$m/job" "$T/src"
    backup "$m/job"
    change_blocks "$T/src" 2 >/dev/null
    backup "$m/job"
    assert_output_contains "filesystem has no reflink support: making a full copy"
    [ "$(grep -c 'no reflink support' <<<"$output")" = 1 ]
    r2=$(last_id "$m/job")
    assert_files_equal "$T/src" "$m/job/$r2"
    # holes of the parent stay holes in the copy
    z=$(zero_chunks "$T/src" 64K | head -1)
    [ -n "$z" ]
    run is_hole "$m/job/$r2" "$z" 65536
    assert_success
    run "$BACKY_BIN/backy-verify" -b "$m/job"
    assert_success
}

@test "xfs: reflink clone, no copy" {
    require_root_or_skip
    require_tool backy backy-backup
    m=$(mk_xfs store)
    make_source "$T/src" 16M
    job "$m/job" "$T/src"
    backup "$m/job"
    change_blocks "$T/src" 1 >/dev/null
    backup "$m/job"
    assert_output_not_contains "no reflink"
    assert_files_equal "$T/src" "$m/job/$(last_id "$m/job")"
}

@test "the source grows and shrinks: the image follows, sums too" {
    require_root_or_skip
    require_tool backy backy-backup backy-verify
    m=$(mk_btrfs store 256M)
    make_source "$T/src" 8M
    job "$m/job" "$T/src"
    backup "$m/job"
    head -c 1234567 /dev/urandom >>"$T/src"
    backup "$m/job"
    assert_files_equal "$T/src" "$m/job/$(last_id "$m/job")"
    truncate -s 3000001 "$T/src"
    backup "$m/job"
    assert_files_equal "$T/src" "$m/job/$(last_id "$m/job")"
    [ "$(file_size "$m/job/$(last_id "$m/job")")" = 3000001 ]
    run "$BACKY_BIN/backy-verify" -b "$m/job" --all
    assert_success
}

@test "a parent without sums (backy 2.0) is compared by image; sums follow" {
    require_root_or_skip
    require_tool backy backy-backup
    m=$(mk_btrfs store 256M)
    make_source "$T/src" 16M
    job "$m/job" "$T/src"
    backup "$m/job"
    r1=$(last_id "$m/job")
    rm "$m/job/$r1.sums"
    n=$(change_blocks "$T/src" 1)
    backup "$m/job"
    assert_output_contains "has no sums: comparing with its image"
    r2=$(last_id "$m/job")
    assert_files_equal "$T/src" "$m/job/$r2"
    assert_file_exists "$m/job/$r2.sums"
    assert_le "$(btrfs_exclusive "$m/job/$r2")" $((n * 65536 * 105 / 100))
    # the next backup uses the new sums
    change_blocks "$T/src" 1 >/dev/null
    backup "$m/job"
    assert_output_contains "parent sums used"
}

@test "a parent whose image no longer matches its sums is detected and not copied" {
    require_root_or_skip
    require_tool backy backy-backup backy-verify
    m=$(mk_btrfs store 256M)
    make_source "$T/src" 8M
    job "$m/job" "$T/src"
    backup "$m/job"
    r1=$(last_id "$m/job")
    # damage every 64 KiB block of the parent image (bit rot, a careless
    # hand): the sample of unchanged blocks must hit it
    python3 - "$m/job/$r1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
size = os.fstat(fd).st_size
for off in range(0, size, 65536):
    os.pwrite(fd, b"\xde\xad", off + 100)
os.fsync(fd)
EOF
    # no verify before the backup: a verify would quarantine the parent and
    # the backup would not use it at all (quarantine.bats)
    backup "$m/job"
    assert_output_contains "does not match its sums"
    run "$BACKY_BIN/backy-verify" -b "$m/job" -r "$r1"
    assert_failure
    assert_output_contains "DAMAGED"
    r2=$(last_id "$m/job")
    assert_files_equal "$T/src" "$m/job/$r2"
    run "$BACKY_BIN/backy-verify" -b "$m/job" -r "$r2"
    assert_success
}

@test "verify: full and off are accepted and give the right revision" {
    require_root_or_skip
    require_tool backy backy-backup
    m=$(mk_btrfs store 256M)
    make_source "$T/src" 8M
    job "$m/job" "$T/src"
    backup "$m/job" --verify=full
    change_blocks "$T/src" 3 >/dev/null
    backup "$m/job" --verify=off
    assert_files_equal "$T/src" "$m/job/$(last_id "$m/job")"
    change_blocks "$T/src" 3 >/dev/null
    backup "$m/job" --verify=full
    assert_files_equal "$T/src" "$m/job/$(last_id "$m/job")"
}

@test "a backup that runs out of space fails cleanly; earlier revisions untouched" {
    require_root_or_skip
    require_tool backy backy-backup backy-verify
    m=$(mk_btrfs store 200M)
    make_source "$T/src" 64M
    job "$m/job" "$T/src"
    backup "$m/job"
    r1=$(last_id "$m/job")
    before=$(dir_sums "$m/job")
    # a whole new source of the same size does not fit beside the first
    head -c 64M /dev/urandom >"$T/src"
    sync
    avail=$(df -B1 --output=avail "$m" | tail -1)
    fallocate -l $((avail - 24 * 1048576)) "$m/filler"
    sync
    run "$BACKY_BIN/backy-backup" -b "$m/job" daily
    assert_failure
    assert_output_matches "backy-backup: error: .*: No space left on device"
    [ "$(last_id "$m/job")" = "$r1" ]
    # the failed revision is gone; everything else is as it was
    after=$(dir_sums "$m/job")
    [ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") >&3 || true; false; }
    run "$BACKY_BIN/backy-verify" -b "$m/job"
    assert_success
}
