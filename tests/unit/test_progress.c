/* test_progress.c - the progress line: sizes, rates, times and whole lines
 * as formatted, and what reaches stderr in each mode (stderr is a file
 * here, so: nothing by default or with --no-progress, the line form with
 * --progress), counting from two threads at once; then stderr on a
 * pseudo-terminal: the line drawn in place, erased before a log line and
 * at the end. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/progress.h"
#include "tap.h"

#define MiB (1024.0 * 1024)
#define GiB (1024.0 * MiB)

static void size_is(uint64_t bytes, const char *want)
{
    char b[64], d[128];
    progress_fmt_size(b, sizeof b, bytes);
    snprintf(d, sizeof d, "size %llu is \"%s\" (got \"%s\")", (unsigned long long)bytes, want, b);
    tap_ok(!strcmp(b, want), d);
}

static void rate_is(double bps, const char *want)
{
    char b[64], d[128];
    progress_fmt_rate(b, sizeof b, bps);
    snprintf(d, sizeof d, "rate %.1f is \"%s\" (got \"%s\")", bps, want, b);
    tap_ok(!strcmp(b, want), d);
}

static void time_is(double s, const char *want)
{
    char b[64], d[128];
    progress_fmt_time(b, sizeof b, s);
    snprintf(d, sizeof d, "time %.2f s is \"%s\" (got \"%s\")", s, want, b);
    tap_ok(!strcmp(b, want), d);
}

static void line_is(const char *label, uint64_t done, uint64_t total, double rate, const char *want)
{
    char b[256], d[512];
    progress_fmt_line(b, sizeof b, label, done, total, rate);
    snprintf(d, sizeof d, "line \"%s\" (got \"%s\")", want, b);
    tap_ok(!strcmp(b, want), d);
}

/* stderr into a fresh temporary file; returns its descriptor for reading */
static int capture_stderr(int *saved)
{
    char path[] = "/tmp/backy-test-progress.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(1);
    }
    unlink(path);
    fflush(stderr);
    *saved = dup(2);
    dup2(fd, 2);
    return fd;
}

static char *release_stderr(int fd, int saved)
{
    static char buf[8192];
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n < 0 ? 0 : n] = '\0';
    close(fd);
    return buf;
}

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        progress_add(64 * 1024);
    return NULL;
}

int main(void)
{
    size_is(0, "0 B");
    size_is(512, "512 B");
    size_is(1023, "1023 B");
    size_is(1024, "1.00 KiB");
    size_is(1536, "1.50 KiB");
    size_is((uint64_t)(1.68 * GiB), "1.68 GiB");
    size_is((uint64_t)(4 * GiB), "4.00 GiB");
    size_is((uint64_t)(51.2 * MiB), "51.2 MiB");
    size_is((uint64_t)(512 * MiB), "512 MiB");
    size_is((uint64_t)(9.999 * MiB), "10.0 MiB");     /* rounds up into the next width */
    size_is((uint64_t)(99.97 * MiB), "100 MiB");
    size_is((uint64_t)(1023 * MiB), "1023 MiB");
    size_is((uint64_t)16 << 40, "16.0 TiB");
    size_is(UINT64_MAX, "16.0 EiB");

    rate_is(512 * MiB, "512 MiB/s");
    rate_is(1.5 * GiB, "1.50 GiB/s");
    rate_is(37.04 * MiB, "37.0 MiB/s");
    rate_is(0, "0 B/s");
    rate_is(-1, "");
    rate_is(1e30, "16.0 EiB/s");

    time_is(0, "0:00");
    time_is(5.2, "0:05");
    time_is(59.6, "1:00");
    time_is(754, "12:34");
    time_is(3723, "1:02:03");
    time_is(-1, "--:--");
    time_is(1e12, "--:--");

    line_is("backup vm1", (uint64_t)(0.42 * 4 * GiB) + 1, 4 * (uint64_t)GiB, 512 * MiB,
            "backup vm1:  42%  1.68 GiB of 4.00 GiB  512 MiB/s  ETA 0:05");
    line_is("verify vm1 X", 0, 100 * (uint64_t)MiB, -1, "verify vm1 X:   0%  0 B of 100 MiB");
    line_is("b", 999, 1000, 1000, "b:  99%  999 B of 1000 B  1000 B/s  ETA 0:00");
    line_is("b", 1000, 1000, 0, "b: 100%  1000 B of 1000 B  0 B/s  ETA --:--");
    line_is("b", 2000, 1000, 10, "b: 100%  1000 B of 1000 B  10 B/s  ETA 0:00");

    /* stderr is not a terminal: nothing by default, nothing with --no-progress */
    int saved, fd = capture_stderr(&saved);
    progress_init();
    progress_start(1000, "backup vm1");
    progress_add(500);
    progress_end(1);
    char *out = release_stderr(fd, saved);
    tap_ok(out[0] == '\0', "not a terminal, no option: nothing on stderr");

    fd = capture_stderr(&saved);
    tap_ok(progress_option(BK_OPT_NO_PROGRESS) == 1, "--no-progress is taken");
    progress_init();
    progress_start(1000, "backup vm1");
    progress_end(0);
    out = release_stderr(fd, saved);
    tap_ok(out[0] == '\0', "--no-progress: nothing on stderr");

    /* --progress: the line form; two threads count 2 x 1000 x 64 KiB */
    fd = capture_stderr(&saved);
    tap_ok(progress_option(BK_OPT_PROGRESS) == 1, "--progress is taken");
    tap_ok(progress_option('v') == 0, "other options are not taken");
    progress_init();
    progress_start(250 * (uint64_t)MiB, "backup\tvm1");
    pthread_t th[2];
    pthread_create(&th[0], NULL, adder, NULL);
    pthread_create(&th[1], NULL, adder, NULL);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    progress_end(0);
    out = release_stderr(fd, saved);
    tap_ok(strstr(out, "backup?vm1: stopped at 50%  125 MiB of 250 MiB  after 0:00\n") != NULL &&
           !strchr(out, '\r'), "--progress to a file: the last line counts both threads' bytes");
    fprintf(stderr, "# %s", out);

    fd = capture_stderr(&saved);
    progress_start(10 * (uint64_t)MiB, "restore vm1 ABC");
    progress_set(3 * (uint64_t)MiB);
    progress_end(1);
    out = release_stderr(fd, saved);
    tap_ok(!strncmp(out, "restore vm1 ABC: 100%  10.0 MiB of 10.0 MiB  ", 45) &&
           strstr(out, "done in 0:00\n") != NULL, "--progress: success ends with a 100% line");
    fprintf(stderr, "# %s", out);

    fd = capture_stderr(&saved);
    progress_start(0, "empty");
    progress_add(10);
    progress_end(1);
    progress_clear();
    out = release_stderr(fd, saved);
    tap_ok(out[0] == '\0', "a pass of 0 bytes shows nothing");

    /* a terminal: \r LINE ESC[K, erased (\r ESC[K) before a log line */
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    int pts = m < 0 || grantpt(m) || unlockpt(m) ? -1 : open(ptsname(m), O_RDWR | O_NOCTTY);
    if (pts < 0) {
        perror("pseudo-terminal");
        return 1;
    }
    setenv("TERM", "xterm", 1);
    fflush(stderr);
    saved = dup(2);
    dup2(pts, 2);
    progress_option(BK_OPT_NO_PROGRESS);
    progress_init();
    progress_start(100 * (uint64_t)MiB, "backup vm1");
    progress_add(20 * (uint64_t)MiB);
    progress_end(1);                        /* --no-progress: nothing even here */
    progress_option(BK_OPT_PROGRESS);       /* the default on a terminal is the same */
    progress_init();
    log_open(NULL, 0, 1);
    progress_start(100 * (uint64_t)MiB, "backup vm1");
    progress_add(10 * (uint64_t)MiB);       /* before half a second: nothing */
    usleep(600 * 1000);
    progress_add(10 * (uint64_t)MiB);       /* drawn */
    log_info("a log line");
    usleep(300 * 1000);
    progress_add(20 * (uint64_t)MiB);       /* drawn again */
    progress_end(1);
    dup2(saved, 2);
    close(saved);
    close(pts);
    char tty[4096];
    size_t got = 0;
    fcntl(m, F_SETFL, O_NONBLOCK);
    for (ssize_t r; got < sizeof tty - 1 && (r = read(m, tty + got, sizeof tty - 1 - got)) > 0;)
        got += (size_t)r;
    tty[got] = '\0';
    close(m);
    int erases = 0;
    for (const char *p = tty; (p = strstr(p, "\033[K")); p++)
        erases++;
    const char *d1 = strstr(tty, "\rbackup vm1:  20%  20.0 MiB of 100 MiB  ");
    const char *d2 = strstr(tty, "\rbackup vm1:  40%  40.0 MiB of 100 MiB  ");
    const char *lg = strstr(tty, "\r\033[K20");   /* erased, then the time stamp */
    tap_ok(tty[0] == '\r' && d1 == tty && strstr(tty, "MiB/s  ETA 0:0") != NULL,
           "terminal: nothing before half a second, then the line with rate and ETA");
    tap_ok(lg && d1 < lg && strstr(lg, "INFO a log line") && d2 > lg,
           "terminal: the line is erased before a log line and drawn again after");
    tap_ok(erases == 4, "terminal: two draws and two erases");
    tap_ok(got > 4 && !strcmp(tty + got - 4, "\r\033[K"), "terminal: the line is erased at the end");
    for (char *p = tty; *p; p++)
        if (*p == '\033')
            *p = 'E';
        else if (*p == '\r')
            *p = '|';
    fprintf(stderr, "# %s\n", tty);
    return tap_done();
}
