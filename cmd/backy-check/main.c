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
    "usage: backy-check [-c CONFIG] [-l LOGFILE] [-v] [-h]\n"
    "Nagios check: are all jobs of CONFIG (default /etc/backy.conf) backed up in time?\n"
    "Prints one line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n";

/* Reads the config (before the sandbox) and the status file; Landlock
 * refuses every file outside the status file's directory. */
static struct sb_policy policy = {
    .name = "backy-check",
    .groups = SB_BASE | SB_RDONLY,
    .extra = NULL,
    .keep_caps = 0,
    .run_as_user = NULL,
};

BK_PRINTF(2, 3) static void result(int code, const char *fmt, ...)
{
    static const char *const word[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("BACKY %s - %s\n", word[code], line);
    fflush(stdout);
    if (!log_is_stdio())
        log_msg(code == EXIT_OK ? BK_LOG_INFO : BK_LOG_WARN, "%s %s", word[code], line);
    exit(code);
}

/* Why a job in time still deserves a look; "" when it does not. */
static void warning_reasons(const struct bk_status_job *j, char *buf, size_t len)
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
    if (status_load(conf.status_file, &st, err, sizeof err) < 0)
        result(EXIT_UNKNOWN, "%s", err);

    time_t now = time(NULL);
    double age = (double)now - st.written;
    if (age < 0)
        age = 0;    /* written within this second */
    int64_t stale = 2 * conf.status_interval + STALE_MARGIN;
    if (stale < STALE_FLOOR)
        stale = STALE_FLOOR;
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
            char why[256] = "";
            warning_reasons(sj, why, sizeof why);
            if (!why[0])
                continue;
            warned++;
            if (warned <= NAMES_SHOWN && woff < sizeof wnames)
                woff += (size_t)snprintf(wnames + woff, sizeof wnames - woff, "%s%s (%s)",
                                         warned > 1 ? ", " : "", j->name, why);
            continue;
        }
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
