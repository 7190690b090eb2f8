/* expire.c - the expiry rule carried out on a job directory (expire.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/expire.h"
#include "backy/util.h"

/* Comma-joined tags of before that after lacks (both sorted, unique). */
static char *dropped_tags(char **before, size_t nbefore, const struct bk_rev *after)
{
    char **dropped = bk_calloc(nbefore + 1, sizeof *dropped);
    size_t n = 0;
    for (size_t i = 0; i < nbefore; i++)
        if (!rev_has_tag(after, before[i]))
            dropped[n++] = before[i];
    char *s = bk_join_alloc(dropped, n, ",");
    free(dropped);
    return s;
}

size_t expire_apply(struct bk_store *st, const struct bk_schedule *s, int64_t now, int dry_run,
                    bk_expire_report report, void *ctx, struct bk_expire_stats *stats)
{
    struct bk_expire_stats dummy;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof *stats);
    if (st->n == 0)
        return 0;
    /* the tags as they were, to name the expired ones */
    char ***before = bk_calloc(st->n, sizeof *before);
    size_t *nbefore = bk_calloc(st->n, sizeof *nbefore);
    for (size_t i = 0; i < st->n; i++) {
        nbefore[i] = st->revs[i].ntags;
        before[i] = bk_calloc(nbefore[i] + 1, sizeof **before);
        for (size_t k = 0; k < nbefore[i]; k++)
            before[i][k] = bk_strdup(st->revs[i].tags[k]);
    }
    const struct bk_rev *newest = store_last(st);
    char newest_id[BK_ID_MAX] = "";
    if (newest)
        snprintf(newest_id, sizeof newest_id, "%s", newest->id);

    enum sched_expire_action *act = bk_calloc(st->n, sizeof *act);
    size_t nact = sched_expire(s, st->revs, st->n, now, act);
    int newest_gone = 0;
    for (size_t i = 0; nact && i < st->n; i++) {
        struct bk_rev *r = &st->revs[i];
        if (act[i] == EXP_KEEP)
            continue;
        char *expired = dropped_tags(before[i], nbefore[i], r);
        struct bk_expire_event ev = {.action = act[i], .rev = r, .expired = expired,
                                     .dry_run = dry_run};
        if (!dry_run) {
            int rc = act[i] == EXP_DELETE ? rev_remove(st->dirfd, r->id) : rev_save(st->dirfd, r);
            ev.err = rc < 0 ? (errno ? errno : EIO) : 0;
        }
        if (ev.err)
            stats->failed++;
        else if (act[i] == EXP_DELETE)
            stats->removed++;
        else
            stats->rewritten++;
        if (!ev.err && act[i] == EXP_DELETE && !strcmp(r->id, newest_id))
            newest_gone = 1;
        if (report)
            report(ctx, &ev);
        free(expired);
    }
    if (newest_gone) {
        /* cannot happen under the rule (see expire.h); kept correct anyway */
        const struct bk_rev *next = NULL;
        for (size_t i = st->n; i-- > 0 && !next;)
            if (st->revs[i].complete && act[i] != EXP_DELETE)
                next = &st->revs[i];
        if (next)
            store_update_last(st->dirfd, next->id);
        else
            store_remove_last(st->dirfd);
    }
    for (size_t i = 0; i < st->n; i++) {
        for (size_t k = 0; k < nbefore[i]; k++)
            free(before[i][k]);
        free(before[i]);
    }
    free(before);
    free(nbefore);
    free(act);
    return nact;
}
