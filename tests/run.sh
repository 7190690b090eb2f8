#!/bin/sh
# run.sh - the one test command: every C unit test binary in BUILD/tests/
# and every tests/*.bats suite (bats --tap), output streamed as it comes.
# Counts ok / not ok / skipped over all of them; a suite that aborts, exits
# nonzero or runs fewer tests than it planned counts the missing ones as
# failed. The last line is "N passed, N failed, N skipped"; exit 1 if
# anything failed or no test ran.
#
#     sh tests/run.sh [FILTER...]
#
# FILTER: run only the suites whose name contains one of the words.
# Environment: BACKY_BUILD (build directory, default build),
# BACKY_SUITE_TIMEOUT (seconds before a hung suite is stopped, default 1800).
set -u

cd "$(dirname "$0")/.." || exit 1
BACKY_BUILD=${BACKY_BUILD:-build}
export BACKY_BUILD
timeout_s=${BACKY_SUITE_TIMEOUT:-1800}

work=$(mktemp -d "${TMPDIR:-/tmp}/backy-run.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0 failed=0 skipped=0 suites=0
failed_suites=""

wanted() {
    [ $# -gt 1 ] || return 0
    _name=$1
    shift
    for _f in "$@"; do
        case "$_name" in *"$_f"*) return 0 ;; esac
    done
    return 1
}

# run_suite NAME CMD...: stream CMD's TAP output and add up its results.
run_suite() {
    _name=$1
    shift
    suites=$((suites + 1))
    echo "# suite: $_name"
    {
        timeout -k 10 "$timeout_s" "$@" 2>&1
        echo $? >"$work/rc"
    } | tee "$work/out"
    _rc=$(cat "$work/rc" 2>/dev/null || echo 1)
    # One awk pass over the TAP: plan, ok, not ok, skip / todo directives.
    set -- $(awk '
        /^1\.\.[0-9]+/ { if (!seen) { plan = substr($1, 4) + 0; seen = 1 } }
        /^ok / {
            if (tolower($0) ~ /# *skip/) s++; else p++
        }
        /^not ok / {
            if (tolower($0) ~ /# *todo/) s++; else f++
        }
        END { printf "%d %d %d %d %d\n", seen, plan, p + 0, f + 0, s + 0 }
    ' "$work/out")
    _seen=$1 _plan=$2 _p=$3 _f=$4 _s=$5
    _missing=0
    _ran=$((_p + _f + _s))
    if [ "$_seen" = 0 ]; then
        echo "# $_name: no TAP plan (crashed before any test?), counted as 1 failure"
        _missing=1
    elif [ "$_ran" -lt "$_plan" ]; then
        _missing=$((_plan - _ran))
        echo "# $_name: $_ran of $_plan planned tests ran; $_missing missing counted as failed"
    fi
    if [ "$_rc" != 0 ] && [ "$_f" = 0 ] && [ "$_missing" = 0 ]; then
        echo "# $_name: exited with status $_rc without a failed test, counted as 1 failure"
        _missing=1
    fi
    [ "$_rc" = 124 ] && echo "# $_name: stopped after $timeout_s s"
    passed=$((passed + _p))
    failed=$((failed + _f + _missing))
    skipped=$((skipped + _s))
    if [ $((_f + _missing)) -gt 0 ]; then
        failed_suites="$failed_suites $_name"
    fi
}

for bin in "$BACKY_BUILD"/tests/*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=unit/$(basename "$bin")
    wanted "$name" "$@" || continue
    run_suite "$name" "$bin"
done

if command -v bats >/dev/null 2>&1; then
    for suite in tests/*.bats; do
        [ -f "$suite" ] || continue
        name=$(basename "$suite" .bats)
        wanted "$name" "$@" || continue
        run_suite "$name" bats --tap "$suite"
    done
else
    echo "# bats not found: the bats suites were not run (sh sh/deps.sh installs it)"
    failed=$((failed + 1))
fi

[ -n "$failed_suites" ] && echo "# failed suites:$failed_suites"
[ $((passed + failed)) -eq 0 ] && echo "# no test ran"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + failed)) -gt 0 ]
