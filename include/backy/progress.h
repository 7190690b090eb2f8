/* progress.h - one progress line on stderr for long passes (backup,
 * restore, verify): percentage, bytes done of total, rate, ETA.
 *
 *     backup vm1:  42%  1.68 GiB of 4.00 GiB  512 MiB/s  ETA 0:05
 *
 * Where it goes (decided once by progress_init(), before the sandbox):
 *   default        stderr is a terminal and TERM is set and not "dumb": the
 *                  line is rewritten in place (\r, erase to end of line) at
 *                  most 4 times a second, cut to the terminal's width, and
 *                  erased at the end; otherwise nothing is printed.
 *   --progress     the same on such a terminal; anywhere else (a file, a
 *                  pipe, a dumb terminal) newline-terminated lines at most
 *                  once a second, and a last line: "LABEL: 100%  SIZE of
 *                  SIZE  RATE  done in M:SS" or "LABEL: stopped at N% ...".
 *   --no-progress  nothing.
 * Nothing is shown for a pass shorter than the first interval (0.5 s on a
 * terminal). The rate is the average over the last 5 seconds; the ETA is
 * what is left at that rate.
 *
 * Cost: progress_add()/progress_set() are an atomic add and a compare
 * unless enough bytes passed to look at the clock (about 20 times a
 * second at the current rate); they may be called from several threads
 * (one of them draws, the others go on). Only clock_gettime and write(2)
 * on fd 2 are used after progress_init() (isatty and the window size are
 * asked there). log lines and fatal errors call progress_clear() first, so
 * they never land on a half-drawn line. One progress line per process. */
#ifndef BACKY_PROGRESS_H
#define BACKY_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* getopt_long entries and values for --progress / --no-progress */
#define BK_OPT_PROGRESS 0x150
#define BK_OPT_NO_PROGRESS 0x151
#define BK_PROGRESS_LONG                                      \
    {"progress", no_argument, 0, BK_OPT_PROGRESS},            \
    {"no-progress", no_argument, 0, BK_OPT_NO_PROGRESS}

/* Records --progress / --no-progress; 1 when opt was one of them. */
int progress_option(int opt);
/* Decides where the line goes (see above); call after the options, before
 * the sandbox. Without it nothing is ever shown. */
void progress_init(void);
/* The same for a tool that shows progress only when asked (--progress):
 * backy-receive, whose sender usually shows it on the same terminal. */
void progress_init_asked(void);

/* A pass of total bytes begins (total 0: nothing is shown). label: what
 * runs, e.g. "backup vm1" (control characters are replaced). */
void progress_start(uint64_t total, const char *label);
/* bytes more are done (thread-safe). */
void progress_add(uint64_t bytes);
/* done bytes are done in all (a loop that goes through the data in order). */
void progress_set(uint64_t done);
/* The pass turned out to have more bytes to do (a second pass). */
void progress_grow(uint64_t more);
/* The pass ends: erase the line (terminal) or print the last line. */
void progress_end(int success);
/* Erase the line from the terminal before other output; it is drawn again
 * at the next update. */
void progress_clear(void);

/* Formatting, for the line and the tests. */
/* "512 B", "1.68 GiB", "51.2 MiB", "512 MiB": three significant digits */
void progress_fmt_size(char *buf, size_t len, uint64_t bytes);
/* "512 MiB/s"; "" when rate < 0 (unknown) */
void progress_fmt_rate(char *buf, size_t len, double bytes_per_sec);
/* "0:05", "12:34", "1:02:03"; "--:--" when unknown (< 0) or absurd */
void progress_fmt_time(char *buf, size_t len, double seconds);
/* The line without \r or newline: "LABEL:  42%  1.68 GiB of 4.00 GiB
 * 512 MiB/s  ETA 0:05" (rate < 0: rate and ETA unknown). */
void progress_fmt_line(char *buf, size_t len, const char *label, uint64_t done,
                       uint64_t total, double rate);

#endif
