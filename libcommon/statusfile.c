/* statusfile.c - JSON status file through jansson. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backy/statusfile.h"
#include "backy/util.h"

static void fmt_utc(double t, char *buf, size_t len)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (t < 0 || !gmtime_r(&s, &tm)) {
        snprintf(buf, len, "-");
        return;
    }
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static json_t *time_or_null(double t)
{
    return t < 0 ? json_null() : json_real(t);
}

static json_t *str_or_empty(const char *s)
{
    return json_string(s ? s : "");
}

char *status_format(const struct bk_status *st)
{
    char buf[64];
    json_t *root = json_object();
    json_t *sch = json_object();
    json_t *jobs = json_array();

    json_object_set_new(root, "format", json_integer(BK_STATUS_FORMAT));
    json_object_set_new(sch, "pid", json_integer(st->pid));
    json_object_set_new(sch, "started", json_real(st->started));
    json_object_set_new(sch, "written", json_real(st->written));
    fmt_utc(st->written, buf, sizeof buf);
    json_object_set_new(sch, "written_utc", json_string(buf));
    json_object_set_new(sch, "worker_limit", json_integer(st->worker_limit));
    json_object_set_new(sch, "workers_busy", json_integer(st->workers_busy));
    json_object_set_new(sch, "jobs", json_integer((json_int_t)st->njobs));
    json_object_set_new(sch, "status_interval", json_integer(st->status_interval));
    json_object_set_new(sch, "config", str_or_empty(st->config));
    json_object_set_new(root, "scheduler", sch);

    for (size_t i = 0; i < st->njobs; i++) {
        const struct bk_status_job *j = &st->jobs[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", str_or_empty(j->name));
        json_object_set_new(o, "schedule", str_or_empty(j->schedule));
        json_object_set_new(o, "sla", json_string(j->sla_ok ? "OK" : "TOO OLD"));
        json_object_set_new(o, "sla_ok", json_boolean(j->sla_ok));
        json_object_set_new(o, "status", str_or_empty(j->status));
        json_object_set_new(o, "pid", j->pid > 0 ? json_integer(j->pid) : json_null());
        json_object_set_new(o, "last_time", time_or_null(j->last_time));
        fmt_utc(j->last_time, buf, sizeof buf);
        json_object_set_new(o, "last_backup", json_string(buf));
        json_object_set_new(o, "last_tags", str_or_empty(j->last_tags));
        json_object_set_new(o, "last_duration", json_real(j->last_duration));
        json_object_set_new(o, "next_time", time_or_null(j->next_time));
        fmt_utc(j->next_time, buf, sizeof buf);
        json_object_set_new(o, "next_backup", json_string(buf));
        json_object_set_new(o, "next_tags", str_or_empty(j->next_tags));
        json_object_set_new(o, "min_interval", json_integer(j->min_interval));
        json_object_set_new(o, "last_exit",
                            j->last_exit >= 0 ? json_integer(j->last_exit) : json_null());
        json_object_set_new(o, "dir_missing", json_boolean(j->dir_missing));
        json_object_set_new(o, "incomplete", json_integer(j->incomplete));
        json_object_set_new(o, "quarantined", json_integer(j->quarantined));
        json_object_set_new(o, "future", json_integer(j->future));
        json_object_set_new(o, "future_time", time_or_null(j->future_time));
        fmt_utc(j->future_time, buf, sizeof buf);
        json_object_set_new(o, "future_backup", json_string(buf));
        json_object_set_new(o, "failures", json_integer(j->failures));
        json_object_set_new(o, "failed_time", time_or_null(j->failed_time));
        json_object_set_new(o, "last_error", str_or_empty(j->last_error));
        json_object_set_new(o, "retry_time", time_or_null(j->retry_time));
        fmt_utc(j->retry_time, buf, sizeof buf);
        json_object_set_new(o, "retry_backup", json_string(buf));
        json_object_set_new(o, "revisions", json_integer(j->revisions));
        json_object_set_new(o, "last_bytes", json_integer((json_int_t)j->last_bytes));
        json_object_set_new(o, "push_targets", json_integer(j->push_targets));
        json_object_set_new(o, "last_push_time", time_or_null(j->last_push_time));
        fmt_utc(j->last_push_time, buf, sizeof buf);
        json_object_set_new(o, "last_push", json_string(buf));
        json_object_set_new(o, "push_failures", json_integer(j->push_failures));
        json_object_set_new(o, "push_error", str_or_empty(j->push_error));
        json_object_set_new(o, "last_verify_time", time_or_null(j->last_verify_time));
        json_array_append_new(jobs, o);
    }
    json_object_set_new(root, "jobs", jobs);
    char *out = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!out)
        return NULL;
    /* end the file with a newline, as text files do */
    size_t n = strlen(out);
    char *r = realloc(out, n + 2);
    if (!r) {
        free(out);
        return NULL;
    }
    r[n] = '\n';
    r[n + 1] = '\0';
    return r;
}

static double get_time(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static char *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return strdup(json_is_string(v) ? json_string_value(v) : "");
}

static long get_int(json_t *o, const char *key, long dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (long)json_number_value(v) : dflt;
}

int status_parse(const char *buf, size_t len, const char *name, struct bk_status *st,
                 char *err, size_t errlen)
{
    json_error_t je;
    memset(st, 0, sizeof *st);
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return -1;
    }
    json_t *sch = json_object_get(root, "scheduler");
    json_t *jobs = json_object_get(root, "jobs");
    if (!json_is_object(root) || !json_is_object(sch) || !json_is_array(jobs)) {
        snprintf(err, errlen, "%s: not a backy status file (no scheduler or jobs)", name);
        json_decref(root);
        return -1;
    }
    st->pid = (pid_t)get_int(sch, "pid", 0);
    st->started = get_time(sch, "started");
    st->written = get_time(sch, "written");
    st->worker_limit = get_int(sch, "worker_limit", 0);
    st->workers_busy = get_int(sch, "workers_busy", 0);
    st->status_interval = get_int(sch, "status_interval", 0);
    st->config = get_str(sch, "config");
    size_t n = json_array_size(jobs);
    st->jobs = calloc(n ? n : 1, sizeof *st->jobs);
    if (!st->jobs) {
        snprintf(err, errlen, "%s: out of memory", name);
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(jobs, i);
        if (!json_is_object(o))
            continue;
        struct bk_status_job *j = &st->jobs[st->njobs++];
        j->name = get_str(o, "name");
        j->schedule = get_str(o, "schedule");
        json_t *ok = json_object_get(o, "sla_ok");
        j->sla_ok = json_is_true(ok);
        j->status = get_str(o, "status");
        j->pid = (pid_t)get_int(o, "pid", 0);
        j->last_time = get_time(o, "last_time");
        j->last_tags = get_str(o, "last_tags");
        j->last_duration = get_time(o, "last_duration");
        if (j->last_duration < 0)
            j->last_duration = 0;
        j->next_time = get_time(o, "next_time");
        j->next_tags = get_str(o, "next_tags");
        j->min_interval = get_int(o, "min_interval", 0);
        j->last_exit = (int)get_int(o, "last_exit", -1);
        j->dir_missing = json_is_true(json_object_get(o, "dir_missing"));
        j->incomplete = get_int(o, "incomplete", 0);
        j->quarantined = get_int(o, "quarantined", 0);
        j->future = get_int(o, "future", 0);
        j->future_time = get_time(o, "future_time");
        j->failures = get_int(o, "failures", 0);
        j->failed_time = get_time(o, "failed_time");
        j->last_error = get_str(o, "last_error");
        j->retry_time = get_time(o, "retry_time");
        j->revisions = get_int(o, "revisions", 0);
        j->last_bytes = get_int(o, "last_bytes", 0);
        j->push_targets = get_int(o, "push_targets", 0);
        j->last_push_time = get_time(o, "last_push_time");
        j->push_failures = get_int(o, "push_failures", 0);
        j->push_error = get_str(o, "push_error");
        j->last_verify_time = get_time(o, "last_verify_time");
    }
    json_decref(root);
    return 0;
}

int status_load(const char *path, struct bk_status *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    int fd = bk_open_file(AT_FDCWD, path, O_RDONLY, BK_FT_REG, NULL);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open status file: %s: %s", path, bk_strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || sb.st_size > (off_t)256 << 20) {
        snprintf(err, errlen, "cannot read status file: %s: %s", path,
                 errno ? strerror(errno) : "too large");
        close(fd);
        return -1;
    }
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "cannot read status file: %s: out of memory", path);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)256 << 20) {
                errno = EFBIG;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            break;
        }
        len += (size_t)r;
    }
    int e = errno;
    close(fd);
    if (e) {
        snprintf(err, errlen, "cannot read status file: %s: %s", path, strerror(e));
        free(buf);
        return -1;
    }
    int rc = status_parse(buf, len, path, st, err, errlen);
    free(buf);
    return rc;
}

void status_free(struct bk_status *st)
{
    for (size_t i = 0; i < st->njobs; i++) {
        struct bk_status_job *j = &st->jobs[i];
        free(j->name);
        free(j->schedule);
        free(j->status);
        free(j->last_tags);
        free(j->next_tags);
        free(j->last_error);
        free(j->push_error);
    }
    free(st->jobs);
    free(st->config);
    memset(st, 0, sizeof *st);
}

void status_one_line(const char *in, size_t n, char *out, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        char esc[8];
        size_t el;
        if (c < 0x20 || c >= 0x7f || c == '\\') {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            el = 4;
        } else {
            esc[0] = (char)c;
            el = 1;
        }
        if (o + el + 4 > len) {     /* this, "..." and the NUL must fit */
            if (o + 4 <= len) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, esc, el);
        o += el;
    }
    out[o] = '\0';
}

int status_log_error(int dirfd, const char *path, long pid, char *out, size_t len)
{
    enum { TAIL = 64 * 1024 };
    if (len)
        out[0] = '\0';
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return 0;
    }
    off_t start = sb.st_size > TAIL ? sb.st_size - TAIL : 0;
    char *buf = malloc(TAIL + 1);
    if (!buf) {
        close(fd);
        return 0;
    }
    ssize_t got = pread(fd, buf, TAIL, start);
    close(fd);
    if (got <= 0) {
        free(buf);
        return 0;
    }
    buf[got] = '\0';
    char tag[48];
    snprintf(tag, sizeof tag, " [%ld] ERROR ", pid);
    size_t tl = strlen(tag);
    const char *found = NULL, *end = NULL;
    for (const char *line = buf; line < buf + got;) {
        const char *nl = memchr(line, '\n', (size_t)(buf + got - line));
        const char *le = nl ? nl : buf + got;
        /* the tag sits after "YYYY-MM-DDTHH:MM:SSZ" (20 bytes; 19 in logs
         * written before the zone was added) */
        for (ptrdiff_t ts = 20; ts >= 19; ts--) {
            if (le - line > ts + (ptrdiff_t)tl && !memcmp(line + ts, tag, tl)) {
                found = line + ts + tl;
                end = le;
                break;
            }
        }
        line = nl ? nl + 1 : buf + got;
    }
    if (found)
        status_one_line(found, (size_t)(end - found), out, len);
    free(buf);
    return found != NULL;
}
