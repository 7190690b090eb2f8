/* log.c - timestamped log lines; follows a renamed log file (rotation).
 * Lines: "2026-12-02T01:00:00Z [PID] LEVEL message" (UTC, ISO 8601). Under
 * systemd (JOURNAL_STREAM names the device and inode of the descriptor we
 * log to) lines carry a syslog priority prefix instead of a timestamp:
 * "<6>[PID] INFO message"; the journal adds its own time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/progress.h"

static int log_fd_ = -1;
static char *log_path;
static int log_verbose;
static int log_reopen = 1;
static dev_t log_dev;
static ino_t log_ino;
static int log_journal;     /* the log descriptor is systemd's journal stream */

/* One decimal number of JOURNAL_STREAM at s, ending at *end; 0 or -1. */
static int journal_num(const char *s, unsigned long long *v, char **end)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *v = strtoull(s, end, 10);
    return errno ? -1 : 0;
}

int log_is_journal_fd(int fd)
{
    /* "DEV:INO" of the journal's stream, both decimal */
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    char *end;
    struct stat st;
    int saved = errno; /* asked while an error message is made */
    int is = js && journal_num(js, &dev, &end) == 0 && *end == ':' &&
             journal_num(end + 1, &ino, &end) == 0 && *end == '\0' && fstat(fd, &st) == 0 &&
             (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    errno = saved;
    return is;
}

static int open_path(void)
{
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        log_dev = st.st_dev;
        log_ino = st.st_ino;
    }
    if (log_fd_ > 2)
        close(log_fd_);
    log_fd_ = fd;
    return 0;
}

int log_open(const char *path, int verbose, int use_stderr)
{
    log_verbose = verbose;
    if (!path) {
        log_fd_ = use_stderr ? 2 : 1;
        /* stdout closed at the start (held by /dev/null): log to stderr */
        if (log_fd_ == 1 && bk_std_closed(1) && !bk_std_closed(2))
            log_fd_ = 2;
        log_journal = log_is_journal_fd(log_fd_);
        return 0;
    }
    log_journal = 0;
    free(log_path);
    log_path = bk_abspath(path);
    if (!log_path)
        return -1;
    return open_path();
}

void log_no_reopen(void)
{
    log_reopen = 0;
}

int log_fd(void)
{
    return log_fd_;
}

int log_is_stdio(void)
{
    /* -2: logging to stdout/stderr failed and stopped */
    return log_fd_ < 0 || log_fd_ == 1 || log_fd_ == 2;
}

/* The file at our path is not the one we write to any more: it was renamed
 * away (rotation) or removed. Open a new one of the old name. */
static void log_write(const char *line, size_t len);

static void maybe_reopen(void)
{
    if (!log_path || !log_reopen)
        return;
    struct stat st;
    if (stat(log_path, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino)
        return;
    int e = errno;
    open_path(); /* on failure keep writing to the old descriptor */
    errno = e;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    static const char prio[] = {'7', '6', '4', '3'};   /* syslog: debug, info, warning, err */
    if (lvl == BK_LOG_DEBUG && !log_verbose)
        return;
    int e = errno;
    if (log_fd_ == -1)
        log_fd_ = 1;
    if (log_fd_ == -2)
        return;
    maybe_reopen();
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n;
    if (log_journal)
        n = snprintf(line, sizeof line, "<%c>[%ld] %s ", prio[lvl], (long)getpid(), names[lvl]);
    else
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02dZ [%ld] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)getpid(), names[lvl]);
    if (n < 0)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len] = '\0';
    /* one line per message: control characters (a newline in a path, a
     * spec or a tag) are escaped, so no message can forge a log line */
    if (bk_has_ctrl(line + n)) {
        char esc[sizeof line];
        size_t el = bk_escape(esc, sizeof esc - (size_t)n - 1, line + n);
        memcpy(line + n, esc, el);
        len = (size_t)n + el;
    }
    line[len++] = '\n';
    if (log_fd_ >= 0 && log_fd_ <= 2)
        progress_clear();   /* the terminal's progress line, if any */
    log_write(line, len);
    errno = e;
}

/* A log on stdout or stderr whose reader is gone (EPIPE; `backy backup |
 * head -1`) or that cannot be written does not stop the program (SIGPIPE
 * is ignored by the tools that write while they change something): stdout
 * logging moves to stderr with one warning there; when stderr fails too,
 * logging stops. A log file that cannot be written is reported on stderr
 * once. */
static void log_write(const char *line, size_t len)
{
    static int file_failed;
    if (log_fd_ == -2 || bk_write_all(log_fd_, line, len) == 0)
        return;
    int e = errno;
    char msg[512];
    if (log_fd_ == 1) {
        log_fd_ = 2;
        snprintf(msg, sizeof msg, "%s: warning: cannot write the log to stdout: %s: logging to "
                 "stderr\n", bk_prog, strerror(e));
        if (bk_write_all(2, msg, strlen(msg)) < 0 || bk_write_all(2, line, len) < 0)
            log_fd_ = -2;
    } else if (log_fd_ == 2) {
        log_fd_ = -2;
    } else if (!file_failed) {
        file_failed = 1;
        char esc[256];
        bk_escape(esc, sizeof esc, log_path ? log_path : "?");
        snprintf(msg, sizeof msg, "%s: warning: cannot write the log file: %s: %s\n", bk_prog,
                 esc, strerror(e));
        bk_write_all(2, msg, strlen(msg));
    }
}

void log_write_raw(const char *buf, size_t len)
{
    int e = errno;
    if (log_fd_ == -1)
        log_fd_ = 1;
    if (log_fd_ == -2)
        return;
    maybe_reopen();
    log_write(buf, len);
    errno = e;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}
