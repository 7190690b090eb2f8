/* duration.h - durations "30", "30s", "5m", "2h", "1d", "1w" (integer + suffix). */
#ifndef BACKY_DURATION_H
#define BACKY_DURATION_H

#include <stdint.h>

/* Parse into seconds. 0 or -1 (bad syntax, overflow, zero allowed). */
int duration_parse(const char *s, int64_t *secs);
/* Shortest exact form: 86400 -> "1d", 90 -> "90s" (buf >= 24). */
void duration_format(int64_t secs, char *buf, unsigned long len);

#endif
