#!/bin/sh
# testenv.sh - loop-mounted test filesystems made from image files inside a
# scratch directory. Everything it creates is recorded in SCRATCH/.testenv,
# and cleanup touches only what is recorded there (checked against the
# live mount table and loop device list), never other mounts.
#
# Use as a library (POSIX sh or bash):
#     . sh/testenv.sh
#     mnt=$(testenv_mkfs btrfs "$scratch" store 1G)
#     testenv_remount_ro "$mnt"; testenv_remount_rw "$mnt"
#     testenv_cleanup "$scratch"
# or as a command:
#     sh sh/testenv.sh mkfs TYPE SCRATCH NAME [SIZE]   prints the mount point
#     sh sh/testenv.sh ro MOUNTPOINT | rw MOUNTPOINT
#     sh sh/testenv.sh umount SCRATCH MOUNTPOINT
#     sh sh/testenv.sh cleanup SCRATCH
#     sh sh/testenv.sh list SCRATCH
#
# TYPE: btrfs, xfs (reflink=1), ext4 (no reflink), tmpfs.
# SIZE: as for truncate(1) (256M, 1G); defaults: btrfs 256M, xfs 320M
# (XFS refuses much smaller), ext4 64M, tmpfs 64M. The smallest btrfs that
# mkfs accepts (about 110M) makes a good ENOSPC test bed.

testenv_err() {
    echo "testenv: error: $*" >&2
}

testenv_default_size() {
    case "$1" in
        btrfs) echo 256M ;;
        xfs) echo 320M ;;
        ext4) echo 64M ;;
        tmpfs) echo 64M ;;
        *) return 1 ;;
    esac
}

# Is MNT currently a mount point? (exact match on the mount table)
testenv_is_mounted() {
    findmnt -n -M "$1" >/dev/null 2>&1
}

# testenv_mkfs TYPE SCRATCH NAME [SIZE]: make SCRATCH/NAME.img, a filesystem
# of TYPE on it, mount it at SCRATCH/NAME and print that path.
testenv_mkfs() {
    _te_type=$1 _te_scratch=$2 _te_name=$3 _te_size=${4:-}
    if [ -z "$_te_type" ] || [ -z "$_te_scratch" ] || [ -z "$_te_name" ]; then
        testenv_err "usage: testenv_mkfs TYPE SCRATCH NAME [SIZE]"
        return 1
    fi
    if [ -z "$_te_size" ]; then
        _te_size=$(testenv_default_size "$_te_type") || {
            testenv_err "filesystem type: $_te_type: unknown (btrfs, xfs, ext4, tmpfs)"
            return 1
        }
    fi
    mkdir -p "$_te_scratch/.testenv" || return 1
    _te_scratch=$(cd "$_te_scratch" && pwd -P) || return 1
    _te_mnt=$_te_scratch/$_te_name
    _te_img=$_te_scratch/$_te_name.img
    _te_reg=$_te_scratch/.testenv/mounts
    if testenv_is_mounted "$_te_mnt"; then
        testenv_err "mount point: $_te_mnt: already mounted"
        return 1
    fi
    mkdir -p "$_te_mnt" || return 1

    if [ "$_te_type" = tmpfs ]; then
        # The source name marks the mount as ours for cleanup.
        echo "$_te_mnt tmpfs backy-testenv" >>"$_te_reg"
        mount -t tmpfs -o "size=$_te_size,mode=0755" backy-testenv "$_te_mnt" || {
            testenv_err "mount tmpfs: $_te_mnt: failed"
            return 1
        }
        echo "$_te_mnt"
        return 0
    fi

    rm -f "$_te_img"
    truncate -s "$_te_size" "$_te_img" || return 1
    case "$_te_type" in
        btrfs) mkfs.btrfs -q -f "$_te_img" >/dev/null 2>&1 ;;
        xfs) mkfs.xfs -q -f -m reflink=1 "$_te_img" >/dev/null 2>&1 ;;
        ext4) mkfs.ext4 -q -F "$_te_img" >/dev/null 2>&1 ;;
        *) testenv_err "filesystem type: $_te_type: unknown (btrfs, xfs, ext4, tmpfs)"
           return 1 ;;
    esac || {
        testenv_err "mkfs.$_te_type: $_te_img: failed (size $_te_size too small?)"
        return 1
    }
    _te_dev=$(losetup -f --show "$_te_img") || {
        testenv_err "losetup: $_te_img: no free loop device"
        return 1
    }
    # Record before mounting, so a failed mount is still cleaned up.
    echo "$_te_mnt $_te_type $_te_dev $_te_img" >>"$_te_reg"
    # TESTENV_DIRECT_IO=1: the loop device reads and writes its backing file
    # with direct I/O, so it behaves like a disk (one copy in the page cache,
    # cold reads and fsync reach the disk). The benchmarks ask for it.
    if [ "${TESTENV_DIRECT_IO:-0}" = 1 ]; then
        losetup --direct-io=on "$_te_dev" 2>/dev/null ||
            echo "testenv: $_te_dev: direct I/O not available, the page cache stays in use" >&2
    fi
    mount "$_te_dev" "$_te_mnt" || {
        testenv_err "mount: $_te_dev on $_te_mnt: failed"
        return 1
    }
    echo "$_te_mnt"
}

testenv_remount_ro() {
    testenv_is_mounted "$1" || { testenv_err "remount: $1: not a mount point"; return 1; }
    sync
    mount -o remount,ro "$1"
}

testenv_remount_rw() {
    testenv_is_mounted "$1" || { testenv_err "remount: $1: not a mount point"; return 1; }
    mount -o remount,rw "$1"
}

# Unmount MNT if it is mounted from SRC (our loop device or tmpfs marker);
# lazy unmount when busy.
testenv_umount_checked() {
    _te_m=$1 _te_src=$2
    testenv_is_mounted "$_te_m" || return 0
    _te_cur=$(findmnt -n -M "$_te_m" -o SOURCE 2>/dev/null | head -n 1)
    if [ "$_te_cur" != "$_te_src" ]; then
        testenv_err "umount: $_te_m: mounted from $_te_cur, not $_te_src; left alone"
        return 1
    fi
    umount "$_te_m" 2>/dev/null && return 0
    sleep 0.2
    umount "$_te_m" 2>/dev/null && return 0
    umount -l "$_te_m"
}

# Detach DEV if its backing file is IMG.
testenv_detach_checked() {
    _te_d=$1 _te_i=$2
    [ -b "$_te_d" ] || return 0
    _te_back=$(losetup -n -O BACK-FILE "$_te_d" 2>/dev/null | sed 's/ (deleted)$//; s/[[:space:]]*$//')
    [ -n "$_te_back" ] || return 0
    [ "$_te_back" = "$_te_i" ] || return 0
    losetup -d "$_te_d" 2>/dev/null || { sleep 0.2; losetup -d "$_te_d"; }
}

# testenv_umount SCRATCH MNT: unmount one recorded filesystem and remove its image.
testenv_umount() {
    _te_scratch=$(cd "$1" 2>/dev/null && pwd -P) || return 0
    _te_want=$2
    _te_reg=$_te_scratch/.testenv/mounts
    [ -f "$_te_reg" ] || return 0
    _te_rc=0
    # Process in reverse order; keep the lines not matching MNT.
    : >"$_te_reg.keep"
    while read -r _te_m _te_t _te_d _te_i; do
        if [ -n "$_te_want" ] && [ "$_te_m" != "$_te_want" ]; then
            echo "$_te_m $_te_t $_te_d $_te_i" >>"$_te_reg.keep"
            continue
        fi
        if [ "$_te_t" = tmpfs ]; then
            testenv_umount_checked "$_te_m" backy-testenv || _te_rc=1
        else
            testenv_umount_checked "$_te_m" "$_te_d" || _te_rc=1
            testenv_detach_checked "$_te_d" "$_te_i" || _te_rc=1
            # Any other loop device still on our image is ours too.
            for _te_x in $(losetup -n -O NAME -j "$_te_i" 2>/dev/null); do
                testenv_umount_all_of "$_te_x"
                losetup -d "$_te_x" 2>/dev/null || _te_rc=1
            done
            [ "${TESTENV_KEEP_IMAGES:-0}" = 1 ] || testenv_is_mounted "$_te_m" || rm -f "$_te_i"
        fi
        testenv_is_mounted "$_te_m" || rmdir "$_te_m" 2>/dev/null
    done <<EOF
$(sed '1!G;h;$!d' "$_te_reg")
EOF
    # The keep list is reversed again to the original order.
    sed '1!G;h;$!d' "$_te_reg.keep" >"$_te_reg"
    rm -f "$_te_reg.keep"
    [ -s "$_te_reg" ] || rm -f "$_te_reg"
    return $_te_rc
}

# Unmount every mount whose source is DEV (a loop device of ours).
testenv_umount_all_of() {
    for _te_y in $(findmnt -n -o TARGET -S "$1" 2>/dev/null); do
        umount "$_te_y" 2>/dev/null || umount -l "$_te_y"
    done
}

# testenv_cleanup SCRATCH: unmount and detach everything made in SCRATCH.
testenv_cleanup() {
    [ -d "$1" ] || return 0
    testenv_umount "$1" ""
    _te_rc=$?
    rmdir "$1/.testenv" 2>/dev/null
    return $_te_rc
}

testenv_list() {
    [ -f "$1/.testenv/mounts" ] && cat "$1/.testenv/mounts"
    return 0
}

testenv_main() {
    _te_cmd=${1:-}
    [ $# -gt 0 ] && shift
    case "$_te_cmd" in
        mkfs) testenv_mkfs "$@" ;;
        ro) testenv_remount_ro "$@" ;;
        rw) testenv_remount_rw "$@" ;;
        umount) testenv_umount "$@" ;;
        cleanup) testenv_cleanup "$@" ;;
        list) testenv_list "$@" ;;
        *) echo "usage: testenv.sh mkfs TYPE SCRATCH NAME [SIZE] | ro MNT | rw MNT |" \
                "umount SCRATCH MNT | cleanup SCRATCH | list SCRATCH" >&2
           return 1 ;;
    esac
}

case "${0##*/}" in
    testenv.sh) testenv_main "$@"; exit $? ;;
esac
