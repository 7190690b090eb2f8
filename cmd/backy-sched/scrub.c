/* scrub.c - the scheduler's scrub of every job (see scrub.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "backy/log.h"
#include "backy/schedule.h"
#include "backy/util.h"
#include "launcher.h"
#include "scrub.h"

#define SCRUB_NEVER 1e18      /* due time of a job that is not scrubbed */
#define SCRUB_RETRY 3600      /* seconds after a scrub that could not run */

struct entry {
    char *name;
    char *dir;
    double first_seen;
    double last;      /* newest verify record; 0 none */
    int has_revs;     /* a complete revision to check */
    double due;
};

static struct entry **ents;   /* sorted by name */
static size_t nents;
static pid_t running_pid;
static char *running_name;

static size_t find_pos(const char *name, int *found)
{
    size_t lo = 0, hi = nents;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ents[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static int64_t interval_of(const struct bk_mainconf *c, const char *name)
{
    const struct bk_jobcfg *jc = mainconf_job(c, name);
    if (jc && jc->scrub_interval >= 0)
        return jc->scrub_interval;
    return c->scrub_interval;
}

static void plan(const struct bk_mainconf *c, struct entry *e)
{
    int64_t iv = interval_of(c, e->name);
    if (iv <= 0 || !e->has_revs)
        e->due = SCRUB_NEVER;
    else if (e->last > 0)
        e->due = e->last + (double)iv;
    else
        e->due = e->first_seen + (double)sched_offset(e->name, iv);
}

void scrub_note(const struct bk_mainconf *c, const char *name, const char *dir,
                const struct bk_store *st, double now)
{
    int found;
    size_t pos = find_pos(name, &found);
    struct entry *e;
    if (found) {
        e = ents[pos];
    } else {
        e = bk_calloc(1, sizeof *e);
        e->name = bk_strdup(name);
        e->dir = bk_strdup(dir);
        e->first_seen = now;
        ents = bk_realloc(ents, (nents + 1) * sizeof *ents);
        memmove(ents + pos + 1, ents + pos, (nents - pos) * sizeof *ents);
        ents[pos] = e;
        nents++;
    }
    e->has_revs = 0;
    for (size_t i = 0; i < st->n; i++) {
        const struct bk_rev *r = &st->revs[i];
        if (!r->complete)
            continue;
        e->has_revs = 1;
        if (r->verify_result != BK_VERIFY_NONE && r->verify_time > e->last)
            e->last = r->verify_time;
    }
    plan(c, e);
}

void scrub_config(const struct bk_mainconf *c, double now)
{
    (void)now;
    size_t k = 0;
    for (size_t i = 0; i < nents; i++) {
        struct entry *e = ents[i];
        if (!mainconf_job(c, e->name)) {
            free(e->name);
            free(e->dir);
            free(e);
            continue;
        }
        plan(c, e);
        ents[k++] = e;
    }
    nents = k;
}

double scrub_tick(const struct bk_mainconf *c, double now)
{
    if (running_pid > 0)
        return SCRUB_NEVER;
    struct entry *best = NULL;
    for (size_t i = 0; i < nents; i++)
        if (!best || ents[i]->due < best->due)
            best = ents[i];
    if (!best || best->due > now)
        return best ? best->due : SCRUB_NEVER;
    pid_t pid = launch_verify(best->dir, (int)c->scrub_rate);
    if (pid < 0) {
        log_error("%s: cannot start scrub: %s", best->name, strerror(errno));
        best->due = now + SCRUB_RETRY;
        return scrub_tick(c, now);
    }
    log_info("%s: scrub started (pid %ld, %ld MiB/s)", best->name, (long)pid, c->scrub_rate);
    running_pid = pid;
    free(running_name);
    running_name = bk_strdup(best->name);
    return SCRUB_NEVER;
}

int scrub_done(const struct bk_mainconf *c, pid_t pid, int wstatus, double now, int stopping)
{
    if (pid <= 0 || pid != running_pid)
        return 0;
    running_pid = 0;
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    int found;
    size_t pos = find_pos(running_name, &found);
    struct entry *e = found ? ents[pos] : NULL;
    const char *name = running_name;
    if (code <= 2) {
        if (code == 0)
            log_info("%s: scrub finished: every revision intact", name);
        else if (code == 1)
            log_error("%s: scrub found damaged revisions (or could not check one); damaged "
                      "ones are quarantined: see backy status and %s/backy.log", name,
                      e ? e->dir : "the job's");
        else
            log_warn("%s: scrub finished: revisions without sums cannot be verified", name);
        if (e) {
            e->last = now;
            plan(c, e);
        }
    } else if (stopping) {
        log_info("%s: scrub stopped (exit status %d)", name, code);
    } else {
        log_error("%s: scrub failed with exit status %d; see %s/backy.log; retry in %d s", name,
                  code, e ? e->dir : "the job's", SCRUB_RETRY);
        if (e)
            e->due = now + SCRUB_RETRY;
    }
    return 1;
}

pid_t scrub_pid(void)
{
    return running_pid;
}
