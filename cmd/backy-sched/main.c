/* backy-sched - the scheduler ("backy scheduler"): runs every job of the
 * main configuration when it is due, applies retention, writes the status
 * file and keeps the telnet shell running.
 *
 * One poll loop over a signalfd (SIGTERM, SIGINT, SIGHUP) and the socket
 * to the launcher, which reports the children's ends. Waiting jobs sit in a binary heap ordered by due time, so a tick
 * costs O(log n) whatever the number of jobs; a job's revisions are read at
 * start (or when a reload changes it), after its own backups, and when a
 * stat of its directory or newest .rev shows a change (checked before each
 * status write, so the status shows the disk); SIGHUP re-reads them all. Backups are separate processes
 * (backy-backup beside this executable), at most worker-limit at once,
 * the most overdue first. Due times and expiry follow schedule.h.
 *
 * Privilege separation: before its sandbox the scheduler forks a launcher
 * (launcher.c), the only process that forks and execs; the scheduler asks
 * it over a socketpair to start and signal children and hears from it when
 * they end. So the scheduler itself, which parses the config, writes the
 * status file and deletes expired revisions, runs without capabilities,
 * without fork, execve or sockets. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/expire.h"
#include "backy/log.h"
#include "backy/mainconf.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/sdnotify.h"
#include "backy/schedule.h"
#include "backy/sourcetype.h"
#include "backy/statusfile.h"
#include "backy/metrics.h"
#include "backy/util.h"
#include "heap.h"
#include "launcher.h"
#include "scrub.h"

static const char usage[] =
    "usage: backy-sched [-c CONFIG] [--check-config] [-l LOGFILE] [-v] [-h]\n"
    "Runs the backup jobs of CONFIG (default /etc/backy.conf) on their schedules,\n"
    "and checks their revisions for damage every scrub-interval (backy-verify).\n"
    "  --check-config   validate CONFIG and exit (0 valid, 1 not)\n"
    "Does not daemonize; SIGTERM stops it (running backups are terminated),\n"
    "SIGHUP re-reads CONFIG and every job directory.\n";

/* The scheduler proper: it reads configs and job directories, writes the
 * status file, job configs and .rev files and removes expired revisions
 * (SB_WRITE: openat for writing, mkdir, rename, unlink; it implies reading),
 * and waits in poll on its signalfd and the launcher's socket (SB_POLL).
 * No fork, clone, execve or socket: children are the launcher's business,
 * and the socketpair to it exists before this sandbox. No capabilities:
 * job directories and the status file are the scheduler's own.
 * Landlock (rules set in main): read, write, create and remove below the
 * base directory and in the status and metrics files' directories,
 * append to and create files in the log file's directory (a rotated log
 * is reopened); nothing else, no TCP. The config file is re-read (SIGHUP)
 * through a descriptor the launcher opens and passes (recvmsg): a rule
 * naming the file would not reach the new file an editor writes. */
static const int sched_extra[] = { __NR_recvmsg, -1 };
static struct sb_policy policy = {
    .name = "backy-sched",
    .groups = SB_BASE | SB_WRITE | SB_POLL,
    .extra = sched_extra,
    .keep_caps = 0,
    .run_as_user = NULL,
};

#define STOP_GRACE 30            /* seconds between SIGTERM and SIGKILL at shutdown */
#define TELNET_BACKOFF_MAX 60

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

/* What more than one part of the scheduler reads or changes. */
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

static int job_due_less(const void *a, const void *b);
static size_t *job_heap_pos(void *j);

static struct sched sched = {
    .config_path = BK_DEFAULT_CONFIG,
    .waiting = HEAP_INIT(job_due_less, job_heap_pos),
    .status_dirty = 1,
};
static struct bk_cli cli;
static char exe_dir[PATH_MAX];

static int status_dirfd = -1;
static char *status_base;
static int metrics_dirfd = -1;        /* metrics-file's directory, -1 none */
static char *metrics_base;

static pid_t telnet_pid;
static double telnet_restart_at;      /* 0: not scheduled */
static double telnet_started;
static int telnet_backoff = 1;

static double stop_deadline;

static double now_real(void) { return bk_now(); }

/* ---- heap of waiting jobs by due time ------------------------------ */

static int job_due_less(const void *a, const void *b)
{
    const struct job *x = a, *y = b;
    if (x->due != y->due)
        return x->due < y->due;
    return strcmp(x->name, y->name) < 0;
}

static size_t *job_heap_pos(void *j)
{
    return &((struct job *)j)->heap_idx;
}

/* ---- jobs ---------------------------------------------------------- */

static void job_plan(struct job *j, double now)
{
    sched_next(j->name, &j->sched, j->last, (int64_t)now, j->not_before, j->catchup, &j->due,
               &j->mask);
}

static void job_free(struct job *j)
{
    for (size_t i = 0; i < j->npush; i++) {
        if (j->push[i].pid > 0)
            sched.npushing--;     /* its end is not waited for */
        free(j->push[i].target);
    }
    free(j->push);
    free(j->push_error);
    free(j->last_error);
    free(j->name);
    free(j->dir);
    free(j->newest_tags);
    schedule_free(&j->sched);
    srccfg_free(&j->src);
    free(j);
}

static void join_tags(const struct bk_rev *r, char **out)
{
    size_t len = 1;
    for (size_t i = 0; i < r->ntags; i++)
        len += strlen(r->tags[i]) + 1;
    char *s = bk_malloc(len);
    s[0] = '\0';
    for (size_t i = 0; i < r->ntags; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, r->tags[i]);
    }
    free(*out);
    *out = s;
}

static void expire_log(void *ctx, const struct bk_expire_event *ev)
{
    const struct job *j = ctx;
    const char *id = ev->rev->id;
    if (ev->action == EXP_REWRITE && ev->err)
        log_error("%s: cannot rewrite %s.rev: %s", j->name, id, strerror(ev->err));
    else if (ev->action == EXP_REWRITE)
        log_info("%s: expired tags of revision %s", j->name, id);
    else if (ev->err)
        log_error("%s: cannot remove revision %s: %s", j->name, id, strerror(ev->err));
    else
        log_info("%s: removed expired revision %s", j->name, id);
}

/* Monitoring facts of a job directory just read: the newest good revision
 * (complete, not quarantined, not dated in the future) is what the SLA and
 * the status file's last_* fields mean; counts of incomplete, quarantined
 * and future-dated revisions; the .rev whose stat the rescan watches. */
static void job_scan_facts(struct job *j, const struct bk_store *st)
{
    const struct bk_rev *good = NULL;
    j->nrevs = (long)st->n;
    for (size_t i = st->n; i-- > 0;) {
        const struct bk_rev *r = &st->revs[i];
        if (r->verify_result != BK_VERIFY_NONE && r->verify_time > j->last_verify)
            j->last_verify = r->verify_time;
        if (rev_in_future(r, st->now)) {
            if (j->nfuture++ == 0)
                j->future_max = r->timestamp;
            continue;
        }
        if (!r->complete) {
            j->nincomplete++;
            continue;
        }
        if (rev_quarantined(r)) {
            j->nquarantined++;
            continue;
        }
        if (!good)
            good = r;
    }
    if (good) {
        j->newest = good->timestamp;
        j->newest_dur = good->duration;
        j->newest_bytes = good->bytes_written;
        join_tags(good, &j->newest_tags);
        snprintf(j->rev_name, sizeof j->rev_name, "%s.rev", good->id);
        if (fstatat(st->dirfd, j->rev_name, &j->rev_sb, 0) < 0)
            j->rev_name[0] = '\0';
    }
}

/* Read the job's revisions; with expire, apply retention first. */
static void job_scan(struct job *j, int expire, double now)
{
    struct bk_store st;
    char err[1024];

    for (size_t i = 0; i < BK_SCHED_MAX_TAGS; i++)
        j->last[i] = -1;
    j->newest = -1;
    j->newest_dur = 0;
    free(j->newest_tags);
    j->newest_tags = NULL;
    j->last_id[0] = '\0';
    j->nincomplete = j->nquarantined = j->nfuture = j->nrevs = 0;
    j->newest_bytes = 0;
    j->last_verify = -1;
    j->future_max = -1;
    j->rev_name[0] = '\0';
    /* the directory's stat comes first: a change while we read shows next time */
    if (stat(j->dir, &j->dir_sb) < 0) {
        memset(&j->dir_sb, 0, sizeof j->dir_sb);
        j->dir_missing = errno == ENOENT || errno == ENOTDIR;
    } else {
        j->dir_missing = 0;
    }
    if (store_open(&st, j->dir, err, sizeof err) < 0) {
        if (errno != ENOENT)
            log_warn("%s: %s", j->name, err);
        return;
    }
    /* Expiry changes the job directory: only under the job's lock (the one
     * backy-backup takes), so a backup started by hand is never raced. */
    int lockfd = -1;
    if (expire && st.n) {
        lockfd = openat(st.dirfd, "config", O_RDONLY | O_CLOEXEC);
        if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
            log_info("%s: job is busy (a backup is running): expiry postponed", j->name);
            expire = 0;
        }
    }
    if (expire && st.n && expire_apply(&st, &j->sched, (int64_t)now, 0, expire_log, j, NULL) &&
        store_reload(&st, err, sizeof err) < 0)
        log_warn("%s: %s", j->name, err);
    if (lockfd >= 0)
        close(lockfd);
    scrub_note(&sched.conf, j->name, j->dir, &st, now);
    sched_last_by_tag(&j->sched, st.revs, st.n, (int64_t)st.now, j->last);
    const struct bk_rev *last = store_last(&st);
    if (last)
        snprintf(j->last_id, sizeof j->last_id, "%s", last->id);
    job_scan_facts(j, &st);
    store_close(&st);
}

/* Log what a scan found that the previous one (was) did not. */
static void job_report(const struct job *j, const struct job *was)
{
    if (j->dir_missing && !was->dir_missing)
        log_error("%s: job directory vanished: %s (its next backup recreates it)", j->name,
                  j->dir);
    else if (!j->dir_missing && was->dir_missing)
        log_info("%s: job directory is back: %s", j->name, j->dir);
    if (j->newest < was->newest && !j->dir_missing)
        log_warn("%s: the newest good revision is gone from %s; newest now: %s", j->name,
                 j->dir, j->last_id[0] ? j->last_id : "none");
    if (j->nfuture > was->nfuture)
        log_warn("%s: %ld revision(s) dated in the future in %s (a wrong clock?); they are "
                 "not used as the newest", j->name, j->nfuture, j->dir);
    if (j->nquarantined > was->nquarantined)
        log_warn("%s: %ld quarantined revision(s) in %s", j->name, j->nquarantined, j->dir);
    if (j->nincomplete > was->nincomplete)
        log_warn("%s: %ld incomplete revision(s) in %s", j->name, j->nincomplete, j->dir);
}

/* mkdir the job directory and write its config when it differs. */
static int job_write_config(struct job *j)
{
    char err[1024];
    if (mkdir(j->dir, 0755) < 0 && errno != EEXIST) {
        log_error("%s: cannot create job directory: %s: %s", j->name, j->dir, strerror(errno));
        return -1;
    }
    int fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        log_error("%s: cannot open job directory: %s: %s", j->name, j->dir, strerror(errno));
        return -1;
    }
    struct bk_srccfg cur = { 0 };
    int same = srccfg_load(fd, j->dir, &cur, err, sizeof err) == 0 && srccfg_equal(&cur, &j->src);
    if (cur.kv || cur.n)
        srccfg_free(&cur);
    int rc = 0;
    if (!same) {
        char *y = srccfg_format(&j->src);
        if (bk_atomic_write(fd, "config", y, strlen(y), 0644) < 0) {
            log_error("%s: cannot write %s/config: %s", j->name, j->dir, strerror(errno));
            rc = -1;
        } else {
            log_info("%s: wrote %s/config", j->name, j->dir);
        }
        free(y);
    }
    close(fd);
    return rc;
}

static void failure_message(const struct job *j, pid_t pid, int wstatus, char *buf, size_t len);

/* Take the push targets of the config; a target kept keeps its state. */
static void job_set_push(struct job *j, const struct bk_jobcfg *jc)
{
    struct push_tgt *np = bk_calloc(jc->npush ? jc->npush : 1, sizeof *np);
    for (size_t i = 0; i < jc->npush; i++) {
        np[i].target = bk_strdup(jc->push[i]);
        np[i].last_ok = -1;
        for (size_t k = 0; k < j->npush; k++) {
            if (!j->push[k].target || strcmp(j->push[k].target, jc->push[i]))
                continue;
            free(np[i].target);
            np[i] = j->push[k];
            j->push[k].target = NULL;
            j->push[k].pid = 0;
            break;
        }
    }
    for (size_t k = 0; k < j->npush; k++) {
        if (j->push[k].pid > 0) {
            sched.npushing--;     /* a dropped target: its end is not waited for */
            log_info("%s: push to %s continues though the target was removed from the config",
                     j->name, j->push[k].target);
        }
        free(j->push[k].target);
    }
    free(j->push);
    j->push = np;
    j->npush = jc->npush;
}

static void start_push(struct job *j, struct push_tgt *t)
{
    t->again = 0;
    if (!launcher_push_allowed(t->target)) {
        /* the launcher's Landlock rules are made at start */
        t->failures++;
        free(j->push_error);
        j->push_error = bk_strdup("the target was added after the scheduler started: restart it "
                                  "to push there");
        log_error("%s: push to %s: %s", j->name, t->target, j->push_error);
        return;
    }
    pid_t pid = launch_push(j->dir, t->target);
    if (pid < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "cannot start backy-push: %s", strerror(errno));
        t->failures++;
        free(j->push_error);
        j->push_error = bk_strdup(msg);
        log_error("%s: push to %s: %s", j->name, t->target, msg);
        return;
    }
    t->pid = pid;
    sched.npushing++;
    log_info("%s: push to %s started (pid %ld)", j->name, t->target, (long)pid);
}

/* After a successful backup: push to every target (one push per target at
 * a time; a target still busy gets one more push when it is done). */
static void start_pushes(struct job *j)
{
    for (size_t i = 0; i < j->npush; i++) {
        if (j->push[i].pid > 0)
            j->push[i].again = 1;
        else
            start_push(j, &j->push[i]);
    }
}

/* A child that was a push: 1 (handled), 0 not a push. */
static int push_done(pid_t pid, int wstatus, double now)
{
    for (size_t i = 0; i < sched.njobs; i++) {
        struct job *j = sched.jobs[i];
        for (size_t k = 0; k < j->npush; k++) {
            struct push_tgt *t = &j->push[k];
            if (t->pid != pid)
                continue;
            t->pid = 0;
            sched.npushing--;
            sched.status_dirty = 1;
            if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
                t->last_ok = now;
                t->failures = 0;
                log_info("%s: push to %s finished", j->name, t->target);
            } else if (sched.stopping) {
                log_info("%s: push to %s stopped", j->name, t->target);
            } else {
                char msg[512];
                failure_message(j, pid, wstatus, msg, sizeof msg);
                t->failures++;
                free(j->push_error);
                j->push_error = bk_strdup(msg);
                log_error("%s: push to %s failed (%ld in a row); see %s/backy.log: %s", j->name,
                          t->target, t->failures, j->dir, msg);
            }
            if (t->again && !sched.stopping)
                start_push(j, t);
            return 1;
        }
    }
    return 0;
}

static struct job *job_new(const struct bk_jobcfg *jc, double now)
{
    struct job *j = bk_calloc(1, sizeof *j);
    j->name = bk_strdup(jc->name);
    j->dir = bk_asprintf("%s/%s", sched.conf.base_dir, jc->name);
    schedule_copy(&j->sched, &sched.conf.scheds[jc->sched]);
    for (size_t i = 0; i < jc->src.n; i++)
        srccfg_set(&j->src, jc->src.kv[i].key, jc->src.kv[i].value);
    j->catchup = 1;
    j->last_exit = -1;
    j->failed_at = -1;
    j->heap_idx = HEAP_NONE;
    job_set_push(j, jc);
    job_write_config(j);
    struct job was = { .newest = -1 };
    job_scan(j, 0, now);
    job_report(j, &was);
    job_plan(j, now);
    return j;
}

static int cmp_jobp(const void *a, const void *b)
{
    return strcmp((*(struct job *const *)a)->name, (*(struct job *const *)b)->name);
}

static struct job *find_job(struct job **arr, size_t n, const char *name)
{
    struct job key = { .name = (char *)name }, *kp = &key;
    struct job **r = bsearch(&kp, arr, n, sizeof *arr, cmp_jobp);
    return r ? *r : NULL;
}

/* ---- children ------------------------------------------------------ */

/* A failed backup (or one that could not start): remember the one-line
 * message, retry after sched_retry_delay() - retry-delay, doubling with each
 * further failure, at most the job's smallest interval. */
static void job_failed(struct job *j, double now, const char *what, const char *msg)
{
    int64_t iv = sched_min_interval(&j->sched);
    char line[512];
    status_one_line(msg, strlen(msg), line, sizeof line);
    free(j->last_error);
    j->last_error = bk_strdup(line);
    j->failures++;
    j->failed_at = now;
    int64_t delay = sched_retry_delay(sched.conf.retry_delay, j->failures, iv);
    j->not_before = (int64_t)now + delay;
    j->state = J_FAILED;
    j->catchup = 0;
    log_error("%s: %s; retry %ld in %lld s: %s", j->name, what, j->failures, (long long)delay,
              line);
}

/* The one-line reason of a backup that ended with wstatus: the last ERROR
 * line the backup (pid) wrote to the job's log, else the exit status. */
static void failure_message(const struct job *j, pid_t pid, int wstatus, char *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/backy.log", j->dir);
    if (status_log_error(AT_FDCWD, path, (long)pid, buf, len))
        return;
    if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(buf, len, "exit status %d (no error line in backy.log)", WEXITSTATUS(wstatus));
}

static void start_job(struct job *j, double now)
{
    char tags[1024];
    job_plan(j, now);
    if (j->mask == 0 || j->due > (int64_t)now) { /* nothing due after all */
        heap_push(&sched.waiting, j);
        return;
    }
    sched_mask_tags(&j->sched, j->mask, tags, sizeof tags);
    if (job_write_config(j) < 0) {
        j->pid = -1;
    } else {
        j->pid = launch_backup(j->dir, tags);
    }
    if (j->pid < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot start backup: %s", strerror(errno));
        j->pid = 0;
        j->last_exit = -1;
        job_failed(j, now, "cannot start backup", msg);
        job_plan(j, now);
        heap_push(&sched.waiting, j);
    } else {
        log_info("%s: backup started (pid %ld, tags %s, %.0f s after due)", j->name,
                 (long)j->pid, tags, now - (double)j->due);
        j->state = J_RUNNING;
        sched.running = bk_realloc(sched.running, (sched.nrunning + 1) * sizeof *sched.running);
        sched.running[sched.nrunning++] = j;
    }
    sched.status_dirty = 1;
}

static void job_done(struct job *j, int wstatus, double now)
{
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    pid_t pid = j->pid;
    j->pid = 0;
    j->last_exit = code;
    sched.status_dirty = 1;
    if (j->removed) {
        log_info("%s: backup ended (exit status %d); job was removed from the config", j->name,
                 code);
        job_free(j);
        return;
    }
    if (code == 0) {
        char before[BK_ID_MAX];
        snprintf(before, sizeof before, "%s", j->last_id);
        job_scan(j, 1, now);
        if (!strcmp(before, j->last_id)) {
            /* exit 0 without a new revision: another backup of the job
             * (one started by hand) held its lock. Not a failure; try
             * again shortly, without a loop. */
            int64_t delay = sched_retry_delay(sched.conf.retry_delay, 1,
                                              sched_min_interval(&j->sched));
            j->not_before = (int64_t)now + delay;
            j->state = j->failures ? J_FAILED : J_WAITING;
            log_info("%s: backup skipped: another backup of the job is in progress; trying "
                     "again in %lld s", j->name, (long long)delay);
        } else {
            log_info("%s: backup finished", j->name);
            start_pushes(j);
            j->state = J_WAITING;
            j->not_before = 0;
            j->catchup = 0;
            j->failures = 0;
            j->failed_at = -1;
            free(j->last_error);
            j->last_error = NULL;
        }
    } else if (sched.stopping) {
        /* terminated by us: not a failure; the next start catches up */
        log_info("%s: backup stopped (exit status %d)", j->name, code);
        j->state = J_WAITING;
    } else {
        char msg[512], what[PATH_MAX + 64];
        failure_message(j, pid, wstatus, msg, sizeof msg);
        snprintf(what, sizeof what, "backup failed with exit status %d; see %s/backy.log",
                 code, j->dir);
        job_failed(j, now, what, msg);
        job_scan(j, 0, now);
    }
    job_plan(j, now);
    heap_push(&sched.waiting, j);
}

static void start_telnet(double now)
{
    telnet_restart_at = 0;
    if (sched.conf.telnet_port == 0 || sched.stopping)
        return;
    telnet_pid = launch_telnet(sched.conf.telnet_port, sched.conf.telnet_addrs,
                               sched.conf.telnet_user);
    if (telnet_pid < 0) {
        log_error("cannot start backy-telnetd: %s", strerror(errno));
        telnet_pid = 0;
        telnet_restart_at = now + telnet_backoff;
    } else {
        log_info("telnet shell started (pid %ld)", (long)telnet_pid);
        telnet_started = now;
    }
}

static void telnet_done(int wstatus, double now)
{
    telnet_pid = 0;
    if (sched.stopping)
        return;
    if (now - telnet_started > TELNET_BACKOFF_MAX)
        telnet_backoff = 1;
    log_warn("telnet shell exited (%s %d); restarting in %d s",
             WIFEXITED(wstatus) ? "exit status" : "signal",
             WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus), telnet_backoff);
    telnet_restart_at = now + telnet_backoff;
    telnet_backoff = telnet_backoff * 2 > TELNET_BACKOFF_MAX ? TELNET_BACKOFF_MAX
                                                              : telnet_backoff * 2;
}

/* Children that ended, as the launcher reports them. */
static void reap(double now)
{
    int ws;
    pid_t pid;
    while (launch_next_exit(&pid, &ws) > 0) {
        if (pid == telnet_pid) {
            telnet_done(ws, now);
            continue;
        }
        if (scrub_done(&sched.conf, pid, ws, now, sched.stopping))
            continue;
        if (push_done(pid, ws, now))
            continue;
        for (size_t i = 0; i < sched.nrunning; i++) {
            if (sched.running[i]->pid != pid)
                continue;
            struct job *j = sched.running[i];
            sched.running[i] = sched.running[--sched.nrunning];
            job_done(j, ws, now);
            break;
        }
    }
}

/* ---- rescan: the status shows what is on disk ----------------------- */


static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Re-read a waiting job's directory when it changed on disk (force: always).
 * Cheap when nothing changed: a stat of the directory (any file added,
 * removed or renamed over changes its mtime) and of the newest good
 * revision's .rev (rewritten in place). A rescan changes what is reported,
 * never brings a backup forward (a vanished directory is recreated by the
 * job's next backup at its due time); new revisions can postpone it. */
static void job_rescan(struct job *j, double now, int force)
{
    if (j->state == J_RUNNING)
        return;
    struct stat sb;
    int missing = 0;
    if (stat(j->dir, &sb) < 0) {
        missing = errno == ENOENT || errno == ENOTDIR;
        memset(&sb, 0, sizeof sb);
    }
    if (!force && missing == j->dir_missing && same_stat(&sb, &j->dir_sb)) {
        if (!j->rev_name[0])
            return;
        char path[PATH_MAX + BK_ID_MAX + 16];
        struct stat rb;
        snprintf(path, sizeof path, "%s/%s", j->dir, j->rev_name);
        if (stat(path, &rb) == 0 && same_stat(&rb, &j->rev_sb))
            return;
    }
    struct job was = *j;
    job_scan(j, 0, now);
    job_report(j, &was);
    if (j->heap_idx != HEAP_NONE) {
        int64_t due = j->due;
        uint64_t mask = j->mask;
        job_plan(j, now);
        if (j->due < due) {     /* never earlier: keep the plan */
            j->due = due;
            j->mask = mask;
        }
        if (j->due != due) {
            heap_remove(&sched.waiting, j);
            heap_push(&sched.waiting, j);
        }
    }
    sched.status_dirty = 1;
}

static void rescan_all(double now, int force)
{
    for (size_t i = 0; i < sched.njobs; i++)
        job_rescan(sched.jobs[i], now, force);
}

/* ---- status file --------------------------------------------------- */

static void write_status(double now)
{
    struct bk_status st = { 0 };
    st.pid = getpid();
    st.started = sched.started_at;
    st.written = now;
    st.worker_limit = sched.conf.worker_limit;
    st.workers_busy = (long)sched.nrunning;
    st.status_interval = sched.conf.status_interval;
    st.config = (char *)sched.config_path;
    st.jobs = bk_calloc(sched.njobs ? sched.njobs : 1, sizeof *st.jobs);
    st.njobs = sched.njobs;
    char (*next)[1024] = bk_calloc(sched.njobs ? sched.njobs : 1, sizeof *next);
    for (size_t i = 0; i < sched.njobs; i++) {
        const struct job *j = sched.jobs[i];
        struct bk_status_job *s = &st.jobs[i];
        int64_t iv = sched_min_interval(&j->sched);
        s->name = j->name;
        s->schedule = j->sched.name;
        s->sla_ok = sched_sla_ok(j->newest, iv, (int64_t)now);
        s->status = j->state == J_RUNNING ? "running" : j->state == J_FAILED ? "failed"
                                                                               : "waiting";
        s->pid = j->state == J_RUNNING ? j->pid : 0;
        s->last_time = j->newest;
        s->last_tags = j->newest_tags ? j->newest_tags : "";
        s->last_duration = j->newest_dur;
        s->min_interval = iv;
        s->last_exit = j->last_exit;
        s->dir_missing = j->dir_missing;
        s->incomplete = j->nincomplete;
        s->quarantined = j->nquarantined;
        s->future = j->nfuture;
        s->future_time = j->future_max;
        s->failures = j->failures;
        s->failed_time = j->failures ? j->failed_at : -1;
        s->last_error = j->failures && j->last_error ? j->last_error : "";
        s->retry_time = j->failures && j->state != J_RUNNING ? (double)j->due : -1;
        s->revisions = j->nrevs;
        s->last_bytes = (int64_t)j->newest_bytes;
        s->last_verify_time = j->last_verify;
        /* pushes: the time by which every target had a successful push
         * (the oldest of their newest; none while one never succeeded) */
        s->push_targets = (long)j->npush;
        s->last_push_time = j->npush ? 0 : -1;
        s->push_failures = 0;
        for (size_t k = 0; k < j->npush; k++) {
            const struct push_tgt *t = &j->push[k];
            if (t->last_ok < 0 || (s->last_push_time >= 0 && t->last_ok < s->last_push_time) ||
                k == 0)
                s->last_push_time = t->last_ok;
            s->push_failures += t->failures;
        }
        s->push_error = s->push_failures && j->push_error ? j->push_error : "";
        if (j->state == J_RUNNING) {
            s->next_time = -1;
            next[i][0] = '\0';
        } else {
            s->next_time = (double)j->due;
            sched_mask_tags(&j->sched, j->mask, next[i], sizeof next[i]);
        }
        s->next_tags = next[i];
    }
    char *txt = status_format(&st);
    if (!txt || bk_atomic_write(status_dirfd, status_base, txt, strlen(txt), 0644) < 0)
        log_error("cannot write status file: %s: %s", sched.conf.status_file, strerror(errno));
    free(txt);
    if (metrics_dirfd >= 0) {
        txt = metrics_format(&st);
        if (!txt || bk_atomic_write(metrics_dirfd, metrics_base, txt, strlen(txt), 0644) < 0)
            log_error("cannot write metrics file: %s: %s", sched.conf.metrics_file,
                      strerror(errno));
        free(txt);
    }
    free(next);
    free(st.jobs);
    sched.status_dirty = 0;
    sched.next_status_write = now + (double)sched.conf.status_interval;
}

/* ---- configuration ------------------------------------------------- */

static void signal_child(pid_t pid, int sig);

static void apply_config(double now)
{
    struct job **nj = bk_calloc(sched.conf.njobs ? sched.conf.njobs : 1, sizeof *nj);
    size_t added = 0, changed = 0, removed = 0;
    for (size_t i = 0; i < sched.conf.njobs; i++) {
        const struct bk_jobcfg *jc = &sched.conf.jobs[i];
        struct job *j = find_job(sched.jobs, sched.njobs, jc->name);
        if (!j) {
            j = job_new(jc, now);
            heap_push(&sched.waiting, j);
            added++;
        } else {
            const struct bk_schedule *sc = &sched.conf.scheds[jc->sched];
            int sched_same = schedule_equal(&j->sched, sc);
            int src_same = srccfg_equal(&j->src, &jc->src);
            if (!src_same) {
                srccfg_free(&j->src);
                for (size_t k = 0; k < jc->src.n; k++)
                    srccfg_set(&j->src, jc->src.kv[k].key, jc->src.kv[k].value);
                job_write_config(j);
            }
            if (!sched_same) {
                schedule_free(&j->sched);
                schedule_copy(&j->sched, sc);
                if (j->state != J_RUNNING) {
                    heap_remove(&sched.waiting, j);
                    j->catchup = 1;
                    j->not_before = 0;
                    job_scan(j, 0, now);
                    job_plan(j, now);
                    heap_push(&sched.waiting, j);
                }
            }
            if (!sched_same || !src_same)
                changed++;
            job_set_push(j, jc);
        }
        nj[i] = j;
    }
    for (size_t i = 0; i < sched.njobs; i++) {
        struct job *j = sched.jobs[i];
        if (mainconf_job(&sched.conf, j->name))
            continue;
        removed++;
        if (j->state == J_RUNNING) {
            j->removed = 1;  /* freed when its backup ends */
            log_info("%s: removed from the config; its running backup continues", j->name);
        } else {
            heap_remove(&sched.waiting, j);
            job_free(j);
        }
    }
    free(sched.jobs);
    sched.jobs = nj;
    sched.njobs = sched.conf.njobs;
    scrub_config(&sched.conf, now);
    log_info("configuration %s: %zu %s (%zu added, %zu changed, %zu removed)", sched.config_path,
             sched.njobs, bk_plural(sched.njobs, "job", "jobs"), added, changed, removed);
    sched.status_dirty = 1;
}

/* Job directories are named to the launcher by absolute path. */
static void absolute_base_dir(struct bk_mainconf *c)
{
    char *abs = bk_abspath(c->base_dir);
    if (!abs)
        bk_die_errno("cannot make base-dir absolute: %s", c->base_dir);
    free(c->base_dir);
    c->base_dir = abs;
}

static void reload(double now)
{
    struct bk_mainconf nc;
    char err[1024];
    log_info("SIGHUP: re-reading %s", sched.config_path);
    /* opened by the launcher: the scheduler's own file-system rules do not
     * name the file (an editor may have replaced it with a new one) */
    int cfd = launch_open_config();
    if (cfd < 0) {
        log_error("invalid configuration, keeping the old one: %s: cannot open: %s",
                  sched.config_path,
                  strerror(errno));
        return;
    }
    int rc = mainconf_load_fd(cfd, sched.config_path, &nc, err, sizeof err);
    close(cfd);
    if (rc < 0) {
        log_error("invalid configuration, keeping the old one: %s", err);
        return;
    }
    absolute_base_dir(&nc);
    /* the lock and the job directories belong to the running instance */
    if (strcmp(nc.base_dir, sched.conf.base_dir) ||
        strcmp(nc.status_file, sched.conf.status_file)) {
        log_warn("base-dir and status-file changes take effect at the next start; keeping "
                 "%s and %s", sched.conf.base_dir, sched.conf.status_file);
        free(nc.base_dir);
        free(nc.status_file);
        nc.base_dir = bk_strdup(sched.conf.base_dir);
        nc.status_file = bk_strdup(sched.conf.status_file);
    }
    if (strcmp(nc.metrics_file ? nc.metrics_file : "",
               sched.conf.metrics_file ? sched.conf.metrics_file : "")) {
        log_warn("metrics-file changes take effect at the next start; keeping %s",
                 sched.conf.metrics_file ? sched.conf.metrics_file : "none");
        free(nc.metrics_file);
        nc.metrics_file = sched.conf.metrics_file ? bk_strdup(sched.conf.metrics_file) : NULL;
    }
    for (size_t i = 0; i < nc.njobs; i++)
        for (size_t k = 0; k < nc.jobs[i].npush; k++)
            if (!launcher_push_allowed(nc.jobs[i].push[k]))
                log_warn("%s: new push target %s takes effect at the next start (the "
                         "launcher's file-system rules are made at start)",
                         nc.jobs[i].name, nc.jobs[i].push[k]);
    int telnet_changed = nc.telnet_port != sched.conf.telnet_port ||
                         strcmp(nc.telnet_addrs, sched.conf.telnet_addrs) ||
                         strcmp(nc.telnet_user, sched.conf.telnet_user);
    struct bk_mainconf old = sched.conf;
    sched.conf = nc;
    apply_config(now);
    mainconf_free(&old);
    sched.next_status_write = now; /* interval may have changed */
    if (telnet_changed) {
        if (telnet_pid > 0) {
            signal_child(telnet_pid, SIGTERM);
            /* telnet_done() schedules the restart with the new settings */
            telnet_backoff = 1;
        } else {
            telnet_restart_at = sched.conf.telnet_port ? now : 0;
        }
    }
}

/* ---- main ---------------------------------------------------------- */

/* A child that ended meanwhile is refused (ESRCH); its end is reported. */
static void signal_child(pid_t pid, int sig)
{
    if (launch_signal(pid, sig) < 0 && errno != ESRCH)
        log_error("cannot signal pid %ld: %s", (long)pid, strerror(errno));
}

static void begin_stop(double now)
{
    if (sched.stopping)
        return;
    sched.stopping = 1;
    stop_deadline = now + STOP_GRACE;
    log_info("stopping: terminating %zu running %s", sched.nrunning,
             bk_plural(sched.nrunning, "backup", "backups"));
    for (size_t i = 0; i < sched.nrunning; i++)
        signal_child(sched.running[i]->pid, SIGTERM);
    if (telnet_pid > 0)
        signal_child(telnet_pid, SIGTERM);
    if (scrub_pid() > 0)
        signal_child(scrub_pid(), SIGTERM);
    for (size_t i = 0; i < sched.njobs; i++)
        for (size_t k = 0; k < sched.jobs[i]->npush; k++)
            if (sched.jobs[i]->push[k].pid > 0)
                signal_child(sched.jobs[i]->push[k].pid, SIGTERM);
}

static int open_lock(void)
{
    char *lp = bk_asprintf("%s.lock", sched.conf.status_file);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        bk_die_errno("cannot open lock file: %s", lp);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            bk_die("another scheduler is running: %s is locked", lp);
        bk_die_errno("cannot lock %s", lp);
    }
    free(lp);
    return fd;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        BK_CLI_LONG,
        { "config", required_argument, 0, 'c' },
        { "check-config", no_argument, 0, 'C' },
        { 0, 0, 0, 0 },
    };
    int opt, check_only = 0;
    char err[1024];

    bk_setprog("backy-sched");

    bk_cli_version(argc, argv);
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "c:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'c')
            sched.config_path = optarg;
        else if (opt == 'C')
            check_only = 1;
    }
    if (optind < argc)
        bk_usage_error(usage, "unexpected argument: %s", argv[optind]);

    if (mainconf_load(sched.config_path, &sched.conf, err, sizeof err) < 0)
        bk_die("invalid configuration: %s", err);
    if (check_only) {
        printf("%s: configuration OK: %zu %s, %zu %s\n", sched.config_path, sched.conf.nscheds,
               bk_plural(sched.conf.nscheds, "schedule", "schedules"), sched.conf.njobs,
               bk_plural(sched.conf.njobs, "job", "jobs"));
        return 0;
    }
    bk_cli_log(&cli, 0);
    absolute_base_dir(&sched.conf);

    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (n < 0)
        bk_die_errno("cannot find own executable: /proc/self/exe");
    exe_dir[n] = '\0';
    char *slash = strrchr(exe_dir, '/');
    if (slash)
        *slash = '\0';

    if (mkdir(sched.conf.base_dir, 0755) < 0 && errno != EEXIST)
        bk_die_errno("cannot create base directory: %s", sched.conf.base_dir);
    char *sdir = bk_strdup(sched.conf.status_file);
    char *sbase = bk_strdup(sched.conf.status_file);
    status_dirfd = open(dirname(sdir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (status_dirfd < 0)
        bk_die_errno("cannot open the status file's directory: %s", sdir);
    status_base = bk_strdup(basename(sbase));
    free(sbase);
    free(sdir);
    if (sched.conf.metrics_file) {
        /* like the status file's: opened before the sandbox */
        char *mdir = bk_strdup(sched.conf.metrics_file);
        char *mbase = bk_strdup(sched.conf.metrics_file);
        metrics_dirfd = open(dirname(mdir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (metrics_dirfd < 0)
            bk_die_errno("cannot open the metrics file's directory: %s", mdir);
        metrics_base = bk_strdup(basename(mbase));
        free(mbase);
        free(mdir);
    }
    int lockfd = open_lock();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The launcher also holds the lock: a new scheduler cannot start while
     * backups of this one still run. */
    struct launcher_conf lc = {
        .exe_dir = exe_dir,
        .base_dir = sched.conf.base_dir,
        .status_file = sched.conf.status_file,
        .logfile = cli.logfile,
        .config_path = bk_abspath(sched.config_path),
        .verbose = cli.verbose,
        .keep_fd = lockfd,
    };
    /* every push target of the configuration: the launcher's rules */
    size_t ntg = 0;
    for (size_t i = 0; i < sched.conf.njobs; i++)
        ntg += sched.conf.jobs[i].npush;
    char **tgs = bk_calloc(ntg + 1, sizeof *tgs);
    ntg = 0;
    for (size_t i = 0; i < sched.conf.njobs; i++)
        for (size_t k = 0; k < sched.conf.jobs[i].npush; k++)
            tgs[ntg++] = sched.conf.jobs[i].push[k];
    lc.push_targets = tgs;
    lc.npush_targets = ntg;
    launcher_start(&lc);
    free(tgs);

    /* SIGCHLD stays blocked and unread: the only child is the launcher,
     * whose end shows as EOF on its socket. */
    sigdelset(&sigs, SIGCHLD);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        bk_die_errno("signalfd");

    char *ldir = cli.logfile ? bk_abspath(cli.logfile) : NULL;
    if (ldir)
        *strrchr(ldir, '/') = '\0';
    const struct sb_fs_rule fs[] = {
        { sched.conf.base_dir, -1, SB_FS_RW },
        { NULL, status_dirfd, SB_FS_RW },
        /* the metrics file's directory (without one: the status's again) */
        { NULL, metrics_dirfd >= 0 ? metrics_dirfd : status_dirfd, SB_FS_RW },
        { ldir && *ldir ? ldir : "/", -1, ldir ? SB_FS_WRITE | SB_FS_MAKE_FILE : 0 },
        { NULL, -1, 0 },
    };
    policy.fs = fs;
    sandbox_enter(&policy);

    double now = now_real();
    sched.started_at = now;
    log_info("scheduler starting: %s, %zu %s, worker limit %ld", sched.config_path,
             sched.conf.njobs, bk_plural(sched.conf.njobs, "job", "jobs"),
             sched.conf.worker_limit);
    apply_config(now);
    log_info("scheduler started in %.2f s", now_real() - now);
    now = now_real();
    write_status(now);
    start_telnet(now);
    bk_sd_notify("READY=1");   /* systemd Type=notify; nothing without NOTIFY_SOCKET */

    double scrub_wake = 0;
    for (;;) {
        now = now_real();
        reap(now);
        if (!sched.stopping) {
            struct job *j;
            while ((long)sched.nrunning < sched.conf.worker_limit &&
                   (j = heap_top(&sched.waiting)) && j->due <= (int64_t)now) {
                heap_remove(&sched.waiting, j);
                start_job(j, now);
            }
            if (telnet_restart_at > 0 && now >= telnet_restart_at)
                start_telnet(now);
            scrub_wake = scrub_tick(&sched.conf, now);
        } else {
            if (sched.nrunning == 0 && telnet_pid == 0 && scrub_pid() == 0 && sched.npushing == 0)
                break;
            if (now >= stop_deadline) {
                log_warn("stopping: %zu %s did not end within %d s; killing them",
                         sched.nrunning + (telnet_pid > 0),
                         bk_plural(sched.nrunning + (telnet_pid > 0), "child", "children"),
                         STOP_GRACE);
                for (size_t i = 0; i < sched.nrunning; i++)
                    signal_child(sched.running[i]->pid, SIGKILL);
                if (telnet_pid > 0)
                    signal_child(telnet_pid, SIGKILL);
                if (scrub_pid() > 0)
                    signal_child(scrub_pid(), SIGKILL);
                for (size_t i = 0; i < sched.njobs; i++)
                    for (size_t k = 0; k < sched.jobs[i]->npush; k++)
                        if (sched.jobs[i]->push[k].pid > 0)
                            signal_child(sched.jobs[i]->push[k].pid, SIGKILL);
                stop_deadline = now + STOP_GRACE;
            }
        }
        if (sched.status_dirty || now >= sched.next_status_write) {
            rescan_all(now, 0);
            write_status(now);
        }

        double wake = sched.next_status_write;
        if (!sched.stopping && scrub_wake < wake)
            wake = scrub_wake;
        const struct job *first = heap_top(&sched.waiting);
        if (!sched.stopping && first && (long)sched.nrunning < sched.conf.worker_limit &&
            (double)first->due < wake)
            wake = (double)first->due;
        if (!sched.stopping && telnet_restart_at > 0 && telnet_restart_at < wake)
            wake = telnet_restart_at;
        if (sched.stopping && stop_deadline < wake)
            wake = stop_deadline;
        double wait = wake - now;
        int ms = wait <= 0 ? 0 : wait > 60 ? 60000 : (int)(wait * 1000) + 1;
        if (launch_pending())
            ms = 0;     /* exits read while talking to the launcher */
        struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
                               { .fd = launcher_fd(), .events = POLLIN } };
        int r = poll(p, 2, ms);
        if (r < 0 && errno != EINTR)
            bk_die_errno("poll");
        if (r <= 0 || !p[0].revents)
            continue;   /* the launcher's news is read at the top */
        struct signalfd_siginfo si;
        int got_hup = 0;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGHUP)
                got_hup = 1;
            else
                begin_stop(now_real());
        }
        now = now_real();
        if (got_hup && !sched.stopping) {
            reload(now);
            log_info("SIGHUP: re-reading every job directory");
            rescan_all(now, 1);
            sched.status_dirty = 1;
        }
    }
    write_status(now_real());
    log_info("scheduler stopped");
    return 0;
}
