#!/bin/sh
# lint.sh - the static analysers of `make lint` over cmd/ and libcommon/:
# cppcheck, clang-tidy (config: .clang-tidy, every finding an error) and
# scan-build (the clang static analyser over a full build, unit tests
# included, in build.lint/obj: build/ is not touched). Prints the findings
# and each tool's time; exit 1 when there is any finding, or when a tool is
# missing or fails. Suppressions are in .clang-tidy and inline
# (cppcheck-suppress / NOLINT comments), each with its reason.
#
#     sh sh/lint.sh [cppcheck|clang-tidy|scan-build ...]    (default: all)
set -u
cd "$(dirname "$0")/.." || exit 1
tools=${*:-cppcheck clang-tidy scan-build}
jobs=${LINT_JOBS:-2}
out=${LINT_BUILD:-build.lint}
mkdir -p "$out"
rc=0
srcs=$(ls libcommon/*.c cmd/*/*.c)
for t in $tools; do
    case $t in
    cppcheck | clang-tidy | scan-build)
        if ! command -v "$t" >/dev/null; then
            echo "lint: $t is not installed (sh sh/deps.sh installs it)" >&2
            rc=1
            continue
        fi
        ;;
    esac
    start=$(date +%s)
    case $t in
    cppcheck)
        echo "lint: cppcheck"
        cppcheck --enable=warning,portability,performance --std=c11 -D_GNU_SOURCE -Iinclude \
            --inline-suppr --quiet --error-exitcode=1 libcommon cmd || rc=1
        ;;
    clang-tidy)
        echo "lint: clang-tidy"
        : >"$out/clang-tidy.err"
        # shellcheck disable=SC2086,SC2016
        printf '%s\n' $srcs | xargs -P "$jobs" -I{} sh -c \
            'clang-tidy --quiet "$1" -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilibcommon 2>>"$2"' \
            _ {} "$out/clang-tidy.err" >"$out/clang-tidy.txt"
        xrc=$?
        if grep -q ': error: ' "$out/clang-tidy.txt"; then
            grep -A3 ': error: ' "$out/clang-tidy.txt"
            echo "lint: clang-tidy: $(grep -c ': error: ' "$out/clang-tidy.txt") findings"
            rc=1
        elif [ "$xrc" != 0 ]; then
            # no finding, yet a run failed: a crash is no pass
            echo "lint: clang-tidy failed (xargs exit status $xrc):"
            tail -20 "$out/clang-tidy.err"
            rc=1
        fi
        ;;
    scan-build)
        echo "lint: scan-build"
        rm -rf "$out/scan"
        if ! scan-build -o "$out/scan" --status-bugs make -s -B -j"$jobs" B="$out/obj" all \
            >"$out/scan-build.txt" 2>&1; then
            # findings, or the errors of a build that failed under it
            grep -E 'warning:|error:|scan-build:' "$out/scan-build.txt"
            rc=1
        fi
        ;;
    *)
        echo "lint: unknown tool: $t (cppcheck, clang-tidy, scan-build)" >&2
        exit 1
        ;;
    esac
    echo "lint: $t: $(($(date +%s) - start)) s"
done
[ $rc = 0 ] && echo "lint: no findings"
exit $rc
