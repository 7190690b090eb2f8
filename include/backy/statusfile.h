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
 *                 "last_exit" }, ... ] }
 *
 * Times are seconds since the epoch (numbers; null when unknown) and the
 * same as text "YYYY-MM-DD HH:MM:SS UTC". Jobs are sorted by name. */
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

#endif
