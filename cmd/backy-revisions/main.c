/* backy-revisions - list a job's revisions for programs: the query that
 * backy push asks the other side. Read-only. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backy/cli.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-revisions [-l LOGFILE] [-v] [-b DIR] [--json]\n"
    "Lists the revisions of the job in DIR, oldest first: ID, timestamp,\n"
    "complete or incomplete, tags. With --json one JSON document:\n"
    "  {\"format\": 1, \"job\": DIR, \"exists\": true|false, \"revisions\":\n"
    "   [{\"id\", \"timestamp\", \"tags\", \"complete\", \"parent\"}, ...]}\n"
    "A DIR that does not exist is an empty list (\"exists\": false), not an error;\n"
    "so is an empty directory (\"exists\": true), made ahead for copies.\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Reads the job directory; cannot open anything for writing. main adds
 * the Landlock rules to a copy of its own, which lives as long as they do. */
static const struct sb_policy policy_tmpl = {
    .name = "backy-revisions",
    .groups = SB_BASE | SB_RDONLY,
};

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    int as_json = 0;
    static const struct option longopts[] = {BK_CLI_LONG, {"json", no_argument, 0, 'J'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && opt == 'J')
            as_json = 1;
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    bk_cli_log(&cli, 1);
    log_no_reopen();
    char *dir = bk_cli_jobdir(&cli);
    /* Landlock: reads the job directory only */
    const struct sb_fs_rule fs[] = { { dir, -1, SB_FS_READ | SB_FS_OPTIONAL }, { NULL, -1, 0 } };
    struct sb_policy policy = policy_tmpl;
    policy.fs = fs;
    sandbox_enter(&policy);

    char err[2048];
    struct bk_store st = {0};
    struct stat sb;
    int exists = stat(dir, &sb) == 0;
    if (!exists && errno != ENOENT)
        bk_die_errno("cannot open job directory: %s", dir);
    /* an empty directory (a push target the scheduler's launcher made at
     * its start, or one made by hand) holds no revisions yet */
    int opened = exists && !(S_ISDIR(sb.st_mode) && bk_dir_empty(dir));
    if (opened && store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    if (as_json) {
        json_t *o = bk_json_revisions(exists ? &st : NULL, dir, exists);
        if (json_dumpf(o, stdout, JSON_INDENT(2)) < 0)
            bk_die_errno("cannot write to stdout");
        putchar('\n');
        json_decref(o);
    } else {
        for (size_t i = 0; i < st.n; i++) {
            const struct bk_rev *r = &st.revs[i];
            char ts[64];
            bk_fmt_time_iso(r->timestamp, ts, sizeof ts);
            printf("%s %s %s ", r->id, ts, r->complete ? "complete" : "incomplete");
            for (size_t k = 0; k < r->ntags; k++)
                printf("%s%s", k ? "," : "", r->tags[k]);
            putchar('\n');
        }
    }
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    if (opened)
        store_close(&st);
    free(dir);
    return 0;
}
