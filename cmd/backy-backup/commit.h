/* commit.h - private to backy-backup: the new revision's life, begun,
 * then committed or abandoned, and the signals that may end it.
 *
 * One lock (the commit lock) orders the three steps against the signal
 * thread: a signal before rev_begin ends the process; between rev_begin
 * and rev_commit it removes the incomplete revision first; once
 * rev_commit has started, the revision is no longer removed (main exits
 * soon). The files of a revision are written so that a crash at any
 * instant loses at most this revision: ID.rev without stats first
 * (incomplete; the next backup's cleanup removes it), then the image and
 * sums (the delta engine), then ID.rev complete, then the image read-only
 * (a read-only image always has a complete .rev: cleanup relies on it),
 * then last and last.rev. */
#ifndef BACKY_BACKUP_COMMIT_H
#define BACKY_BACKUP_COMMIT_H

#include "backy/revision.h"

/* Block SIGTERM, SIGINT and SIGHUP; call it before any thread starts. */
void rev_signals_block(void);
/* Start the thread that takes them (after privileges are dropped: it is
 * the process's second thread). 0, or -1 when it cannot start. */
int rev_signals_start(void);

/* Write rev (incomplete) as ID.rev in dirfd and mark it started: from
 * now on a signal removes it. 0, or -1 with errno (nothing started). */
int rev_begin(int dirfd, const struct bk_rev *rev);
/* Complete rev: ID.rev with its stats, the image read-only (warned about
 * when that fails; dir names the job in messages), last and last.rev.
 * -1 with errno when ID.rev cannot be written: the revision is then
 * removed. */
int rev_commit(int dirfd, const char *dir, struct bk_rev *rev);
/* Remove the started revision (the backup failed). */
void rev_abandon(void);

#endif
