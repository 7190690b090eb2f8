#!/usr/bin/env bats
# The test environment itself: loop-mounted filesystems, cleanup that
# touches only its own mounts, deterministic test data.

load lib/common

@test "btrfs and xfs test filesystems support reflinks" {
    require_root_or_skip
    for fs in btrfs xfs; do
        mnt=$(mk_$fs $fs)
        assert_equal "$(stat -f -c %T "$mnt")" "$fs"
        echo data >"$mnt/a"
        cp --reflink=always "$mnt/a" "$mnt/b"
        assert_files_equal "$mnt/a" "$mnt/b"
    done
}

@test "ext4 and tmpfs test filesystems have no reflinks" {
    require_root_or_skip
    m1=$(mk_ext4 e)
    m2=$(mk_tmpfs t)
    assert_equal "$(stat -f -c %T "$m1")" "ext2/ext3"
    assert_equal "$(stat -f -c %T "$m2")" "tmpfs"
    for m in "$m1" "$m2"; do
        echo data >"$m/a"
        run cp --reflink=always "$m/a" "$m/b"
        assert_failure
    done
}

@test "TESTENV_DIRECT_IO=1 gives a loop device with direct I/O, the default does not" {
    require_root_or_skip
    plain=$(mk_btrfs plain)
    direct=$(TESTENV_DIRECT_IO=1 mk_btrfs direct)
    dio() { losetup -n -O DIO "$(findmnt -n -o SOURCE "$1")" | tr -d ' '; }
    assert_equal "$(dio "$plain")" 0
    assert_equal "$(dio "$direct")" 1
}

@test "the size parameter is honoured" {
    require_root_or_skip
    mnt=$(mk_btrfs big 1G)
    size=$(df -B1 --output=size "$mnt" | tail -n 1)
    [ "$size" -gt $((900 * 1024 * 1024)) ]
    tiny=$(mk_btrfs tiny 110M)
    run dd if=/dev/zero of="$tiny/fill" bs=1M count=200 status=none
    assert_failure
    assert_output_contains "No space left on device"
}

@test "read-only remount and back" {
    require_root_or_skip
    mnt=$(mk_btrfs ro)
    remount_ro "$mnt"
    run touch "$mnt/x"
    assert_failure
    assert_output_contains "Read-only file system"
    remount_rw "$mnt"
    touch "$mnt/x"
}

@test "cleanup unmounts and detaches everything it made, even when busy" {
    require_root_or_skip
    s=$T/inner
    mkdir "$s"
    a=$(testenv_mkfs btrfs "$s" a)
    b=$(testenv_mkfs xfs "$s" b)
    c=$(testenv_mkfs tmpfs "$s" c)
    (cd "$a" && sleep 30) &
    busy=$!
    track_pid "$busy"
    wait_for 10 sh -c "[ \"\$(readlink /proc/$busy/cwd)\" = \"\$(readlink -f '$a')\" ]"
    testenv_cleanup "$s"
    kill "$busy" 2>/dev/null || true
    for m in "$a" "$b" "$c"; do
        run findmnt -M "$m"
        assert_failure
    done
    run losetup -j "$s/a.img"
    assert_equal "$output" ""
    run losetup -j "$s/b.img"
    assert_equal "$output" ""
    assert_file_missing "$s/a.img"
    assert_file_missing "$s/.testenv"
}

@test "cleanup leaves a mount it did not make alone" {
    require_root_or_skip
    s=$T/inner
    mkdir -p "$s/foreign"
    mount -t tmpfs other-tmpfs "$s/foreign"
    # Record the foreign mount as if it were ours: cleanup must notice
    # that its source is not what was recorded.
    mkdir -p "$s/.testenv"
    echo "$s/foreign btrfs /dev/loop-none $s/none.img" >"$s/.testenv/mounts"
    run testenv_cleanup "$s"
    assert_failure
    assert_output_contains "left alone"
    findmnt -M "$s/foreign"
    umount "$s/foreign"
}

@test "the command form of testenv.sh" {
    require_root_or_skip
    mnt=$(sh "$BACKY_ROOT/sh/testenv.sh" mkfs ext4 "$T" cmd 32M)
    assert_equal "$mnt" "$(cd "$T" && pwd -P)/cmd"
    findmnt -M "$mnt"
    run sh "$BACKY_ROOT/sh/testenv.sh" list "$T"
    assert_output_contains "$mnt ext4 /dev/loop"
    sh "$BACKY_ROOT/sh/testenv.sh" cleanup "$T"
    run findmnt -M "$mnt"
    assert_failure
    run sh "$BACKY_ROOT/sh/testenv.sh" mkfs zfs "$T" z
    assert_failure
    assert_output_contains "testenv: error: filesystem type: zfs: unknown"
}

@test "make_source is deterministic and has zero regions" {
    make_source "$T/a" 8M seed1
    make_source "$T/b" 8M seed1
    make_source "$T/c" 8M seed2
    assert_files_equal "$T/a" "$T/b"
    run cmp -s "$T/a" "$T/c"
    assert_failure
    assert_equal "$(file_size "$T/a")" $((8 * 1024 * 1024))
    run zero_chunks "$T/a" 1M
    assert_equal "$output" "$(printf '%s\n' 1048576 5242880)"
}

@test "change_blocks changes the given fraction of blocks" {
    make_source "$T/a" 16M
    cp "$T/a" "$T/b"
    run change_blocks "$T/b" 10 64K
    assert_equal "$output" 26
    differing=$(cmp -l "$T/a" "$T/b" | awk '{ print int(($1 - 1) / 65536) }' | sort -u | wc -l)
    assert_equal "$differing" 26
    # The same seed picks the same blocks and data.
    cp "$T/a" "$T/c"
    change_blocks "$T/c" 10 64K seq0 >/dev/null
    assert_files_equal "$T/b" "$T/c"
}

@test "holes and allocation are measured" {
    make_source "$T/a" 8M
    cp --sparse=always "$T/a" "$T/s"
    is_hole "$T/s" 1M 1M
    run is_hole "$T/s" 0 1M
    assert_failure
    [ "$(allocated_bytes "$T/s")" -lt "$(allocated_bytes "$T/a")" ]
}
