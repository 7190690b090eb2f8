/* backy-expire - the scheduler's retention without the scheduler, for cron
 * and systemd timers: for every job of the main configuration (or the
 * named ones) apply the expiry rule of its schedule (expire.h, the code
 * the scheduler runs after each backup) and print what it removes.
 *
 * Each job is expired under its lock (flock on JOBDIR/config). A job whose
 * lock is held (a backup is running) is skipped with a note and does not
 * make the run fail: the next run expires it. A job that cannot be
 * expired (directory missing, unreadable, a file that cannot be removed)
 * gives one error line; the others still run, and the exit status is 1.
 * --dry-run takes no lock and changes nothing: it prints what a run would
 * do now. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/expire.h"
#include "backy/joblock.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/mainconf.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-expire [-c CONFIG] [--dry-run] [--json] [-l LOGFILE] [-v] [JOB...]\n"
    "Applies the retention of CONFIG (default /etc/backy.conf) to every job, or to\n"
    "the named JOBs, as the scheduler does after each backup: a tag of a schedule\n"
    "expires on a revision beyond the newest `keep` with it that is older than\n"
    "keep x interval; a revision whose tags have all expired is removed. Tags that\n"
    "no schedule knows are never expired. One line per revision changed:\n"
    "  JOB: removed revision ID (DATE, expired tags T)\n"
    "  JOB: expired tags T of revision ID (DATE, keeps tags K)\n"
    "  --dry-run   print what would be done ('would remove', 'would expire'),\n"
    "              change nothing\n"
    "  --json      print one JSON document instead of the lines (backy-expire(1))\n"
    "A job with a backup running is skipped with a note (the next run expires it).\n"
    "Exit status: 0 on success (skipped busy jobs included), 1 when a job could\n"
    "not be expired (the other jobs are still done) or on bad input.\n";

/* Rewrites .rev files and removes revisions in job directories; Landlock:
 * below the base directory only (the config is read before). */
static struct sb_policy policy = {
    .name = "backy-expire",
    .groups = SB_BASE | SB_WRITE,
};

struct jobctx {
    const char *name;
    int failed;
};

/* --json: the document's "jobs" array and the current job's object; NULL
 * without --json. */
static json_t *json_jobs, *json_job;

static json_t *json_split(const char *comma_list)
{
    json_t *a = json_array();
    for (const char *p = comma_list; p && *p;) {
        size_t l = strcspn(p, ",");
        char *t = bk_calloc(1, l + 1);
        memcpy(t, p, l);
        json_array_append_new(a, bk_json_str(t));
        free(t);
        p += l + (p[l] == ',');
    }
    return a;
}

/* --json: one revision the rule touched, in the current job's "actions". */
static void json_action(const struct bk_expire_event *ev)
{
    const struct bk_rev *r = ev->rev;
    json_t *o = json_object();
    json_object_set_new(o, "action", json_string(ev->action == EXP_DELETE ? "remove" : "expire_tags"));
    json_object_set_new(o, "id", bk_json_str(r->id));
    bk_json_set_time(o, "timestamp", r->timestamp);
    json_object_set_new(o, "expired_tags", json_split(ev->expired));
    json_object_set_new(o, "kept_tags", bk_json_tags(r));
    json_object_set_new(o, "done", json_boolean(!ev->dry_run && !ev->err));
    json_object_set_new(o, "error", ev->err ? json_string(strerror(ev->err)) : json_null());
    json_array_append_new(json_object_get(json_job, "actions"), o);
}

/* --json: the current job's outcome ("done", "skipped", "failed"). */
static void json_job_result(const char *result, const char *error)
{
    if (!json_job)
        return;
    json_object_set_new(json_job, "result", json_string(result));
    json_object_set_new(json_job, "error", bk_json_str_or_null(error));
}

BK_PRINTF(1, 2) static void say(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!json_jobs)
        printf("%s\n", line);
    if (!log_is_stdio())
        log_info("%s", line);
}

/* One error line for a job; the run goes on. */
BK_PRINTF(1, 2) static void job_error(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "%s: error: %s\n", bk_prog, line);
    if (!log_is_stdio())
        log_error("%s", line);
    if (json_job && !json_is_string(json_object_get(json_job, "error")))
        json_job_result("failed", line);
}

static void report(void *ctx, const struct bk_expire_event *ev)
{
    struct jobctx *jc = ctx;
    const struct bk_rev *r = ev->rev;
    if (json_job)
        json_action(ev);
    char when[64], kept[2048];
    bk_fmt_time_utc(r->timestamp, when, sizeof when);
    size_t off = 0;
    kept[0] = '\0';
    for (size_t i = 0; i < r->ntags && off < sizeof kept; i++)
        off += (size_t)snprintf(kept + off, sizeof kept - off, "%s%s", i ? "," : "", r->tags[i]);
    if (ev->err) {
        jc->failed = 1;
        if (ev->action == EXP_DELETE)
            job_error("%s: cannot remove expired revision %s: %s", jc->name, r->id,
                      strerror(ev->err));
        else
            job_error("%s: cannot rewrite revision file %s.rev: %s", jc->name, r->id,
                      strerror(ev->err));
    } else if (ev->action == EXP_DELETE) {
        say("%s: %s revision %s (%s, expired tags %s)", jc->name,
            ev->dry_run ? "would remove" : "removed", r->id, when, ev->expired);
    } else {
        say("%s: %s tags %s of revision %s (%s, keeps tags %s)", jc->name,
            ev->dry_run ? "would expire" : "expired", ev->expired, r->id, when, kept);
    }
}

/* Expire one job. 0, or -1 after an error line. */
static int expire_job(const struct bk_mainconf *conf, const struct bk_jobcfg *job, int dry_run,
                      int64_t now)
{
    char *dir = bk_asprintf("%s/%s", conf->base_dir, job->name);
    char err[2048];
    int rc = -1, lockfd = -1;
    if (json_jobs) {
        json_job = json_object();
        json_object_set_new(json_job, "name", bk_json_str(job->name));
        json_object_set_new(json_job, "dir", bk_json_str(dir));
        json_object_set_new(json_job, "result", json_string("done"));
        json_object_set_new(json_job, "error", json_null());
        json_object_set_new(json_job, "actions", json_array());
        json_array_append_new(json_jobs, json_job);
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        job_error("%s: cannot open job directory: %s: %s", job->name, dir, strerror(errno));
        goto out;
    }
    if (!dry_run && (lockfd = job_lock(dirfd)) < 0) {
        if (errno == EWOULDBLOCK) {
            say("%s: skipped: a backup is running (%s/config is locked); the next run expires it",
                job->name, dir);
            json_job_result("skipped", "a backup is running");
            rc = 0;
        } else {
            job_error("%s: cannot lock job configuration: %s/config: %s", job->name, dir,
                      strerror(errno));
        }
        close(dirfd);
        goto out;
    }
    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0) {
        job_error("%s: %s", job->name, err);
        store_close(&st);
        goto out;
    }
    struct jobctx jc = {.name = job->name};
    size_t n = expire_apply(&st, &conf->scheds[job->sched], now, dry_run, report, &jc, NULL);
    if (n == 0)
        log_debug("%s: nothing to expire (%zu %s)", job->name, st.n, bk_plural(st.n, "revision", "revisions"));
    store_close(&st);
    rc = jc.failed ? -1 : 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    free(dir);
    json_job = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *config = BK_DEFAULT_CONFIG;
    int dry_run = 0, json = 0;
    static const struct option longopts[] = {BK_CLI_LONG,
                                             {"config", required_argument, 0, 'c'},
                                             {"dry-run", no_argument, 0, 'n'},
                                             {"json", no_argument, 0, 'J'},
                                             {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "c:n", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'c')
            config = optarg;
        else if (opt == 'n')
            dry_run = 1;
        else if (opt == 'J')
            json = 1;
    }
    /* stdout carries the report: log lines go to stderr unless -l */
    bk_cli_log(&cli, 1);

    char err[2048];
    struct bk_mainconf conf;
    if (mainconf_load(config, &conf, err, sizeof err) < 0)
        bk_die("cannot read config: %s", err);
    const struct sb_fs_rule fs[] = { { conf.base_dir, -1, SB_FS_RW | SB_FS_OPTIONAL },
                                     { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);
    /* named jobs: all checked before any is touched */
    for (int i = optind; i < argc; i++)
        if (!mainconf_job(&conf, argv[i]))
            bk_die("no job '%s' in %s", argv[i], config);

    int64_t now = (int64_t)time(NULL);
    int failed = 0;
    json_t *doc = NULL;
    if (json) {
        doc = bk_json_doc();
        json_object_set_new(doc, "dry_run", json_boolean(dry_run));
        bk_json_set_time(doc, "time", (double)now);
        json_jobs = json_array();
        json_object_set_new(doc, "jobs", json_jobs);
    }
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            failed |= expire_job(&conf, mainconf_job(&conf, argv[i]), dry_run, now) < 0;
    } else {
        for (size_t i = 0; i < conf.njobs; i++)
            failed |= expire_job(&conf, &conf.jobs[i], dry_run, now) < 0;
    }
    if (doc) {
        json_object_set_new(doc, "exit", json_integer(failed ? 1 : 0));
        if (bk_json_print(doc) < 0)
            bk_die_errno("cannot write to stdout");
    }
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    mainconf_free(&conf);
    return failed ? 1 : 0;
}
