/* revision.c - revisions of a job directory and their .rev metadata. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/revision.h"
#include "backy/shortuuid.h"
#include "backy/util.h"
#include "backy/ynode.h"

#define REV_MAX_SIZE (1u << 20)

/* ---- time ---------------------------------------------------------------- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int bk_parse_time(const char *s, double *out)
{
    const char *p = s;
    int Y, M, D, h = 0, m = 0, sec = 0;
    double frac = 0;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return -1;
    if (*p == ' ' || *p == 'T' || *p == 't') {
        p++;
        while (*p == ' ')
            p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
            digits(&p, 2, &sec))
            return -1;
        if (*p == '.') {
            p++;
            double scale = 0.1;
            if (!isdigit((unsigned char)*p))
                return -1;
            while (isdigit((unsigned char)*p)) {
                frac += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
    }
    while (*p == ' ')
        p++;
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (isdigit((unsigned char)*p) && digits(&p, 2, &om))
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else if (!strncmp(p, "UTC", 3)) {
        p += 3;
    }
    if (*p)
        return -1;
    /* a backup is never older than the epoch; this also keeps every time
     * we format at four digits of year */
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                    .tm_hour = h, .tm_min = m, .tm_sec = sec};
    time_t t = timegm(&tm);
    *out = (double)t - offset + frac;
    return 0;
}

void bk_fmt_time_utc(double t, char *buf, size_t len)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void bk_fmt_time_iso(double t, char *buf, size_t len)
{
    time_t s = (time_t)floor(t);
    long us = lround((t - (double)s) * 1e6);
    if (us >= 1000000) {
        s++;
        us -= 1000000;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06ld+00:00", base, us);
}

/* ---- one revision ---------------------------------------------------------- */

void rev_free(struct bk_rev *rev)
{
    for (size_t i = 0; i < rev->ntags; i++)
        free(rev->tags[i]);
    free(rev->tags);
    free(rev->backend_type);
    rev->tags = NULL;
    rev->ntags = 0;
    rev->backend_type = NULL;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bk_tag_valid(const char *t)
{
    if (!*t || strlen(t) > 64 || t[0] == '-')
        return 0;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-.:@+", *p))
            return 0;
    return 1;
}

int bk_tag_readable(const char *t)
{
    return strlen(t) <= 1024 && !bk_has_ctrl(t);
}

static void add_tag(struct bk_rev *rev, const char *t)
{
    for (size_t i = 0; i < rev->ntags; i++)
        if (!strcmp(rev->tags[i], t))
            return;
    rev->tags = bk_realloc(rev->tags, (rev->ntags + 1) * sizeof *rev->tags);
    rev->tags[rev->ntags++] = bk_strdup(t);
    qsort(rev->tags, rev->ntags, sizeof *rev->tags, cmpstr);
}

int rev_set_tags(struct bk_rev *rev, const char *list, char *err, size_t errlen)
{
    char *copy = bk_strdup(list), *save = NULL;
    for (size_t i = 0; i < rev->ntags; i++)
        free(rev->tags[i]);
    rev->ntags = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ')
            t[--l] = '\0';
        if (!l)
            continue;
        if (!bk_tag_valid(t)) {
            char esc[340];
            bk_escape(esc, sizeof esc, t);
            snprintf(err, errlen, "invalid tag '%.80s' (letters, digits and _-.:@+, not starting with -)", esc);
            free(copy);
            return -1;
        }
        add_tag(rev, t);
    }
    free(copy);
    if (rev->ntags == 0) {
        snprintf(err, errlen, "no tags given (TAGS is a comma-separated list, e.g. daily,weekly)");
        return -1;
    }
    return 0;
}

int rev_has_tag(const struct bk_rev *rev, const char *tag)
{
    for (size_t i = 0; i < rev->ntags; i++)
        if (!strcmp(rev->tags[i], tag))
            return 1;
    return 0;
}

int rev_parse(const char *buf, size_t len, const char *name, struct bk_rev *rev, char *err, size_t errlen)
{
    memset(rev, 0, sizeof *rev);
    struct ynode *root = ynode_parse(buf, len, name, err, errlen);
    if (!root)
        return -1;
    const char *what = NULL;
    struct ynode *n;
    if (root->kind != Y_MAP) {
        what = "not a YAML mapping";
        goto bad;
    }
    const char *uuid = ynode_str(root, "uuid");
    if (!uuid || !shortuuid_valid(uuid)) {
        what = "missing or invalid uuid";
        goto bad;
    }
    snprintf(rev->id, sizeof rev->id, "%s", uuid);
    const char *parent = ynode_str(root, "parent");
    if (parent && *parent) {
        if (!shortuuid_valid(parent)) {
            what = "invalid parent";
            goto bad;
        }
        snprintf(rev->parent, sizeof rev->parent, "%s", parent);
    }
    const char *ts = ynode_str(root, "timestamp");
    if (!ts || bk_parse_time(ts, &rev->timestamp) < 0) {
        what = "missing or invalid timestamp";
        goto bad;
    }
    if ((n = ynode_get(root, "tags"))) {
        if (n->kind == Y_SEQ) {
            for (size_t i = 0; i < n->n; i++) {
                /* backy 2.0 took any tag: read what it wrote (spaces,
                 * empty tags); only control characters are refused */
                if (n->items[i]->kind != Y_SCALAR || !bk_tag_readable(n->items[i]->value)) {
                    what = "invalid tag";
                    goto bad;
                }
                add_tag(rev, n->items[i]->value);
            }
        } else if (!(n->kind == Y_SCALAR && !*n->value)) {
            what = "tags is not a list";
            goto bad;
        }
    }
    if ((n = ynode_get(root, "stats")) && n->kind == Y_MAP) {
        const char *d = ynode_str(n, "duration");
        if (d && *d) {
            char *end;
            rev->duration = strtod(d, &end);
            if (*end || rev->duration < 0 || !isfinite(rev->duration)) {
                what = "invalid stats.duration";
                goto bad;
            }
            rev->complete = 1;
        }
        const char *bw = ynode_str(n, "bytes_written");
        if (bw && *bw && bk_parse_u64(bw, &rev->bytes_written) < 0) {
            what = "invalid stats.bytes_written";
            goto bad;
        }
    } else if (n && !(n->kind == Y_SCALAR && !*n->value)) {
        what = "stats is not a mapping";
        goto bad;
    }
    const char *bt = ynode_str(root, "backend_type");
    if (bt && *bt)
        rev->backend_type = bk_strdup(bt);
    /* The verify record is advisory: one that cannot be read counts as no
     * check at all, never as a reason to hide the revision. */
    if ((n = ynode_get(root, "verify")) && n->kind == Y_MAP) {
        const char *r = ynode_str(n, "result");
        const char *t = ynode_str(n, "time");
        const char *db = ynode_str(n, "damaged_blocks");
        int res = r ? bk_verify_result_parse(r) : -1;
        double vt;
        if (res > 0 && t && bk_parse_time(t, &vt) == 0) {
            rev->verify_result = res;
            rev->verify_time = vt;
            if (db && *db && bk_parse_u64(db, &rev->verify_damaged) < 0)
                rev->verify_damaged = 0;
        }
    }
    ynode_free(root);
    return 0;
bad:
    snprintf(err, errlen, "%s: %s", name, what);
    ynode_free(root);
    rev_free(rev);
    return -1;
}

static const char *const verify_names[] = {"", "good", "damaged", "unverifiable"};

const char *bk_verify_result_name(int result)
{
    if (result < 0 || result > BK_VERIFY_UNVERIFIABLE)
        return "";
    return verify_names[result];
}

int bk_verify_result_parse(const char *s)
{
    for (int i = BK_VERIFY_GOOD; i <= BK_VERIFY_UNVERIFIABLE; i++)
        if (!strcmp(s, verify_names[i]))
            return i;
    return -1;
}

char *rev_format(const struct bk_rev *rev)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        bk_die("out of memory");
    char ts[64];
    bk_fmt_time_iso(rev->timestamp, ts, sizeof ts);
    fprintf(f, "uuid: %s\ntimestamp: %s\nparent: ", rev->id, ts);
    yemit_scalar(f, rev->parent);
    fputs("\n", f);
    if (rev->backend_type) {
        fputs("backend_type: ", f);
        yemit_scalar(f, rev->backend_type);
        fputs("\n", f);
    }
    fputs("stats:\n", f);
    fprintf(f, "  bytes_written: %llu\n", (unsigned long long)rev->bytes_written);
    if (rev->complete)
        fprintf(f, "  duration: %.6f\n", rev->duration);
    if (rev->verify_result != BK_VERIFY_NONE) {
        char vt[64];
        bk_fmt_time_iso(rev->verify_time, vt, sizeof vt);
        fprintf(f, "verify:\n  time: %s\n  result: %s\n  damaged_blocks: %llu\n", vt,
                bk_verify_result_name(rev->verify_result),
                (unsigned long long)rev->verify_damaged);
    }
    if (rev->ntags == 0) {
        fputs("tags: []\n", f);
    } else {
        fputs("tags:\n", f);
        for (size_t i = 0; i < rev->ntags; i++) {
            fputs("- ", f);
            yemit_scalar(f, rev->tags[i]);
            fputs("\n", f);
        }
    }
    fclose(f);
    return buf;
}

int rev_save(int dirfd, const struct bk_rev *rev)
{
    char name[BK_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.rev", rev->id);
    char *y = rev_format(rev);
    int r = bk_atomic_write(dirfd, name, y, strlen(y), rev->complete ? 0440 : 0640);
    int e = errno;
    free(y);
    errno = e;
    return r;
}

int rev_remove(int dirfd, const char *id)
{
    /* The image goes first: from then on store_open reads the revision as
     * incomplete, so a crash never leaves one that looks complete but lacks
     * its sums. The .rev goes last: a crash in between leaves a .rev without
     * image, which the next backup (or backy-forget) removes. */
    size_t idl = strlen(id);
    if (unlinkat(dirfd, id, 0) < 0) {
        if (errno != ENOENT)
            return -1;
    } else {
        bk_fsync_dir(dirfd);
    }
    int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    int rc = 0, err = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, id, idl) || (n[idl] != '\0' && n[idl] != '.'))
            continue;
        if (!strcmp(n + idl, ".rev"))
            continue;
        if (unlinkat(dirfd, n, 0) < 0 && errno != ENOENT) {
            rc = -1;
            err = errno;
        }
    }
    closedir(d);
    if (rc < 0) {
        errno = err;
        return -1;
    }
    bk_fsync_dir(dirfd);
    char rn[BK_ID_MAX + 8];
    snprintf(rn, sizeof rn, "%s.rev", id);
    if (unlinkat(dirfd, rn, 0) < 0 && errno != ENOENT)
        return -1;
    return bk_fsync_dir(dirfd);
}

static int replace_symlink(int dirfd, const char *target, const char *name)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", name, (long)getpid());
    unlinkat(dirfd, tmp, 0);
    if (symlinkat(target, dirfd, tmp) < 0)
        return -1;
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    return 0;
}

int store_update_last(int dirfd, const char *id)
{
    char rn[BK_ID_MAX + 8];
    snprintf(rn, sizeof rn, "%s.rev", id);
    if (replace_symlink(dirfd, id, "last") < 0 || replace_symlink(dirfd, rn, "last.rev") < 0)
        return -1;
    return bk_fsync_dir(dirfd);
}

int store_remove_last(int dirfd)
{
    if ((unlinkat(dirfd, "last", 0) < 0 && errno != ENOENT) ||
        (unlinkat(dirfd, "last.rev", 0) < 0 && errno != ENOENT))
        return -1;
    return bk_fsync_dir(dirfd);
}

/* ---- the store ------------------------------------------------------------- */

static int cmprev(const void *a, const void *b)
{
    const struct bk_rev *x = a, *y = b;
    if (x->timestamp < y->timestamp)
        return -1;
    if (x->timestamp > y->timestamp)
        return 1;
    return strcmp(x->id, y->id);
}

static void store_clear(struct bk_store *st)
{
    for (size_t i = 0; i < st->n; i++)
        rev_free(&st->revs[i]);
    free(st->revs);
    st->revs = NULL;
    st->n = 0;
}

int store_reload(struct bk_store *st, char *err, size_t errlen)
{
    store_clear(st);
    int dfd = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(err, errlen, "cannot read job directory: %s: %s", st->dir, strerror(errno));
        return -1;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        snprintf(err, errlen, "cannot read job directory: %s: %s", st->dir, strerror(errno));
        close(dfd);
        return -1;
    }
    size_t cap = 0;
    struct dirent *de;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    st->now = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    errno = 0;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (l <= 4 || strcmp(n + l - 4, ".rev") || !strcmp(n, "last.rev"))
            continue;
        char id[BK_ID_MAX];
        if (l - 4 >= sizeof id)
            continue;
        memcpy(id, n, l - 4);
        id[l - 4] = '\0';
        if (!shortuuid_valid(id))
            continue;
        size_t len;
        char *buf = bk_read_file(st->dirfd, n, REV_MAX_SIZE, &len);
        char path[4096], e2[1024];
        snprintf(path, sizeof path, "%s/%s", st->dir, n);
        if (!buf) {
            log_warn("skipping revision: cannot read %s: %s", path, bk_strerror(errno));
            continue;
        }
        struct bk_rev rev;
        if (rev_parse(buf, len, path, &rev, e2, sizeof e2) < 0) {
            log_warn("skipping corrupt revision file: %s", e2);
            free(buf);
            continue;
        }
        free(buf);
        if (strcmp(rev.id, id)) {
            log_warn("skipping revision file %s: its uuid is %s", path, rev.id);
            rev_free(&rev);
            continue;
        }
        struct stat sb;
        if (rev.complete && fstatat(st->dirfd, id, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            log_warn("revision %s has no image file %s/%s: treating it as incomplete",
                     id, st->dir, id);
            rev.complete = 0;
        } else if (rev.complete && !S_ISREG(sb.st_mode)) {
            log_warn("revision %s: its image %s/%s is %s, not a regular file: treating it as "
                     "incomplete", id, st->dir, id, bk_ftype(sb.st_mode));
            rev.complete = 0;
        }
        if (st->n == cap) {
            cap = cap ? cap * 2 : 16;
            st->revs = bk_realloc(st->revs, cap * sizeof *st->revs);
        }
        st->revs[st->n++] = rev;
    }
    closedir(d);
    if (st->n)
        qsort(st->revs, st->n, sizeof *st->revs, cmprev);
    return 0;
}

int store_open_fd(struct bk_store *st, int dirfd, const char *dir, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->dirfd = dirfd;
    st->dir = bk_strdup(dir);
    return store_reload(st, err, errlen);
}

int store_open(struct bk_store *st, const char *dir, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->dirfd = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open job directory: %s: %s", dir, strerror(errno));
        return -1;
    }
    /* A job directory has a config (backy init, the scheduler and backy
     * 2.0 all write one); without it this is some other directory. Only
     * looked at, not opened: it may be unreadable to this user. */
    struct stat sb;
    if (fstatat(fd, "config", &sb, 0) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT)
            snprintf(err, errlen, "not a job directory: %s: it has no config (create one with "
                     "'backy init')", dir);
        else
            snprintf(err, errlen, "cannot read job configuration: %s/config: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        snprintf(err, errlen, "not a job directory: %s: its config is %s, not a regular file",
                 dir, bk_ftype(sb.st_mode));
        errno = BK_ENOTREG;
        return -1;
    }
    return store_open_fd(st, fd, dir, err, errlen);
}

void store_close(struct bk_store *st)
{
    store_clear(st);
    if (st->dirfd >= 0)
        close(st->dirfd);
    st->dirfd = -1;
    free(st->dir);
    st->dir = NULL;
}

/* A revision that counts for "newest", "last", relative numbers and tags:
 * complete and not dated in the future. */
static int rev_current(const struct bk_store *st, const struct bk_rev *r)
{
    return r->complete && !rev_in_future(r, st->now);
}

const struct bk_rev *store_last(const struct bk_store *st)
{
    for (size_t i = st->n; i-- > 0;)
        if (rev_current(st, &st->revs[i]))
            return &st->revs[i];
    return NULL;
}

size_t store_future(const struct bk_store *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n; i++)
        n += rev_in_future(&st->revs[i], st->now);
    return n;
}

const struct bk_rev *store_resolve(const struct bk_store *st, const char *spec, char *err, size_t errlen)
{
    size_t ncomplete = 0;
    for (size_t i = 0; i < st->n; i++)
        ncomplete += rev_current(st, &st->revs[i]);
    if (!spec || !strcmp(spec, "last") || !strcmp(spec, "latest"))
        spec = "0";
    if (!*spec) {
        snprintf(err, errlen, "empty revision spec");
        return NULL;
    }
    if (bk_has_ctrl(spec)) {
        char esc[400];
        bk_escape(esc, sizeof esc, spec);
        snprintf(err, errlen, "invalid revision spec '%s': it contains a control character", esc);
        return NULL;
    }
    /* a relative number: 0 is the newest complete revision */
    size_t sl = strlen(spec);
    if (sl <= 9 && strspn(spec, "0123456789") == sl) {
        unsigned long k = strtoul(spec, NULL, 10);
        if (k < ncomplete) {
            for (size_t i = st->n; i-- > 0;)
                if (rev_current(st, &st->revs[i]) && k-- == 0)
                    return &st->revs[i];
        }
        /* an ID prefix made of digits only is still possible below */
        int is_prefix = 0;
        for (size_t i = 0; i < st->n; i++)
            if (!strncmp(st->revs[i].id, spec, sl))
                is_prefix = 1;
        if (!is_prefix) {
            size_t nfuture = store_future(st);
            char fut[96] = "";
            if (nfuture)
                snprintf(fut, sizeof fut, " (and %zu dated in the future, chosen by ID only)",
                         nfuture);
            if (ncomplete == 0)
                snprintf(err, errlen, "revision '%s' not found: %s has no complete revision%s",
                         spec, st->dir, fut);
            else
                snprintf(err, errlen, "revision '%s' not found: %s has %zu complete revision%s%s",
                         spec, st->dir, ncomplete, ncomplete == 1 ? "" : "s", fut);
            return NULL;
        }
    }
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->revs[i].id, spec)) {
            if (!st->revs[i].complete) {
                snprintf(err, errlen, "revision '%s' is incomplete: %s/%s", spec, st->dir, spec);
                return NULL;
            }
            return &st->revs[i];
        }
    for (size_t i = st->n; i-- > 0;)
        if (rev_current(st, &st->revs[i]) && rev_has_tag(&st->revs[i], spec))
            return &st->revs[i];
    const struct bk_rev *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < st->n; i++)
        if (!strncmp(st->revs[i].id, spec, sl)) {
            matches++;
            found = &st->revs[i];
        }
    if (matches > 1) {
        snprintf(err, errlen, "revision '%s' is ambiguous: %zu revisions in %s start with it",
                 spec, matches, st->dir);
        return NULL;
    }
    if (matches == 1) {
        if (!found->complete) {
            snprintf(err, errlen, "revision '%s' is incomplete: %s/%s", spec, st->dir, found->id);
            return NULL;
        }
        return found;
    }
    snprintf(err, errlen, "revision '%s' not found in %s (no such ID, ID prefix or tag)", spec, st->dir);
    return NULL;
}

/* ---- leftovers of interrupted runs (backup, receive) ---------------- */

static int is_idlike_prefix(const char *name, char *id)
{
    size_t l = strlen(name);
    if (l < SHORTUUID_LEN || (l > SHORTUUID_LEN && name[SHORTUUID_LEN] != '.'))
        return 0;
    memcpy(id, name, SHORTUUID_LEN);
    id[SHORTUUID_LEN] = '\0';
    return shortuuid_valid(id);
}

void store_cleanup(struct bk_store *st)
{
    for (size_t i = 0; i < st->n; i++) {
        if (st->revs[i].complete)
            continue;
        /* Only a backup that finished makes its image read-only. A .rev
         * that lost its duration (damaged by hand or by the disk) next to a
         * read-only image is kept: removing it could lose a good backup. */
        struct stat sb;
        if (fstatat(st->dirfd, st->revs[i].id, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode) && !(sb.st_mode & 0222)) {
            log_warn("revision %s has no duration but a read-only image: not removing it; "
                     "check %s/%s.rev", st->revs[i].id, st->dir, st->revs[i].id);
            continue;
        }
        log_info("removing incomplete revision %s", st->revs[i].id);
        if (rev_remove(st->dirfd, st->revs[i].id) < 0)
            bk_die_errno("cannot remove incomplete revision: %s/%s", st->dir, st->revs[i].id);
    }
    int dfd = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d)
        bk_die_errno("cannot read job directory: %s", st->dir);
    struct dirent *de;
    char id[SHORTUUID_LEN + 1], rn[SHORTUUID_LEN + 8];
    while ((de = readdir(d))) {
        if (!is_idlike_prefix(de->d_name, id))
            continue;
        snprintf(rn, sizeof rn, "%s.rev", id);
        struct stat sb;
        /* ID.rev.tmp-PID: a rewrite of the .rev (verify record, expiry)
         * killed before its rename; such rewrites hold the job lock, as we
         * do, so none is in progress */
        int rev_tmp = !strncmp(de->d_name + SHORTUUID_LEN, ".rev.tmp-", 9);
        if (!rev_tmp && fstatat(st->dirfd, rn, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        log_info("removing leftover file %s/%s", st->dir, de->d_name);
        if (unlinkat(st->dirfd, de->d_name, 0) < 0 && errno != ENOENT)
            bk_die_errno("cannot remove leftover file: %s/%s", st->dir, de->d_name);
    }
    closedir(d);
}
