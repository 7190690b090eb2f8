/* launchmsg.c - building and checking the scheduler's requests to its
 * launcher (see launchmsg.h). The checks are deliberately narrow: the
 * launcher runs with the privileges the children need, so nothing it
 * receives may choose a program, an option or a directory outside the
 * job tree. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backy/launchmsg.h"
#include "backy/revision.h"

static int put(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dst, s, n + 1);
    return 0;
}

int lm_make_backup(struct lm_request *r, uint32_t seq, const char *dir, const char *tags)
{
    memset(r, 0, sizeof *r);
    r->op = LM_BACKUP;
    r->seq = seq;
    if (put(r->dir, sizeof r->dir, dir) < 0 || put(r->tags, sizeof r->tags, tags) < 0)
        return -1;
    return 0;
}

int lm_make_telnet(struct lm_request *r, uint32_t seq, int port, const char *addrs,
                   const char *user)
{
    memset(r, 0, sizeof *r);
    r->op = LM_TELNET;
    r->seq = seq;
    r->port = port;
    if (put(r->addrs, sizeof r->addrs, addrs) < 0 || put(r->user, sizeof r->user, user) < 0)
        return -1;
    return 0;
}

void lm_make_signal(struct lm_request *r, uint32_t seq, pid_t pid, int sig)
{
    memset(r, 0, sizeof *r);
    r->op = LM_SIGNAL;
    r->seq = seq;
    r->pid = pid;
    r->sig = sig;
}

int lm_make_verify(struct lm_request *r, uint32_t seq, const char *dir, int rate)
{
    memset(r, 0, sizeof *r);
    r->op = LM_VERIFY;
    r->seq = seq;
    r->rate = rate;
    return put(r->dir, sizeof r->dir, dir);
}

int lm_make_push(struct lm_request *r, uint32_t seq, const char *dir, const char *target)
{
    memset(r, 0, sizeof *r);
    r->op = LM_PUSH;
    r->seq = seq;
    if (put(r->dir, sizeof r->dir, dir) < 0 || put(r->target, sizeof r->target, target) < 0)
        return -1;
    return 0;
}

void lm_make_config(struct lm_request *r, uint32_t seq)
{
    memset(r, 0, sizeof *r);
    r->op = LM_CONFIG;
    r->seq = seq;
}

/* ---- checks --------------------------------------------------------- */

static int terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

static int only_chars(const char *s, const char *extra)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9');
        if (!alnum && !strchr(extra, *p))
            return 0;
    }
    return 1;
}

int lm_valid_jobdir(const char *base_dir, const char *dir)
{
    size_t bl = strlen(base_dir);
    while (bl > 1 && base_dir[bl - 1] == '/')
        bl--;
    if (base_dir[0] != '/' || dir[0] != '/')
        return 0;
    if (strncmp(dir, base_dir, bl) != 0)
        return 0;
    const char *rest = dir + bl;
    if (bl > 1) {
        if (*rest != '/')
            return 0;
        rest++;
    }
    if (!*rest)
        return 0;               /* base-dir itself is no job directory */
    /* every component non-empty, not "." or "..", no control characters */
    for (const char *c = rest; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
                return 0;
        if (!e)
            break;
        c = e + 1;
        if (!*c)
            return 0;           /* trailing slash */
    }
    return 1;
}

int lm_valid_tags(const char *tags)
{
    /* tag{,tag}, each tag by the one rule (never an option to backy-backup) */
    char buf[sizeof ((struct lm_request *)0)->tags];
    size_t len = strlen(tags);
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, tags, len + 1);
    for (char *t = buf, *e; t; t = e) {
        e = strchr(t, ',');
        if (e)
            *e++ = '\0';
        if (!bk_tag_valid(t))
            return 0;
    }
    return 1;
}

int lm_valid_target(const char *t)
{
    size_t n = strnlen(t, LM_TARGET_MAX);
    if (n == 0 || n >= LM_TARGET_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            return 0;
    if (t[0] == '/')
        return 1;
    /* [USER@]HOST:/DIR */
    const char *colon = strchr(t, ':');
    if (!colon || colon[1] != '/')
        return 0;
    const char *at = memchr(t, '@', (size_t)(colon - t));
    const char *host = at ? at + 1 : t;
    if (at && (at == t || t[0] == '-'))
        return 0;
    if (host == colon || host[0] == '-')
        return 0;
    for (const char *p = t; p < colon; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' || p == at;
        if (!ok)
            return 0;
    }
    return 1;
}

static int valid_addrs(const char *a)
{
    return *a && a[0] != '-' && only_chars(a, ".:%_-, ");
}

static int valid_user(const char *u)
{
    return *u && u[0] != '-' && strlen(u) <= 32 && only_chars(u, "_.-");
}

static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int lm_parse_request(const void *buf, size_t len, const char *base_dir,
                     struct lm_request *out, char *err, size_t errlen)
{
    struct lm_request r;
    if (len != sizeof r)
        return refuse(err, errlen, "request of %zu bytes, want %zu", len, sizeof r);
    memcpy(&r, buf, sizeof r);
    if (!terminated(r.dir, sizeof r.dir) || !terminated(r.tags, sizeof r.tags) ||
        !terminated(r.addrs, sizeof r.addrs) || !terminated(r.user, sizeof r.user) ||
        !terminated(r.target, sizeof r.target))
        return refuse(err, errlen, "request with an unterminated string");
    switch (r.op) {
    case LM_BACKUP:
        if (!lm_valid_jobdir(base_dir, r.dir))
            return refuse(err, errlen, "job directory not below %s: %s", base_dir, r.dir);
        if (!lm_valid_tags(r.tags))
            return refuse(err, errlen, "bad tags: %s", r.tags);
        break;
    case LM_TELNET:
        if (r.port < 1 || r.port > 65535)
            return refuse(err, errlen, "bad telnet port: %d", (int)r.port);
        if (!valid_addrs(r.addrs))
            return refuse(err, errlen, "bad telnet addresses: %s", r.addrs);
        if (!valid_user(r.user))
            return refuse(err, errlen, "bad telnet user: %s", r.user);
        break;
    case LM_VERIFY:
        if (!lm_valid_jobdir(base_dir, r.dir))
            return refuse(err, errlen, "job directory not below %s: %s", base_dir, r.dir);
        if (r.rate < 1 || r.rate > LM_RATE_MAX)
            return refuse(err, errlen, "bad scrub rate: %d", (int)r.rate);
        break;
    case LM_PUSH:
        if (!lm_valid_jobdir(base_dir, r.dir))
            return refuse(err, errlen, "job directory not below %s: %s", base_dir, r.dir);
        if (!lm_valid_target(r.target))
            return refuse(err, errlen, "bad push target: %s", r.target);
        break;
    case LM_CONFIG:
        break;
    case LM_SIGNAL:
        if (r.pid <= 1)
            return refuse(err, errlen, "bad pid: %d", (int)r.pid);
        if (r.sig != SIGTERM && r.sig != SIGKILL)
            return refuse(err, errlen, "signal %d is neither SIGTERM nor SIGKILL", (int)r.sig);
        break;
    default:
        return refuse(err, errlen, "unknown request %u", (unsigned)r.op);
    }
    *out = r;
    return 0;
}

int lm_parse_reply(const void *buf, size_t len, struct lm_reply *out)
{
    struct lm_reply r;
    if (len != sizeof r) {
        errno = EPROTO;
        return -1;
    }
    memcpy(&r, buf, sizeof r);
    if (r.kind != LM_OK && r.kind != LM_ERR && r.kind != LM_EXITED) {
        errno = EPROTO;
        return -1;
    }
    if (r.kind == LM_EXITED && r.pid <= 0) {
        errno = EPROTO;
        return -1;
    }
    *out = r;
    return 0;
}
