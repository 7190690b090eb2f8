# common.bash - shared setup of the bats suites. Load with
#     load lib/common
# from a tests/*.bats file. It provides:
#   BACKY_ROOT, BACKY_BIN (the built tools; BACKY_BUILD=build.x picks
#   another build directory), backy (runs the wrapper),
#   T: a scratch directory per test (kept when the test fails, its path
#   printed; removed on success), loop-mounted filesystems in it
#   (mk_btrfs, mk_xfs, mk_ext4, mk_tmpfs; all unmounted after each test),
#   data helpers (make_source, change_blocks, holes...), asserts,
#   wait_for (wait on a condition instead of a fixed sleep).
#
# A suite that defines its own setup/teardown calls common_setup /
# common_teardown from them.

BACKY_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BACKY_BUILD=${BACKY_BUILD:-build}
case "$BACKY_BUILD" in
    /*) BACKY_BIN=$BACKY_BUILD/bin ;;
    *) BACKY_BIN=$BACKY_ROOT/$BACKY_BUILD/bin ;;
esac
export BACKY_ROOT BACKY_BIN
DATAGEN="python3 $BACKY_ROOT/tests/lib/datagen.py"

# shellcheck source=../../sh/testenv.sh
. "$BACKY_ROOT/sh/testenv.sh"

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds; fail after
# SECONDS. A bound on waiting, not a measure of speed.
wait_for() {
    local limit=$1 i=0
    shift
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -ge $((limit * 10)) ]; then
            echo "gave up after ${limit}s waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
}

backy() {
    "$BACKY_BIN/backy" "$@"
}

is_root() {
    [ "$(id -u)" = 0 ]
}

# As root never skips (loop devices must work there); as non-root skips.
require_root_or_skip() {
    if ! is_root; then
        skip "needs root for loop devices"
    fi
}

# Skip (visibly) when a tool of the project has not been built.
require_tool() {
    local t
    for t in "$@"; do
        [ -x "$BACKY_BIN/$t" ] || skip "$t not built in $BACKY_BIN"
    done
}

common_setup() {
    local base=${BACKY_TEST_TMP:-${TMPDIR:-/tmp}}
    mkdir -p "$base"
    local name
    name=$(basename "$BATS_TEST_FILENAME" .bats)
    T=$(mktemp -d "$base/backy-$name-$BATS_TEST_NUMBER.XXXXXX")
    export T
    echo 0 >"$T/.change_seq"
}

common_teardown() {
    [ -n "${T:-}" ] && [ -d "$T" ] || return 0
    # Processes a test left behind (e.g. a lock holder) must not keep
    # mounts busy.
    if [ -f "$T/.pids" ]; then
        local p
        while read -r p; do
            kill "$p" 2>/dev/null || true
        done <"$T/.pids"
        sleep 0.1
    fi
    if [ "${BATS_TEST_COMPLETED:-}" = 1 ] || [ -n "${BATS_TEST_SKIPPED:-}" ]; then
        testenv_cleanup "$T" || true
        rm -rf "$T"
    else
        # Keep the directory; filesystems are unmounted (their images stay
        # in $T) unless BACKY_TEST_KEEP_MOUNTS=1.
        if [ "${BACKY_TEST_KEEP_MOUNTS:-0}" != 1 ]; then
            chmod -R u+w "$T" 2>/dev/null || true
            TESTENV_KEEP_IMAGES=1 testenv_cleanup "$T" || true
        fi
        echo "# kept test directory: $T" >&3
    fi
}

setup() {
    common_setup
}

teardown() {
    common_teardown
}

# Remember a background process to be killed at teardown.
track_pid() {
    echo "$1" >>"$T/.pids"
}

# mk_btrfs NAME [SIZE] ... prints the mount point (inside $T).
mk_btrfs() { testenv_mkfs btrfs "$T" "$1" "${2:-}"; }
mk_xfs() { testenv_mkfs xfs "$T" "$1" "${2:-}"; }
mk_ext4() { testenv_mkfs ext4 "$T" "$1" "${2:-}"; }
mk_tmpfs() { testenv_mkfs tmpfs "$T" "$1" "${2:-}"; }
remount_ro() { testenv_remount_ro "$1"; }
remount_rw() { testenv_remount_rw "$1"; }

# make_source FILE SIZE [SEED]: pseudo-random data (deterministic from SEED)
# with all-zero regions: every 4th chunk of 1 MiB (64 KiB below 4 MiB).
make_source() {
    $DATAGEN make "$1" "$2" "${3:-$1}"
}

# change_blocks FILE PERCENT [BLOCKSIZE] [SEED]: overwrite PERCENT % of the
# BLOCKSIZE blocks (default 64K), chosen deterministically, with new data.
# Successive calls use successive seeds. Prints the number of blocks.
change_blocks() {
    local seed=${4:-}
    if [ -z "$seed" ]; then
        local n
        n=$(cat "$T/.change_seq" 2>/dev/null || echo 0)
        echo $((n + 1)) >"$T/.change_seq"
        seed="seq$n"
    fi
    $DATAGEN change "$1" "$2" "${3:-64K}" "$seed"
}

# "OFFSET LENGTH" of each hole of FILE.
holes() { $DATAGEN holes "$1"; }
# is_hole FILE OFFSET LENGTH
is_hole() { $DATAGEN ishole "$1" "$2" "$3"; }
# Offsets of the all-zero CHUNK-sized chunks of FILE.
zero_chunks() { $DATAGEN zeros "$1" "${2:-1M}"; }
# Bytes allocated on disk for FILE.
allocated_bytes() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }
file_size() { stat -c %s "$1"; }

# Exclusive bytes of FILE on btrfs (not shared with any other file).
btrfs_exclusive() {
    sync
    btrfs filesystem du --raw "$1" | awk 'NR == 2 { print $2 }'
}

# Revision IDs of JOBDIR, oldest first (by the .rev timestamp order of
# backy status is not assumed: this is file-system order by mtime).
rev_ids() {
    (cd "$1" && ls -1tr -- *.rev 2>/dev/null | sed 's/\.rev$//' | grep -v '^last$') || true
}

# sha256 of every regular file and the target of every symlink in DIR
# (sorted), to prove a run changed nothing.
dir_sums() {
    (cd "$1" && find . -mindepth 1 \( -type f -o -type l \) ! -name '*.log' -print0 |
        sort -z | while IFS= read -r -d '' f; do
            if [ -L "$f" ]; then
                echo "link $(readlink "$f") $f"
            else
                echo "$(sha256sum <"$f" | cut -d' ' -f1) $f"
            fi
        done)
}

# --- asserts (for use after `run`) -----------------------------------------

fail() {
    echo "FAIL: $*" >&2
    return 1
}

assert_success() {
    if [ "$status" -ne 0 ]; then
        echo "expected success, got status $status; output:" >&2
        echo "$output" >&2
        return 1
    fi
}

assert_failure() {
    local want=${1:-}
    if [ "$status" -eq 0 ]; then
        echo "expected failure, got status 0; output:" >&2
        echo "$output" >&2
        return 1
    fi
    if [ -n "$want" ] && [ "$status" -ne "$want" ]; then
        echo "expected status $want, got $status; output:" >&2
        echo "$output" >&2
        return 1
    fi
}

assert_equal() {
    if [ "$1" != "$2" ]; then
        printf 'expected: %s\nactual:   %s\n' "$2" "$1" >&2
        return 1
    fi
}

# assert_output_contains STRING: $output contains STRING (fixed string).
assert_output_contains() {
    if ! grep -qF -- "$1" <<<"$output"; then
        printf 'output does not contain: %s\noutput:\n%s\n' "$1" "$output" >&2
        return 1
    fi
}

assert_output_not_contains() {
    if grep -qF -- "$1" <<<"$output"; then
        printf 'output contains: %s\noutput:\n%s\n' "$1" "$output" >&2
        return 1
    fi
}

# assert_output_matches ERE: some line of $output matches.
assert_output_matches() {
    if ! grep -qE -- "$1" <<<"$output"; then
        printf 'no line matches: %s\noutput:\n%s\n' "$1" "$output" >&2
        return 1
    fi
}

assert_files_equal() {
    if ! cmp "$1" "$2" >&2; then
        echo "files differ: $1 $2" >&2
        return 1
    fi
}

assert_file_exists() {
    [ -e "$1" ] || { echo "missing: $1" >&2; return 1; }
}

assert_file_missing() {
    [ ! -e "$1" ] || { echo "exists but should not: $1" >&2; return 1; }
}

# assert_le A B [what]
assert_le() {
    if [ "$1" -gt "$2" ]; then
        echo "expected ${3:-value} $1 <= $2" >&2
        return 1
    fi
}

# failrename_so: builds tests/lib/failrename.c (an LD_PRELOAD shim that
# makes the Nth rename onto a name with a given suffix fail with ENOSPC)
# into $T and prints its path.
failrename_so() {
    cc -shared -fPIC -o "$T/failrename.so" "$BACKY_ROOT/tests/lib/failrename.c" -ldl >&2 ||
        fail "cannot build tests/lib/failrename.c"
    echo "$T/failrename.so"
}
