/* mainconf.c - read and validate the main configuration file. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/duration.h"
#include "backy/mainconf.h"
#include "backy/launchmsg.h"
#include "backy/revision.h"
#include "backy/util.h"
#include "backy/ynode.h"

struct ctx {
    const char *name;
    char *err;
    size_t errlen;
};

BK_PRINTF(4, 5) static int fail(struct ctx *x, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(x->err, x->errlen, "%s:%d:%d: %s", x->name, line, col, msg);
    return -1;
}

/* "telnet_port" and "telnet-port" are the same key (backy 2.0 used both). */
static int key_is(const char *key, const char *want)
{
    for (; *key && *want; key++, want++) {
        char a = *key == '_' ? '-' : *key;
        if (a != *want)
            return 0;
    }
    return *key == *want;
}

static int scalar(struct ctx *x, const struct ynode *n, const char *what)
{
    if (n->kind != Y_SCALAR)
        return fail(x, n->line, n->col, "%s must be a single value", what);
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "on", "yes", "true", "1", NULL };
    static const char *const no[] = { "off", "no", "false", "0", NULL };
    for (size_t i = 0; yes[i]; i++)
        if (!strcasecmp(s, yes[i]))
            return *out = 1, 0;
    for (size_t i = 0; no[i]; i++)
        if (!strcasecmp(s, no[i]))
            return *out = 0, 0;
    return -1;
}

/* scrub-interval: a duration, or 0 / off for no scrub */
static int parse_scrub_interval(struct ctx *x, const struct ynode *v, int64_t *out)
{
    if (v->kind == Y_SCALAR && !strcasecmp(v->value, "off")) {
        *out = 0;
        return 0;
    }
    if (scalar(x, v, "scrub-interval") < 0)
        return -1;
    if (duration_parse(v->value, out) < 0)
        return fail(x, v->line, v->col,
                    "scrub-interval: bad duration '%s' (integer with s, m, h, d or w; 0 or off: "
                    "no scrub)", v->value);
    return 0;
}

static int parse_global(struct ctx *x, const struct ynode *g, struct bk_mainconf *c,
                        int *telnet_on)
{
    if (g->kind != Y_MAP)
        return fail(x, g->line, g->col, "config must be a mapping of settings");
    for (size_t i = 0; i < g->n; i++) {
        const char *k = g->keys[i];
        const struct ynode *v = g->items[i];
        int kl = g->key_line[i], kc = g->key_col[i];
        uint64_t u;
        if (key_is(k, "backup-completed-callback"))
            continue; /* backy 2.0 setting without meaning here */
        if (scalar(x, v, k) < 0)
            return -1;
        if (key_is(k, "base-dir")) {
            if (!*v->value)
                return fail(x, v->line, v->col, "base-dir is empty");
            free(c->base_dir);
            c->base_dir = bk_strdup(v->value);
        } else if (key_is(k, "worker-limit")) {
            if (bk_parse_u64(v->value, &u) < 0 || u == 0 || u > 1000)
                return fail(x, v->line, v->col,
                            "worker-limit must be an integer from 1 to 1000, not '%s'", v->value);
            c->worker_limit = (long)u;
        } else if (key_is(k, "status-file")) {
            if (!*v->value)
                return fail(x, v->line, v->col, "status-file is empty");
            free(c->status_file);
            c->status_file = bk_strdup(v->value);
        } else if (key_is(k, "metrics-file")) {
            free(c->metrics_file);
            c->metrics_file = *v->value ? bk_strdup(v->value) : NULL;
        } else if (key_is(k, "status-interval")) {
            int64_t d;
            if (duration_parse(v->value, &d) < 0 || d <= 0)
                return fail(x, v->line, v->col,
                            "status-interval: bad duration '%s' (integer with s, m, h, d or w, > 0)",
                            v->value);
            c->status_interval = d;
        } else if (key_is(k, "retry-delay")) {
            int64_t d;
            if (duration_parse(v->value, &d) < 0 || d <= 0)
                return fail(x, v->line, v->col,
                            "retry-delay: bad duration '%s' (integer with s, m, h, d or w, > 0)",
                            v->value);
            c->retry_delay = d;
        } else if (key_is(k, "scrub-interval")) {
            if (parse_scrub_interval(x, v, &c->scrub_interval) < 0)
                return -1;
        } else if (key_is(k, "scrub-rate")) {
            if (bk_parse_u64(v->value, &u) < 0 || u == 0 || u > 100000)
                return fail(x, v->line, v->col,
                            "scrub-rate must be MiB per second from 1 to 100000, not '%s'",
                            v->value);
            c->scrub_rate = (long)u;
        } else if (key_is(k, "telnet-addrs")) {
            free(c->telnet_addrs);
            c->telnet_addrs = bk_strdup(v->value);
        } else if (key_is(k, "telnet-port")) {
            if (bk_parse_u64(v->value, &u) < 0 || u > 65535)
                return fail(x, v->line, v->col,
                            "telnet-port must be 0 (off) or a port number, not '%s'", v->value);
            c->telnet_port = (int)u;
        } else if (key_is(k, "telnet")) {
            if (parse_bool(v->value, telnet_on) < 0)
                return fail(x, v->line, v->col, "telnet must be on or off, not '%s'", v->value);
        } else if (key_is(k, "telnet-user")) {
            if (!*v->value)
                return fail(x, v->line, v->col, "telnet-user is empty");
            free(c->telnet_user);
            c->telnet_user = bk_strdup(v->value);
        } else {
            return fail(x, kl, kc,
                        "unknown setting '%s' (known: base-dir, worker-limit, status-file, "
                        "metrics-file, status-interval, retry-delay, telnet, telnet-addrs, "
                        "telnet-port, telnet-user, scrub-interval, scrub-rate)", k);
        }
    }
    return 0;
}


static int parse_schedules(struct ctx *x, const struct ynode *s, struct bk_mainconf *c)
{
    if (s->kind != Y_MAP)
        return fail(x, s->line, s->col, "schedules must be a mapping of schedule names");
    c->scheds = bk_calloc(s->n ? s->n : 1, sizeof *c->scheds);
    for (size_t i = 0; i < s->n; i++) {
        const struct ynode *sd = s->items[i];
        struct bk_schedule *sc = &c->scheds[c->nscheds++];
        sc->name = bk_strdup(s->keys[i]);
        if (sd->kind != Y_MAP || sd->n == 0)
            return fail(x, sd->line, sd->col,
                        "schedule '%s' must map interval names to interval and keep", sc->name);
        if (sd->n > BK_SCHED_MAX_TAGS)
            return fail(x, sd->line, sd->col, "schedule '%s' has more than %d intervals",
                        sc->name, BK_SCHED_MAX_TAGS);
        sc->iv = bk_calloc(sd->n, sizeof *sc->iv);
        for (size_t j = 0; j < sd->n; j++) {
            const struct ynode *ivn = sd->items[j];
            struct bk_interval *iv = &sc->iv[sc->n++];
            iv->tag = bk_strdup(sd->keys[j]);
            if (!bk_tag_valid(iv->tag))
                return fail(x, sd->key_line[j], sd->key_col[j],
                            "bad tag name '%s' (letters, digits and _-.:@+, not starting with -)", iv->tag);
            if (ivn->kind != Y_MAP)
                return fail(x, ivn->line, ivn->col,
                            "interval '%s' must have 'interval' and 'keep'", iv->tag);
            int have_i = 0, have_k = 0;
            for (size_t k = 0; k < ivn->n; k++) {
                const struct ynode *v = ivn->items[k];
                if (!strcmp(ivn->keys[k], "interval")) {
                    if (scalar(x, v, "interval") < 0)
                        return -1;
                    if (duration_parse(v->value, &iv->interval) < 0 || iv->interval <= 0)
                        return fail(x, v->line, v->col,
                                    "bad interval '%s' (integer with s, m, h, d or w, > 0)",
                                    v->value);
                    have_i = 1;
                } else if (!strcmp(ivn->keys[k], "keep")) {
                    uint64_t u;
                    if (scalar(x, v, "keep") < 0)
                        return -1;
                    if (bk_parse_u64(v->value, &u) < 0 || u == 0 || u > 1000000)
                        return fail(x, v->line, v->col,
                                    "keep must be a positive integer, not '%s'", v->value);
                    iv->keep = (int64_t)u;
                    have_k = 1;
                } else {
                    return fail(x, ivn->key_line[k], ivn->key_col[k],
                                "unknown key '%s' in interval '%s' (known: interval, keep)",
                                ivn->keys[k], iv->tag);
                }
            }
            if (!have_i || !have_k)
                return fail(x, ivn->line, ivn->col, "interval '%s' needs '%s'", iv->tag,
                            have_i ? "keep" : "interval");
        }
    }
    return 0;
}

static int valid_job_name(const char *n)
{
    if (!*n || n[0] == '.' || strlen(n) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)n; *p; p++)
        if (*p == '/' || iscntrl(*p) || isspace(*p))
            return 0;
    return 1;
}

static int cmp_job(const void *a, const void *b)
{
    return strcmp(((const struct bk_jobcfg *)a)->name, ((const struct bk_jobcfg *)b)->name);
}

static void free_push(struct bk_jobcfg *jc)
{
    for (size_t k = 0; k < jc->npush; k++)
        free(jc->push[k]);
    free(jc->push);
    jc->push = NULL;
    jc->npush = 0;
}

/* push: a target or a list of them (lm_valid_target), each once */
static int parse_push(struct ctx *x, const struct ynode *pn, const char *name,
                      struct bk_jobcfg *jc)
{
    const struct ynode *one[1] = { pn };
    const struct ynode *const *items = pn->kind == Y_SEQ ? (const struct ynode *const *)pn->items
                                                         : one;
    size_t n = pn->kind == Y_SEQ ? pn->n : 1;
    if (pn->kind == Y_MAP)
        return fail(x, pn->line, pn->col, "job '%s': push must be a target or a list of targets",
                    name);
    jc->push = bk_calloc(n ? n : 1, sizeof *jc->push);
    for (size_t i = 0; i < n; i++) {
        const struct ynode *t = items[i];
        if (t->kind != Y_SCALAR)
            return fail(x, t->line, t->col, "job '%s': a push target must be a string", name);
        if (!lm_valid_target(t->value))
            return fail(x, t->line, t->col,
                        "job '%s': bad push target '%s' (an absolute directory /DIR or "
                        "[USER@]HOST:/DIR, no control characters, shorter than %d bytes)",
                        name, t->value, LM_TARGET_MAX);
        for (size_t k = 0; k < jc->npush; k++)
            if (!strcmp(jc->push[k], t->value))
                return fail(x, t->line, t->col, "job '%s': push target '%s' given twice", name,
                            t->value);
        jc->push[jc->npush++] = bk_strdup(t->value);
    }
    return 0;
}

static int parse_jobs(struct ctx *x, const struct ynode *j, struct bk_mainconf *c)
{
    if (j->kind != Y_MAP)
        return fail(x, j->line, j->col, "jobs must be a mapping of job names");
    c->jobs = bk_calloc(j->n ? j->n : 1, sizeof *c->jobs);
    for (size_t i = 0; i < j->n; i++) {
        const struct ynode *jn = j->items[i];
        const char *name = j->keys[i];
        if (!valid_job_name(name))
            return fail(x, j->key_line[i], j->key_col[i],
                        "bad job name '%s' (it names a directory: no '/', spaces, "
                        "control characters or leading '.')", name);
        if (jn->kind != Y_MAP)
            return fail(x, jn->line, jn->col, "job '%s' must have 'schedule' and 'source'", name);
        const struct ynode *sn = NULL, *src = NULL, *scrub = NULL, *pn = NULL;
        for (size_t k = 0; k < jn->n; k++) {
            if (!strcmp(jn->keys[k], "schedule"))
                sn = jn->items[k];
            else if (!strcmp(jn->keys[k], "source"))
                src = jn->items[k];
            else if (key_is(jn->keys[k], "scrub-interval"))
                scrub = jn->items[k];
            else if (!strcmp(jn->keys[k], "push"))
                pn = jn->items[k];
            else
                return fail(x, jn->key_line[k], jn->key_col[k],
                            "unknown key '%s' in job '%s' (known: schedule, source, "
                            "scrub-interval, push)", jn->keys[k], name);
        }
        if (!sn)
            return fail(x, jn->line, jn->col, "job '%s' has no 'schedule'", name);
        if (!src)
            return fail(x, jn->line, jn->col, "job '%s' has no 'source'", name);
        if (scalar(x, sn, "schedule") < 0)
            return -1;
        size_t si;
        for (si = 0; si < c->nscheds; si++)
            if (!strcmp(c->scheds[si].name, sn->value))
                break;
        if (si == c->nscheds) {
            char known[256] = "";
            size_t o = 0;
            for (size_t k = 0; k < c->nscheds && o < sizeof known; k++)
                o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", k ? ", " : "",
                                      c->scheds[k].name);
            return fail(x, sn->line, sn->col, "job '%s': unknown schedule '%s' (known: %s)",
                        name, sn->value, c->nscheds ? known : "none");
        }
        struct bk_jobcfg *jc = &c->jobs[c->njobs];
        if ((pn && parse_push(x, pn, name, jc) < 0) ||
            srccfg_from_ynode(src, x->name, &jc->src, x->err, x->errlen) < 0) {
            free_push(jc);
            return -1;
        }
        jc->name = bk_strdup(name);
        jc->sched = si;
        jc->scrub_interval = -1;
        if (scrub && parse_scrub_interval(x, scrub, &jc->scrub_interval) < 0) {
            free_push(jc);
            srccfg_free(&jc->src);
            free(jc->name);
            return -1;
        }
        c->njobs++;
    }
    qsort(c->jobs, c->njobs, sizeof *c->jobs, cmp_job);
    return 0;
}

static int build(struct ctx *x, const struct ynode *root, struct bk_mainconf *c)
{
    int telnet_on = 1;
    const struct ynode *g = NULL, *s = NULL, *j = NULL;

    c->worker_limit = 1;
    c->status_interval = 30;
    c->retry_delay = BK_DEFAULT_RETRY_DELAY;
    c->scrub_interval = BK_DEFAULT_SCRUB_INTERVAL;
    c->scrub_rate = BK_DEFAULT_SCRUB_RATE;
    c->telnet_port = BK_DEFAULT_TELNET_PORT;
    if (root->kind == Y_SCALAR && !*root->value)
        return fail(x, 1, 1, "empty configuration (need schedules: and jobs:)");
    if (root->kind != Y_MAP)
        return fail(x, root->line, root->col,
                    "the configuration must be a mapping with config, schedules and jobs");
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i];
        if (!strcmp(k, "config") || !strcmp(k, "global")) {
            if (g)
                return fail(x, root->key_line[i], root->key_col[i],
                            "both 'config' and 'global' given (use one)");
            g = root->items[i];
        } else if (!strcmp(k, "schedules")) {
            s = root->items[i];
        } else if (!strcmp(k, "jobs")) {
            j = root->items[i];
        } else {
            return fail(x, root->key_line[i], root->key_col[i],
                        "unknown section '%s' (known: config, schedules, jobs)", k);
        }
    }
    if (g && !(g->kind == Y_SCALAR && !*g->value) && parse_global(x, g, c, &telnet_on) < 0)
        return -1;
    if (s && !(s->kind == Y_SCALAR && !*s->value) && parse_schedules(x, s, c) < 0)
        return -1;
    if (j && !(j->kind == Y_SCALAR && !*j->value) && parse_jobs(x, j, c) < 0)
        return -1;
    if (!telnet_on)
        c->telnet_port = 0;
    if (!c->base_dir)
        c->base_dir = bk_strdup(BK_DEFAULT_BASEDIR);
    if (!c->status_file)
        c->status_file = bk_asprintf("%s/status", c->base_dir);
    if (!c->telnet_addrs)
        c->telnet_addrs = bk_strdup(BK_DEFAULT_TELNET_ADDRS);
    if (!c->telnet_user)
        c->telnet_user = bk_strdup(BK_DEFAULT_TELNET_USER);
    return 0;
}

int mainconf_parse(const char *buf, size_t len, const char *name, struct bk_mainconf *c,
                   char *err, size_t errlen)
{
    struct ctx x = { name, err, errlen };
    memset(c, 0, sizeof *c);
    c->path = bk_strdup(name);
    struct ynode *root = ynode_parse(buf, len, name, err, errlen);
    if (!root) {
        mainconf_free(c);
        return -1;
    }
    int rc = build(&x, root, c);
    ynode_free(root);
    if (rc < 0)
        mainconf_free(c);
    return rc;
}

int mainconf_load(const char *path, struct bk_mainconf *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct ynode *root = ynode_parse_file(path, err, errlen);
    if (!root)
        return -1;
    struct ctx x = { path, err, errlen };
    c->path = bk_strdup(path);
    int rc = build(&x, root, c);
    ynode_free(root);
    if (rc < 0)
        mainconf_free(c);
    return rc;
}

int mainconf_load_fd(int fd, const char *path, struct bk_mainconf *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct ynode *root = ynode_parse_fd(fd, path, err, errlen);
    if (!root)
        return -1;
    struct ctx x = { path, err, errlen };
    c->path = bk_strdup(path);
    int rc = build(&x, root, c);
    ynode_free(root);
    if (rc < 0)
        mainconf_free(c);
    return rc;
}

void schedule_free(struct bk_schedule *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->iv[i].tag);
    free(s->iv);
    free(s->name);
    memset(s, 0, sizeof *s);
}

void schedule_copy(struct bk_schedule *dst, const struct bk_schedule *src)
{
    dst->name = bk_strdup(src->name);
    dst->n = src->n;
    dst->iv = bk_calloc(src->n ? src->n : 1, sizeof *dst->iv);
    for (size_t i = 0; i < src->n; i++) {
        dst->iv[i] = src->iv[i];
        dst->iv[i].tag = bk_strdup(src->iv[i].tag);
    }
}

int schedule_equal(const struct bk_schedule *a, const struct bk_schedule *b)
{
    if (strcmp(a->name, b->name) || a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->iv[i].tag, b->iv[i].tag) || a->iv[i].interval != b->iv[i].interval ||
            a->iv[i].keep != b->iv[i].keep)
            return 0;
    return 1;
}

void mainconf_free(struct bk_mainconf *c)
{
    for (size_t i = 0; i < c->nscheds; i++)
        schedule_free(&c->scheds[i]);
    for (size_t i = 0; i < c->njobs; i++) {
        free(c->jobs[i].name);
        srccfg_free(&c->jobs[i].src);
        free_push(&c->jobs[i]);
    }
    free(c->scheds);
    free(c->jobs);
    free(c->path);
    free(c->base_dir);
    free(c->status_file);
    free(c->metrics_file);
    free(c->telnet_addrs);
    free(c->telnet_user);
    memset(c, 0, sizeof *c);
}

const struct bk_jobcfg *mainconf_job(const struct bk_mainconf *c, const char *name)
{
    struct bk_jobcfg key = { .name = (char *)name };
    return bsearch(&key, c->jobs, c->njobs, sizeof *c->jobs, cmp_job);
}
