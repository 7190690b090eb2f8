#!/usr/bin/env bats
# The static analysers of `make lint` (sh/lint.sh) as part of the suite, so
# that a finding is a failed test in make check's count: cppcheck,
# clang-tidy (.clang-tidy) and scan-build over cmd/ and libcommon/, each
# with zero findings. They build in build.lint/, never in build/.

load lib/common

lint() {
    run sh "$BACKY_ROOT/sh/lint.sh" "$1"
    [ "$status" = 0 ] || fail "$1: $output"
    assert_output_contains "lint: no findings"
}

@test "lint: cppcheck finds nothing" {
    lint cppcheck
}

@test "lint: clang-tidy finds nothing (checks switched off in .clang-tidy say why)" {
    lint clang-tidy
}

@test "lint: scan-build finds nothing in a full build" {
    lint scan-build
}
