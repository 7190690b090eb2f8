/* job.c - the scheduler's jobs: reading a job's directory (and applying
 * retention), planning its next backup, starting it through the launcher,
 * handling its end (retries after failures, pushes after successes),
 * re-reading directories that changed on disk, and making the set of jobs
 * the configuration's. See sched.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backy/expire.h"
#include "backy/log.h"
#include "backy/statusfile.h"
#include "backy/util.h"
#include "launcher.h"
#include "sched.h"
#include "scrub.h"

/* ---- heap of waiting jobs by due time ------------------------------ */

int job_due_less(const void *a, const void *b)
{
    const struct job *x = a, *y = b;
    if (x->due != y->due)
        return x->due < y->due;
    return strcmp(x->name, y->name) < 0;
}

size_t *job_heap_pos(void *j)
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
    char *s = bk_join_alloc(r->tags, r->ntags, ",");
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
    pid_t pid = launch_push(j->dir, t->target);
    if (pid < 0) {
        char msg[512];
        /* EPERM: the launcher's Landlock rules, made at start, lack it */
        if (errno == EPERM)
            snprintf(msg, sizeof msg, "the target was added after the scheduler started: "
                                      "restart it to push there");
        else
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
int push_done(pid_t pid, int wstatus, double now)
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

void start_job(struct job *j, double now)
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

void job_done(struct job *j, int wstatus, double now)
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

void rescan_all(double now, int force)
{
    for (size_t i = 0; i < sched.njobs; i++)
        job_rescan(sched.jobs[i], now, force);
}

/* ---- configuration ------------------------------------------------- */

void apply_config(double now)
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
