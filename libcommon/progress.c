/* progress.c - the progress line on stderr (contract in
 * include/backy/progress.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "backy/progress.h"
#include "backy/util.h"

enum style { ST_NONE, ST_TTY, ST_LINES };
enum choice { CH_AUTO, CH_ON, CH_OFF };

#define TTY_INTERVAL 0.25       /* at most 4 updates a second on a terminal */
#define LINE_INTERVAL 1.0       /* at most one line a second elsewhere */
#define FIRST_TTY 0.5           /* nothing for a pass shorter than this */
#define RATE_WINDOW 5.0         /* seconds the rate is averaged over */
#define NSAMPLES 32             /* ring of (time, done), >= 0.2 s apart */
#define SAMPLE_GAP 0.2
#define CHECKS_PER_SEC 20       /* clock looked at about this often */
#define MIN_STEP ((uint64_t)256 << 10)
#define FIRST_STEP ((uint64_t)1 << 20)

static enum choice choice = CH_AUTO;
static enum style style = ST_NONE;
static int width = 80;

static atomic_int active;
static atomic_uint_fast64_t done_bytes;
static atomic_uint_fast64_t next_check;     /* done_bytes at which to look at the clock */
static atomic_uint_fast64_t total_bytes;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* under mu */
static char label[160];
static double t_start, t_next_draw;
static int visible;                         /* a line is on the terminal */
struct sample {
    double t;
    uint64_t done;
};
static struct sample samples[NSAMPLES];
static unsigned nsamp, samp_head;

int progress_option(int opt)
{
    if (opt == BK_OPT_PROGRESS)
        choice = CH_ON;
    else if (opt == BK_OPT_NO_PROGRESS)
        choice = CH_OFF;
    else
        return 0;
    return 1;
}

void progress_init(void)
{
    const char *term = getenv("TERM");
    int tty = isatty(2) && term && *term && strcmp(term, "dumb") != 0;
    if (choice == CH_OFF)
        style = ST_NONE;
    else if (tty)
        style = ST_TTY;
    else
        style = choice == CH_ON ? ST_LINES : ST_NONE;
    struct winsize ws;
    if (style == ST_TTY && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        width = ws.ws_col;
}

void progress_init_asked(void)
{
    if (choice == CH_AUTO)
        choice = CH_OFF;
    progress_init();
}

static double now_mono(void) { return bk_mono(); }

/* --- formatting ---------------------------------------------------------- */

void progress_fmt_size(char *buf, size_t len, uint64_t bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%u B", (unsigned)bytes);
    else if (v < 9.995)
        snprintf(buf, len, "%.2f %s", v, units[u]);
    else if (v < 99.95)
        snprintf(buf, len, "%.1f %s", v, units[u]);
    else
        snprintf(buf, len, "%.0f %s", v, units[u]);
}

void progress_fmt_rate(char *buf, size_t len, double bps)
{
    if (bps < 0 || bps != bps) {
        snprintf(buf, len, "%s", "");
        return;
    }
    char s[32];
    progress_fmt_size(s, sizeof s, bps >= 1.8e19 ? UINT64_MAX : (uint64_t)(bps + 0.5));
    snprintf(buf, len, "%s/s", s);
}

void progress_fmt_time(char *buf, size_t len, double secs)
{
    if (secs < 0 || secs != secs || secs >= 1000.0 * 3600) {
        snprintf(buf, len, "--:--");
        return;
    }
    unsigned long s = (unsigned long)(secs + 0.5);
    if (s < 3600)
        snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
    else
        snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
}

static unsigned percent(uint64_t done, uint64_t total)
{
    if (total == 0 || done >= total)
        return 100;
    /* never 100 before the end; no overflow for any size */
    unsigned p = (unsigned)((long double)done * 100 / total);
    return p > 99 ? 99 : p;
}

void progress_fmt_line(char *buf, size_t len, const char *lbl, uint64_t done, uint64_t total,
                       double rate)
{
    char d[32], t[32], r[40], e[32];
    if (done > total)
        done = total;
    progress_fmt_size(d, sizeof d, done);
    progress_fmt_size(t, sizeof t, total);
    progress_fmt_rate(r, sizeof r, rate);
    progress_fmt_time(e, sizeof e, rate > 0 ? (double)(total - done) / rate : -1);
    if (rate < 0)
        snprintf(buf, len, "%s: %3u%%  %s of %s", lbl, percent(done, total), d, t);
    else
        snprintf(buf, len, "%s: %3u%%  %s of %s  %s  ETA %s", lbl, percent(done, total), d, t,
                 r, e);
}

/* --- drawing --------------------------------------------------------------- */

static void put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;     /* stderr gone: the work goes on without a line */
        s += w;
        n -= (size_t)w;
    }
}

static void put_line(const char *line)
{
    char out[600];
    if (style == ST_TTY) {
        /* one row: a wrapped line could not be rewritten by \r */
        int n = snprintf(out, sizeof out, "\r%.*s\033[K", width - 1, line);
        put(out, n < 0 ? 0 : (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
        visible = 1;
    } else {
        int n = snprintf(out, sizeof out, "%s\n", line);
        put(out, n < 0 ? 0 : (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
    }
}

static void erase(void)
{
    if (visible)
        put("\r\033[K", 4);
    visible = 0;
}

/* Average rate over the last RATE_WINDOW seconds (-1: not known yet). */
static double rate_now(double now, uint64_t done)
{
    double rate = -1;
    for (unsigned k = 0; k < nsamp; k++) {
        unsigned i = (samp_head + NSAMPLES - nsamp + k) % NSAMPLES;
        if (now - samples[i].t > RATE_WINDOW)
            continue;
        if (now - samples[i].t >= SAMPLE_GAP && done >= samples[i].done)
            rate = (double)(done - samples[i].done) / (now - samples[i].t);
        break;
    }
    return rate;
}

static void add_sample(double now, uint64_t done)
{
    if (nsamp > 0 && now - samples[(samp_head + NSAMPLES - 1) % NSAMPLES].t < SAMPLE_GAP)
        return;
    samples[samp_head] = (struct sample){now, done};
    samp_head = (samp_head + 1) % NSAMPLES;
    if (nsamp < NSAMPLES)
        nsamp++;
}

/* Enough bytes passed: look at the clock, draw when it is time. */
static void tick(uint64_t done)
{
    if (pthread_mutex_trylock(&mu) != 0)
        return;                 /* another thread is at it */
    if (!atomic_load(&active)) {
        pthread_mutex_unlock(&mu);
        return;
    }
    double now = now_mono();
    add_sample(now, done);
    double rate = rate_now(now, done);
    uint64_t step = rate > 0 ? (uint64_t)(rate / CHECKS_PER_SEC) : FIRST_STEP;
    atomic_store(&next_check, done + (step < MIN_STEP ? MIN_STEP : step));
    if (now >= t_next_draw) {
        char line[512];
        progress_fmt_line(line, sizeof line, label, done, atomic_load(&total_bytes), rate);
        put_line(line);
        t_next_draw = now + (style == ST_TTY ? TTY_INTERVAL : LINE_INTERVAL);
    }
    pthread_mutex_unlock(&mu);
}

void progress_start(uint64_t total, const char *lbl)
{
    if (style == ST_NONE || total == 0)
        return;
    pthread_mutex_lock(&mu);
    size_t i = 0;
    for (; lbl && lbl[i] && i < sizeof label - 1; i++)
        label[i] = (unsigned char)lbl[i] < 0x20 || lbl[i] == 0x7f ? '?' : lbl[i];
    label[i] = '\0';
    t_start = now_mono();
    t_next_draw = t_start + (style == ST_TTY ? FIRST_TTY : LINE_INTERVAL);
    nsamp = samp_head = 0;
    add_sample(t_start, 0);
    atomic_store(&done_bytes, 0);
    atomic_store(&total_bytes, total);
    atomic_store(&next_check, FIRST_STEP);
    atomic_store(&active, 1);
    pthread_mutex_unlock(&mu);
}

void progress_add(uint64_t bytes)
{
    if (!atomic_load_explicit(&active, memory_order_relaxed))
        return;
    uint64_t d = atomic_fetch_add_explicit(&done_bytes, bytes, memory_order_relaxed) + bytes;
    if (d >= atomic_load_explicit(&next_check, memory_order_relaxed))
        tick(d);
}

void progress_set(uint64_t done)
{
    if (!atomic_load_explicit(&active, memory_order_relaxed))
        return;
    atomic_store_explicit(&done_bytes, done, memory_order_relaxed);
    if (done >= atomic_load_explicit(&next_check, memory_order_relaxed))
        tick(done);
}

void progress_grow(uint64_t more)
{
    if (atomic_load(&active))
        atomic_fetch_add(&total_bytes, more);
}

void progress_end(int success)
{
    if (!atomic_load(&active))
        return;
    pthread_mutex_lock(&mu);
    atomic_store(&active, 0);
    if (style == ST_TTY) {
        erase();
    } else {
        uint64_t total = atomic_load(&total_bytes);
        uint64_t done = success ? total : atomic_load(&done_bytes);
        double secs = now_mono() - t_start;
        char line[512], d[32], t[32], r[40], e[32];
        progress_fmt_size(d, sizeof d, done > total ? total : done);
        progress_fmt_size(t, sizeof t, total);
        progress_fmt_rate(r, sizeof r, secs >= 0.1 ? (double)done / secs : -1);
        progress_fmt_time(e, sizeof e, secs);
        if (success)
            snprintf(line, sizeof line, "%s: 100%%  %s of %s  %s%sdone in %s", label, d, t, r,
                     *r ? "  " : "", e);
        else
            snprintf(line, sizeof line, "%s: stopped at %u%%  %s of %s  after %s", label,
                     percent(done, total), d, t, e);
        put_line(line);
    }
    pthread_mutex_unlock(&mu);
}

void progress_clear(void)
{
    if (style != ST_TTY || !atomic_load(&active))
        return;
    pthread_mutex_lock(&mu);
    erase();
    pthread_mutex_unlock(&mu);
}
