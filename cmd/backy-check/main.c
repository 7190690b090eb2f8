/* backy-check - Nagios-style check: is every configured job backed up in
 * time? Reads the main configuration and the scheduler's status file, prints
 * one line, exits 0 OK, 2 CRITICAL, 3 UNKNOWN.
 *
 * A job is late when its newest complete backup is older than 1.5 times the
 * smallest interval of its schedule, when it has none, or when the status
 * file does not list it. The status file itself is stale when it was
 * written longer ago than max(300 s, 2 x status-interval + 60 s): the
 * scheduler rewrites it every status-interval, so one missed write (a slow
 * disk, a large file) must not alarm, two must; the 5 minute floor keeps a
 * short status-interval from making the check flap. */
#include <errno.h>
#include <getopt.h>
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
#define EXIT_CRITICAL 2
#define EXIT_UNKNOWN 3
#define STALE_FLOOR 300
#define STALE_MARGIN 60
#define NAMES_SHOWN 5

static const char usage[] =
    "usage: backy-check [-c CONFIG] [-l LOGFILE] [-v] [-h]\n"
    "Nagios check: are all jobs of CONFIG (default /etc/backy.conf) backed up in time?\n"
    "Prints one line; exit 0 OK, 2 CRITICAL, 3 UNKNOWN.\n";

static const struct sb_policy policy = {
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
        log_msg(code == EXIT_OK ? LOG_INFO : LOG_WARN, "%s %s", word[code], line);
    exit(code);
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
    sandbox_enter(&policy);

    char err[1024];
    struct bk_mainconf conf;
    if (mainconf_load(config, &conf, err, sizeof err) < 0)
        result(EXIT_UNKNOWN, "cannot read config: %s", err);
    struct bk_status st;
    if (status_load(conf.status_file, &st, err, sizeof err) < 0)
        result(EXIT_UNKNOWN, "%s", err);

    time_t now = time(NULL);
    double age = (double)now - st.written;
    int64_t stale = 2 * conf.status_interval + STALE_MARGIN;
    if (stale < STALE_FLOOR)
        stale = STALE_FLOOR;
    if (st.written < 0 || age > (double)stale)
        result(EXIT_CRITICAL,
               "status file is stale: written %.0f s ago (limit %lld s): %s | jobs=%zu "
               "status_age=%.0fs;;%lld",
               age, (long long)stale, conf.status_file, conf.njobs, age, (long long)stale);

    qsort(st.jobs, st.njobs, sizeof *st.jobs, cmp_job);
    size_t late = 0;
    char names[512] = "";
    size_t off = 0;
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
        if (sched_sla_ok(last, iv, now))
            continue;
        late++;
        if (late <= NAMES_SHOWN && off < sizeof names)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s%s", late > 1 ? ", " : "",
                                    j->name, sj ? "" : " (not in status file)");
    }
    if (late > NAMES_SHOWN && off < sizeof names)
        snprintf(names + off, sizeof names - off, ", ...");

    if (late)
        result(EXIT_CRITICAL,
               "%zu of %zu jobs late (last backup older than 1.5 x interval): %s | jobs=%zu "
               "late=%zu;;1 oldest_age=%.0fs status_age=%.0fs;;%lld",
               late, conf.njobs, names, conf.njobs, late, oldest, age, (long long)stale);
    result(EXIT_OK, "%zu jobs backed up in time | jobs=%zu late=0;;1 oldest_age=%.0fs "
           "status_age=%.0fs;;%lld", conf.njobs, conf.njobs, oldest, age, (long long)stale);
}
