/* expire.h - retention carried out on a job directory: the expiry rule of
 * schedule.h (sched_expire) applied to the files. One implementation for
 * the scheduler (after each backup) and backy-expire (cron, timers).
 *
 * The caller holds the job lock (joblock.h), unless it only looks
 * (dry_run). For every revision the rule touches, oldest first:
 *   - it keeps a tag: its ID.rev is rewritten atomically without the
 *     expired tags (rev_save: temp file, rename; mode 0440 kept);
 *   - it lost its last tag: it is removed (rev_remove: image first, .rev
 *     last, so a crash leaves at worst an incomplete-looking revision).
 * Tags that no schedule knows (manual, ad-hoc, set by backy-tags) are
 * never removed, so a revision carrying one is never deleted. Incomplete
 * revisions are left alone. The newest complete revision is the newest
 * with each of its tags and so is never touched; should that ever change,
 * last/last.rev are moved to the newest remaining one.
 *
 * Each action is reported once, after it was carried out (dry_run:
 * instead of it). The store's revisions are changed in memory: reload it
 * before reading it again. */
#ifndef BACKY_EXPIRE_H
#define BACKY_EXPIRE_H

#include <stddef.h>
#include <stdint.h>
#include "revision.h"
#include "schedule.h"

struct bk_expire_event {
    enum sched_expire_action action;   /* EXP_REWRITE or EXP_DELETE */
    const struct bk_rev *rev;          /* tags: what is left */
    const char *expired;               /* comma-joined expired tags */
    int dry_run;
    int err;                           /* 0, or the errno of the failure */
};

typedef void (*bk_expire_report)(void *ctx, const struct bk_expire_event *ev);

struct bk_expire_stats {
    size_t rewritten, removed, failed;
};

/* Apply the rule at time now. report may be NULL. Returns the number of
 * revisions touched (failed ones included); stats (may be NULL) counts
 * them by outcome. */
size_t expire_apply(struct bk_store *st, const struct bk_schedule *s, int64_t now, int dry_run,
                    bk_expire_report report, void *ctx, struct bk_expire_stats *stats);

#endif
