/* joblock.h - the job lock: flock(LOCK_EX) on JOBDIR/config, the lock
 * backy-backup holds for a whole backup. Everything that changes a job
 * directory (backup, forget, tags, expiry) holds it, so no two of them
 * ever work on one job at once. The lock belongs to the open file: it
 * goes when the descriptor is closed or the process ends (a SIGKILL
 * included), so it can never be left behind. */
#ifndef BACKY_JOBLOCK_H
#define BACKY_JOBLOCK_H

/* Take the lock of the job directory dirfd without waiting. Returns the
 * descriptor holding it (close it to release), or -1 with errno:
 * EWOULDBLOCK when another process holds it (a backup is running),
 * anything else when JOBDIR/config cannot be opened or locked. */
int job_lock(int dirfd);

#endif
