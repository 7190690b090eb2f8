/* schedule.h - schedule arithmetic of the scheduler, with the clock passed
 * in (no call to time()), so every rule is testable.
 *
 * Slots: a tag with interval I runs at the times k*I + offset (k integer,
 * seconds since the epoch), where offset = hash(job name) mod I. The hash
 * is stable (FNV-1a, 64 bit, with a final bit mix), so the same config gives the same times on
 * every restart and the jobs spread evenly over the interval. Since the
 * offset of a longer interval reduced modulo a shorter one that divides it
 * is the shorter one's offset, a daily and a weekly tag of one job fall on
 * the same second and run as one backup.
 *
 * Due time of a tag: without a revision carrying the tag, at once (the
 * caller passes "now"). Otherwise the first slot later than last + I/2:
 * a backup that ran late does not trigger a second one shortly after, and a
 * slot missed while the scheduler was down lies in the past, so the tag is
 * due at once. Catch-up (at start and for jobs changed by a reload): a tag
 * whose newest revision is older than I is due at once as well, even when
 * its slot lies ahead. A tag older than 1.5 x I has broken its SLA already;
 * it is caught up at once too, since that is the only way to repair the
 * SLA; the worker limit and the order by due time (most overdue first)
 * keep the load bounded. After a catch-up run the next due time is again
 * on the job's slot grid.
 *
 * Expiry: for each tag the schedule knows, the revisions carrying it are
 * ordered newest first; the tag is removed from every revision past the
 * newest `keep` ones once that revision is also older than keep x I.
 * A revision that loses its last tag is to be deleted. Tags that no
 * schedule knows (manual, ad-hoc) are never removed. */
#ifndef BACKY_SCHEDULE_H
#define BACKY_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include "revision.h"

#define BK_SCHED_MAX_TAGS 64

struct bk_interval {
    char *tag;          /* "daily" */
    int64_t interval;   /* seconds, > 0 */
    int64_t keep;       /* > 0 */
};

struct bk_schedule {
    char *name;
    struct bk_interval *iv;
    size_t n;           /* <= BK_SCHED_MAX_TAGS */
};

/* Stable 64-bit FNV-1a hash of a job name. */
uint64_t sched_hash(const char *name);
/* hash(name) mod interval. */
int64_t sched_offset(const char *name, int64_t interval);
/* Smallest slot k*interval + offset strictly greater than t. */
int64_t sched_slot_after(int64_t t, int64_t interval, int64_t offset);

/* Due time of one tag; last < 0 means no revision carries the tag.
 * catchup: apply the catch-up rule (a tag older than its interval is due at
 * last + interval, that is, at once at a restart). */
int64_t sched_tag_due(const char *job, int64_t interval, double last, int64_t now,
                      int catchup);

/* Next run of a job: when = the earliest due time of its tags, not before
 * not_before (after a failed run); *mask = the tags (bit i = s->iv[i]) due at
 * or before max(when, now). last[i] is the newest revision with tag i or -1. */
void sched_next(const char *job, const struct bk_schedule *s, const double *last,
                int64_t now, int64_t not_before, int catchup, int64_t *when, uint64_t *mask);

/* Smallest interval of a schedule (0 when it has none). */
int64_t sched_min_interval(const struct bk_schedule *s);

/* SLA: the newest complete revision (newest < 0: none) is no older than
 * 1.5 x min_interval. 1 OK, 0 too old. */
int sched_sla_ok(double newest, int64_t min_interval, int64_t now);

/* Comma-joined tag names of a mask, into buf. */
void sched_mask_tags(const struct bk_schedule *s, uint64_t mask, char *buf, size_t len);

/* For each revision (oldest first, as the store lists them), newest-with-tag
 * time per interval: last[i] for s->iv[i], -1 when none. Only complete
 * revisions not dated in the future (rev_in_future at now) count. */
void sched_last_by_tag(const struct bk_schedule *s, const struct bk_rev *revs, size_t n,
                       int64_t now, double *last);

/* Delay before retry number `failures` (1 = the first retry after one
 * failure): first, doubling with each further failure, at most cap (the
 * job's smallest interval; cap <= 0: no cap). Always >= 1. */
int64_t sched_retry_delay(int64_t first, long failures, int64_t cap);

enum sched_expire_action { EXP_KEEP = 0, EXP_REWRITE = 1, EXP_DELETE = 2 };

/* Apply the expiry rule to revs (oldest first). Expired tags are removed from
 * revs[i].tags in place; action[i] tells the caller what to do with each
 * revision (rewrite its .rev, or delete it). Incomplete revisions are left
 * alone, and so are revisions dated in the future (they neither count towards
 * keep nor expire). Returns the number of revisions with an action other
 * than KEEP. */
size_t sched_expire(const struct bk_schedule *s, struct bk_rev *revs, size_t n,
                    int64_t now, enum sched_expire_action *action);

#endif
