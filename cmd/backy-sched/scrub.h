/* scrub.h - the scheduler's scrub: every job's revisions are checked
 * against their sums on a schedule of their own (scrub-interval, global
 * or per job), by backy-verify --all --rate-limit scrub-rate started
 * through the launcher, one job at a time beside the backups. Each
 * verify records its results in the .rev files (quarantine.h).
 *
 * A job's last scrub is the newest verify record among its revisions, so
 * it survives restarts without state of its own; the next one is due
 * scrub-interval later. A job never checked is due within its first
 * interval, at an offset hashed from its name (jobs spread out). */
#ifndef BACKY_SCHED_SCRUB_H
#define BACKY_SCHED_SCRUB_H

#include <sys/types.h>

#include "backy/mainconf.h"
#include "backy/revision.h"

/* What the job's revisions say (after reading them). */
void scrub_note(const struct bk_mainconf *c, const char *name, const char *dir,
                const struct bk_store *st, double now);
/* After a (re)load: drop jobs gone from c, apply changed intervals. */
void scrub_config(const struct bk_mainconf *c, double now);
/* Start the most overdue scrub when none runs; the next time one is due
 * (a large value when none is). */
double scrub_tick(const struct bk_mainconf *c, double now);
/* 1 when pid was the scrub (its end is handled), else 0. */
int scrub_done(const struct bk_mainconf *c, pid_t pid, int wstatus, double now, int stopping);
/* pid of the running scrub, 0 when none */
pid_t scrub_pid(void);

#endif
