/* sched.h - the state the scheduler's files share, and its jobs.
 *
 * One struct sched holds what more than one file reads or changes: the
 * configuration in force, the jobs, the heap of waiting ones, the running
 * backups and pushes, whether the scheduler is stopping and whether the
 * status file is due. Everything else is private to its file: the telnet
 * shell and the stop deadline to loop.c, the status and metrics files'
 * directories to status.c, the scrub's state to scrub.c.
 *
 * A job is waiting (in the heap by due time), running (in running[], its
 * backup's pid known) or failed (in the heap by its retry time). job.c
 * moves it between these: start_job when it is due, job_done when its
 * backup ends, job_rescan when its directory changed on disk. */
#ifndef BACKY_SCHED_SCHED_H
#define BACKY_SCHED_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "backy/mainconf.h"
#include "backy/revision.h"
#include "backy/schedule.h"
#include "backy/sourcetype.h"
#include "heap.h"

enum jstate { J_WAITING, J_RUNNING, J_FAILED };

/* A push target of a job: backy-push after each successful backup. */
struct push_tgt {
    char *target;
    pid_t pid;                        /* running push, 0 none */
    int again;                        /* a backup finished while it ran: push once more */
    double last_ok;                   /* end of the last successful push, -1 none */
    long failures;                    /* consecutive failed pushes */
};

struct job {
    char *name;
    char *dir;
    struct bk_schedule sched;
    struct bk_srccfg src;
    double last[BK_SCHED_MAX_TAGS];   /* newest revision per schedule tag */
    double newest, newest_dur;        /* newest complete revision, -1 none */
    char *newest_tags;
    int64_t due;
    uint64_t mask;
    int64_t not_before;               /* after a failure: wait for this */
    int catchup;
    enum jstate state;
    int last_exit;
    pid_t pid;
    size_t heap_idx;                  /* HEAP_NONE: not in the heap */
    int removed;                      /* dropped from the config while running */
    /* what the disk showed at the last scan (monitoring) */
    char last_id[BK_ID_MAX];          /* store_last(): the newest non-future revision */
    int dir_missing;                  /* the job directory vanished */
    long nincomplete, nquarantined, nfuture;
    double future_max;                /* latest future date, -1 none */
    long nrevs;                       /* revisions in the directory */
    double last_verify;               /* newest verify record (the last scrub), -1 none */
    uint64_t newest_bytes;            /* bytes written by the newest good revision */
    struct stat dir_sb, rev_sb;       /* rescan: re-read when either changed */
    char rev_name[BK_ID_MAX + 8];     /* the .rev stat()ed into rev_sb, "" none */
    /* failures and retries */
    long failures;                    /* consecutive failed backups */
    double failed_at;                 /* -1 none */
    char *last_error;                 /* one line */
    struct push_tgt *push;            /* push targets of the config */
    size_t npush;
    char *push_error;                 /* the last failed push's message, NULL none */
};

struct sched {
    struct bk_mainconf conf;          /* the configuration in force */
    const char *config_path;
    struct job **jobs;                /* sorted by name */
    size_t njobs;
    struct heap waiting;              /* jobs not running, by due time */
    struct job **running;             /* jobs whose backup runs */
    size_t nrunning;
    size_t npushing;                  /* pushes running */
    int stopping;                     /* SIGTERM or SIGINT came: ending the children */
    int status_dirty;                 /* something changed: write the status file */
    double next_status_write;
    double started_at;
};

extern struct sched sched;            /* main.c */

/* job.c: the jobs' states */
int job_due_less(const void *a, const void *b);   /* the heap's order: due time, name */
size_t *job_heap_pos(void *j);
/* Make the jobs the configuration's (sched.conf): new ones read their
 * directories and are planned, changed ones re-planned, removed ones freed
 * (a running one when its backup ends). */
void apply_config(double now);
/* Start the backup of a job taken from the heap (back into it when nothing
 * is due after all or it cannot start). */
void start_job(struct job *j, double now);
/* A running job's backup ended: rescan, expire, push, plan its next one. */
void job_done(struct job *j, int wstatus, double now);
/* A child that was a push: 1 (handled), 0 not a push. */
int push_done(pid_t pid, int wstatus, double now);
/* Re-read every waiting job's directory that changed on disk (force: all). */
void rescan_all(double now, int force);

/* config.c */
/* Job directories are named to the launcher by absolute path. */
void absolute_base_dir(struct bk_mainconf *c);
/* SIGHUP: re-read the configuration; an invalid one keeps the old. */
void reload(double now);

#endif
