/* metrics.c - the scheduler's metrics file (see metrics.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/metrics.h"

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample per job, or none for a job where value() says so (< 0 skip). */
typedef int (*job_value)(const struct bk_status_job *j, double *v);

static void per_job(FILE *f, const struct bk_status *st, const char *name, const char *help,
                    job_value value)
{
    head(f, name, "gauge", help);
    for (size_t i = 0; i < st->njobs; i++) {
        double v;
        if (value(&st->jobs[i], &v) < 0)
            continue;
        fprintf(f, "%s{job=", name);
        put_label(f, st->jobs[i].name);
        fprintf(f, "} %.17g\n", v);
    }
}

static int v_last_time(const struct bk_status_job *j, double *v)
{
    *v = j->last_time;
    return j->last_time < 0 ? -1 : 0;
}

static int v_last_duration(const struct bk_status_job *j, double *v)
{
    *v = j->last_duration;
    return j->last_time < 0 ? -1 : 0;
}

static int v_next_time(const struct bk_status_job *j, double *v)
{
    *v = j->next_time;
    return j->next_time < 0 ? -1 : 0;
}

static int v_sla_ok(const struct bk_status_job *j, double *v)
{
    *v = j->sla_ok ? 1 : 0;
    return 0;
}

static int v_running(const struct bk_status_job *j, double *v)
{
    *v = j->status && !strcmp(j->status, "running") ? 1 : 0;
    return 0;
}

static int v_failed(const struct bk_status_job *j, double *v)
{
    *v = j->status && !strcmp(j->status, "failed") ? 1 : 0;
    return 0;
}

static int v_last_exit(const struct bk_status_job *j, double *v)
{
    *v = j->last_exit;
    return j->last_exit < 0 ? -1 : 0;
}

static int v_min_interval(const struct bk_status_job *j, double *v)
{
    *v = (double)j->min_interval;
    return 0;
}

static int v_dir_missing(const struct bk_status_job *j, double *v)
{
    *v = j->dir_missing ? 1 : 0;
    return 0;
}

static int v_incomplete(const struct bk_status_job *j, double *v)
{
    *v = (double)j->incomplete;
    return 0;
}

static int v_quarantined(const struct bk_status_job *j, double *v)
{
    *v = (double)j->quarantined;
    return 0;
}

static int v_future(const struct bk_status_job *j, double *v)
{
    *v = (double)j->future;
    return 0;
}

static int v_failures(const struct bk_status_job *j, double *v)
{
    *v = (double)j->failures;
    return 0;
}

static int v_failed_time(const struct bk_status_job *j, double *v)
{
    *v = j->failed_time;
    return j->failed_time < 0 ? -1 : 0;
}

static int v_retry_time(const struct bk_status_job *j, double *v)
{
    *v = j->retry_time;
    return j->retry_time < 0 ? -1 : 0;
}

static int v_revisions(const struct bk_status_job *j, double *v)
{
    *v = (double)j->revisions;
    return 0;
}

static int v_last_bytes(const struct bk_status_job *j, double *v)
{
    *v = (double)j->last_bytes;
    return j->last_time < 0 ? -1 : 0;
}

static int v_push_targets(const struct bk_status_job *j, double *v)
{
    *v = (double)j->push_targets;
    return 0;
}

static int v_last_push_time(const struct bk_status_job *j, double *v)
{
    *v = j->last_push_time;
    return j->last_push_time < 0 ? -1 : 0;
}

static int v_push_failures(const struct bk_status_job *j, double *v)
{
    *v = (double)j->push_failures;
    return j->push_targets ? 0 : -1;
}

static int v_last_verify_time(const struct bk_status_job *j, double *v)
{
    *v = j->last_verify_time;
    return j->last_verify_time < 0 ? -1 : 0;
}

char *metrics_format(const struct bk_status *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    head(f, "backy_scheduler_start_time_seconds", "gauge",
         "When the scheduler started, seconds since the epoch.");
    fprintf(f, "backy_scheduler_start_time_seconds %.17g\n", st->started);
    head(f, "backy_scheduler_written_time_seconds", "gauge",
         "When the scheduler wrote this file, seconds since the epoch.");
    fprintf(f, "backy_scheduler_written_time_seconds %.17g\n", st->written);
    head(f, "backy_scheduler_jobs", "gauge", "Jobs in the configuration.");
    fprintf(f, "backy_scheduler_jobs %zu\n", st->njobs);
    head(f, "backy_scheduler_workers_busy", "gauge", "Backups running now.");
    fprintf(f, "backy_scheduler_workers_busy %ld\n", st->workers_busy);
    head(f, "backy_scheduler_worker_limit", "gauge", "At most this many backups at once.");
    fprintf(f, "backy_scheduler_worker_limit %ld\n", st->worker_limit);

    per_job(f, st, "backy_job_last_success_time_seconds",
            "Timestamp of the newest complete backup, seconds since the epoch.", v_last_time);
    per_job(f, st, "backy_job_last_duration_seconds",
            "How long the newest complete backup took.", v_last_duration);
    per_job(f, st, "backy_job_next_backup_time_seconds",
            "When the next backup is due, seconds since the epoch.", v_next_time);
    per_job(f, st, "backy_job_sla_ok",
            "1 when the newest backup is within the SLA (1.5 x the shortest interval), else 0.",
            v_sla_ok);
    per_job(f, st, "backy_job_running", "1 while a backup of the job runs.", v_running);
    per_job(f, st, "backy_job_failed", "1 when the last backup of the job failed.", v_failed);
    per_job(f, st, "backy_job_last_exit_status", "Exit status of the last backup run.",
            v_last_exit);
    per_job(f, st, "backy_job_min_interval_seconds",
            "The shortest interval of the job's schedule.", v_min_interval);
    per_job(f, st, "backy_job_dir_missing", "1 when the job directory vanished.",
            v_dir_missing);
    per_job(f, st, "backy_job_incomplete_revisions",
            "Incomplete revisions (not counting one being written).", v_incomplete);
    per_job(f, st, "backy_job_quarantined_revisions",
            "Revisions whose last verify found damaged blocks.", v_quarantined);
    per_job(f, st, "backy_job_future_revisions",
            "Revisions dated more than 5 minutes in the future.", v_future);
    per_job(f, st, "backy_job_consecutive_failures",
            "Consecutive failed backups, 0 after a success.", v_failures);
    per_job(f, st, "backy_job_last_failure_time_seconds",
            "End of the last failed backup, seconds since the epoch.", v_failed_time);
    per_job(f, st, "backy_job_retry_time_seconds",
            "When a failed backup is tried again, seconds since the epoch.", v_retry_time);
    per_job(f, st, "backy_job_revisions", "Revisions in the job directory.", v_revisions);
    per_job(f, st, "backy_job_last_written_bytes",
            "Bytes the newest good backup wrote.", v_last_bytes);
    per_job(f, st, "backy_job_push_targets", "Push targets of the job.", v_push_targets);
    per_job(f, st, "backy_job_last_push_time_seconds",
            "Every push target had a successful push by then, seconds since the epoch.",
            v_last_push_time);
    per_job(f, st, "backy_job_push_failures",
            "Consecutive failed pushes, summed over the job's targets.", v_push_failures);
    per_job(f, st, "backy_job_last_verify_time_seconds",
            "Newest verify record of the job's revisions (its last scrub), seconds since the "
            "epoch.", v_last_verify_time);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
