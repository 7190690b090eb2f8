# ceph.bash - a real one-node Ceph cluster for a bats suite. Load after
# lib/common:
#     load lib/common
#     load lib/ceph
#     setup_file()    { ceph_setup_file; }
#     teardown_file() { ceph_teardown_file; }
# ceph_setup_file starts the cluster with sh/micro-ceph.sh in a directory of
# its own and exports CEPH_CONF / CEPH_ARGS; ceph_teardown_file stops exactly
# the daemons it started (pids recorded by micro-ceph.sh), also when tests
# failed. As root the cluster must come up (a failure is a test failure);
# as non-root the suite is skipped with the reason.
#
# Helpers:
#   rbd_image NAME SIZE [--image-feature X ...]  create rbd/NAME (fresh)
#   rbd_edit NAME OP...        writes / zeros / discards / resize (tests/lib/rbd_edit.py)
#   rbd_snaps NAME             snapshot names of rbd/NAME, one a line
#   rbd_export NAME[@SNAP] FILE
#   ceph_job DIR NAME          backy init ceph-rbd rbd/NAME in DIR (made if needed)
#   last_snap NAME             the backy-* snapshot of rbd/NAME (exactly one expected)

CEPH_DIR_FILE=${BATS_FILE_TMPDIR:-/tmp}/ceph-dir

ceph_setup_file() {
    if [ "$(id -u)" != 0 ]; then
        # Ceph needs no root, but the suites need loop-mounted btrfs.
        export CEPH_SKIP="needs root for loop-mounted btrfs (Ceph tests run as root in CI)"
        return 0
    fi
    local dir
    dir=$(mktemp -d "${BACKY_TEST_TMP:-${TMPDIR:-/tmp}}/backy-ceph.XXXXXX")
    echo "$dir" >"$CEPH_DIR_FILE"
    if ! "$BACKY_ROOT/sh/micro-ceph.sh" start "$dir/c" >"$dir/start.out" 2>&1; then
        cat "$dir/start.out" >&2
        return 1
    fi
    eval "$("$BACKY_ROOT/sh/micro-ceph.sh" env "$dir/c")"
    export CEPH_CONF CEPH_ARGS
}

ceph_teardown_file() {
    [ -f "$CEPH_DIR_FILE" ] || return 0
    local dir
    dir=$(cat "$CEPH_DIR_FILE")
    "$BACKY_ROOT/sh/micro-ceph.sh" stop "$dir/c" || true
    rm -rf "$dir"
    rm -f "$CEPH_DIR_FILE"
}

# For setup(): skip visibly as non-root, otherwise the cluster must be there.
ceph_require() {
    if [ -n "${CEPH_SKIP:-}" ]; then
        skip "$CEPH_SKIP"
    fi
    [ -n "${CEPH_CONF:-}" ] && [ -f "$CEPH_CONF" ] || fail "the test cluster is not running"
    require_tool backy backy-init backy-backup backy-restore
}

rbd_image() {
    local name=$1 size=$2
    shift 2
    rbd snap purge "rbd/$name" >/dev/null 2>&1 || true
    rbd rm "rbd/$name" >/dev/null 2>&1 || true
    rbd create --size "$size" "$@" "rbd/$name"
}

rbd_edit() {
    local name=$1
    shift
    /usr/bin/python3 "$BACKY_ROOT/tests/lib/rbd_edit.py" "rbd/$name" "$@"
}

rbd_snaps() {
    rbd snap ls --format json "rbd/$1" |
        python3 -c 'import json,sys; [print(s["name"]) for s in json.load(sys.stdin)]'
}

rbd_export() {
    rm -f "$2"
    rbd export --no-progress "rbd/$1" "$2" >/dev/null
}

last_snap() {
    local s
    s=$(rbd_snaps "$1" | grep '^backy-')
    [ "$(echo "$s" | wc -l)" = 1 ] || { echo "expected one backy snapshot, got: $s" >&2; return 1; }
    echo "$s"
}

ceph_job() {
    mkdir -p "$1"
    "$BACKY_BIN/backy" -b "$1" init ceph-rbd "rbd/$2" >/dev/null
}

# Newest revision ID of a job (the target of JOBDIR/last).
last_rev() {
    readlink "$1/last"
}
