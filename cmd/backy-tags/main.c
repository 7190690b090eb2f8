/* backy-tags - set, add or remove tags of one revision, under the job lock.
 *
 * Order: options and TAGS checked (the rule of backup's TAGS); job
 * directory; lock (flock on JOBDIR/config, as backy-backup); sandbox;
 * revisions read under the lock; ID.rev rewritten atomically (rev_save:
 * temp file, fsync, rename; mode 0440 as a complete revision's .rev is).
 * A crash leaves the old or the new .rev, never a mix.
 *
 * A revision keeps at least one tag: the manual's expiry removes a
 * revision once all its tags have expired, and a revision whose tags were
 * taken away by hand would never expire; removing one is `backy forget`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/joblock.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-tags [-l LOGFILE] [-v] [-b DIR] -r REVISION set|add|remove TAGS\n"
    "Changes the tags of REVISION in the job in DIR:\n"
    "  set TAGS      replace them with TAGS\n"
    "  add TAGS      add TAGS\n"
    "  remove TAGS   remove TAGS (each must be there)\n"
    "TAGS is one comma-separated argument, as for backup (daily,weekly): letters,\n"
    "digits and _-.:@+, not starting with -. A revision keeps at least one tag; to\n"
    "remove a revision use forget. Tags that no schedule knows are never expired.\n"
    "REVISION: a full ID or unique ID prefix, a relative number (0 = newest),\n"
    "last or latest, or a tag (the newest revision with it).\n"
    "Prints the revision's tags before and after. Refuses while a backup of the\n"
    "job is running (the job is locked).\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Rewrites ID.rev (rev_save: temp file, chmod, rename) in the job directory. */
static struct sb_policy policy = {
    .name = "backy-tags",
    .groups = SB_BASE | SB_WRITE,
};

enum op { OP_SET, OP_ADD, OP_REMOVE };

static void join_tags(char **tags, size_t n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", tags[i]);
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    static const struct option longopts[] = {BK_CLI_LONG, {"revision", required_argument, 0, 'r'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && opt == 'r')
            spec = optarg;
    if (argc - optind != 2)
        bk_usage_error(usage, argc - optind < 2 ? "expected set, add or remove and TAGS"
                                                : "too many arguments (TAGS must be one argument: daily,weekly)");
    if (!spec)
        bk_usage_error(usage, "no revision given (-r REVISION)");
    const char *verb = argv[optind];
    enum op op;
    if (!strcmp(verb, "set"))
        op = OP_SET;
    else if (!strcmp(verb, "add"))
        op = OP_ADD;
    else if (!strcmp(verb, "remove"))
        op = OP_REMOVE;
    else
        bk_usage_error(usage, "unknown operation '%s' (set, add or remove)", verb);
    char err[2048];
    /* the list parsed and checked as backup checks its TAGS */
    struct bk_rev given = {0};
    if (rev_set_tags(&given, argv[optind + 1], err, sizeof err) < 0)
        bk_die("%s", err);

    bk_cli_log(&cli, 1);
    char *dir = bk_cli_jobdir(&cli);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    int lockfd = job_lock(dirfd);
    if (lockfd < 0 && errno == EWOULDBLOCK)
        bk_die("job is busy (a backup is running): %s/config is locked; nothing changed, try again later", dir);
    if (lockfd < 0)
        bk_die_errno("cannot lock job configuration: %s/config", dir);
    /* Landlock: the job directory only */
    const struct sb_fs_rule fs[] = { { NULL, dirfd, SB_FS_RW }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *found = store_resolve(&st, spec, err, sizeof err);
    if (!found)
        bk_die("%s", err);
    struct bk_rev *r = &st.revs[found - st.revs];

    char before[4096], after[4096];
    join_tags(r->tags, r->ntags, before, sizeof before);
    if (op == OP_REMOVE) {
        for (size_t i = 0; i < given.ntags; i++)
            if (!rev_has_tag(r, given.tags[i]))
                bk_die("revision %s has no tag '%s' (its tags: %s): %s/%s.rev", r->id,
                       given.tags[i], before, dir, r->id);
    }
    /* the new list, as one comma-separated string through rev_set_tags */
    char list[8192];
    size_t off = 0;
    list[0] = '\0';
    if (op != OP_SET)
        for (size_t i = 0; i < r->ntags; i++)
            if (op == OP_ADD || !rev_has_tag(&given, r->tags[i]))
                off += (size_t)snprintf(list + off, sizeof list - off, "%s,", r->tags[i]);
    if (op != OP_REMOVE)
        for (size_t i = 0; i < given.ntags && off < sizeof list; i++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s,", given.tags[i]);
    if (off >= sizeof list)
        bk_die("too many tags for revision %s: %s/%s.rev", r->id, dir, r->id);
    if (op == OP_REMOVE && !list[0])
        bk_die("cannot remove the last tag of revision %s (%s): a revision without tags would "
               "never expire; use forget to remove it: %s/%s.rev", r->id, before, dir, r->id);
    if (rev_set_tags(r, list, err, sizeof err) < 0)
        bk_die("%s", err);
    join_tags(r->tags, r->ntags, after, sizeof after);

    if (!strcmp(before, after)) {
        printf("%s: tags %s (unchanged)\n", r->id, after);
    } else {
        if (rev_save(dirfd, r) < 0)
            bk_die_errno("cannot rewrite revision file: %s/%s.rev", dir, r->id);
        printf("%s: tags %s (were %s)\n", r->id, after, before);
        if (!log_is_stdio())
            log_info("%s: tags %s (were %s)", r->id, after, before);
    }
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    rev_free(&given);
    store_close(&st);
    close(lockfd);
    free(dir);
    return 0;
}
