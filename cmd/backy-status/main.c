/* backy-status - the revisions of a job as a table, and a summary. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/table.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-status [-l LOGFILE] [-v] [-b DIR] [--json]\n"
    "Lists the revisions of the job in DIR (default: the current directory), oldest\n"
    "first: date (UTC), ID, bytes written by the backup, duration, tags. Incomplete\n"
    "revisions show a duration of 0. When a revision needs a word, a last column\n"
    "State says it: incomplete, running (its backup holds the job lock),\n"
    "quarantined (verify found it damaged), unverifiable (no sums to check), future\n"
    "(dated more than 5 minutes ahead). The summary estimates the space used as\n"
    "the sum of bytes written.\n"
    "  --json   the same as one JSON document (fields: backy-status(1))\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Reads the job directory; cannot open anything for writing, and (Landlock)
 * cannot open anything outside the job directory. */
static struct sb_policy policy = {
    .name = "backy-status",
    .groups = SB_BASE | SB_RDONLY,
};

#define FUTURE_SLACK 300   /* seconds: a timestamp further ahead is marked */

static void add_word(char *buf, size_t len, const char *w)
{
    size_t l = strlen(buf);
    snprintf(buf + l, len - l, "%s%s", l ? "," : "", w);
}

/* Is a backup of the job running? It holds the job lock for its whole run
 * (a verify holds it only for a moment). Asked without waiting, with a
 * shared lock that is given back at once. */
static int job_locked(int dirfd)
{
    int fd = openat(dirfd, "config", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* The State column of each revision; 1 when any is not empty. */
static int revision_states(const struct bk_store *st, char (*state)[64])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec;
    size_t newest_incomplete = st->n;
    for (size_t i = 0; i < st->n; i++)
        if (!st->revs[i].complete)
            newest_incomplete = i;
    int running = newest_incomplete < st->n && job_locked(st->dirfd);
    int any = 0;
    for (size_t i = 0; i < st->n; i++) {
        const struct bk_rev *r = &st->revs[i];
        char *b = state[i];
        b[0] = '\0';
        if (!r->complete)
            add_word(b, 64, running && i == newest_incomplete ? "running" : "incomplete");
        if (rev_quarantined(r))
            add_word(b, 64, "quarantined");
        else if (r->verify_result == BK_VERIFY_UNVERIFIABLE)
            add_word(b, 64, "unverifiable");
        if (r->timestamp > now + FUTURE_SLACK)
            add_word(b, 64, "future");
        any |= b[0] != '\0';
    }
    return any;
}

/* --json: the revisions and the summary as one document. state[i] is the
 * State column of revision i (comma-separated words, "" for none). */
static void print_json(const struct bk_store *st, const char *dir, char (*state)[64])
{
    json_t *doc = bk_json_doc();
    json_object_set_new(doc, "job", bk_json_str(dir));
    json_t *revs = json_array();
    uint64_t total = 0;
    for (size_t i = 0; i < st->n; i++) {
        const struct bk_rev *r = &st->revs[i];
        json_t *o = bk_json_rev(r, st->dirfd);
        json_t *words = json_array();
        for (const char *p = state[i]; *p;) {
            size_t l = strcspn(p, ",");
            json_array_append_new(words, json_stringn(p, l));
            p += l + (p[l] == ',');
        }
        json_object_set_new(o, "state", words);
        json_array_append_new(revs, o);
        total += r->bytes_written;
    }
    json_object_set_new(doc, "revisions", revs);
    json_t *sum = json_object();
    json_object_set_new(sum, "revisions", bk_json_u64(st->n));
    json_object_set_new(sum, "bytes_written", bk_json_u64(total));
    json_object_set_new(doc, "summary", sum);
    if (bk_json_print(doc) < 0)
        bk_die_errno("cannot write to stdout");
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    int json = 0;
    static const struct option longopts[] = {BK_CLI_LONG, {"json", no_argument, 0, 'J'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && opt == 'J')
            json = 1;
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    /* stdout carries the table: log lines (warnings) go to stderr unless -l */
    bk_cli_log(&cli, 1);
    log_no_reopen();
    char *dir = bk_cli_jobdir(&cli);
    const struct sb_fs_rule fs[] = { { dir, -1, SB_FS_READ | SB_FS_OPTIONAL }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    char err[2048];
    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    char (*state)[64] = bk_calloc(st.n ? st.n : 1, sizeof *state);
    int any_state = revision_states(&st, state);
    if (json) {
        print_json(&st, dir, state);
        free(state);
        store_close(&st);
        free(dir);
        return 0;
    }
    static const char *const hdr[] = {"Date", "ID", "Size", "Durat", "Tags", "State"};
    static const enum table_align al[] = {TA_LEFT, TA_LEFT, TA_RIGHT, TA_RIGHT, TA_LEFT, TA_LEFT};
    /* the manual's five columns; State only when a revision needs it */
    struct table *t = table_new(any_state ? 6 : 5, hdr, al);
    uint64_t total = 0;
    for (size_t i = 0; i < st.n; i++) {
        const struct bk_rev *r = &st.revs[i];
        char date[64], size[32], dur[32];
        bk_fmt_time_utc(r->timestamp, date, sizeof date);
        bk_fmt_size(size, sizeof size, r->bytes_written);
        snprintf(dur, sizeof dur, "%.1f s", r->complete ? r->duration : 0.0);
        char *tags = bk_join_alloc(r->tags, r->ntags, ",");
        const char *cells[] = {date, r->id, size, dur, tags, state[i]};
        table_add_row(t, cells);
        free(tags);
        total += r->bytes_written;
    }
    table_print(t, stdout);
    char tot[32];
    bk_fmt_size(tot, sizeof tot, total);
    printf("== Summary\n%zu %s\n%s data (estimated)\n", st.n, bk_plural(st.n, "revision", "revisions"), tot);
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    table_free(t);
    free(state);
    store_close(&st);
    free(dir);
    return 0;
}
