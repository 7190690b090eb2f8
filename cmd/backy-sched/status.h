/* status.h - the scheduler's status file (statusfile.h, what backy-check
 * and the telnet shell read) and its metrics file (metrics.h, optional),
 * both rewritten atomically from the jobs' state (sched.h) every
 * status-interval and whenever something changed (sched.status_dirty).
 * Their directories are opened once, before the sandbox, and written
 * through those descriptors. */
#ifndef BACKY_SCHED_STATUS_H
#define BACKY_SCHED_STATUS_H

/* Open the directories of sched.conf's status and metrics files; an error
 * ends the program. */
void status_open(void);
/* The directories' descriptors (the sandbox's rules); metrics: -1 none. */
int status_dir_fd(void);
int metrics_dir_fd(void);
/* Write both files now; the next write is due status-interval later. */
void write_status(double now);

#endif
