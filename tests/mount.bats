#!/usr/bin/env bats
# mount.bats - file-level restore: backy mount attaches a revision read-only
# and mounts one filesystem of it (a partition of a partitioned image, or a
# plain filesystem image) without replaying its journal; backy umount undoes
# it and refuses mounts that are not revisions. Real sfdisk tables, real
# ext4, XFS and btrfs, real loop devices; nothing may write into the image.

load lib/common

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-mount backy-umount
    S=$(mk_btrfs store 1G)
    JOB=$S/vm
    MNT=$T/restore
    mkdir -p "$MNT"
}

teardown() {
    # a failed test must not leave a revision mounted
    if findmnt -n -M "$MNT" >/dev/null 2>&1; then
        umount "$MNT" || true
    fi
    common_teardown
}

# fs_on IMAGE START SECTORS TYPE TEXT: make a TYPE filesystem in the sectors
# of IMAGE and put a file "hello" holding TEXT into it.
fs_on() {
    local img=$1 start=$2 sectors=$3 type=$4 text=$5 dev
    dev=$(losetup -f --show -o $((start * 512)) --sizelimit $((sectors * 512)) "$img")
    case $type in
        ext4) mkfs.ext4 -q -F "$dev" ;;
        xfs) mkfs.xfs -q -f "$dev" ;;
        btrfs) mkfs.btrfs -q -f "$dev" ;;
    esac
    mkdir -p "$T/fsmnt"
    mount "$dev" "$T/fsmnt"
    echo "$text" >"$T/fsmnt/hello"
    umount "$T/fsmnt"
    losetup -d "$dev"
}

# A disk as the manual's kpartx walkthrough has it: an MBR table, a small
# partition without filesystem (boot loader), then ext4 and XFS.
make_disk() {
    truncate -s 400M "$1"
    printf 'label: dos\nstart=2048, size=2048, type=83\nstart=4096, size=131072, type=83\nstart=135168, size=655360, type=83\n' |
        sfdisk -q "$1"
    fs_on "$1" 4096 131072 ext4 "ext4 partition"
    fs_on "$1" 135168 655360 xfs "xfs partition"
}

backup_of() {
    backy -b "$JOB" init file "$1" >/dev/null
    backy -b "$JOB" backup daily >/dev/null
    IMG=$(backy -b "$JOB" find)
}

# loop devices backed by FILE (none: empty)
loops_of() {
    losetup -n -O NAME -j "$1"
}

@test "mount: a partitioned image needs --partition when several partitions hold filesystems" {
    make_disk "$T/disk.img"
    backup_of "$T/disk.img"
    run backy -b "$JOB" mount "$MNT"
    assert_failure 1
    assert_output_matches "^backy-mount: error: .*partitions 1 \(unknown\), 2 \(ext4\), 3 \(xfs\): choose one with --partition N$"
    [ -z "$(loops_of "$IMG")" ] || fail "loop device left behind: $(loops_of "$IMG")"
    ! findmnt -n -M "$MNT" >/dev/null
    run backy -b "$JOB" mount --partition 9 "$MNT"
    assert_failure 1
    assert_output_matches "^backy-mount: error: image has no partition 9: $IMG$"
    run backy -b "$JOB" mount --partition 1 "$MNT"
    assert_failure 1
    assert_output_matches "^backy-mount: error: no filesystem backy can mount on partition 1 of $IMG$"
    [ -z "$(loops_of "$IMG")" ] || fail "loop device left behind: $(loops_of "$IMG")"
}

@test "mount: ext4 and XFS partitions read-only without journal replay; nothing writes into the image" {
    make_disk "$T/disk.img"
    backup_of "$T/disk.img"
    local before after loop
    before=$(sha256sum <"$IMG")
    for p in 2 3; do
        run backy -b "$JOB" mount -r 0 --partition "$p" "$MNT"
        assert_success
        if [ "$p" = 2 ]; then
            assert_output_matches "^filesystem: ext4$"
            assert_output_matches "^mounted: +$MNT \(ro,nosuid,nodev,noload\)$"
            assert_equal "$(cat "$MNT/hello")" "ext4 partition"
        else
            assert_output_matches "^filesystem: xfs$"
            assert_output_matches "^mounted: +$MNT \(ro,nosuid,nodev,norecovery,nouuid\)$"
            assert_equal "$(cat "$MNT/hello")" "xfs partition"
            findmnt -n -o OPTIONS -M "$MNT" | grep -q norecovery
        fi
        assert_output_matches "^image: +$IMG$"
        assert_output_matches "partition $p: "
        loop=$(findmnt -n -o SOURCE -M "$MNT")
        [[ $loop =~ ^/dev/loop[0-9]+$ ]] || fail "source $loop"
        assert_equal "$(loops_of "$IMG")" "$loop"
        # read-only everywhere: the mount, the loop device, a remount
        findmnt -n -o OPTIONS -M "$MNT" | grep -qE '(^|,)ro(,|$)'
        assert_equal "$(blockdev --getro "$loop")" 1
        run touch "$MNT/new"
        assert_failure
        run mount -o remount,rw "$MNT"
        assert_failure
        run dd if=/dev/zero of="$loop" bs=4096 count=1 conv=notrunc status=none
        assert_failure
        run backy umount "$MNT"
        assert_success
        assert_output_matches "^unmounted: +$MNT$"
        assert_output_matches "^detached: +$loop \($IMG\)$"
        ! findmnt -n -M "$MNT" >/dev/null
        [ -z "$(loops_of "$IMG")" ] || fail "loop device left behind: $(loops_of "$IMG")"
    done
    after=$(sha256sum <"$IMG")
    assert_equal "$after" "$before"
}

@test "mount: plain ext4, XFS and btrfs images, taken while mounted (journal needs recovery)" {
    local type size before src
    for type in ext4 xfs btrfs; do
        case $type in xfs) size=320M ;; *) size=128M ;; esac
        src=$T/$type.img
        truncate -s "$size" "$src"
        case $type in
            ext4) mkfs.ext4 -q -F "$src" ;;
            xfs) mkfs.xfs -q -f "$src" ;;
            btrfs) mkfs.btrfs -q -f "$src" ;;
        esac
        # back it up while it is mounted read-write, as a running VM's disk
        mkdir -p "$T/live"
        mount -o loop "$src" "$T/live"
        echo "$type plain" >"$T/live/hello"
        sync
        # XFS keeps metadata in its log until it is frozen (the manual's
        # advice: fsfreeze before the backup); ext4 and btrfs have it in
        # place after sync, but ext4 still marks its journal for recovery
        [ "$type" != xfs ] || fsfreeze -f "$T/live"
        rm -rf "$JOB"
        backup_of "$src"
        [ "$type" != xfs ] || fsfreeze -u "$T/live"
        umount "$T/live"
        if [ "$type" = ext4 ]; then
            # the copy is of a mounted ext4: its journal wants replaying,
            # so a plain read-only mount of a read-only device fails
            dumpe2fs -h "$IMG" 2>/dev/null | grep -q needs_recovery
            local ro
            ro=$(losetup -r -f --show "$IMG")
            run mount -t ext4 -o ro "$ro" "$MNT"
            losetup -d "$ro"
            assert_failure
        fi
        before=$(sha256sum <"$IMG")
        run backy -b "$JOB" mount "$MNT"
        assert_success
        assert_output_matches "^filesystem: $type$"
        assert_output_matches "^device: +/dev/loop[0-9]+ \(read-only\)$"
        assert_equal "$(cat "$MNT/hello")" "$type plain"
        run touch "$MNT/new"
        assert_failure
        run backy umount "$MNT"
        assert_success
        [ -z "$(loops_of "$IMG")" ] || fail "loop device left behind: $(loops_of "$IMG")"
        assert_equal "$(sha256sum <"$IMG")" "$before"
    done
}

@test "umount: refuses a mount that is not a revision, and a directory that is no mount point" {
    local m
    m=$(mk_ext4 other)
    run backy umount "$m"
    assert_failure 1
    assert_output_matches "^backy-umount: error: not mounted by backy-mount: $m: /dev/loop[0-9]+ is backed by .*other.img, not a revision image$"
    findmnt -n -M "$m" >/dev/null || fail "$m was unmounted"
    run backy umount "$MNT"
    assert_failure 1
    assert_output_matches "^backy-umount: error: not a mount point: $MNT$"
    mount -t tmpfs none "$MNT"
    run backy umount "$MNT"
    assert_failure 1
    assert_output_matches "^backy-umount: error: not mounted by backy-mount: $MNT: its source none is no loop device$"
    umount "$MNT"
}

@test "mount: bad input is a one-line error: no mount point, a quarantined revision without --force" {
    make_disk "$T/disk.img"
    backup_of "$T/disk.img"
    run backy -b "$JOB" mount --partition 2 "$T/nonexistent"
    assert_failure 1
    assert_output_matches "^backy-mount: error: cannot use mount point: $T/nonexistent: No such file or directory$"
    run backy -b "$JOB" mount --partition x "$MNT"
    assert_failure 1
    assert_output_matches "^backy-mount: error: bad partition number: 'x'"
    # a damaged revision (as backy-verify records it) is quarantined
    local id rev
    id=$(basename "$IMG")
    rev=$JOB/$id.rev
    chmod u+w "$rev"
    printf 'verify:\n  time: 2026-12-02 01:00:00.000000+00:00\n  result: damaged\n  damaged_blocks: 1\n' >>"$rev"
    run backy -b "$JOB" mount --partition 2 "$MNT"
    assert_failure 1
    assert_output_matches "^backy-mount: error: revision is quarantined .*: use --force to mount it anyway$"
    run backy -b "$JOB" mount --force --partition 2 "$MNT"
    assert_success
    assert_equal "$(cat "$MNT/hello")" "ext4 partition"
    backy umount "$MNT"
}

@test "umount: a revision removed while it was mounted (expired) is still unmounted and detached" {
    make_disk "$T/disk.img"
    backup_of "$T/disk.img"
    backy -b "$JOB" mount --partition 2 "$MNT" >/dev/null
    local loop
    loop=$(findmnt -n -o SOURCE -M "$MNT")
    rm -f "$IMG" "$IMG.rev" "$IMG.sums"
    grep -q ' (deleted)$' "/sys/block/${loop#/dev/}/loop/backing_file"
    assert_equal "$(cat "$MNT/hello")" "ext4 partition"
    run backy umount "$MNT"
    assert_success
    assert_output_matches "^detached: +$loop \($IMG\)$"
    ! findmnt -n -M "$MNT" >/dev/null
    [ ! -e "/sys/block/${loop#/dev/}/loop/backing_file" ] || fail "$loop still attached"
}
