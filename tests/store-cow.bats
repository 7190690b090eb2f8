#!/usr/bin/env bats
# Copy-on-write storage of revisions on real filesystems: btrfs and XFS
# (reflink=1) share unchanged blocks and keep zero regions as holes; ext4
# and tmpfs (no reflink) warn once and still store correct full copies.

load lib/common
load lib/store

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-find backy-restore backy-status
}

# A chain of backups with changes of different kinds; every revision must
# restore to the source state it was made from.
backup_chain() {
    local job=$1 src=$2
    backy -b "$job" init file "$src"
    backup_saving "$job" daily "$src"
    change_blocks "$src" 2 >/dev/null
    backup_saving "$job" daily "$src"
    # zero a region that had data, write data where there were zeros
    dd if=/dev/zero of="$src" bs=64K seek=3 count=8 conv=notrunc status=none
    head -c 65536 /dev/urandom | dd of="$src" bs=64K seek=17 conv=notrunc status=none
    backup_saving "$job" hourly "$src"
    # grow, then shrink to a size that is not a multiple of the block size
    truncate -s 20M "$src"
    head -c 100000 /dev/urandom | dd of="$src" bs=1 seek=$((19 * 1048576)) conv=notrunc status=none
    backup_saving "$job" hourly "$src"
    truncate -s 7654321 "$src"
    backup_saving "$job" daily,weekly "$src"
    # unchanged source
    backup_saving "$job" hourly "$src"
    assert_all_states_restore "$job"
    assert_equal "$(status_count "$job")" 6
}

@test "btrfs: every revision of a chain restores to its source state" {
    S=$(mk_btrfs store 512M)
    make_source "$T/src.img" 16M
    backup_chain "$S/job" "$T/src.img"
}

@test "xfs reflink=1: every revision of a chain restores to its source state" {
    S=$(mk_xfs store 512M)
    make_source "$T/src.img" 16M
    backup_chain "$S/job" "$T/src.img"
}

@test "btrfs: 1% changed of 256 MiB makes a revision sharing all but a few percent" {
    S=$(mk_btrfs store 1G)
    JOB=$S/job
    SRC=$T/src.img
    make_source "$SRC" 256M
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    first=$(last_id "$JOB")
    change_blocks "$SRC" 1 64K >/dev/null
    run backy -b "$JOB" backup daily
    assert_success
    assert_output_not_contains "reflink"
    second=$(last_id "$JOB")
    [ "$first" != "$second" ]
    assert_files_equal "$SRC" "$JOB/$second"
    sync
    size=$(file_size "$JOB/$second")
    excl=$(btrfs_exclusive "$JOB/$second")
    echo "image $size bytes, exclusive $excl bytes" >&2
    # 1% of the blocks changed: allow up to 4% of the image
    assert_le "$excl" $((size * 4 / 100)) "exclusive bytes"
    # and something was actually written
    [ "$excl" -gt 0 ]
    # the first revision is still intact
    first_excl=$(btrfs_exclusive "$JOB/$first")
    assert_le "$first_excl" $((size * 4 / 100)) "exclusive bytes of the parent"
}

# Every all-zero MiB of the source must be a hole in the image.
assert_zero_regions_are_holes() {
    local src=$1 img=$2 off n=0
    for off in $(zero_chunks "$src" 1M); do
        if ! is_hole "$img" "$off" 1M; then
            echo "zero region at $off is not a hole in $img" >&2
            holes "$img" >&2
            return 1
        fi
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

@test "btrfs: zero regions of the source are holes in every revision" {
    S=$(mk_btrfs store 512M)
    JOB=$S/job
    SRC=$T/src.img
    make_source "$SRC" 32M
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    assert_zero_regions_are_holes "$SRC" "$(last_image "$JOB")"
    alloc=$(allocated_bytes "$(last_image "$JOB")")
    # a quarter of the source is zeros
    assert_le "$alloc" $((32 * 1048576 * 80 / 100)) "allocated bytes"
    # data becoming zeros turns into holes in the next revision too
    dd if=/dev/zero of="$SRC" bs=1M seek=4 count=2 conv=notrunc status=none
    backy -b "$JOB" backup daily
    assert_zero_regions_are_holes "$SRC" "$(last_image "$JOB")"
    is_hole "$(last_image "$JOB")" 4M 2M
    assert_files_equal "$SRC" "$(last_image "$JOB")"
}

@test "xfs: zero regions of the source are holes" {
    S=$(mk_xfs store 512M)
    JOB=$S/job
    make_source "$T/src.img" 32M
    backy -b "$JOB" init file "$T/src.img"
    backy -b "$JOB" backup daily
    assert_zero_regions_are_holes "$T/src.img" "$(last_image "$JOB")"
}

@test "xfs: an unchanged second backup shares its blocks with the first" {
    S=$(mk_xfs store 512M)
    JOB=$S/job
    make_source "$T/src.img" 64M
    backy -b "$JOB" init file "$T/src.img"
    backy -b "$JOB" backup daily
    sync
    used1=$(df -B1 --output=used "$S" | tail -n 1)
    change_blocks "$T/src.img" 1 64K >/dev/null
    run backy -b "$JOB" backup daily
    assert_success
    assert_output_not_contains "reflink"
    sync
    used2=$(df -B1 --output=used "$S" | tail -n 1)
    echo "used before $used1, after $used2" >&2
    # a full copy would add about 48 MiB (64 MiB minus the zero regions)
    assert_le $((used2 - used1)) $((8 * 1048576)) "bytes used by the second revision"
    assert_files_equal "$T/src.img" "$(last_image "$JOB")"
}

# No reflink: the backup warns once (not once per block) and stores a full,
# correct copy.
no_reflink_case() {
    local S=$1
    JOB=$S/job
    SRC=$T/src.img
    make_source "$SRC" 8M
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    cp "$SRC" "$T/state1"
    change_blocks "$SRC" 10 >/dev/null
    run backy -b "$JOB" backup daily
    assert_success
    echo "$output"
    n=$(grep -i "reflink" <<<"$output" | grep -c "WARN" || true)
    assert_equal "$n" 1
    assert_output_matches "WARN"
    assert_files_equal "$SRC" "$(last_image "$JOB")"
    backy -b "$JOB" restore -r 1 "$T/r1"
    assert_files_equal "$T/state1" "$T/r1"
    assert_equal "$(status_count "$JOB")" 2
}

@test "ext4 (no reflink): warns once, still a correct full copy" {
    no_reflink_case "$(mk_ext4 store 128M)"
}

@test "tmpfs (no reflink): warns once, still a correct full copy" {
    no_reflink_case "$(mk_tmpfs store 128M)"
}
