#!/usr/bin/env bats
# The build gates: every program is a PIE with full RELRO, a non-executable
# stack, stack protector and FORTIFY_SOURCE checks; a command-line CFLAGS=
# cannot drop the required flags; header changes rebuild what includes them.

load lib/common

@test "build: every program is a position-independent executable with full RELRO" {
    local n=0
    for b in "$BACKY_BIN"/*; do
        run readelf -h "$b"
        assert_output_matches "Type:[[:space:]]+DYN"
        run readelf -d "$b"
        assert_output_contains "BIND_NOW"
        assert_output_matches "FLAGS_1.*PIE"
        run readelf -lW "$b"
        assert_output_contains "GNU_RELRO"
        n=$((n + 1))
    done
    [ "$n" -ge 10 ]
}

@test "build: no program has an executable stack" {
    for b in "$BACKY_BIN"/*; do
        run sh -c "readelf -lW '$b' | grep GNU_STACK"
        assert_output_matches "GNU_STACK.* RW  "
        assert_output_not_contains "RWE"
    done
}

@test "build: stack protector and FORTIFY_SOURCE checks are compiled in" {
    for b in backy-backup backy-restore backy-sched backy-telnetd; do
        run nm -D "$BACKY_BIN/$b"
        assert_output_contains "__stack_chk_fail"
        assert_output_matches "__[a-z]+_chk@"
    done
}

@test "build: a command-line CFLAGS= cannot drop the required flags" {
    run make -C "$BACKY_ROOT" -n -B CFLAGS=-O0 B=build.gatecheck build.gatecheck/libcommon/util.o
    assert_success
    assert_output_contains "-O0"
    for f in -fstack-protector-strong -fstack-clash-protection -fPIE -D_FORTIFY_SOURCE=3 -Wall -MMD -MP; do
        assert_output_contains "$f"
    done
    run make -C "$BACKY_ROOT" -n -B LDFLAGS= B=build.gatecheck build.gatecheck/bin/backy-find
    assert_output_contains "-pie"
    assert_output_contains "noexecstack"
}

@test "build: make check builds with warnings as errors" {
    run make -C "$BACKY_ROOT" -n check
    assert_output_contains "WERROR=1"
    run make -C "$BACKY_ROOT" -n -B WERROR=1 B=build.gatecheck build.gatecheck/libcommon/util.o
    assert_output_contains "-Werror"
}

@test "build: a changed header rebuilds the objects that include it" {
    # the dependency files written by -MMD name the headers
    run cat "$BACKY_ROOT/${BACKY_BUILD:-build}/libcommon/revision.d"
    assert_success
    assert_output_contains "include/backy/revision.h"
    run sh -c "cd '$BACKY_ROOT' && touch -d '+1 minute' include/backy/telnetproto.h && make -n ${BACKY_BUILD:+B=$BACKY_BUILD} all; touch include/backy/telnetproto.h"
    assert_output_contains "libcommon/telnetproto.c"
    assert_output_contains "cmd/backy-telnetd/main.c"
    assert_output_not_contains "libcommon/sums.c"
}
