/* duration.c - "30s", "5m", "2h", "1d", "1w", bare seconds. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "backy/duration.h"

int duration_parse(const char *s, int64_t *secs)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    int64_t mult;
    switch (*end) {
    case '\0': case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default: return -1;
    }
    if (*end && end[1])
        return -1;
    if (v > INT64_MAX / mult)
        return -1;
    *secs = (int64_t)v * mult;
    return 0;
}

void duration_format(int64_t secs, char *buf, unsigned long len)
{
    static const struct { int64_t mult; char suffix; } u[] = {
        {7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (secs != 0 && secs % u[i].mult == 0) {
            snprintf(buf, len, "%lld%c", (long long)(secs / u[i].mult), u[i].suffix);
            return;
        }
    snprintf(buf, len, "%llds", (long long)secs);
}
