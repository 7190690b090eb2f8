/* backy-find - print the image path of a revision. Read-only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "backy/cli.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/quarantine.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-find [-l LOGFILE] [-v] [-b DIR] [-r REVISION] [--force] [--json]\n"
    "Prints the full path of the image of REVISION (default: the newest).\n"
    "REVISION: a full ID or unique ID prefix, a relative number (0 = newest),\n"
    "last or latest, or a tag (the newest revision with it).\n"
    "A quarantined revision (verify found it damaged) is refused unless --force.\n"
    "  --json   print {format, id, path, timestamp, tags, ...} (backy-find(1))\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Reads the job directory; cannot open anything for writing, and (Landlock)
 * cannot open anything outside the job directory. */
static struct sb_policy policy = {
    .name = "backy-find",
    .groups = SB_BASE | SB_RDONLY,
};

/* --json: the revision found, its image path and what identifies it. */
static void print_json(const char *dir, const struct bk_rev *r)
{
    json_t *doc = bk_json_doc();
    json_object_set_new(doc, "id", bk_json_str(r->id));
    char *path = bk_asprintf("%s/%s", dir, r->id);
    json_object_set_new(doc, "path", bk_json_str(path));
    free(path);
    bk_json_set_time(doc, "timestamp", r->timestamp);
    json_object_set_new(doc, "tags", bk_json_tags(r));
    json_object_set_new(doc, "complete", json_boolean(r->complete));
    json_object_set_new(doc, "quarantined", json_boolean(rev_quarantined(r)));
    if (bk_json_print(doc) < 0)
        bk_die_errno("cannot write to stdout");
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    int force = 0, json = 0;
    static const struct option longopts[] = {BK_CLI_LONG, {"revision", required_argument, 0, 'r'},
                                             {"force", no_argument, 0, 'F'},
                                             {"json", no_argument, 0, 'J'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'r')
            spec = optarg;
        else if (opt == 'F')
            force = 1;
        else if (opt == 'J')
            json = 1;
    }
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    /* stdout carries the path: log lines go to stderr unless -l */
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
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r)
        bk_die("%s", err);
    if (rev_quarantined(r) && !force) {
        quarantine_refusal(&st, r, err, sizeof err);
        bk_die("%s", err);
    }
    if (json)
        print_json(dir, r);
    else
        printf("%s/%s\n", dir, r->id);
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    store_close(&st);
    free(dir);
    return 0;
}
