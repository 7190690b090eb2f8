/* tap.h - the smallest TAP producer for the C unit tests. */
#ifndef BACKY_TAP_H
#define BACKY_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

static void tap_ok(int cond, const char *desc)
{
    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, desc);
    fflush(stdout);
}

static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
