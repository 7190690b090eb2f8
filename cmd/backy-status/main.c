/* backy-status - the revisions of a job as a table, and a summary. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/table.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-status [-l LOGFILE] [-v] [-b DIR]\n"
    "Lists the revisions of the job in DIR (default: the current directory), oldest\n"
    "first: date (UTC), ID, bytes written by the backup, duration, tags. Incomplete\n"
    "revisions show a duration of 0. The summary estimates the space used as the\n"
    "sum of bytes written.\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Reads the job directory; cannot open anything for writing. */
static const struct sb_policy policy = {
    .name = "backy-status",
    .groups = SB_BASE | SB_RDONLY,
};

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    struct bk_cli cli = {0};
    static const struct option longopts[] = {BK_CLI_LONG, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        bk_cli_option(&cli, opt, optarg, usage);
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    /* stdout carries the table: log lines (warnings) go to stderr unless -l */
    bk_cli_log(&cli, 1);
    log_no_reopen();
    char *dir = bk_cli_jobdir(&cli);
    sandbox_enter(&policy);

    char err[2048];
    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    static const char *const hdr[] = {"Date", "ID", "Size", "Durat", "Tags"};
    static const enum table_align al[] = {TA_LEFT, TA_LEFT, TA_RIGHT, TA_RIGHT, TA_LEFT};
    struct table *t = table_new(5, hdr, al);
    uint64_t total = 0;
    for (size_t i = 0; i < st.n; i++) {
        const struct bk_rev *r = &st.revs[i];
        char date[64], size[32], dur[32];
        bk_fmt_time_utc(r->timestamp, date, sizeof date);
        bk_fmt_size(size, sizeof size, r->bytes_written);
        snprintf(dur, sizeof dur, "%.1f s", r->complete ? r->duration : 0.0);
        size_t tl = 1;
        for (size_t k = 0; k < r->ntags; k++)
            tl += strlen(r->tags[k]) + 1;
        char *tags = bk_calloc(1, tl);
        for (size_t k = 0; k < r->ntags; k++) {
            if (k)
                strcat(tags, ",");
            strcat(tags, r->tags[k]);
        }
        const char *cells[] = {date, r->id, size, dur, tags};
        table_add_row(t, cells);
        free(tags);
        total += r->bytes_written;
    }
    table_print(t, stdout);
    char tot[32];
    bk_fmt_size(tot, sizeof tot, total);
    printf("== Summary\n%zu revisions\n%s data (estimated)\n", st.n, tot);
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    table_free(t);
    store_close(&st);
    free(dir);
    return 0;
}
