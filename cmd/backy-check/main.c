/* backy-check - Nagios-style check: is every configured job backed up in
 * time? Reads the main configuration and the scheduler's status file, prints
 * one line, exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 *
 * A job is late (CRITICAL) when its newest good backup (complete, not
 * quarantined, not dated in the future) is older than 1.5 times the
 * smallest interval of its schedule, when it has none, when its job
 * directory vanished, or when the status file does not list it; a failing
 * job past its SLA is late, too. A job in time gets a WARNING for a
 * quarantined revision, a revision dated in the future, or a failed last
 * backup (being retried). The status file itself is stale when it was
 * written longer ago than max(300 s, 2 x status-interval + 60 s): the
 * scheduler rewrites it every status-interval, so one missed write (a slow
 * disk, a large file) must not alarm, two must; the 5 minute floor keeps a
 * short status-interval from making the check flap. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/mainconf.h"
#include "backy/sandbox.h"
#include "backy/schedule.h"
#include "backy/statusfile.h"
#include "backy/util.h"

#define EXIT_OK 0
#define EXIT_WARNING 1
#define EXIT_CRITICAL 2
#define EXIT_UNKNOWN 3
#define STALE_FLOOR 300
#define STALE_MARGIN 60
#define NAMES_SHOWN 5

static const char usage[] =
    "usage: backy-check [-c CONFIG] [--json] [-l LOGFILE] [-v] [-h]\n"
    "Nagios check: are all jobs of CONFIG (default /etc/backy.conf) backed up in time?\n"
    "Prints one line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
    "  --json   print one JSON document instead: the state, the line and each\n"
    "           job's state and problems (backy-check(1))\n";

/* Reads the config (before the sandbox) and the status file; Landlock
 * refuses every file outside the status file's directory. */
static struct sb_policy policy = {
    .name = "backy-check",
    .groups = SB_BASE | SB_RDONLY,
    .extra = NULL,
    .keep_caps = 0,
    .run_as_user = NULL,
};

/* --json: the document, its "jobs" and "summary"; NULL without --json. */
static json_t *json_doc, *json_jobs, *json_summary;

static void json_start(void)
{
    json_doc = bk_json_doc();
    json_jobs = json_array();
    json_summary = json_object();
}

/* --json: the status file as read (written < 0: not read). */
static void json_status_file(const char *path, double written, double age, int64_t stale)
{
    if (!json_doc)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "path", bk_json_str(path));
    if (written >= 0) {
        bk_json_set_time(o, "written", written);
        json_object_set_new(o, "age", json_real(age));
    } else {
        json_object_set_new(o, "written", json_null());
        json_object_set_new(o, "written_iso", json_null());
        json_object_set_new(o, "age", json_null());
    }
    json_object_set_new(o, "stale_limit", json_integer(stale));
    json_object_set_new(o, "stale", json_boolean(written < 0 || age > (double)stale));
    json_object_set_new(json_doc, "status_file", o);
}

static void json_time_or_null(json_t *o, const char *key, double t)
{
    if (t >= 0) {
        bk_json_set_time(o, key, t);
    } else {
        char k[64];
        snprintf(k, sizeof k, "%s_iso", key);
        json_object_set_new(o, key, json_null());
        json_object_set_new(o, k, json_null());
    }
}

/* --json: one configured job. problem: why it is CRITICAL, NULL when it
 * is not; the reasons for a WARNING are added from the status file. */
static void json_job(const char *name, const char *state, const char *problem,
                     const struct bk_status_job *sj, int64_t interval, int sla_ok, int push_late,
                     time_t now)
{
    if (!json_doc)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "name", bk_json_str(name));
    json_object_set_new(o, "state", json_string(state));
    json_t *pr = json_array();
    if (problem)
        json_array_append_new(pr, bk_json_str(problem));
    if (sj && sj->quarantined > 0) {
        char *t = bk_asprintf("%ld quarantined", sj->quarantined);
        json_array_append_new(pr, bk_json_str(t));
        free(t);
    }
    if (sj && sj->future > 0) {
        char *t = bk_asprintf("%ld dated in the future", sj->future);
        json_array_append_new(pr, bk_json_str(t));
        free(t);
    }
    if (sj && sj->failures > 0) {
        char *t = bk_asprintf("last backup failed%s%s", sj->last_error[0] ? ": " : "", sj->last_error);
        json_array_append_new(pr, bk_json_str(t));
        free(t);
    }
    if (sj && push_late) {
        char *t = bk_asprintf("no successful push within the SLA%s%s", sj->push_error[0] ? ": " : "",
                              sj->push_error);
        json_array_append_new(pr, bk_json_str(t));
        free(t);
    }
    json_object_set_new(o, "problems", pr);
    json_object_set_new(o, "in_status_file", json_boolean(sj != NULL));
    json_time_or_null(o, "last_time", sj ? sj->last_time : -1);
    json_object_set_new(o, "age", sj && sj->last_time >= 0 ? json_real((double)now - sj->last_time)
                                                           : json_null());
    json_object_set_new(o, "interval", json_integer(interval));
    json_object_set_new(o, "sla_ok", json_boolean(sla_ok));
    json_object_set_new(o, "status", sj ? bk_json_str(sj->status) : json_null());
    json_object_set_new(o, "dir_missing", json_boolean(sj && sj->dir_missing));
    json_object_set_new(o, "incomplete", json_integer(sj ? sj->incomplete : 0));
    json_object_set_new(o, "quarantined", json_integer(sj ? sj->quarantined : 0));
    json_object_set_new(o, "future", json_integer(sj ? sj->future : 0));
    json_object_set_new(o, "failures", json_integer(sj ? sj->failures : 0));
    json_object_set_new(o, "last_error", sj ? bk_json_str_or_null(sj->last_error) : json_null());
    json_time_or_null(o, "retry_time", sj ? sj->retry_time : -1);
    json_object_set_new(o, "push_targets", json_integer(sj ? sj->push_targets : 0));
    json_time_or_null(o, "last_push_time", sj ? sj->last_push_time : -1);
    json_object_set_new(o, "push_failures", json_integer(sj ? sj->push_failures : 0));
    json_object_set_new(o, "push_error", sj ? bk_json_str_or_null(sj->push_error) : json_null());
    json_array_append_new(json_jobs, o);
}

BK_PRINTF(2, 3) static void result(int code, const char *fmt, ...)
{
    static const char *const word[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (json_doc) {
        char *msg = bk_asprintf("BACKY %s - %s", word[code], line);
        json_object_set_new(json_doc, "state", json_string(word[code]));
        json_object_set_new(json_doc, "exit", json_integer(code));
        json_object_set_new(json_doc, "message", bk_json_str(msg));
        free(msg);
        if (!json_object_get(json_doc, "status_file"))
            json_object_set_new(json_doc, "status_file", json_null());
        json_object_set_new(json_doc, "summary", json_summary);
        json_object_set_new(json_doc, "jobs", json_jobs);
        bk_json_print(json_doc);
    } else {
        printf("BACKY %s - %s\n", word[code], line);
    }
    fflush(stdout);
    if (!log_is_stdio())
        log_msg(code == EXIT_OK ? BK_LOG_INFO : BK_LOG_WARN, "%s %s", word[code], line);
    exit(code);
}

/* Why a job in time still deserves a look; "" when it does not. */
static void warning_reasons(const struct bk_status_job *j, int push_late, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
#define ADD(...)                                                                       \
    do {                                                                               \
        if (off < len)                                                                 \
            off += (size_t)snprintf(buf + off, len - off, "%s", off ? ", " : "");      \
        if (off < len)                                                                 \
            off += (size_t)snprintf(buf + off, len - off, __VA_ARGS__);                \
    } while (0)
    if (j->quarantined > 0)
        ADD("%ld quarantined", j->quarantined);
    if (j->future > 0)
        ADD("%ld dated in the future", j->future);
    if (j->failures > 0)
        ADD("last backup failed%s%.100s", j->last_error[0] ? ": " : "", j->last_error);
    if (push_late)
        ADD("no successful push within the SLA%s%.100s", j->push_error[0] ? ": " : "",
            j->push_error);
#undef ADD
}

static int cmp_job(const void *a, const void *b)
{
    return strcmp(((const struct bk_status_job *)a)->name,
                  ((const struct bk_status_job *)b)->name);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = { BK_CLI_LONG,
                                              { "config", required_argument, 0, 'c' },
                                              { "json", no_argument, 0, 'J' },
                                              { 0, 0, 0, 0 } };
    struct bk_cli cli = { 0 };
    const char *config = BK_DEFAULT_CONFIG;
    int opt;

    bk_setprog("backy-check");

    bk_cli_version(argc, argv);
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "c:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'c')
            config = optarg;
        else if (opt == 'J')
            json_start();
    }
    if (optind < argc)
        bk_usage_error(usage, "unexpected argument: %s", argv[optind]);
    if (cli.logfile) {
        bk_cli_log(&cli, 1);
        log_no_reopen();
    }
    char err[1024];
    struct bk_mainconf conf;
    if (mainconf_load(config, &conf, err, sizeof err) < 0)
        result(EXIT_UNKNOWN, "cannot read config: %s", err);
    /* the scheduler replaces the status file by rename (a new inode at any
     * moment): the rule is on its directory, files only, no listing */
    char *sdir = bk_strdup(conf.status_file);
    const struct sb_fs_rule fs[] = { { dirname(sdir), -1, SB_FS_READ_FILE | SB_FS_OPTIONAL },
                                     { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    struct bk_status st;
    if (status_load(conf.status_file, &st, err, sizeof err) < 0) {
        json_status_file(conf.status_file, -1, 0, 0);
        result(EXIT_UNKNOWN, "%s", err);
    }

    time_t now = time(NULL);
    double age = (double)now - st.written;
    if (age < 0)
        age = 0;    /* written within this second */
    int64_t stale = 2 * conf.status_interval + STALE_MARGIN;
    if (stale < STALE_FLOOR)
        stale = STALE_FLOOR;
    json_status_file(conf.status_file, st.written, age, stale);
    if (json_summary)
        json_object_set_new(json_summary, "jobs", json_integer((json_int_t)conf.njobs));
    if (st.written < 0 || age > (double)stale)
        result(EXIT_CRITICAL,
               "status file is stale: written %.0f s ago (limit %lld s): %s | jobs=%zu "
               "status_age=%.0fs;;%lld",
               age, (long long)stale, conf.status_file, conf.njobs, age, (long long)stale);

    qsort(st.jobs, st.njobs, sizeof *st.jobs, cmp_job);
    size_t late = 0, warned = 0;
    char names[512] = "", wnames[1024] = "";
    size_t off = 0, woff = 0;
    double oldest = 0;
    for (size_t i = 0; i < conf.njobs; i++) {
        const struct bk_jobcfg *j = &conf.jobs[i];
        struct bk_status_job key = { .name = j->name };
        const struct bk_status_job *sj =
            bsearch(&key, st.jobs, st.njobs, sizeof *st.jobs, cmp_job);
        int64_t iv = sched_min_interval(&conf.scheds[j->sched]);
        double last = sj ? sj->last_time : -1;
        if (last >= 0 && (double)now - last > oldest)
            oldest = (double)now - last;
        if (sj && !sj->dir_missing && sched_sla_ok(last, iv, now)) {
            char why[384] = "";
            /* a job with push targets: every target pushed to within the
             * SLA; before a first push, counted from the scheduler's start */
            double pushed = sj->last_push_time >= 0 ? sj->last_push_time : st.started;
            int push_late = j->npush > 0 && !sched_sla_ok(pushed, iv, now);
            warning_reasons(sj, push_late, why, sizeof why);
            json_job(j->name, why[0] ? "WARNING" : "OK", NULL, sj, iv, 1, push_late, now);
            if (!why[0])
                continue;
            warned++;
            if (warned <= NAMES_SHOWN && woff < sizeof wnames)
                woff += (size_t)snprintf(wnames + woff, sizeof wnames - woff, "%s%s (%s)",
                                         warned > 1 ? ", " : "", j->name, why);
            continue;
        }
        json_job(j->name, "CRITICAL",
                 !sj                ? "not in status file"
                 : sj->dir_missing  ? "job directory missing"
                 : last < 0         ? "no backup"
                                    : "last backup older than 1.5 x interval",
                 sj, iv, sched_sla_ok(last, iv, now), 0, now);
        late++;
        if (late <= NAMES_SHOWN && off < sizeof names)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s%s", late > 1 ? ", " : "",
                                    j->name, !sj              ? " (not in status file)"
                                             : sj->dir_missing ? " (job directory missing)"
                                                               : "");
    }
    if (late > NAMES_SHOWN && off < sizeof names)
        snprintf(names + off, sizeof names - off, ", ...");
    if (warned > NAMES_SHOWN && woff < sizeof wnames)
        snprintf(wnames + woff, sizeof wnames - woff, ", ...");
    if (json_summary) {
        json_object_set_new(json_summary, "late", json_integer((json_int_t)late));
        json_object_set_new(json_summary, "warnings", json_integer((json_int_t)warned));
        json_object_set_new(json_summary, "oldest_age", json_real(oldest));
    }
    char wpart[1100] = "";
    if (warned)
        snprintf(wpart, sizeof wpart, "; %zu with warnings: %s", warned, wnames);

    if (late)
        result(EXIT_CRITICAL,
               "%zu of %zu %s late (last backup older than 1.5 x interval): %s%s | jobs=%zu "
               "late=%zu;;1 oldest_age=%.0fs status_age=%.0fs;;%lld warnings=%zu;1",
               late, conf.njobs, bk_plural(conf.njobs, "job", "jobs"), names, wpart, conf.njobs, late, oldest, age, (long long)stale,
               warned);
    if (warned)
        result(EXIT_WARNING,
               "%zu %s backed up in time, %zu with warnings: %s | jobs=%zu late=0;;1 "
               "oldest_age=%.0fs status_age=%.0fs;;%lld warnings=%zu;1",
               conf.njobs, bk_plural(conf.njobs, "job", "jobs"), warned, wnames, conf.njobs, oldest, age, (long long)stale, warned);
    result(EXIT_OK, "%zu %s backed up in time | jobs=%zu late=0;;1 oldest_age=%.0fs "
           "status_age=%.0fs;;%lld warnings=0;1", conf.njobs, bk_plural(conf.njobs, "job", "jobs"), conf.njobs, oldest, age,
           (long long)stale);
}
