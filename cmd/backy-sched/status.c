/* status.c - the status and metrics files of the scheduler; see status.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/metrics.h"
#include "backy/statusfile.h"
#include "backy/util.h"
#include "sched.h"
#include "status.h"

static int status_dirfd = -1;
static char *status_base;
static int metrics_dirfd = -1;        /* metrics-file's directory, -1 none */
static char *metrics_base;

void status_open(void)
{
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
}

int status_dir_fd(void) { return status_dirfd; }
int metrics_dir_fd(void) { return metrics_dirfd; }

void write_status(double now)
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
