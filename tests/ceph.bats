#!/usr/bin/env bats
# The ceph-rbd source against a real one-node Ceph cluster (sh/micro-ceph.sh),
# with job directories on loop-mounted btrfs and backy-backup's seccomp
# filter in force.

load lib/common
load lib/ceph

setup_file() { ceph_setup_file; }
teardown_file() { ceph_teardown_file; }

setup() {
    common_setup
    ceph_require
    require_root_or_skip
    S=$(mk_btrfs store 512M)
    J=$S/job
    IMG=img$BATS_TEST_NUMBER
}

teardown() {
    common_teardown
}

# backup [OPTIONS]: one backup of $J tagged "daily", output in $output
backup() {
    run "$BACKY_BIN/backy" -v -b "$J" backup "$@" daily
}

# check_last: the newest revision equals the image at its snapshot, and that
# snapshot is the only backy-* one left.
check_last() {
    local rev snap
    rev=$(last_rev "$J")
    snap=$(last_snap "$IMG")
    assert_equal "$snap" "backy-$rev"
    rbd_export "$IMG@$snap" "$T/export"
    assert_files_equal "$J/$rev" "$T/export"
}

@test "init writes type, pool and image; 'type: ceph' is accepted" {
    run "$BACKY_BIN/backy" -b "$J" init ceph-rbd rbd/myimage
    assert_success
    run cat "$J/config"
    assert_output_contains "type: ceph-rbd"
    assert_output_contains "pool: rbd"
    assert_output_contains "image: myimage"
    run "$BACKY_BIN/backy" -b "$S/other" init ceph-rbd no-slash
    assert_failure 1
    assert_output_matches "^backy-init: error: .*POOL/IMAGE"
    run "$BACKY_BIN/backy" -b "$S/other2" init ceph-rbd rbd/bad@snap
    assert_failure 1
    assert_output_contains "image contains an invalid character"

    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:1M:64K
    mkdir -p "$S/old"
    printf 'type: ceph\npool: rbd\nimage: %s\n' "$IMG" >"$S/old/config"
    J=$S/old
    backup
    assert_success
    check_last
}

@test "first backup of a sparse image: equal to the snapshot, holes stay holes" {
    rbd_image "$IMG" 32M
    rbd_edit "$IMG" f:1M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    check_last
    rev=$(last_rev "$J")
    # every 4th MiB was never written: a hole in the revision
    for mb in 3 7 11 15 19 23 27 31; do
        is_hole "$J/$rev" $((mb << 20)) $((1 << 20)) || fail "MiB $mb is not a hole"
    done
    [ "$(allocated_bytes "$J/$rev")" -le $((25 << 20)) ] || fail "revision not sparse"
    assert_output_contains "full: no usable parent snapshot"
}

# Writes and discards of many sizes and alignments, once with the default
# features (object-map, fast-diff) and once without them.
incremental_case() {
    ceph_job "$J" "$IMG"
    rbd_edit "$IMG" f:1M
    backup
    assert_success
    check_last
    local first
    first=$(last_rev "$J")

    rbd_edit "$IMG" w:5000:3 w:1M:4K w:$(((4 << 20) - 100)):200 w:9999999:100000 \
        z:$((20 << 20)):64K d:$((8 << 20)):64K d:$((12 << 20)):4M w:$((29 << 20)):3M
    backup
    assert_success
    check_last
    assert_output_contains "changes since backy-$first"
    # discarded ranges became holes
    rev=$(last_rev "$J")
    is_hole "$J/$rev" $((8 << 20)) $((64 << 10)) || fail "64 KiB discard is not a hole"
    is_hole "$J/$rev" $((12 << 20)) $((4 << 20)) || fail "4 MiB discard is not a hole"
    # only the changed extents were read: far less than the image
    read_mib=$(sed -n 's/.*delta: .*: read \([0-9.]*\) MiB.*/\1/p' <<<"$output")
    [ -n "$read_mib" ] || read_mib=0
    python3 -c "import sys; sys.exit(0 if $read_mib < 12 else 1)" || fail "read $read_mib MiB"

    # a second round on top, then nothing changed at all
    rbd_edit "$IMG" w:$((17 << 20)):64K:again d:0:1M
    backup
    assert_success
    check_last
    backup
    assert_success
    check_last
    assert_output_contains "0 bytes changed"
}

@test "incremental backups: writes and discards of many sizes (object-map, fast-diff)" {
    rbd_image "$IMG" 32M
    rbd info "rbd/$IMG" | grep -q fast-diff || fail "fast-diff expected"
    incremental_case
}

@test "incremental backups: writes and discards of many sizes (no object-map)" {
    rbd_image "$IMG" 32M --image-feature layering
    run rbd info "rbd/$IMG"
    assert_output_not_contains "fast-diff"
    incremental_case
}

@test "a removed parent snapshot falls back to comparing and still shares unchanged blocks" {
    rbd_image "$IMG" 64M
    rbd_edit "$IMG" w:0:64M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    first=$(last_rev "$J")
    rbd snap rm "rbd/$IMG@backy-$first" >/dev/null 2>&1
    rbd_edit "$IMG" w:$((10 << 20)):64K:new w:$((40 << 20)):128K:new
    backup
    assert_success
    assert_output_contains "snapshot backy-$first of the parent revision is gone"
    check_last
    rev=$(last_rev "$J")
    # 3 blocks of 64 KiB changed; everything else still shared with $first
    excl=$(btrfs_exclusive "$J/$rev")
    assert_le "$excl" $((1 << 20)) "exclusive bytes of the new revision"
    # and the next backup is a delta again
    rbd_edit "$IMG" w:$((20 << 20)):4K:more
    backup
    assert_success
    assert_output_contains "changes since backy-$rev"
    check_last
}

@test "a grown and a shrunk image" {
    rbd_image "$IMG" 16M
    rbd_edit "$IMG" f:1M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    rbd_edit "$IMG" r:40M w:$((30 << 20)):1M:grown
    backup
    assert_success
    check_last
    assert_equal "$(file_size "$J/$(last_rev "$J")")" $((40 << 20))
    rbd_edit "$IMG" r:10M
    rbd_edit "$IMG" w:$((9 << 20)):4K:shrunk
    backup
    assert_success
    check_last
    assert_equal "$(file_size "$J/$(last_rev "$J")")" $((10 << 20))
    # shrink below an object boundary and grow again: the old tail must read as zeros
    rbd_edit "$IMG" r:$(((5 << 20) + 12345)) r:24M
    backup
    assert_success
    check_last
}

@test "verify: full catches a revision that differs from the snapshot" {
    rbd_image "$IMG" 16M
    rbd_edit "$IMG" f:1M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    prev=$(last_rev "$J")
    before=$(dir_sums "$J")
    rbd_edit "$IMG" w:$((5 << 20)):64K:changed
    # The test hook corrupts the first read of this offset only (a fault
    # between cluster and backup); the full compare reads it again.
    BACKY_CEPH_FAULT=flip-once:$(((5 << 20) + 777)) backup --verify=full
    assert_failure 1
    assert_output_matches "backy-backup: error: .*verification failed: .*offset $((5 << 20))"
    assert_equal "$(dir_sums "$J")" "$before"
    # the previous snapshot stays (the next run is a delta), the new one is gone
    assert_equal "$(rbd_snaps "$IMG" | grep '^backy-')" "backy-$prev"
    backup
    assert_success
    assert_output_contains "changes since backy-$prev"
    check_last
}

@test "the complete .rev cannot be written: the revision and its snapshot are removed, the next backup is a delta" {
    rbd_image "$IMG" 16M
    rbd_edit "$IMG" f:1M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    prev=$(last_rev "$J")
    before=$(dir_sums "$J")
    rbd_edit "$IMG" w:$((3 << 20)):64K:changed
    so=$(failrename_so)
    # rename 1 onto a .rev makes the incomplete revision, rename 2 completes it
    LD_PRELOAD=$so FAILRENAME_SUFFIX=.rev FAILRENAME_AT=2 backup
    assert_failure 1
    assert_output_matches "backy-backup: error: cannot complete revision file, revision removed: .*No space left on device"
    assert_equal "$(dir_sums "$J")" "$before"
    # the new snapshot went with its revision; the parent's stays
    assert_equal "$(rbd_snaps "$IMG" | grep '^backy-')" "backy-$prev"
    backup
    assert_success
    assert_output_contains "changes since backy-$prev"
    check_last
}

@test "a parent image that was tampered with is detected and repaired from the snapshot" {
    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:0:8M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    prev=$(last_rev "$J")
    # damage an unchanged block of the parent revision on disk
    chmod u+w "$J/$prev"
    printf 'XXXX' | dd of="$J/$prev" bs=1 seek=$((3 << 20)) conv=notrunc 2>/dev/null
    rbd_edit "$IMG" w:$((6 << 20)):4K:changed
    backup --verify=full
    assert_success
    assert_output_contains "does not match"
    check_last
}

@test "--full and full-backup: true read everything and give the same image" {
    rbd_image "$IMG" 16M
    rbd_edit "$IMG" f:1M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    rbd_edit "$IMG" w:$((2 << 20)):4K:x
    backup --full
    assert_success
    check_last
    assert_output_matches "read 1[56]\.[0-9]+ MiB"
    echo "full-backup: true" >>"$J/config"
    rbd_edit "$IMG" d:$((4 << 20)):1M
    backup
    assert_success
    check_last
}

@test "snapshots not named backy-* are left alone; only the newest backy snapshot stays" {
    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:0:1M
    rbd snap create "rbd/$IMG@manual" >/dev/null 2>&1
    rbd snap create "rbd/$IMG@backy" >/dev/null 2>&1
    rbd snap create "rbd/$IMG@backy_old" >/dev/null 2>&1
    rbd snap create "rbd/$IMG@backy-stale" >/dev/null 2>&1
    ceph_job "$J" "$IMG"
    for i in 1 2 3; do
        rbd_edit "$IMG" w:$((i << 20)):4K:$i
        backup
        assert_success
    done
    run rbd_snaps "$IMG"
    assert_output_contains "manual"
    assert_output_matches "^backy$"
    assert_output_contains "backy_old"
    assert_output_not_contains "backy-stale"
    check_last
}

@test "unreachable cluster, missing pool, missing image, no permission: one-line errors, job untouched" {
    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:0:1M
    ceph_job "$J" "$IMG"
    backup
    assert_success
    before=$(dir_sums "$J")

    # a monitor address nobody listens on; a short mount timeout from the config
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    sed -e "s/^mon host = .*/mon host = 127.0.0.1:$port/" -e "s/^client mount timeout = .*/client mount timeout = 3/" \
        "$CEPH_CONF" >"$T/dead.conf"
    CEPH_CONF=$T/dead.conf backup
    assert_failure 1
    assert_output_matches "^backy-backup: error: cannot connect to the Ceph cluster: 127\.0\.0\.1:$port: "
    assert_equal "$(dir_sums "$J")" "$before"

    sed -i "s/^pool: .*/pool: nosuchpool/" "$J/config"
    backup
    assert_failure 1
    assert_output_matches "^backy-backup: error: cannot open pool: nosuchpool: no such pool$"
    sed -i "s/^pool: .*/pool: rbd/; s/^image: .*/image: nosuchimage/" "$J/config"
    backup
    assert_failure 1
    assert_output_matches "^backy-backup: error: cannot open image: rbd/nosuchimage: no such image$"
    sed -i "s/^image: .*/image: $IMG/" "$J/config"

    # a client that may talk to the monitor but not read the pool
    ceph auth get-or-create client.nocaps mon 'allow r' -o "$T/nocaps.keyring" >/dev/null 2>&1
    CEPH_ARGS="--id nocaps --keyring $T/nocaps.keyring" backup
    assert_failure 1
    assert_output_matches "^backy-backup: error: .*rbd/$IMG.*(Operation not permitted|Permission denied)"
    ceph auth del client.nocaps >/dev/null 2>&1
    # the config is back as it was; nothing else changed and no snapshot was added
    assert_equal "$(dir_sums "$J")" "$before"
    assert_equal "$(rbd_snaps "$IMG" | grep -c '^backy-')" 1
}

@test "CEPH_ARGS --conf and --id are honoured without CEPH_CONF" {
    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:0:1M
    ceph_job "$J" "$IMG"
    conf=$CEPH_CONF
    (unset CEPH_CONF; CEPH_ARGS="--conf $conf --id admin" "$BACKY_BIN/backy" -b "$J" backup daily) \
        >"$T/out" 2>&1 || { cat "$T/out"; fail "backup with CEPH_ARGS --conf failed"; }
    check_last
    run env -u CEPH_CONF CEPH_ARGS="--conf $conf --id nosuchuser" "$BACKY_BIN/backy" -b "$J" backup daily
    assert_failure 1
    assert_output_matches "^backy-backup: error: cannot connect to the Ceph cluster"
}

@test "restore of every revision equals the snapshot it came from" {
    rbd_image "$IMG" 24M
    ceph_job "$J" "$IMG"
    for i in 1 2 3 4; do
        rbd_edit "$IMG" w:$((i * 3 << 20)):$((i * 100000)):r$i d:$(((i - 1) << 20)):1M
        [ "$i" != 3 ] || rbd_edit "$IMG" r:30M
        backup
        assert_success
        rev=$(last_rev "$J")
        rbd_export "$IMG@backy-$rev" "$T/snap.$rev"
    done
    n=0
    for f in "$T"/snap.*; do
        rev=${f##*/snap.}
        rm -f "$T/restored"
        run "$BACKY_BIN/backy" -b "$J" restore -r "$rev" "$T/restored"
        assert_success
        assert_files_equal "$T/restored" "$f"
        n=$((n + 1))
    done
    assert_equal "$n" 4
}

@test "librbd runs inside backy-backup's seccomp filter" {
    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:0:2M
    ceph_job "$J" "$IMG"
    # trap mode names any syscall the policy lacks instead of killing silently
    BACKY_SECCOMP=trap backup
    assert_success
    assert_output_not_contains "forbidden syscall"
    rbd_edit "$IMG" w:1M:8K
    BACKY_SECCOMP=trap backup
    assert_success
    check_last
    # the filter is really loaded once the cluster connection exists
    BACKY_SANDBOX_PROBE=socket-packet backup
    assert_failure
    assert_equal "$status" 159
    # the killed run left its snapshot; the next backup removes it
    assert_equal "$(rbd_snaps "$IMG" | grep -c '^backy-')" 2
    backup
    assert_success
    check_last
}

@test "as the user backy with a keyring of its own readable by its group (the units' user); the admin keyring it cannot read fails with one line" {
    id -u backy >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin backy ||
        id -u backy >/dev/null 2>&1 || fail "cannot create user backy"
    chmod 755 "$T"
    # the tools and the cluster's configuration where backy can read them
    # (the build tree and the cluster's directory are private)
    mkdir -p "$T/bin"
    cp "$BACKY_BIN"/backy "$BACKY_BIN"/backy-* "$T/bin/"
    chmod 755 "$T/bin" "$T"/bin/*
    cp "$CEPH_CONF" "$T/ceph.conf"
    chmod 644 "$T/ceph.conf"
    chown backy:backy "$S"
    local client=backy$BATS_TEST_NUMBER kr=$T/ceph.client.backy.keyring
    ceph auth rm "client.$client" >/dev/null 2>&1 || true
    ceph auth get-or-create "client.$client" mon 'profile rbd' osd 'profile rbd pool=rbd' >"$kr"
    chgrp backy "$kr"
    chmod 0640 "$kr"
    rbd_image "$IMG" 8M
    rbd_edit "$IMG" w:0:2M
    as_backy() {
        env CEPH_CONF="$T/ceph.conf" CEPH_ARGS="$1" \
            setpriv --reuid=backy --regid=backy --init-groups -- "${@:2}"
    }
    run as_backy "--id $client --keyring $kr" "$T/bin/backy" -b "$J" init ceph-rbd "rbd/$IMG"
    assert_success
    run as_backy "--id $client --keyring $kr" "$T/bin/backy" -v -b "$J" backup daily
    assert_success
    check_last
    rbd_edit "$IMG" w:1M:64K:new
    run as_backy "--id $client --keyring $kr" "$T/bin/backy" -v -b "$J" backup daily
    assert_success
    assert_output_contains "changes since backy-"
    check_last
    assert_equal "$(stat -c %U "$J/config" "$J/$(last_rev "$J")" | sort -u)" backy
    # the admin key (in the cluster's private directory): one line, nothing
    # backed up, no snapshot left
    local n
    n=$(ls "$J"/*.rev | wc -l)
    run as_backy "--id admin" "$T/bin/backy" -b "$J" backup daily
    assert_failure 1
    assert_output_matches "^backy-backup: error: "
    assert_equal "$(ls "$J"/*.rev | wc -l)" "$n"
    assert_equal "$(rbd_snaps "$IMG" | grep -c '^backy-')" 1
    ceph auth rm "client.$client" >/dev/null
}
