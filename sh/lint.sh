#!/bin/sh
# lint.sh - the static analysers of `make lint` over cmd/ and libcommon/:
# cppcheck, clang-tidy (config: .clang-tidy, every finding an error) and
# scan-build (the clang static analyser over a full build). Prints the
# findings; exit 1 when there is any. Suppressions are in .clang-tidy and
# inline (cppcheck-suppress / NOLINT comments), each with its reason.
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
    cppcheck)
        echo "lint: cppcheck"
        cppcheck --enable=warning,portability,performance --std=c11 -D_GNU_SOURCE -Iinclude \
            --inline-suppr --quiet --error-exitcode=1 libcommon cmd || rc=1
        ;;
    clang-tidy)
        echo "lint: clang-tidy"
        # shellcheck disable=SC2086
        printf '%s\n' $srcs | xargs -P "$jobs" -I{} sh -c \
            'clang-tidy --quiet "$1" -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilibcommon 2>/dev/null' _ {} \
            >"$out/clang-tidy.txt"
        if grep -q ': error: ' "$out/clang-tidy.txt"; then
            grep -A3 ': error: ' "$out/clang-tidy.txt"
            echo "lint: clang-tidy: $(grep -c ': error: ' "$out/clang-tidy.txt") findings"
            rc=1
        fi
        ;;
    scan-build)
        echo "lint: scan-build"
        rm -rf "$out/scan"
        if ! scan-build -o "$out/scan" --status-bugs make -s -B -j"$jobs" B="$out/obj" all \
            >"$out/scan-build.txt" 2>&1; then
            grep -E 'warning:|scan-build:' "$out/scan-build.txt"
            rc=1
        fi
        ;;
    *)
        echo "lint: unknown tool: $t (cppcheck, clang-tidy, scan-build)" >&2
        exit 1
        ;;
    esac
done
[ $rc = 0 ] && echo "lint: no findings"
exit $rc
