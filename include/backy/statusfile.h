/* statusfile.h - the scheduler's JSON status file, written by backy-sched,
 * read by backy-check and backy-telnetd. Layout (documented in
 * backy-sched(1)):
 *
 *   { "format": 1,
 *     "scheduler": { "pid", "started", "written", "worker_limit",
 *                    "workers_busy", "jobs", "status_interval", "config" },
 *     "jobs": [ { "name", "schedule", "sla" ("OK" | "TOO OLD"), "sla_ok",
 *                 "status" ("waiting" | "running" | "failed"), "pid",
 *                 "last_time", "last_backup", "last_tags", "last_duration",
 *                 "next_time", "next_backup", "next_tags", "min_interval",
 *                 "last_exit",
 *                 added later (absent in files of older schedulers: read as
 *                 false, 0, null, ""):
 *                 "dir_missing", "incomplete", "quarantined", "future",
 *                 "future_time", "future_backup", "failures", "failed_time",
 *                 "last_error", "retry_time", "retry_backup",
 *                 "revisions", "last_bytes", "push_targets", "last_push_time",
 *                 "last_push", "push_failures", "push_error",
 *                 "last_verify_time" }, ... ] }
 *
 * Times are seconds since the epoch (numbers; null when unknown) and the
 * same as text "YYYY-MM-DD HH:MM:SS UTC". Jobs are sorted by name.
 * last_time is the newest good revision: complete, not quarantined, not
 * dated in the future. */
#ifndef BACKY_STATUSFILE_H
#define BACKY_STATUSFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BK_STATUS_FORMAT 1

struct bk_status_job {
    char *name;
    char *schedule;
    int sla_ok;
    char *status;           /* waiting, running, failed */
    pid_t pid;              /* while running, else 0 */
    double last_time;       /* < 0: no backup */
    char *last_tags;
    double last_duration;
    double next_time;       /* < 0: none */
    char *next_tags;
    int64_t min_interval;
    int last_exit;          /* exit status of the last run, -1 none */
    /* what the disk showed at the last rescan, and failures */
    int dir_missing;        /* the job directory vanished */
    long incomplete;        /* incomplete revisions (not counting one being written) */
    long quarantined;       /* revisions whose verify found damage */
    long future;            /* revisions dated more than 5 minutes ahead */
    double future_time;     /* the latest such date, < 0: none */
    long failures;          /* consecutive failed backups, 0 after a success */
    double failed_time;     /* end of the last failed backup, < 0: none */
    char *last_error;       /* its one-line message, "" none */
    double retry_time;      /* next retry, < 0: none */
    long revisions;         /* revisions in the job directory (any state) */
    int64_t last_bytes;     /* bytes written by the newest good revision */
    long push_targets;      /* push targets of the job */
    double last_push_time;  /* every target had a successful push by then, < 0: not yet */
    long push_failures;     /* consecutive failed pushes, summed over the targets */
    char *push_error;       /* the last failed push's message, "" none */
    double last_verify_time;/* newest verify record of the job (its last scrub), < 0: none */
};

struct bk_status {
    pid_t pid;
    double started, written;
    long worker_limit, workers_busy;
    int64_t status_interval;
    char *config;
    struct bk_status_job *jobs;
    size_t njobs;
};

/* malloc'd JSON text (jobs emitted in the given order; callers sort). */
char *status_format(const struct bk_status *st);
/* Parse; 0 or -1 with a message in err (name names the file). */
int status_parse(const char *buf, size_t len, const char *name, struct bk_status *st,
                 char *err, size_t errlen);
/* Read and parse a file (at most 256 MiB). 0 or -1 with err. */
int status_load(const char *path, struct bk_status *st, char *err, size_t errlen);
void status_free(struct bk_status *st);

/* One line for the status file: control characters, bytes past ASCII and
 * backslashes of in[0..n) escaped as \xNN, at most len - 1 bytes (cut
 * with "..."). */
void status_one_line(const char *in, size_t n, char *out, size_t len);
/* The message of the last ERROR line of process pid in a backy log file
 * ("YYYY-MM-DD HH:MM:SS [PID] ERROR message"), looked for in its last
 * 64 KiB, as status_one_line. 1 found, 0 not (out is then ""). */
int status_log_error(int dirfd, const char *path, long pid, char *out, size_t len);

#endif
