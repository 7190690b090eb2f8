/* tap.h - the smallest TAP producer for the C unit tests: tap_ok() per
 * check; tap_plan(N) up front when the count is known, else tap_done()
 * prints the plan at the end. tap_done() is main's exit status. */
#ifndef BACKY_TAP_H
#define BACKY_TAP_H

#include <stdio.h>

static int tap_n, tap_failed, tap_planned = -1;

__attribute__((unused)) static void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

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
    if (tap_planned < 0)
        printf("1..%d\n", tap_n);
    else if (tap_n != tap_planned)
        printf("# planned %d tests, ran %d\n", tap_planned, tap_n);
    return tap_failed || (tap_planned >= 0 && tap_n != tap_planned) ? 1 : 0;
}

#endif
