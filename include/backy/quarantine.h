/* quarantine.h - verify records and what follows from them.
 *
 * backy-verify (by hand or as the scheduler's scrub) records every result
 * in the revision's ID.rev ("verify:", see revision.h). A revision whose
 * last check found damage is quarantined: backup never uses it as a
 * parent, find and restore refuse it without --force, status marks it. */
#ifndef BACKY_QUARANTINE_H
#define BACKY_QUARANTINE_H

#include <stddef.h>
#include <stdint.h>

#include "backy/revision.h"

/* Record a verify result in JOBDIR/ID.rev: under the job lock (flock
 * LOCK_EX on JOBDIR/config, held only for the rewrite), the .rev is read
 * again and written back atomically with the record (mode 0440 when
 * complete). 0 recorded; 1 the revision is gone (removed meanwhile, by
 * expiry); -1 with a message in err. */
int rev_record_verify(int dirfd, const char *dir, const char *id, int result, uint64_t damaged,
                      double when, char *err, size_t errlen);

/* The parent of a new backup: the newest complete revision that is not
 * quarantined nor dated in the future (as store_last), or NULL. *skipped (may be NULL) is set to the newest
 * complete revision passed over for being quarantined, or NULL. */
const struct bk_rev *store_last_good(const struct bk_store *st, const struct bk_rev **skipped);

/* "revision ID is quarantined: ..." for find and restore without --force. */
void quarantine_refusal(const struct bk_store *st, const struct bk_rev *r, char *buf,
                        size_t len);

#endif
