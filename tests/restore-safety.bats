#!/usr/bin/env bats
# backy restore never writes into a backup (symbolic and hard links to
# images of this or another job, job directories, the job's source, a loop
# device on an image), never overwrites a file without --force, and checks
# every block it copies against the revision's sums. Jobs live on a real
# loop-mounted btrfs (reflink restores) with an ext4 beside it (copies).

load lib/common

# mkjob DIR: a job of a 16 MiB file source with two revisions; sets OLD
# and NEW (IDs) and SRC.
mkjob() {
    SRC=$(dirname "$1")/src.$(basename "$1")
    make_source "$SRC" 16M
    run backy -b "$1" init file "$SRC"
    assert_success
    run "$BACKY_BIN/backy-backup" -b "$1" daily
    assert_success
    OLD=$(basename "$(readlink "$1/last")")
    change_blocks "$SRC" 10 >/dev/null
    run "$BACKY_BIN/backy-backup" -b "$1" daily
    assert_success
    NEW=$(basename "$(readlink "$1/last")")
    [ "$OLD" != "$NEW" ]
}

# flip_byte FILE OFFSET: invert one byte in place (root writes a 0440 file)
flip_byte() {
    python3 -c 'import sys
f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1)
f.seek(o); f.write(bytes([b[0] ^ 0xff])); f.close()' "$1" "$2"
}

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-backup backy-restore backy-verify
    M=$(mk_btrfs store 512M)
    J=$M/job
    mkjob "$J"
    sha256sum "$J/$OLD" "$J/$NEW" >"$T/images.sha"
}

teardown() {
    common_teardown
}

# Both images of the job are as they were, and verify agrees.
assert_images_intact() {
    sha256sum -c --quiet "$T/images.sha"
    run backy -b "$J" verify --all
    assert_success
}

@test "restore refuses a symbolic link to an older image of the job" {
    ln -s "$J/$OLD" "$M/x"
    run backy -b "$J" restore -r 0 "$M/x"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $M/x: a symbolic link"
    assert_images_intact
}

@test "restore refuses a hard link to an older image of the job" {
    ln "$J/$OLD" "$M/x"
    run backy -b "$J" restore -r 0 --force "$M/x"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $M/x: it is $J/$OLD\$"
    assert_images_intact
}

@test "restore refuses a symbolic and a hard link to another job's image" {
    mkjob "$M/other"
    sha256sum "$M/other/$OLD" >>"$T/images.sha"
    ln -s "$M/other/$OLD" "$M/sym"
    ln "$M/other/$OLD" "$M/hard"
    run backy -b "$J" restore --force "$M/sym"
    assert_failure 1
    assert_output_contains "a symbolic link"
    run backy -b "$J" restore --force "$M/hard"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $M/hard: a read-only file with 2 links, like a backup image\$"
    assert_images_intact
    run backy -b "$M/other" verify --all
    assert_success
}

@test "restore creates nothing inside a job directory, its own or another's through a link" {
    mkjob "$M/other"
    ln -s "$M/other" "$M/linkdir"
    run backy -b "$J" restore "$M/linkdir/new.img"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $M/linkdir/new.img: it is inside a job directory\$"
    assert_file_missing "$M/other/new.img"
    run backy -b "$J" restore "$J/new.img"
    assert_failure 1
    assert_output_contains "inside a job directory"
    assert_file_missing "$J/new.img"
    assert_images_intact
}

@test "restore refuses the job's own source, also through a hard link" {
    sha256sum "$SRC" >>"$T/images.sha"
    run backy -b "$J" restore -r 1 --force "$SRC"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $SRC: it is the job's source $SRC\$"
    ln "$SRC" "$M/src-link"
    run backy -b "$J" restore -r 1 --force "$M/src-link"
    assert_failure 1
    assert_output_contains "it is the job's source $SRC"
    assert_images_intact
}

@test "restore refuses the job's source when it is a block device" {
    head -c 8M /dev/urandom >"$T/disk.img"
    dev=$(losetup --show -f "$T/disk.img")
    ln -s "$dev" "$T/disk-link"
    backy -b "$M/devjob" init file "$dev" >/dev/null
    "$BACKY_BIN/backy-backup" -b "$M/devjob" daily >/dev/null 2>&1
    sha256sum "$T/disk.img" >>"$T/images.sha"
    run backy -b "$M/devjob" restore "$T/disk-link"
    rc=$status out=$output
    losetup -d "$dev"
    [ "$rc" = 1 ] || fail "status $rc: $out"
    grep -qF "refusing target: $T/disk-link: it is the job's source $dev" <<<"$out" || fail "$out"
    sha256sum -c --quiet "$T/images.sha"
}

@test "restore refuses a loop device backed by an image of the job" {
    dev=$(losetup --show -f "$J/$OLD")
    run backy -b "$J" restore -r 0 "$dev"
    losetup -d "$dev"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $dev: a loop device on $J/$OLD\$"
    assert_images_intact
}

@test "restore refuses stdout appending to an image of the job" {
    run bash -c "'$BACKY_BIN/backy' -b '$J' restore - >>'$J/$OLD'"
    assert_failure 1
    assert_output_contains "refusing target: stdout: it is $J/$OLD"
    assert_images_intact
}

@test "restore refuses an existing non-empty file without --force" {
    echo precious >"$M/out"
    run backy -b "$J" restore "$M/out"
    assert_failure 1
    assert_output_matches "^backy-restore: error: refusing target: $M/out: an existing file of 9 bytes: give --force to overwrite it\$"
    assert_equal "$(cat "$M/out")" precious
}

@test "restore --force overwrites an existing non-empty file" {
    e=$(mk_ext4 target 64M)
    head -c 20M /dev/urandom >"$e/out"
    run backy -b "$J" restore --force "$e/out"
    assert_success
    assert_files_equal "$J/$NEW" "$e/out"
}

@test "restore fills an existing empty file" {
    : >"$M/out"
    run backy -b "$J" restore -r 1 "$M/out"
    assert_success
    assert_files_equal "$J/$OLD" "$M/out"
}

@test "restore creates a new file of mode 0600, checked against the sums" {
    run backy -b "$J" restore "$M/out"
    assert_success
    assert_output_contains "reflink, checked against its sums"
    assert_files_equal "$J/$NEW" "$M/out"
    assert_equal "$(stat -c %a "$M/out")" 600
}

@test "restore to a loop block device, also through a symbolic link, still works" {
    head -c 20M /dev/urandom >"$T/dev.img"
    dev=$(losetup --show -f "$T/dev.img")
    ln -s "$dev" "$T/dev-link"
    run backy -b "$J" restore "$dev"
    rc1=$status out1=$output
    head -c 16M "$dev" >"$T/back1"
    run backy -b "$J" restore -r 1 "$T/dev-link"
    rc2=$status out2=$output
    head -c 16M "$dev" >"$T/back2"
    losetup -d "$dev"
    [ "$rc1" = 0 ] || fail "$out1"
    [ "$rc2" = 0 ] || fail "$out2"
    assert_files_equal "$J/$NEW" "$T/back1"
    assert_files_equal "$J/$OLD" "$T/back2"
}

@test "restore - still streams the revision, checked" {
    "$BACKY_BIN/backy" -b "$J" restore -r 1 - 2>"$T/err" | cat >"$T/streamed"
    assert_files_equal "$J/$OLD" "$T/streamed"
    run cat "$T/err"
    assert_output_contains "checked against its sums"
}

@test "a damaged revision is not restored: exit 1, one line, the new file removed" {
    flip_byte "$J/$NEW" $((5 * 1048576 + 1234))
    # no verify before: it would quarantine the revision, and restore would
    # refuse it before its own check (quarantine.bats)
    e=$(mk_ext4 target 64M)
    # the copy path (ext4) and the reflink path (same btrfs)
    for out in "$e/out" "$M/out"; do
        run backy -b "$J" restore "$out"
        assert_failure 1
        assert_output_matches "^backy-restore: error: revision $NEW damaged: $J/$NEW: block 80 at offset 5242880 differs from its sums; target removed: $out\$"
        assert_file_missing "$out"
    done
    # stdout: the stream stops before the damaged block
    run bash -c "'$BACKY_BIN/backy' -b '$J' restore - 2>'$T/err' | cat >'$T/streamed'; echo \${PIPESTATUS[0]}"
    assert_equal "$output" 1
    run cat "$T/err"
    assert_output_contains "block 80 at offset 5242880 differs from its sums"
    assert_le "$(file_size "$T/streamed")" 5242880 "bytes streamed"
    run backy -b "$J" verify
    assert_failure 1
    assert_output_contains "DAMAGED"
}

@test "a damaged revision restored with --force: file kept, error printed, exit 1" {
    flip_byte "$J/$NEW" $((5 * 1048576 + 1234))
    flip_byte "$J/$NEW" $((9 * 1048576))
    e=$(mk_ext4 target 64M)
    for out in "$e/out" "$M/out"; do
        run backy -b "$J" restore --force "$out"
        assert_failure 1
        assert_output_matches "^backy-restore: error: revision $NEW damaged: $J/$NEW: 2 blocks differ from their sums, the first is block 80 at offset 5242880; target kept \(--force\): $out\$"
        assert_files_equal "$J/$NEW" "$out"
    done
}

@test "restore --no-verify skips the check" {
    flip_byte "$J/$NEW" 4096
    run backy -b "$J" restore --no-verify "$M/out"
    assert_success
    assert_output_contains "not checked against its sums (--no-verify)"
    assert_files_equal "$J/$NEW" "$M/out"
}

@test "a revision without sums (backy 2.0) is restored with a warning" {
    rm "$J/$OLD.sums"
    run backy -b "$J" restore -r 1 "$M/out"
    assert_success
    assert_output_contains "backy-restore: warning: revision $OLD has no sums (made by an older backy): restored unchecked"
    assert_files_equal "$J/$OLD" "$M/out"
}

@test "a revision whose sums are corrupt writes nothing without --force" {
    flip_byte "$J/$NEW.sums" 100
    run backy -b "$J" restore "$M/out"
    assert_failure 1
    assert_output_contains "revision $NEW cannot be checked: $J/$NEW.sums: checksum mismatch (corrupt)"
    assert_output_contains "nothing written"
    assert_file_missing "$M/out"
    run backy -b "$J" restore --force "$M/out"
    assert_failure 1
    assert_output_contains "restored unchecked, target kept (--force)"
    assert_files_equal "$J/$NEW" "$M/out"
}
